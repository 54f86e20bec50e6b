"""One page's state built ahead of the request that shows it.

Building a page's :class:`~dashboard.app.Dashboard` (its widgets, five Bokeh
figures and the default selection's data) is most of what the server does
before it can send a visitor the page: about 250 ms of the page's HTML time on
the 8.5M-row lake.  The server keeps one built ahead and hands it to the next
visitor who opens the default view (a URL carrying filters builds its own),
or to the whole session it builds ahead for them (``dashboard.sessions``).

The next one is built once the page handed out has loaded in the browser
(Panel's ``onload``) and the server has then been quiet for
``quiet_seconds`` (``dashboard.activity``), so building (250-700 ms on the
event loop) competes neither with that page's own load nor with its
visitor's filter changes.  If no browser ever reports the page loaded (a
health check, a crawler, a tab closed at once), it is built once the server
is quiet ``fallback_seconds`` after the page was opened, unless another page
has been opened since: that page's load, or its own fallback, builds it
then.  A server never quiet builds nothing ahead: its visitors' clicks come
first, and the next visitor's page is built on request, as without this.
A build that fails is logged and leaves nothing prepared: the next visitor
builds their own page.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tornado.ioloop import IOLoop

from dashboard.activity import Activity

__all__ = ["FALLBACK_SECONDS", "PAGE_LOAD_SECONDS", "QUIET_SECONDS", "AheadSchedule", "PreparedPage"]

log = logging.getLogger(__name__)

T = TypeVar("T")

FALLBACK_SECONDS = 5.0
QUIET_SECONDS = 0.5  # after the page loaded: its last follow-up messages, and a visitor's first click
PAGE_LOAD_SECONDS = 1.5  # a page handed out is loading in its browser: its scripts, then its document pull


class AheadSchedule:
    """When to build the next page ahead: once the page handed out has loaded and the server has
    then been quiet for ``quiet_seconds``; if it never loads, once the server is quiet
    ``fallback_seconds`` after it was opened, unless a later page has been opened since (that
    page's load, or its own fallback, builds then).  Never while the server is busy.

    ``start`` begins a build (called on the event loop, outside any session's context
    variables); ``needed`` says whether one is still wanted (nothing waiting, nothing being built).
    """

    def __init__(
        self,
        start: Callable[[], None],
        needed: Callable[[], bool],
        *,
        activity: Activity | None = None,
        quiet_seconds: float = QUIET_SECONDS,
        fallback_seconds: float = FALLBACK_SECONDS,
        load_seconds: float = PAGE_LOAD_SECONDS,
    ) -> None:
        self._start = start
        self._needed = needed
        self._activity = activity or Activity()
        self._quiet_seconds = quiet_seconds
        self._fallback_seconds = fallback_seconds
        self._load_seconds = load_seconds
        self._pages = 0  # pages opened

    def when_quiet(self) -> None:
        """Start a build once the server has been quiet for ``quiet_seconds`` (checked again until then).

        The build counts as activity: another schedule waiting for the same
        quiet spell waits for the next one, so two builds never run back to
        back (a visitor's click in between waits for one of them only).  It
        runs outside the caller's context variables: a call from inside a
        session (where Panel's ``state.curdoc`` is that session's document)
        must not build the next page as part of that session.
        """
        if not self._needed():
            return
        wait = self._activity.quiet_in(self._quiet_seconds)
        IOLoop.current().call_later(wait, contextvars.Context().run, self._start_if_quiet)

    def _start_if_quiet(self) -> None:
        if not self._needed():
            return
        if self._activity.quiet_in(self._quiet_seconds) > 0:
            self.when_quiet()
            return
        self._start()
        self._activity.touch()

    def loaded(self) -> None:
        """The page handed out has loaded in the browser: build when quiet."""
        self._activity.touch()  # the page's own follow-up messages come right after
        self.when_quiet()

    def opened(self) -> None:
        """A page was handed out: no build starts for ``load_seconds`` (any schedule sharing the
        activity) while it loads in its browser; if it never reports itself loaded, build once the
        server is quiet ``fallback_seconds`` from now, unless a later page is opened first (it would
        otherwise build in the middle of that page's load; the later page has its own)."""
        self._pages += 1
        page = self._pages
        if self._load_seconds > 0:
            self._activity.expect(self._load_seconds)  # no build while it loads in its browser

        def fallback() -> None:
            if self._pages == page:
                self.when_quiet()

        IOLoop.current().call_later(self._fallback_seconds, contextvars.Context().run, fallback)


class PreparedPage(Generic[T]):
    """At most one built value, taken by the next caller; built again on request.

    Used from the server's event loop only (Panel builds sessions there), so it
    needs no lock.
    """

    def __init__(
        self,
        build: Callable[[], T],
        *,
        fallback_seconds: float = FALLBACK_SECONDS,
        activity: Activity | None = None,
        quiet_seconds: float = QUIET_SECONDS,
        load_seconds: float = PAGE_LOAD_SECONDS,
    ) -> None:
        self._build = build
        self._ready: T | None = None
        self._schedule = AheadSchedule(
            self.prepare,
            lambda: self._ready is None,
            activity=activity,
            quiet_seconds=quiet_seconds,
            fallback_seconds=fallback_seconds,
            load_seconds=load_seconds,
        )
        self.built = 0  # pages built ahead so far
        self.taken = 0  # of them handed out

    @property
    def ready(self) -> bool:
        return self._ready is not None

    def take(self) -> T | None:
        """The prepared value (then nothing is prepared until :meth:`prepare`), or None."""
        value, self._ready = self._ready, None
        if value is not None:
            self.taken += 1
        return value

    def prepare(self) -> None:
        """Build a value if none is waiting; never raises (a failure is logged)."""
        if self._ready is not None:
            return
        started = time.perf_counter()
        try:
            self._ready = self._build()
        except Exception:
            log.exception("building a page ahead failed; the next visitor's page is built on request")
            return
        self.built += 1
        log.debug("page built ahead in %.0f ms", (time.perf_counter() - started) * 1000)

    def prepare_when_quiet(self) -> None:
        """:meth:`prepare` once the server has been quiet for ``quiet_seconds`` (checked again until then)."""
        self._schedule.when_quiet()

    def after_load(self, on_load: Callable[[Callable[[], None]], Any]) -> None:
        """Prepare the next value once the page just handed out has loaded and the server is quiet, or
        after the fallback delay (:class:`AheadSchedule`).

        ``on_load`` registers a callback to run when the page has loaded in the
        browser (``pn.state.onload``).  Whichever comes first builds; the other
        finds a value waiting and does nothing.
        """
        self._schedule.opened()
        on_load(self._schedule.loaded)
