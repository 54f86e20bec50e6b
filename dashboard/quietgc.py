"""Run Panel's full garbage collection when no page is loading or redrawing.

Panel frees a closed page with a full ``gc.collect()`` 5 s after the page's
session is discarded.  In the served dashboard that collection paused the
server for 27-300 ms (measured in-process), and it lands on whatever page is
loading or redrawing at that moment.

:func:`install` makes the collection wait until the server has been quiet for
``quiet_seconds`` (``dashboard.activity``: no page opened, loaded or
redrawn).  A server that is never quiet still collects once the collection
has waited ``max_delay_seconds``, so closed pages are freed within a bounded
time.  The decision itself is :meth:`QuietCollector.delay`.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import time
from collections.abc import Callable

from dashboard.activity import Activity

__all__ = ["MAX_DELAY_SECONDS", "QUIET_SECONDS", "QuietCollector", "install"]

log = logging.getLogger(__name__)

QUIET_SECONDS = 3.0  # a page's first render takes ~2 s from its request
MAX_DELAY_SECONDS = 60.0
_TASK = "gc.collect"  # Panel's name for its scheduled collection


class QuietCollector:
    """Collects garbage only after ``quiet_seconds`` without activity, or once it has waited ``max_delay_seconds``."""

    def __init__(
        self,
        activity: Activity,
        *,
        quiet_seconds: float = QUIET_SECONDS,
        max_delay_seconds: float = MAX_DELAY_SECONDS,
        collect: Callable[[], object] = gc.collect,
    ) -> None:
        self._quiet = quiet_seconds
        self._max_delay = max_delay_seconds
        self._collect = collect
        self._activity = activity
        self._waiting_since: float | None = None
        self.collections = 0
        self.postponed = 0

    def delay(self) -> float:
        """Seconds still to wait before collecting (0: collect now)."""
        now = self._activity.now()  # one clock for the activity and the bound
        if self._waiting_since is None:
            self._waiting_since = now
        quiet_in = self._activity.quiet_in(self._quiet)
        forced_in = self._waiting_since + self._max_delay - now
        return max(0.0, min(quiet_in, forced_in))

    def run(self, reschedule: Callable[[float], None]) -> None:
        """Collect now, or ask ``reschedule`` to call again after the delay still due."""
        wait = self.delay()
        if wait > 0:
            self.postponed += 1
            reschedule(wait)
            return
        self._waiting_since = None
        started = time.perf_counter()
        self._collect()
        self.collections += 1
        log.debug("collected garbage in %.0f ms", (time.perf_counter() - started) * 1000)


def install(quiet: QuietCollector) -> None:
    """Route Panel's scheduled collection through ``quiet``."""
    import panel as pn
    from panel.io import document

    def reschedule(seconds: float) -> None:
        pn.state.schedule_task(_TASK, collect, at=dt.datetime.now() + dt.timedelta(seconds=seconds))

    def collect() -> None:
        quiet.run(reschedule)

    # Panel schedules the module's `_garbage_collect` when it discards a page (looked up at that time).
    document._garbage_collect = collect
