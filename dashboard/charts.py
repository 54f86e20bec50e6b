"""The dashboard's charts: pandas frames in, HoloViews elements out (via hvPlot).

Pure functions of their frame.  The page wraps each in a ``DynamicMap`` fed by
a ``Pipe`` (``dashboard.live``), so a filter change sends new data to the
existing Bokeh plot instead of rebuilding it.  Whatever differs between frames
(a title counting the bars, the series' grain) is carried by the element itself
(its label, its dimensions' labels), never by a plot option, which a
``DynamicMap`` reads from its first frame only.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import pandas as pd
from bokeh.models import FactorRange
from hvplot import hvPlot

__all__ = [
    "DOW_LABELS",
    "MARKER_MAX_DAYS",
    "area_bubbles",
    "arrest_rate_chart",
    "categorical_factors",
    "density_points",
    "heatmap_chart",
    "incident_points",
    "incidents_per_day_chart",
    "series_chart",
    "top_types_chart",
]

# Up to this many days, each day also gets a marker (a one-day range stays visible).
MARKER_MAX_DAYS = 92
DOW_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_TOOLTIPS = [("Day", "@day{%a %F}"), ("Incidents", "@incidents{0,0}")]
_FORMATTERS = {"@day": "datetime"}
_BLUE = "#1f77b4"


def _follow_factors(plot: Any, element: Any) -> None:
    """Bokeh hook: the categorical axis shows exactly the element's categories, in its order.

    Without it a plot that is updated in place (a new selection sent to the same
    Bokeh figure) can keep the previous selection's categories on its axis, as
    empty bars.
    """
    factors = [str(v) for v in element.dimension_values(0)]
    for axis_range in (plot.state.x_range, plot.state.y_range):
        if isinstance(axis_range, FactorRange) and list(axis_range.factors) != factors:
            axis_range.factors = factors


def categorical_factors(plot: Any) -> list[str]:
    """The factors of a rendered Bokeh plot's categorical axis (for tests)."""
    for axis_range in (plot.state.x_range, plot.state.y_range):
        if isinstance(axis_range, FactorRange):
            return [str(f) for f in axis_range.factors]
    return []


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


def series_chart(series: pd.DataFrame, *, grain: str = "day", height: int = 300) -> hv.Curve:
    """Incidents per ``period`` (day or week) as a line with hover; the title and x label name the grain."""
    label = "Week starting (Chicago local)" if grain == "week" else "Day (Chicago local)"
    curve = hvPlot(series).line(
        x="period",
        y="incidents",
        ylabel="Incidents",
        responsive=True,
        height=height,
        grid=True,
        line_width=2,
        color=_BLUE,
        hover_tooltips=[("Period", "@period{%a %F}"), ("Incidents", "@incidents{0,0}")],
        hover_formatters={"@period": "datetime"},
    )
    return (
        curve.relabel(f"Incidents per {grain}")
        .redim.label(period=label)
        .opts(framewise=True, ylim=(0, None), tools=["hover"], title="{label}")
    )


def top_types_chart(top: pd.DataFrame, *, height: int = 300) -> hv.Bars:
    """Horizontal bars of the most frequent primary types."""
    bars = hvPlot(top.iloc[::-1]).barh(
        x="primary_type",
        y="incidents",
        xlabel="",
        ylabel="Incidents",
        responsive=True,
        height=height,
        color=_BLUE,
        hover_tooltips=[("Type", "@primary_type"), ("Incidents", "@incidents{0,0}")],
    )
    return bars.relabel(f"Top {len(top)} primary types").opts(framewise=True, hooks=[_follow_factors], title="{label}")


def heatmap_chart(cells: pd.DataFrame, *, height: int = 300) -> hv.HeatMap:
    """Day of week x hour of day; ``cells`` has ``dow`` (1-7), ``hour``, ``incidents``."""
    frame = cells.assign(day=[DOW_LABELS[int(d) - 1] for d in cells["dow"]], hour=cells["hour"].astype(int))
    return (
        hvPlot(frame)
        .heatmap(
            x="hour",
            y="day",
            C="incidents",
            cmap="Blues",
            responsive=True,
            height=height,
            xlabel="Hour of day",
            ylabel="",
            title="Day of week × hour of day",
            colorbar=True,
        )
        .opts(framewise=True, invert_yaxis=True, tools=["hover"])
    )


def arrest_rate_chart(rates: pd.DataFrame, *, height: int = 300) -> hv.Bars:
    """Arrest rate (%) per primary type, highest first."""
    return (
        hvPlot(rates.iloc[::-1])
        .barh(
            x="primary_type",
            y="arrest_rate",
            xlabel="",
            ylabel="Arrest rate (%)",
            responsive=True,
            height=height,
            color="#d62728",
            title="Arrest rate by primary type (%)",
            hover_tooltips=[
                ("Type", "@primary_type"),
                ("Arrest rate", "@arrest_rate{0.0}%"),
                ("Incidents", "@incidents{0,0}"),
            ],
        )
        .opts(framewise=True, xlim=(0, 100), hooks=[_follow_factors])
    )


def incident_points(points: pd.DataFrame) -> hv.Points:
    """Every located incident (Web Mercator ``x``/``y``), coloured by arrest."""
    return hvPlot(points).points(
        x="x",
        y="y",
        color="#d62728",
        size=5,
        alpha=0.6,
        hover_cols=["date_local", "primary_type", "block", "arrest"],
        xaxis=None,
        yaxis=None,
        responsive=True,
    )


def density_points(cells: pd.DataFrame) -> hv.Points:
    """Cell centres of the density grid with their ``incidents``; the page rasterises them."""
    return hv.Points(cells, kdims=["x", "y"], vdims=["incidents"])


def area_bubbles(areas: pd.DataFrame) -> hv.Overlay:
    """Community areas at the mean position of their incidents, sized by count, labelled."""
    peak = float(areas["incidents"].max()) if len(areas) else 1.0
    frame = areas.assign(size=6 + 24 * (areas["incidents"] / max(peak, 1.0)) ** 0.5)
    bubbles = hvPlot(frame).points(
        x="x",
        y="y",
        size="size",
        color="#ff7f0e",
        alpha=0.35,
        line_color="#7f3f00",
        hover_cols=["community_area", "incidents", "arrest_rate"],
        xaxis=None,
        yaxis=None,
        responsive=True,
    )
    labels = hv.Labels(frame, kdims=["x", "y"], vdims=["community_area"]).opts(text_font_size="8pt")
    return bubbles * labels
