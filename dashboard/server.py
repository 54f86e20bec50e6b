"""Serve the dashboard with Panel's (Bokeh's) server: ``crimestream dashboard``.

The app is at the root path, ``http://127.0.0.1:5006/`` by default.  ``serve``
blocks until SIGINT or SIGTERM, then stops the server cleanly and returns.
"""

from __future__ import annotations

import errno
import logging
import signal
import threading
from types import FrameType
from typing import Any

import panel as pn
from bokeh.server.server import Server
from panel.template.base import BaseTemplate
from tornado.platform.asyncio import BaseAsyncIOLoop

from crimestream.errors import ConfigError
from dashboard.app import APP_TITLE, create_app
from dashboard.settings import DashboardSettings

__all__ = ["build_server", "serve", "websocket_origins"]

log = logging.getLogger(__name__)

_WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # noqa: S104 - recognised, not bound


def websocket_origins(settings: DashboardSettings) -> list[str]:
    """Origins allowed to open the page's websocket: localhost names plus the bind host."""
    port = settings.dashboard_port
    hosts = ["127.0.0.1", "localhost"]
    host = settings.dashboard_host
    if host not in _WILDCARD_HOSTS and host not in hosts:
        hosts.append(f"[{host}]" if ":" in host else host)
    origins = [f"{h}:{port}" for h in hosts]
    return origins + [o for o in settings.dashboard_extra_origins if o not in origins]


def build_server(settings: DashboardSettings) -> Server:
    """A bound, not yet started server with the app at ``/`` (on the current IOLoop)."""

    def session_app() -> BaseTemplate:  # Panel calls plain functions per session
        return create_app(settings)

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
    return server


def serve(settings: DashboardSettings) -> None:
    """Serve the dashboard until SIGINT/SIGTERM; blocking."""
    server = build_server(settings)
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

    server.start()
    log.info(
        "dashboard at %s (lake %s, live refresh %s)",
        settings.dashboard_url,
        settings.lake_dir,
        f"every {settings.dashboard_refresh_seconds:g} s" if settings.dashboard_refresh_seconds > 0 else "off",
    )
    try:
        loop.start()
    finally:
        server.stop()
        for sig, handler in previous:
            signal.signal(sig, handler)
        log.info("dashboard stopped")
