"""Which days the page shows: the default window and how it follows new data.

Pure functions over dates, so the page's behaviour when data arrives is tested
without a browser.
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = ["default_window", "follow_lake"]

DateWindow = tuple[date, date]


def default_window(bounds: DateWindow, days: int) -> DateWindow:
    """The last ``days`` days present in the lake (fewer if the lake is younger)."""
    first, last = bounds
    return max(first, last - timedelta(days=days - 1)), last


def _clamp(day: date, bounds: DateWindow) -> date:
    return min(max(day, bounds[0]), bounds[1])


def follow_lake(
    current: DateWindow | None,
    old_bounds: DateWindow | None,
    new_bounds: DateWindow,
    days: int,
) -> DateWindow:
    """The selection to show once the lake's day bounds moved from ``old`` to ``new``.

    * Nothing selected yet (first data, or the lake was empty): the default window.
    * The selection ended on the newest day: it keeps following the newest day,
      sliding by the same number of days so its length is kept.
    * Otherwise the analyst's choice is kept, clipped to what the lake holds; a
      choice entirely outside the lake's days falls back to the default window.
    """
    if current is None or old_bounds is None:
        return default_window(new_bounds, days)
    start, end = current
    if start > end:
        start, end = end, start
    if end >= old_bounds[1] and new_bounds[1] != old_bounds[1]:
        shift = new_bounds[1] - end
        start, end = start + shift, new_bounds[1]
    if end < new_bounds[0] or start > new_bounds[1]:
        return default_window(new_bounds, days)
    return _clamp(start, new_bounds), _clamp(end, new_bounds)
