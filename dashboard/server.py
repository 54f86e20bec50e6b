"""Serve the dashboard with Panel's (Bokeh's) server: ``crimestream dashboard``.

The app is at the root path, ``http://127.0.0.1:5006/`` by default.  ``serve``
blocks until SIGINT or SIGTERM, then stops the server cleanly and returns.

With ``DASHBOARD_BASIC_AUTH_PASSWORD`` set, every page asks for a login
(Panel's basic auth: ``/login``, ``/logout``).  ``serve`` also serves
``/metrics`` (lake freshness), ``/health`` and ``/ready`` (the server's event
loop answers) on ``METRICS_PORT`` (default 9103; 0 disables them).

Before it serves, ``serve`` warms up (:func:`warm_up`): it loads the lake's
fact table and draws the default page once, so the first visitor does not
wait for either; once listening, it opens its own page once
(:func:`first_visit`, not with a login) and builds the next visitor's page
state ahead (``dashboard.prepared``) and, without a login, the next visitor's
whole session (``dashboard.sessions``).  ``/ready`` answers 503 until then.

The served pages skip work that shows nothing: Bokeh's per-session document
checks (:func:`skip_document_validation`), the defaults Bokeh computes but
never sends (``dashboard.serialization``), and Panel's full garbage
collection while a page is loading or redrawing (``dashboard.quietgc``).
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import secrets
import signal
import threading
import time
import urllib.request
from collections.abc import Callable
from types import FrameType
from typing import Any

import panel as pn
from bokeh.document import Document
from bokeh.server.server import Server
from bokeh.server.session import ServerSession
from panel.io.state import set_curdoc
from panel.template.base import BaseTemplate
from tornado.platform.asyncio import BaseAsyncIOLoop

from crimestream.errors import ConfigError
from crimestream.observability import start_observability
from dashboard import quietgc, serialization, sessions
from dashboard.activity import Activity
from dashboard.app import APP_TITLE, Dashboard, create_app, dashboard_of
from dashboard.facts import DENSITY_CELL_DEGREES
from dashboard.figures import warm_up_rasteriser
from dashboard.prepared import PreparedPage
from dashboard.settings import DashboardSettings

__all__ = [
    "auth_options",
    "build_server",
    "first_visit",
    "freeze_heap",
    "serve",
    "skip_document_validation",
    "warm_up",
    "websocket_origins",
]

log = logging.getLogger(__name__)

_WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # noqa: S104 - recognised, not bound
FIRST_VISIT_TIMEOUT_SECONDS = 120.0


def websocket_origins(settings: DashboardSettings) -> list[str]:
    """Origins allowed to open the page's websocket: localhost names plus the bind host."""
    port = settings.dashboard_port
    hosts = ["127.0.0.1", "localhost"]
    host = settings.dashboard_host
    if host not in _WILDCARD_HOSTS and host not in hosts:
        hosts.append(f"[{host}]" if ":" in host else host)
    origins = [f"{h}:{port}" for h in hosts]
    return origins + [o for o in settings.dashboard_extra_origins if o not in origins]


def auth_options(settings: DashboardSettings) -> dict[str, Any]:
    """``pn.serve`` options for the login (none when no password is set)."""
    if not settings.login_required or settings.dashboard_basic_auth_password is None:
        return {}
    cookie_secret = (
        settings.dashboard_cookie_secret.get_secret_value()
        if settings.dashboard_cookie_secret is not None
        else secrets.token_urlsafe(32)  # logins last until the next start
    )
    return {
        # A {user: password} mapping, never a bare string (Panel reads a string naming a file as that file).
        "basic_auth": {
            settings.dashboard_basic_auth_username: settings.dashboard_basic_auth_password.get_secret_value()
        },
        "cookie_secret": cookie_secret,
    }


def build_server(
    settings: DashboardSettings,
    prepared: PreparedPage[Dashboard] | None = None,
    activity: Activity | None = None,
) -> tuple[Server, sessions.SessionAhead | None]:
    """A bound, not yet started server with the app at ``/`` (on the current IOLoop).

    With ``prepared``, pages are built ahead of the visitors (``dashboard.prepared``) and,
    without a login, whole sessions too (``dashboard.sessions``, timed by ``activity``):
    returned, so the first can be built once the server serves.
    """
    ahead: list[sessions.SessionAhead] = []  # set once the server exists

    def session_app() -> BaseTemplate:  # Panel calls plain functions per session
        template = create_app(settings, prepared)  # a session built ahead takes the prepared page state too
        if ahead:
            if not sessions.built_ahead(pn.state.curdoc):
                ahead[0].opened()
            ahead[0].after_load(pn.state.onload)
        return template

    try:
        server = pn.serve(
            {"/": session_app},
            port=settings.dashboard_port,
            address=settings.dashboard_host,
            websocket_origin=websocket_origins(settings),
            show=False,
            start=False,
            verbose=False,
            title=APP_TITLE,
            **auth_options(settings),
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"Port {settings.dashboard_port} on {settings.dashboard_host} is already in use; "
                "stop the other server or set DASHBOARD_PORT."
            ) from exc
        raise ConfigError(
            f"Cannot listen on {settings.dashboard_host}:{settings.dashboard_port}: {exc.strerror}"
        ) from exc
    # pn.serve returns a thread only when threaded=True.
    if not isinstance(server, Server):
        raise TypeError(f"expected a bokeh Server, got {type(server).__name__}")
    if prepared is not None and not settings.login_required:
        sessions.install()
        ahead.append(sessions.SessionAhead(server, activity=activity, on_take=_bring_up_to_date))
    return server, (ahead[0] if ahead else None)


def _bring_up_to_date(session: ServerSession) -> None:
    """A session built ahead is handed out: its page shows the lake as it is now."""
    dashboard = dashboard_of(session.document)
    if dashboard is not None:
        with set_curdoc(session.document):
            dashboard.refresh()


def warm_up(settings: DashboardSettings) -> None:
    """Load the lake's fact table and draw the default page once, off any session.

    The fact table of a large lake takes seconds to build, and the first chart of
    each kind pays one-off costs (imports, datashader's compilation); without this
    the first visitor waits for all of it.  Never fatal: on failure the pages
    themselves read the lake and say what went wrong.
    """
    started = time.perf_counter()
    try:
        warm_up_rasteriser(DENSITY_CELL_DEGREES)
        create_app(settings).server_doc(Document())
    except Exception:
        log.exception("warming up the dashboard failed; the first page will read the lake itself")
        return
    log.info("dashboard warmed up in %.1fs", time.perf_counter() - started)


def first_visit(settings: DashboardSettings, then: Callable[[], None]) -> None:
    """Open the page once, as a browser would, then call ``then`` (never raises).

    The first page a server renders pays one-off costs that :func:`warm_up`
    cannot reach: the page template, the hashes of the script bundles in its
    links, the first session's set-up.  ``/ready`` waits for this visit, so
    no analyst pays them.  Its session is discarded once unused.
    """
    host = "127.0.0.1" if settings.dashboard_host in _WILDCARD_HOSTS else settings.dashboard_host
    url = f"http://{host}:{settings.dashboard_port}/"
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=FIRST_VISIT_TIMEOUT_SECONDS) as response:
            response.read()
        log.info("first page rendered in %.2fs", time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - a warm-up: the page itself reports its own failures
        log.warning("the warm-up visit of %s failed: %s", url, exc)
    finally:
        then()


def skip_document_validation() -> None:
    """Do not run Bokeh's integrity checks on every session's document.

    Bokeh checks each new document's models (a ``dir()`` of every model, and
    one more walk of the page): 55-70 ms of every page request on this
    machine, for a page whose structure never changes and which passes them
    (no error, no warning).  The tests run the same checks on a built page
    (``test_the_page_passes_bokehs_integrity_checks``).
    """
    from bokeh.settings import settings as bokeh_settings

    bokeh_settings.perform_document_validation.set_value(False)


def freeze_heap() -> None:
    """Leave the objects alive after warm-up out of every later garbage collection.

    The warm-up leaves ~370,000 long-lived objects (modules, the fact table's
    bookkeeping, caches).  Each full collection, about one per six pages built,
    walked all of them: a 200 ms pause inside some visitor's page request
    (measured in-process on the 8.5M-row lake).  Frozen, a full collection
    walks only what sessions created since: 17-32 ms.
    """
    gc.collect()
    gc.freeze()


def serve(settings: DashboardSettings) -> None:
    """Serve the dashboard until SIGINT/SIGTERM; blocking."""
    activity = Activity()
    prepared: PreparedPage[Dashboard] = PreparedPage(lambda: Dashboard(settings), activity=activity)
    server, ahead = build_server(settings, prepared, activity)
    loop = server.io_loop
    if not isinstance(loop, BaseAsyncIOLoop):
        raise TypeError(f"expected an asyncio-based IOLoop, got {type(loop).__name__}")
    aio_loop = loop.asyncio_loop

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping the dashboard", signal.Signals(signum).name)
        # call_soon_threadsafe wakes the loop; tornado's add_callback would not from here
        # (the handler runs on the loop's own thread), so the stop would wait for a timer.
        aio_loop.call_soon_threadsafe(loop.stop)

    previous: list[tuple[signal.Signals, Any]] = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous.append((sig, signal.signal(sig, request_stop)))

    serving = threading.Event()

    def ready() -> tuple[bool, str]:
        if not serving.is_set():
            return False, "the dashboard server is not serving (starting or stopping)"
        try:  # the event loop that serves the pages must answer
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), aio_loop).result(timeout=2.0)
        except TimeoutError:
            return False, "the dashboard's event loop did not answer within 2s"
        return True, f"serving {settings.dashboard_url}"

    observability = start_observability(settings, ready, lake_dir=settings.lake_dir)
    skip_document_validation()
    serialization.install()
    activity.watch_panel()
    quietgc.install(quietgc.QuietCollector(activity))
    warm_up(settings)
    freeze_heap()

    async def prepare_then_serve() -> None:  # on the loop, after the first visit: the next page is built ahead
        prepared.prepare()
        if ahead is not None:
            await ahead.prepare()  # it takes the page state just prepared: prepare another
            prepared.prepare()
        serving.set()

    server.start()
    if settings.login_required:  # a visit would only meet the login form
        loop.add_callback(prepare_then_serve)
    else:
        threading.Thread(
            target=first_visit, args=(settings, lambda: loop.add_callback(prepare_then_serve)), daemon=True
        ).start()
    if settings.dashboard_host in _WILDCARD_HOSTS and not settings.login_required:
        log.warning(
            "the dashboard listens on every interface without a login; set DASHBOARD_BASIC_AUTH_PASSWORD "
            "or DASHBOARD_HOST=127.0.0.1 unless a proxy guards it"
        )
    log.info(
        "dashboard at %s (lake %s, live refresh %s, login %s)",
        settings.dashboard_url,
        settings.lake_dir,
        f"every {settings.dashboard_refresh_seconds:g} s" if settings.dashboard_refresh_seconds > 0 else "off",
        f"required (user {settings.dashboard_basic_auth_username})" if settings.login_required else "not required",
    )
    try:
        loop.start()
    finally:
        serving.clear()
        server.stop()
        if observability is not None:
            observability.close()
        for sig, handler in previous:
            signal.signal(sig, handler)
        log.info("dashboard stopped")
