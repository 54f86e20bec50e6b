"""The dashboard's charts: pandas frames in, HoloViews elements out (via hvPlot)."""

from __future__ import annotations

import holoviews as hv
import pandas as pd
from hvplot import hvPlot

__all__ = ["MARKER_MAX_DAYS", "incidents_per_day_chart"]

# Up to this many days, each day also gets a marker (a one-day range stays visible).
MARKER_MAX_DAYS = 92

_TOOLTIPS = [("Day", "@day{%a %F}"), ("Incidents", "@incidents{0,0}")]
_FORMATTERS = {"@day": "datetime"}


def incidents_per_day_chart(per_day: pd.DataFrame, *, height: int = 380) -> hv.Overlay:
    """A line of incidents per local day; ``per_day`` has ``day`` and ``incidents`` columns."""
    plot = hvPlot(per_day)
    style = {
        "x": "day",
        "y": "incidents",
        "xlabel": "Day (Chicago local time)",
        "ylabel": "Incidents",
        "responsive": True,
        "height": height,
        "ylim": (0, None),
        "grid": True,
    }
    hover = {"hover_tooltips": _TOOLTIPS, "hover_formatters": _FORMATTERS}
    elements = [plot.line(line_width=2, **style).opts(**hover)]
    if len(per_day) <= MARKER_MAX_DAYS:
        elements.append(plot.scatter(size=36, **style).opts(**hover))
    return hv.Overlay(elements)
