"""A whole session built ahead: the next visitor's page is sent, and pulled, at once.

With its state built ahead (``dashboard.prepared``), a page request still had
the server build the visitor's session before the first byte of HTML went out:
Panel's template and the page's ~150 Bokeh models, 200-300 ms on this machine.
Here the server keeps one complete session built ahead, by Bokeh's own session
machinery (``ApplicationContext.create_session_if_needed``), and hands it to
the next request for the plain page; the request only renders the page's HTML.

Building it on request but in the background instead (Panel's
``reuse_sessions="warm"``) was measured and gained nothing: on two cores the
build competes with the browser loading and running the page's scripts.  So,
like the prepared page, the session is built in a quiet moment:

* once the page handed out has loaded in the browser and the server has then
  been quiet for a while, or after a fallback delay unless a later page was
  opened (:class:`~dashboard.prepared.AheadSchedule`);
* it takes the page state prepared ahead, and each build counts as activity:
  the page state, then the session around it, wait for a quiet spell each, so
  a visitor's click never waits for both (built together they held the event
  loop 0.6-1.1 s; a filter change 0.7 s after the page drew took 663 ms at the
  median, 453 ms built apart);
* while it waits, its expiration is blocked (Bokeh would discard a session no
  browser connected to within seconds) and its page keeps itself up to date
  (the dashboard's live refresh); once handed out, ``on_take`` brings it up to
  date with the lake, and the block is lifted after ``grace_seconds``, so a
  page never opened (a health check, ``curl``) is discarded like any unused
  session;
* its token is issued when it is built and expires with the server's
  ``session_token_expiration`` (300 s by default): a session older than that
  less ``TOKEN_MARGIN_SECONDS`` is never handed out; it is replaced by a fresh
  one when the server is next quiet, so the first visitor after a quiet spell
  gets one too.

Only the plain page is served this way: a URL carrying filters (or a session
id or token of its own) builds its own session, as does every page when a
login is required (:func:`install` is not called then).

Private Panel and Bokeh parts used (re-check on upgrade): Panel's
``DocHandler.get_session`` is wrapped, and the server's Tornado application is
read from ``Server._tornado``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Callable
from typing import Any

from bokeh.core.types import ID
from bokeh.document import Document
from bokeh.server.contexts import ApplicationContext
from bokeh.server.server import Server
from bokeh.server.session import ServerSession
from bokeh.server.tornado import BokehTornado
from bokeh.util.token import generate_jwt_token, generate_session_id
from tornado.httputil import HTTPHeaders, HTTPServerRequest
from tornado.ioloop import IOLoop

from dashboard.activity import Activity
from dashboard.prepared import FALLBACK_SECONDS, PAGE_LOAD_SECONDS, QUIET_SECONDS, AheadSchedule

__all__ = [
    "BUILT_AHEAD_HEADER",
    "GRACE_SECONDS",
    "TOKEN_MARGIN_SECONDS",
    "SessionAhead",
    "built_ahead",
    "install",
]

log = logging.getLogger(__name__)

BUILT_AHEAD_HEADER = "X-Crimestream-Built-Ahead"  # in the request a session built ahead is made with
GRACE_SECONDS = 60.0  # a session handed out, never connected to, is discarded after this (and Bokeh's own delay)
TOKEN_MARGIN_SECONDS = 60.0  # a session is handed out only while its token has this long left

_AHEAD: weakref.WeakKeyDictionary[ApplicationContext, SessionAhead] = weakref.WeakKeyDictionary()


def built_ahead(document: Document | None) -> bool:
    """Whether ``document`` is a session built ahead (readable while the app builds its page)."""
    context = getattr(document, "session_context", None)
    request = getattr(context, "request", None)
    headers = getattr(request, "headers", None) or {}
    return BUILT_AHEAD_HEADER in headers


class SessionAhead:
    """At most one session of the app at ``path`` built ahead, handed to the next plain page request.

    Used from the server's event loop only, so it needs no lock.
    """

    def __init__(
        self,
        server: Server,
        path: str = "/",
        *,
        activity: Activity | None = None,
        on_take: Callable[[ServerSession], None] | None = None,
        quiet_seconds: float = QUIET_SECONDS,
        fallback_seconds: float = FALLBACK_SECONDS,
        load_seconds: float = PAGE_LOAD_SECONDS,
        grace_seconds: float = GRACE_SECONDS,
    ) -> None:
        tornado: BokehTornado = server._tornado  # private: Bokeh's Server has no public accessor
        self._tornado = tornado
        self._context = tornado.applications[path]
        self._on_take = on_take
        self._activity = activity or Activity()
        self._grace_seconds = grace_seconds
        self.max_age_seconds = tornado.session_token_expiration - TOKEN_MARGIN_SECONDS
        self._ready: tuple[ServerSession, float] | None = None  # the session and when it was built
        self._building = False
        self._task: asyncio.Task[None] | None = None  # the build running (a reference keeps it alive)
        self._schedule = AheadSchedule(
            self._start,
            lambda: self._ready is None and not self._building,
            activity=self._activity,
            quiet_seconds=quiet_seconds,
            fallback_seconds=fallback_seconds,
            load_seconds=load_seconds,
        )
        self.built = 0  # sessions built ahead so far
        self.taken = 0  # of them handed out
        _AHEAD[self._context] = self

    @property
    def ready(self) -> bool:
        return self._ready is not None

    def token(self, session_id: ID) -> str:
        """A token for ``session_id``, issued now, as Bokeh issues one for a page request."""
        app = self._tornado
        return generate_jwt_token(
            session_id,
            secret_key=app.secret_key,
            signed=app.sign_sessions,
            expiration=app.session_token_expiration,
            extra_payload={"headers": {BUILT_AHEAD_HEADER: "1"}, "cookies": {}, "arguments": {}},
        )

    async def prepare(self) -> None:
        """Build a session unless one is waiting or being built; never raises (a failure is logged)."""
        if self._ready is not None or self._building or self.max_age_seconds <= 0:
            return
        self._building = True
        started = self._activity.now()
        try:
            app = self._tornado
            session_id = generate_session_id(secret_key=app.secret_key, signed=app.sign_sessions)
            request = HTTPServerRequest(
                method="GET", uri=self._context.url, headers=HTTPHeaders({BUILT_AHEAD_HEADER: "1"})
            )
            session = await self._context.create_session_if_needed(session_id, request, self.token(session_id))
        except Exception:
            log.exception("building a session ahead failed; the next visitor's page is built on request")
            return
        finally:
            self._building = False
            self._activity.touch()  # it held the event loop: the next build waits for the next quiet spell
        session.block_expiration()
        self._ready = (session, started)
        self.built += 1
        log.debug("session built ahead in %.0f ms", (self._activity.now() - started) * 1000)
        IOLoop.current().call_later(self.max_age_seconds, self._renew, session)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self.prepare())

    def _renew(self, session: ServerSession) -> None:
        """A session still waiting when its token is about to expire is replaced when the server is quiet."""
        if self._ready is not None and self._ready[0] is session:
            self._ready = None
            self._replace(session)

    def _replace(self, session: ServerSession) -> None:
        """Leave ``session`` to Bokeh's expiry, as any unused session, and build another when quiet."""
        session.unblock_expiration()
        self._schedule.when_quiet()

    def take(self) -> ServerSession | None:
        """The session built ahead, brought up to date, or None (then the page builds its own)."""
        ready, self._ready = self._ready, None
        if ready is None:
            return None
        session, built_at = ready
        if session.destroyed or self._activity.now() - built_at > self.max_age_seconds:
            self._replace(session)
            return None
        if self._on_take is not None:
            try:
                self._on_take(session)
            except Exception:
                log.exception("bringing a session built ahead up to date failed; it shows the page as built")
        # Never opened (a health check, curl): discarded like any unused session once the grace is over.
        IOLoop.current().call_later(self._grace_seconds, session.unblock_expiration)
        self._schedule.opened()
        self.taken += 1
        return session

    def after_load(self, on_load: Callable[[Callable[[], None]], Any]) -> None:
        """Build the next session once this page has loaded and the server is quiet.

        Every page registers this while it is built (``on_load``: ``pn.state.onload``).
        """
        on_load(self._schedule.loaded)

    def opened(self) -> None:
        """A page built on request was handed out: its fallback build is due (:class:`AheadSchedule`)."""
        self._schedule.opened()


def _plain_page_request(handler: Any) -> bool:
    """A request for the page itself: no query string, no session id or token of its own."""
    request = handler.request
    return not request.query and "Bokeh-Session-Id" not in request.headers


@functools.cache  # once per process
def install() -> None:
    """Make Panel's page handler hand out sessions built ahead (idempotent)."""
    from panel.io.server import DocHandler

    get_session: Callable[[Any], Any] = DocHandler.get_session

    async def get_session_built_ahead(handler: Any) -> Any:
        ahead = _AHEAD.get(handler.application_context)
        if ahead is not None and _plain_page_request(handler):
            session = ahead.take()
            if session is not None:
                return session
        return await get_session(handler)

    DocHandler.get_session = get_session_built_ahead  # type: ignore[method-assign]
