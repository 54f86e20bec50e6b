"""The dashboard's charts: Bokeh figures drawn once per page, then fed each selection's data in place.

Each chart is a small class holding one Bokeh figure (``.figure``) and the
models it changes (data sources, ranges, colour mappers); ``update(frame)``
turns a query's frame into new column data and sets it.  A filter change thus
sends the browser a handful of property changes, never new models: BokehJS
repaints the canvases, nothing else on the page moves.  (HoloViews panes, which
the page used before, rebuilt their elements on the server for every change,
a few hundred milliseconds per change for five charts.)

The frame-to-columns functions are pure and tested on their own; the classes
only set what those return.  A chart never changes its outer size, so a
redraw never re-lays out the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import colorcet
import numpy as np
import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    DataRange1d,
    EqHistColorMapper,
    FactorRange,
    HoverTool,
    LinearColorMapper,
    Range1d,
    WMTSTileSource,
)
from bokeh.models.annotations import ColorBar, LabelSet
from bokeh.palettes import Blues256
from bokeh.plotting import figure

from dashboard.aggregates import web_mercator

__all__ = [
    "DOW_LABELS",
    "MARKER_MAX_DAYS",
    "BarsFigure",
    "HeatmapFigure",
    "MapFigure",
    "SeriesFigure",
    "area_columns",
    "bar_columns",
    "density_raster",
    "heatmap_columns",
    "point_columns",
    "series_columns",
    "tile_provider",
    "warm_up_rasteriser",
]

# Up to this many periods, each also gets a marker (a one-day range stays visible).
MARKER_MAX_DAYS = 92
DOW_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BLUE = "#1f77b4"
RED = "#d62728"
_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
# Bars and the heatmap show every category at once: nothing to zoom into, hover and save suffice
# (each tool is a few more models for the server to build and the browser to draw).
_FEW_TOOLS = "save"
# Perceptually uniform black-red-yellow-white, the palette datashader shades with by default.
_FIRE = tuple(colorcet.fire)


def _frame_figure(**kwargs: Any) -> Any:
    """A Bokeh figure of fixed height stretching to the page's width, with the common tools."""
    opts: dict[str, Any] = {
        "sizing_mode": "stretch_width",
        "height": 300,
        "tools": _TOOLS,
        "toolbar_location": "above",
        "output_backend": "canvas",
    }
    opts.update(kwargs)
    fig = figure(**opts)
    fig.toolbar.logo = None
    return fig


# --- pure: frames to column data ------------------------------------------------------------------


def series_columns(series: pd.DataFrame) -> dict[str, Any]:
    """``period`` (datetime64) and ``incidents`` of an incident series."""
    return {
        "period": pd.to_datetime(series["period"]).to_numpy(dtype="datetime64[ns]"),
        "incidents": series["incidents"].to_numpy(dtype="int64"),
    }


def bar_columns(frame: pd.DataFrame, value: str) -> tuple[dict[str, Any], list[str]]:
    """Columns of horizontal bars (the frame's first row on top) and the categorical axis' factors, bottom up."""
    ordered = frame.iloc[::-1]
    factors = [str(v) for v in ordered["primary_type"]]
    columns: dict[str, Any] = {"primary_type": factors, value: ordered[value].to_numpy(dtype="float64")}
    if value != "incidents" and "incidents" in ordered:
        columns["incidents"] = ordered["incidents"].to_numpy(dtype="int64")
    return columns, factors


def heatmap_columns(cells: pd.DataFrame) -> tuple[dict[str, Any], int]:
    """All 7 x 24 cells (missing ones count 0): ``hour``, ``day`` label, ``incidents``; and the largest count."""
    full = np.zeros((7, 24), dtype="int64")
    if len(cells):
        dows = cells["dow"].to_numpy(dtype="int64") - 1
        hours = cells["hour"].to_numpy(dtype="int64")
        np.add.at(full, (dows, hours), cells["incidents"].to_numpy(dtype="int64"))
    days = [DOW_LABELS[d] for d in range(7) for _ in range(24)]
    hours_col = np.tile(np.arange(24, dtype="int64"), 7)
    return {"hour": hours_col, "day": days, "incidents": full.ravel()}, int(full.max())


def point_columns(points: pd.DataFrame) -> dict[str, Any]:
    """Every located incident: Web Mercator ``x``/``y`` and what the hover shows."""
    x, y = web_mercator(points["longitude"], points["latitude"])
    return {
        "x": x,
        "y": y,
        "date_local": pd.to_datetime(points["date_local"]).to_numpy(dtype="datetime64[ns]"),
        "primary_type": points["primary_type"].astype(str).to_numpy(),
        "block": points["block"].astype(str).to_numpy(),
        "arrest": np.where(points["arrest"].fillna(False).astype(bool), "yes", "no"),
    }


def area_columns(areas: pd.DataFrame) -> dict[str, Any]:
    """Community areas at the mean position of their incidents (``x``/``y``, Web Mercator, as
    :func:`dashboard.aggregates.community_areas` gives them), with a marker size growing with the count."""
    located = areas.dropna(subset=["x", "y"])
    peak = float(located["incidents"].max()) if len(located) else 1.0
    incidents = located["incidents"].to_numpy(dtype="float64")
    return {
        "x": located["x"].to_numpy(dtype="float64"),
        "y": located["y"].to_numpy(dtype="float64"),
        "size": 6 + 24 * np.sqrt(incidents / max(peak, 1.0)),
        "community_area": located["community_area"].astype(str).to_numpy(),
        "incidents": located["incidents"].to_numpy(dtype="int64"),
        "arrest_rate": located["arrest_rate"].to_numpy(dtype="float64"),
    }


def density_raster(cells: pd.DataFrame, cell: float) -> dict[str, Any]:
    """The density grid as one image, rasterised with datashader: one pixel per ``cell`` degrees.

    ``cells`` holds cell centres (``longitude``, ``latitude``) and their
    ``incidents``.  Each pixel holds the exact sum of its cell (NaN where there
    is none, drawn transparent).  The image spans the cells' extent in Web
    Mercator; its rows are spaced evenly in latitude, which over a city's
    extent is within a fraction of a pixel of Mercator's spacing.
    """
    empty: dict[str, Any] = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
    if not len(cells):
        return empty
    lon = cells["longitude"].to_numpy(dtype="float64")
    lat = cells["latitude"].to_numpy(dtype="float64")
    lon0, lat0 = lon.min() - cell / 2, lat.min() - cell / 2
    nx = round(float(lon.max() + cell / 2 - lon0) / cell)
    ny = round(float(lat.max() + cell / 2 - lat0) / cell)
    lon1, lat1 = lon0 + nx * cell, lat0 + ny * cell
    image = _aggregate(cells, (lon0, lon1), (lat0, lat1), nx, ny)
    image[image <= 0] = np.nan
    (x0, x1), (y0, y1) = web_mercator([lon0, lon1], [lat0, lat1])
    return {"image": [image.astype("float32")], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}


def _aggregate(cells: pd.DataFrame, xr: tuple[float, float], yr: tuple[float, float], nx: int, ny: int) -> Any:
    """Sum of ``incidents`` per pixel of an ``ny`` x ``nx`` raster (row 0 at the south), by datashader."""
    import datashader as ds  # numba-compiled on first use: loaded by the dashboard's warm-up, not on import

    # Always the same columns and types: datashader compiles its aggregation once per frame layout.
    frame = pd.DataFrame(
        {
            "longitude": cells["longitude"].to_numpy(dtype="float64"),
            "latitude": cells["latitude"].to_numpy(dtype="float64"),
            "incidents": cells["incidents"].to_numpy(dtype="float64"),
        }
    )
    canvas = ds.Canvas(plot_width=nx, plot_height=ny, x_range=xr, y_range=yr)
    agg = canvas.points(frame, "longitude", "latitude", agg=ds.sum("incidents"))
    return np.nan_to_num(np.asarray(agg.values, dtype="float64"), nan=0.0)


_OSM = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
_TILES = {
    "CartoLight": ("https://basemaps.cartocdn.com/light_all/{Z}/{X}/{Y}.png", f"{_OSM} &copy; CARTO"),
    "CartoDark": ("https://basemaps.cartocdn.com/dark_all/{Z}/{X}/{Y}.png", f"{_OSM} &copy; CARTO"),
    "OSM": ("https://tile.openstreetmap.org/{Z}/{X}/{Y}.png", _OSM),
}


def warm_up_rasteriser(cell: float) -> None:
    """Compile datashader's aggregation once (a few seconds of numba), before any page needs it."""
    density_raster(pd.DataFrame({"longitude": [-87.6, -87.7], "latitude": [41.8, 41.9], "incidents": [1, 2]}), cell)


def tile_provider(name: str) -> WMTSTileSource | None:
    """The web map tiles for a ``DASHBOARD_MAP_TILES`` name (CartoLight for an unknown one); None for ``none``."""
    if name == "none":
        return None
    url, attribution = _TILES.get(name, _TILES["CartoLight"])
    return WMTSTileSource(url=url, attribution=attribution)


# --- the figures ------------------------------------------------------------------------------------


class SeriesFigure:
    """Incidents per day or week: a line (with markers for short series) whose title names the grain."""

    def __init__(self, height: int = 300) -> None:
        self.source = ColumnDataSource(series_columns(pd.DataFrame({"period": [], "incidents": []})))
        fig = _frame_figure(
            height=height, x_axis_type="datetime", y_range=DataRange1d(start=0), title="Incidents per day"
        )
        line = fig.line("period", "incidents", source=self.source, line_width=2, color=BLUE)
        self.markers = fig.scatter("period", "incidents", source=self.source, size=6, color=BLUE)
        fig.add_tools(
            HoverTool(
                renderers=[line],
                tooltips=[("Period", "@period{%a %F}"), ("Incidents", "@incidents{0,0}")],
                formatters={"@period": "datetime"},
                mode="vline",
            )
        )
        fig.yaxis.axis_label = "Incidents"
        fig.xaxis.axis_label = "Day (Chicago local)"
        self.figure = fig

    def update(self, series: pd.DataFrame, grain: str) -> None:
        self.source.data = series_columns(series)
        self.markers.visible = len(series) <= MARKER_MAX_DAYS
        self.figure.title.text = f"Incidents per {grain}"
        self.figure.xaxis.axis_label = "Week starting (Chicago local)" if grain == "week" else "Day (Chicago local)"


class BarsFigure:
    """Horizontal bars per primary type, the first row of the frame on top."""

    def __init__(
        self,
        *,
        value: str,
        title: str,
        axis_label: str,
        color: str,
        tooltips: Sequence[tuple[str, str]],
        x_range: Any = None,
        height: int = 300,
    ) -> None:
        self.value = value
        columns, factors = bar_columns(pd.DataFrame({"primary_type": [], value: [], "incidents": []}), value)
        self.source = ColumnDataSource(columns)
        self.factors = FactorRange(factors=factors)
        fig = _frame_figure(
            height=height, y_range=self.factors, x_range=x_range or DataRange1d(start=0), title=title, tools=_FEW_TOOLS
        )
        fig.hbar(y="primary_type", right=value, height=0.8, source=self.source, color=color)
        fig.add_tools(HoverTool(tooltips=list(tooltips)))
        fig.xaxis.axis_label = axis_label
        fig.ygrid.grid_line_color = None
        self.figure = fig

    def update(self, frame: pd.DataFrame, title: str | None = None) -> None:
        columns, factors = bar_columns(frame, self.value)
        self.source.data = columns
        if list(self.factors.factors) != factors:
            self.factors.factors = factors
        if title is not None:
            self.figure.title.text = title


class HeatmapFigure:
    """Day of week (Monday on top) x hour of day, shaded by incidents."""

    def __init__(self, height: int = 300) -> None:
        columns, _peak = heatmap_columns(pd.DataFrame({"dow": [], "hour": [], "incidents": []}))
        self.source = ColumnDataSource(columns)
        self.mapper = LinearColorMapper(palette=tuple(reversed(Blues256)), low=0, high=1)
        fig = _frame_figure(
            height=height,
            x_range=Range1d(start=-0.5, end=23.5),
            y_range=FactorRange(factors=list(reversed(DOW_LABELS))),
            title="Day of week × hour of day",
            tools=_FEW_TOOLS,
        )
        fig.rect(
            x="hour",
            y="day",
            width=1,
            height=1,
            source=self.source,
            fill_color={"field": "incidents", "transform": self.mapper},
            line_color=None,
        )
        fig.add_layout(ColorBar(color_mapper=self.mapper, width=10), "right")
        fig.add_tools(HoverTool(tooltips=[("Day", "@day"), ("Hour", "@hour"), ("Incidents", "@incidents{0,0}")]))
        fig.xaxis.axis_label = "Hour of day"
        fig.grid.grid_line_color = None
        self.figure = fig

    def update(self, cells: pd.DataFrame) -> None:
        columns, peak = heatmap_columns(cells)
        self.source.data = columns
        self.mapper.high = max(peak, 1)


class MapFigure:
    """The map: every incident as a point, or the density raster; community areas on top; tiles below.

    One figure for both layers: switching between them shows one renderer and
    hides the other, so the page keeps its layout.  The view follows the
    visible data until the user pans or zooms (then it stays where they are;
    Reset returns to the data).  Without tiles (offline, or switched off) the
    layers are drawn on a plain background and stay readable.
    """

    def __init__(self, *, tiles: Any | None, cell: float, height: int = 480) -> None:
        self.cell = cell
        fig = _frame_figure(
            height=height,
            x_range=DataRange1d(only_visible=True, range_padding=0.05),
            y_range=DataRange1d(only_visible=True, range_padding=0.05),
            match_aspect=True,
            x_axis_type=None,
            y_axis_type=None,
            active_scroll="wheel_zoom",
        )
        fig.grid.visible = False
        self.tiles = fig.add_tile(tiles, retina=False, alpha=0.6) if tiles is not None else None
        self.density_source = ColumnDataSource(density_raster(pd.DataFrame(), cell))
        self.density_mapper = EqHistColorMapper(palette=_FIRE, nan_color="rgba(0, 0, 0, 0)")
        self.density = fig.image(
            image="image", x="x", y="y", dw="dw", dh="dh", source=self.density_source, color_mapper=self.density_mapper
        )
        self.points_source = ColumnDataSource(
            {k: [] for k in ("x", "y", "date_local", "primary_type", "block", "arrest")}
        )
        self.points = fig.scatter("x", "y", source=self.points_source, size=5, alpha=0.6, color=RED)
        self.areas_source = ColumnDataSource(
            {k: [] for k in ("x", "y", "size", "community_area", "incidents", "arrest_rate")}
        )
        areas = fig.scatter(
            "x",
            "y",
            size="size",
            source=self.areas_source,
            fill_color="#ff7f0e",
            fill_alpha=0.35,
            line_color="#7f3f00",
        )
        fig.add_layout(LabelSet(x="x", y="y", text="community_area", source=self.areas_source, text_font_size="8pt"))
        fig.add_tools(
            HoverTool(
                renderers=[self.points],
                tooltips=[
                    ("When", "@date_local{%F %T}"),
                    ("Type", "@primary_type"),
                    ("Block", "@block"),
                    ("Arrest", "@arrest"),
                ],
                formatters={"@date_local": "datetime"},
            ),
            HoverTool(renderers=[self.density], tooltips=[("Incidents", "@image{0,0}")]),
            HoverTool(
                renderers=[areas],
                tooltips=[
                    ("Community area", "@community_area"),
                    ("Incidents", "@incidents{0,0}"),
                    ("Arrest rate", "@arrest_rate{0.0}%"),
                ],
            ),
        )
        self.show_layer(as_points=True)
        self.figure = fig

    def show_layer(self, *, as_points: bool) -> None:
        self.points.visible = as_points
        self.density.visible = not as_points

    def update(self, *, as_points: bool, layer: pd.DataFrame, areas: pd.DataFrame) -> None:
        """New data: ``layer`` holds every located incident (``as_points``) or the density grid's cells."""
        if as_points:
            self.points_source.data = point_columns(layer)
            self.density_source.data = density_raster(pd.DataFrame(), self.cell)
        else:
            self.density_source.data = density_raster(layer, self.cell)
            self.points_source.data = {k: [] for k in self.points_source.data}
        self.areas_source.data = area_columns(areas)
        self.show_layer(as_points=as_points)

    def show_tiles(self, on: bool) -> None:
        if self.tiles is not None:
            self.tiles.visible = on
