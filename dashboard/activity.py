"""When the dashboard's server last worked for a visitor, so background work can wait for a quiet moment.

Activity is a page opened (a Panel session created), a page's callback
starting or ending (Panel's ``state.busy``: a filter change being redrawn),
or a page reporting itself loaded; a page handed out is expected to keep the
server busy for the time a page takes to load (``expect``).  The server's
background work (building the next visitor's page, Panel's full garbage
collection) runs on the same event loop as the pages and pauses them for
50-700 ms; it waits until the server has been quiet for a while
(``quiet_in``), within its own bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["Activity"]


class Activity:
    """The time of the last activity, and how long until a quiet spell of a given length."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = float("-inf")

    def now(self) -> float:
        """The clock activity is timed with (monotonic seconds)."""
        return self._clock()

    def touch(self, *_args: Any) -> None:
        """Something happened now (any arguments, so it can be any callback)."""
        self._last = max(self._last, self._clock())

    def expect(self, seconds: float) -> None:
        """Work goes on for ``seconds`` from now (a page handed out, loading in its browser)."""
        self._last = max(self._last, self._clock() + seconds)

    def quiet_in(self, seconds: float) -> float:
        """Seconds until ``seconds`` have passed without activity (0: they have)."""
        return max(0.0, self._last + seconds - self._clock())

    def watch_panel(self) -> None:
        """Count Panel's sessions created and its busy flag flipping as activity (process-wide)."""
        import panel as pn

        pn.state.on_session_created(self.touch)
        pn.state.param.watch(self.touch, ["busy"])
