"""The analyst dashboard: a Panel page over the lake, refreshed live.

``create_app(settings)`` builds one page (one per browser session):

* **Filters** (sidebar): date range (default: the last 30 days present in the
  lake), primary types, districts, community areas, arrest, domestic, hour of
  day, series grain, map tiles.  Their state lives in the URL.
* **Views**: KPI cards (incidents, arrest rate, domestic share, change versus
  the previous period of the same length), incidents per day or week, top
  primary types, day-of-week x hour heatmap, arrest rate by type, a map (every
  point for short ranges, a datashader raster beyond, community areas on top),
  a paged table and a CSV download of the whole filtered set (capped, and the
  page says so).
* **Freshness and health** (sidebar): newest source update in the lake, last
  write, poller and processor state (``dashboard.health``).

Aggregates come from the shared in-memory fact table (``dashboard.facts``),
rows from the partition files (``dashboard.rows``).  Instead of charts the page
shows a plain message when the lake is empty, when no row matches, or when the
lake could not be read; errors never reach the page as a traceback.

A change of the filters re-reads and redraws only the views whose inputs changed
(the series alone for its grain; the map's tiles are shown or hidden without a
query), and the charts are Bokeh figures updated in place, never re-created
(``dashboard.figures``).  After each
selection the page advances its **render marker**, an element whose
``data-render-generation`` counts the selections drawn (``RENDER_MARKER_CLASS``):
browser tests and ``benchmarks/dashboard_browser_bench.py`` wait on it.

While served, the page syncs the fact table every ``DASHBOARD_REFRESH_SECONDS``
(a cheap file-system fingerprint) and re-renders only when the lake changed, so
a viewer sees new data arrive without reloading.

Run directly with ``panel serve dashboard/app.py`` (settings from the
environment), or through ``crimestream dashboard`` (``dashboard.server``).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import weakref
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any, TypeVar

import pandas as pd
import panel as pn
import param
from bokeh.document import Document
from bokeh.models import Range1d
from panel.template.base import BaseTemplate

from crimestream.errors import CrimestreamError
from dashboard import bundles
from dashboard.aggregates import (
    Grain,
    Kpis,
    arrest_rate_by_type,
    community_areas,
    day_bounds,
    density_grid,
    heatmap,
    incident_series,
    kpis,
    lake_options,
    series_grain,
    top_types,
)
from dashboard.facts import DENSITY_CELL_DEGREES, FactSnapshot, fact_store
from dashboard.figures import BLUE, RED, BarsFigure, HeatmapFigure, MapFigure, SeriesFigure, tile_provider
from dashboard.filters import Filters
from dashboard.health import read_health, render_health
from dashboard.kpicards import kpi_cards_html
from dashboard.prepared import PreparedPage
from dashboard.queries import EMPTY_LAKE_MESSAGE, EmptyLakeError
from dashboard.rows import TABLE_COLUMNS, ExportPlan, export_csv, map_points, plan_export, table_page
from dashboard.selection import DateWindow, follow_lake
from dashboard.settings import DashboardSettings
from dashboard.tablehtml import table_html
from dashboard.urlstate import URL_PARAMETERS, UrlFilters, UrlState, parse_url_state

__all__ = [
    "APP_TITLE",
    "NO_ROWS_IN_LAKE_MESSAGE",
    "RENDER_MARKER_CLASS",
    "Dashboard",
    "create_app",
    "dashboard_of",
    "no_match_message",
    "render_marker_html",
]

log = logging.getLogger(__name__)

APP_TITLE = "crimestream · Chicago crimes"

NO_ROWS_IN_LAKE_MESSAGE = (
    "The lake has partition files but no incidents in them yet; the page updates as soon as data arrives."
)
_UNEXPECTED_MESSAGE = (
    "The dashboard could not read the lake because of an unexpected error; the details are in the server log."
)
bundles.install()
# Panel asks every page's browser for its details (dark mode, pixel ratio, language, time zone,
# WebGL...): one more root model, and seven messages back to the server as the page loads, each
# flashing the busy indicator.  The page never reads them.
pn.config.browser_info = False

T = TypeVar("T")
_FRESHNESS = "#### Freshness\n\n"  # the freshness panel's heading
_MAP_HEIGHT = 480
_TRI_VALUES = {"All": None, "Yes": True, "No": False}

# The page's render marker: an empty element whose data attributes say how many filter states the
# page has finished drawing, and how the last one ended ("views": every view drawn with its data;
# "message": a message shown instead).  Updated after every other model, so a browser that sees
# generation N has received everything drawn for it (benchmarks and tests wait on it, not on sleeps).
RENDER_MARKER_CLASS = "render-marker"


def no_match_message(window: DateWindow, types: Sequence[str], filters: Filters | None = None) -> str:
    """The message shown when the filters select no incident."""
    start, end = window
    span = f"on {start:%Y-%m-%d}" if start == end else f"from {start:%Y-%m-%d} to {end:%Y-%m-%d}"
    kinds = f" of type {', '.join(types)}" if types else ""
    extra = ""
    if filters is not None:
        rest = [p for p in filters.describe().split("; ")[1:] if not p.startswith("type ")]
        extra = f" ({'; '.join(rest)})" if rest else ""
    return f"No incidents{kinds} {span}{extra}. Widen the date range or clear some filters."


def render_marker_html(generation: int, outcome: str, server_ms: float = 0.0) -> str:
    """The render marker's markup (see :data:`RENDER_MARKER_CLASS`); ``server_ms``: the server's share."""
    return (
        f'<span class="{RENDER_MARKER_CLASS}" data-render-generation="{int(generation)}" '
        f'data-render-outcome="{outcome}" data-render-ms="{server_ms:.1f}"></span>'
    )


def _send_text_only(pane: Any, model: Any) -> None:
    text = pane._transform_object(pane.object)["object"]
    if text != model.text:
        model.text = text


class _Text(pn.pane.Markdown):
    """A Markdown pane whose updates send the browser its new text, and nothing else.

    Panel's own update re-sends every property, and a session's first update
    replaces the pane's stylesheet models: the browser then re-lays out the
    whole page once per pane (about 0.6 s for the page's five changing texts).
    """

    def _update(self, ref: str, model: Any) -> None:
        _send_text_only(self, model)


class _Html(pn.pane.HTML):
    """An HTML pane updated like :class:`_Text`."""

    def _update(self, ref: str, model: Any) -> None:
        _send_text_only(self, model)


class _Failed(Exception):
    """Internal: a lake read failed and its message is already on the page."""


@dataclass(frozen=True)
class _MapFrames:
    """What the map draws: ``layer`` (points, or density cells) and the community areas on top."""

    as_points: bool
    layer: pd.DataFrame
    areas: pd.DataFrame
    incidents: int


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _tri(value: bool | None) -> str:
    return {None: "All", True: "Yes", False: "No"}[value]


class Dashboard(pn.viewable.Viewer):
    """The page's state and widgets; ``refresh()`` re-reads the lake when it changed."""

    def __init__(self, settings: DashboardSettings, *, url_values: dict[str, Any] | None = None, **params: Any) -> None:
        super().__init__(**params)
        self._settings = settings
        self._lake_dir = settings.lake_dir
        self._store = fact_store(settings.lake_dir)
        self._default_days = settings.dashboard_default_days
        self._refresh_seconds = settings.dashboard_refresh_seconds
        self._generation: int | None = None
        self._bounds: DateWindow | None = None
        self._syncing = False
        self._pending_url: UrlFilters | None = parse_url_state(url_values) if url_values else None
        self._filters: Filters | None = None
        self._page = 0
        # What each view was last drawn for (lake generation, filters, and its own extra inputs):
        # a render redraws only the views whose inputs changed.
        self._drawn: dict[str, Hashable] = {}
        self.url = UrlState()
        self.render_generation = 0  # filter states drawn so far (see RENDER_MARKER_CLASS)
        self.render_marker = _Text(render_marker_html(0, "pending"), width=0, height=0, margin=0)

        wide = {"sizing_mode": "stretch_width"}
        # Each filter widget carries a ``filter-<name>`` CSS class: a stable handle for styling and browser tests.
        self.date_range = pn.widgets.DateRangePicker(
            label="Days (Chicago local date)", disabled=True, css_classes=["filter-dates"], **wide
        )
        self.crime_types = pn.widgets.MultiChoice(
            label="Crime types",
            options=[],
            placeholder="All crime types",
            disabled=True,
            css_classes=["filter-types"],
            **wide,
        )
        self.districts = pn.widgets.MultiChoice(
            label="Police districts",
            options=[],
            placeholder="All districts",
            disabled=True,
            css_classes=["filter-districts"],
            **wide,
        )
        self.areas = pn.widgets.MultiChoice(
            label="Community areas",
            options=[],
            placeholder="All community areas",
            disabled=True,
            css_classes=["filter-areas"],
            **wide,
        )
        tri = {"options": list(_TRI_VALUES), "value": "All"}
        self.arrest = pn.widgets.RadioButtonGroup(label="Arrest", css_classes=["filter-arrest"], **tri, **wide)
        self.domestic = pn.widgets.RadioButtonGroup(label="Domestic", css_classes=["filter-domestic"], **tri, **wide)
        self.hours = pn.widgets.IntRangeSlider(
            label="Hour of day", start=0, end=23, value=(0, 23), step=1, css_classes=["filter-hours"], **wide
        )
        self.grain = pn.widgets.RadioButtonGroup(
            label="Series", options=["Auto", "Day", "Week"], value="Auto", css_classes=["filter-grain"], **wide
        )
        self.tiles = pn.widgets.Checkbox(
            label="Map tiles (loaded from the internet)",
            value=settings.dashboard_map_tiles != "none",
            disabled=settings.dashboard_map_tiles == "none",
            css_classes=["filter-tiles"],
        )

        # KPI cards and the period they cover: one HTML pane (dashboard.kpicards).
        self.kpis = _Html("", **wide)
        self.shown_kpis: Kpis | None = None  # the KPIs of the state the views show (None: not a known one)

        # Charts: Bokeh figures drawn once, then fed each selection's data in place (dashboard.figures).
        # Fixed heights: a pane and its figure never disagree about their size (each disagreement
        # re-lays out the whole page in the browser), and no view is ever shown or hidden.
        self.series_figure = SeriesFigure()
        self.top_figure = BarsFigure(
            value="incidents",
            title="Top primary types",
            axis_label="Incidents",
            color=BLUE,
            tooltips=[("Type", "@primary_type"), ("Incidents", "@incidents{0,0}")],
        )
        self.heatmap_figure = HeatmapFigure()
        self.arrest_figure = BarsFigure(
            value="arrest_rate",
            title="Arrest rate by primary type (%)",
            axis_label="Arrest rate (%)",
            color=RED,
            tooltips=[
                ("Type", "@primary_type"),
                ("Arrest rate", "@arrest_rate{0.0}%"),
                ("Incidents", "@incidents{0,0}"),
            ],
            x_range=Range1d(start=0, end=100),
        )
        self.map_figure = MapFigure(tiles=tile_provider(settings.dashboard_map_tiles), cell=DENSITY_CELL_DEGREES)
        self.map_figure.show_tiles(self.tiles.value)
        chart_opts = {"sizing_mode": "stretch_width", "height": 300}
        self.chart = pn.pane.Bokeh(self.series_figure.figure, **chart_opts)  # the series
        self.top_chart = pn.pane.Bokeh(self.top_figure.figure, **chart_opts)
        self.heatmap_chart = pn.pane.Bokeh(self.heatmap_figure.figure, **chart_opts)
        self.arrest_chart = pn.pane.Bokeh(self.arrest_figure.figure, **chart_opts)
        self.map_chart = pn.pane.Bokeh(self.map_figure.figure, sizing_mode="stretch_width", height=_MAP_HEIGHT)
        self.map_note = _Text("", **wide)

        # Table and export.
        # The page of rows: plain HTML (dashboard.tablehtml), set in one go in the browser.
        self.table = _Html(table_html(pd.DataFrame(columns=list(TABLE_COLUMNS))), height=410, **wide)
        self.prev_page = pn.widgets.Button(label="◀ Newer", width=100, disabled=True)
        self.next_page = pn.widgets.Button(label="Older ▶", width=100, disabled=True)
        self.page_info = _Text("", **wide)
        self.download = pn.widgets.FileDownload(
            callback=self._export_file, filename="crimes.csv", label="Download CSV", color="primary", width=360
        )
        self.export_note = _Text("", **wide)

        self.message = pn.pane.Alert("", alert_type="info", visible=False, **wide)
        self.warning = pn.pane.Alert("", alert_type="warning", visible=False, **wide)
        self.results = pn.Column(
            self.kpis,
            pn.Row(self.chart, self.top_chart, **wide),
            pn.Row(self.heatmap_chart, self.arrest_chart, **wide),
            self.map_note,
            self.map_chart,
            pn.pane.Markdown("### Incidents", **wide),
            pn.Row(self.prev_page, self.next_page, self.page_info, **wide),
            self.table,
            pn.Row(self.download, self.export_note, **wide),
            visible=False,
            **wide,
        )
        self.status = _Text("", styles={"color": "#6c757d", "font-size": "0.85em"}, **wide)
        self.health = _Text("", styles={"font-size": "0.85em"}, **wide)
        self.filters = pn.Column(
            self.date_range,
            self.crime_types,
            self.districts,
            self.areas,
            pn.pane.Markdown("Arrest", margin=(5, 10, 0, 10)),
            self.arrest,
            pn.pane.Markdown("Domestic", margin=(5, 10, 0, 10)),
            self.domestic,
            self.hours,
            pn.pane.Markdown("Series per", margin=(5, 10, 0, 10)),
            self.grain,
            self.tiles,
            self.status,
            self.health,
        )
        self.main = pn.Column(self.warning, self.message, self.results, self.render_marker, **wide)

        for widget in (self.date_range, self.crime_types, self.districts, self.areas, self.arrest, self.domestic):
            widget.param.watch(self._on_filter_change, "value")
        for control in (*self._filter_widgets(), self.tiles):
            # Panel holds a browser change back 50 ms in case more follow (typing); each of these
            # widgets sends one value per user action, so it is handled at once.
            control._debounce = 0  # type: ignore[misc]
        self.hours.param.watch(self._on_filter_change, "value_throttled")
        self.grain.param.watch(self._on_filter_change, "value")
        self.tiles.param.watch(self._on_tiles_change, "value")
        self.prev_page.on_click(lambda _e: self._turn_page(-1))
        self.next_page.on_click(lambda _e: self._turn_page(1))
        self.refresh(force=True)

    def _filter_widgets(self) -> tuple[pn.widgets.Widget, ...]:
        return (
            self.date_range,
            self.crime_types,
            self.districts,
            self.areas,
            self.arrest,
            self.domestic,
            self.hours,
            self.grain,
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(pn.Column(self.filters, width=320), self.main, sizing_mode="stretch_width")

    # --- public -------------------------------------------------------------

    @property
    def window(self) -> DateWindow | None:
        value = self.date_range.value
        if not value or value[0] is None or value[1] is None:
            return None
        start, end = _day(value[0]), _day(value[1])
        return (start, end) if start <= end else (end, start)

    def current_filters(self) -> Filters | None:
        window = self.window
        if window is None:
            return None
        hours = self.hours.value
        return Filters(
            start=window[0],
            end=window[1],
            primary_types=tuple(self.crime_types.value),
            districts=tuple(self.districts.value),
            community_areas=tuple(self.areas.value),
            arrest=_TRI_VALUES[self.arrest.value],
            domestic=_TRI_VALUES[self.domestic.value],
            hour_from=int(hours[0]),
            hour_to=int(hours[1]),
        )

    def refresh(self, force: bool = False) -> bool:
        """Re-read the lake if its files changed (or ``force``); True if it re-read."""
        try:
            snapshot = self._store.sync()
            if not force and snapshot.generation == self._generation:
                self._update_status(snapshot)
                return False
            self._generation = snapshot.generation
            self._reload(snapshot)
            return True
        except Exception:  # the periodic callback must never die
            log.exception("dashboard refresh failed")
            self._generation = None
            self._show_message(_UNEXPECTED_MESSAGE, "danger")
            self._mark_rendered("message")
            return True

    def start_live_refresh(self) -> None:
        """Check the lake periodically while this page is open (served sessions only)."""
        if self._refresh_seconds <= 0 or pn.state.curdoc is None:
            return
        pn.state.add_periodic_callback(self._tick, period=int(self._refresh_seconds * 1000))

    def sync_url(self) -> None:
        """Keep the filter state in the browser's URL (served sessions only).

        Done once the browser is connected: before that, the page's location
        would be overwritten by the browser's own.
        """
        location = pn.state.location
        if location is None:
            return

        def on_load() -> None:
            location.sync(self.url, {name: name for name in URL_PARAMETERS}, on_error=lambda _values: None)
            self._write_url()
            location.update_query(**{name: getattr(self.url, name) for name in URL_PARAMETERS})

        pn.state.onload(on_load)

    # --- internals ------------------------------------------------------------

    def _tick(self) -> None:
        self.refresh()

    def _reload(self, snapshot: FactSnapshot) -> None:
        self.warning.visible = bool(snapshot.problems)
        if snapshot.problems:
            names = ", ".join(f"`{path}`" for path in snapshot.problems)
            self.warning.object = (
                f"Could not read the lake partition(s) {names}; they are left out until they are rewritten."
            )
        if snapshot.is_empty:
            self._set_bounds(None)
            self._show_message(EMPTY_LAKE_MESSAGE, "info")
            self._mark_rendered("message")
            self._update_status(snapshot)
            return
        try:
            bounds = self._read(lambda: day_bounds(self._store))
            options = self._read(lambda: lake_options(self._store)) if bounds else None
        except _Failed:
            self._mark_rendered("message")
            self._update_status(snapshot)
            return
        if bounds is None or options is None:
            self._set_bounds(None)
            self._show_message(NO_ROWS_IN_LAKE_MESSAGE, "info")
            self._mark_rendered("message")
        else:
            self._set_bounds(bounds, options.primary_types, options.districts, options.community_areas)
            self._render()
        self._update_status(snapshot)

    def _set_bounds(
        self,
        bounds: DateWindow | None,
        types: Sequence[str] = (),
        districts: Sequence[str] = (),
        areas: Sequence[str] = (),
    ) -> None:
        """Move the filters to the lake's new contents without re-rendering on each change."""
        self._syncing = True
        try:
            choices = (self.crime_types, self.districts, self.areas)
            if bounds is None:
                self.date_range.disabled = True
                for widget in choices:
                    widget.disabled = True
            else:
                window = follow_lake(self.window, self._bounds, bounds, self._default_days)
                # Bounds first: the value is validated against them.
                self.date_range.param.update(start=bounds[0], end=bounds[1], disabled=False)
                self.date_range.value = window
                for widget, options in zip(choices, (types, districts, areas), strict=True):
                    kept = [v for v in widget.value if v in options]
                    widget.param.update(options=list(options), value=kept, disabled=False)
                if self._pending_url is not None:
                    self._apply_url(self._pending_url, bounds, types, districts, areas)
                    self._pending_url = None
            self._bounds = bounds
        finally:
            self._syncing = False

    def _apply_url(
        self,
        wanted: UrlFilters,
        bounds: DateWindow,
        types: Sequence[str],
        districts: Sequence[str],
        areas: Sequence[str],
    ) -> None:
        """Apply what a shared URL asked for, as far as this lake allows."""
        if wanted.start is not None or wanted.end is not None:
            start = wanted.start or bounds[0]
            end = wanted.end or bounds[1]
            start, end = (min(start, end), max(start, end))
            start, end = max(start, bounds[0]), min(end, bounds[1])
            if start <= end:
                self.date_range.value = (start, end)
        for widget, asked, options in (
            (self.crime_types, wanted.types, types),
            (self.districts, wanted.districts, districts),
            (self.areas, wanted.areas, areas),
        ):
            if asked is not None:
                widget.value = [v for v in asked if v in options]
        if wanted.arrest is not None:
            self.arrest.value = wanted.arrest
        if wanted.domestic is not None:
            self.domestic.value = wanted.domestic
        if wanted.hours is not None:
            self.hours.value = wanted.hours
        if wanted.grain is not None:
            self.grain.value = wanted.grain.capitalize()

    def _write_url(self) -> None:
        filters = self._filters
        if filters is None:
            return
        self.url.param.update(
            start=filters.start.isoformat(),
            end=filters.end.isoformat(),
            types=json.dumps(list(filters.primary_types)) if filters.primary_types else "",
            district=json.dumps(list(filters.districts)) if filters.districts else "",
            area=json.dumps(list(filters.community_areas)) if filters.community_areas else "",
            arrest=_tri(filters.arrest).lower() if filters.arrest is not None else "",
            domestic=_tri(filters.domestic).lower() if filters.domestic is not None else "",
            hours="" if (filters.hour_from, filters.hour_to) == (0, 23) else f"{filters.hour_from}-{filters.hour_to}",
            grain="" if self.grain.value == "Auto" else self.grain.value.lower(),
        )

    def _on_filter_change(self, _event: param.parameterized.Event) -> None:
        if not self._syncing:
            self._render()

    def _on_tiles_change(self, event: param.parameterized.Event) -> None:
        """Show or hide the map's tiles: no query, nothing else redrawn."""
        self.map_figure.show_tiles(bool(event.new))
        if not self._syncing and self._filters is not None:
            self._mark_rendered("views")

    def _render(self) -> None:
        filters = self.current_filters()
        if self._bounds is None or filters is None:
            return
        self._filters = filters
        started = time.perf_counter()
        with _one_patch():
            self._write_url()
            drawn = self._draw(filters)
            if drawn:
                self.message.visible = False
                self.results.visible = True
            self._mark_rendered("views" if drawn else "message", started)

    def _draw(self, filters: Filters) -> bool:
        """Query and draw the views whose inputs changed; False when a message is shown instead.

        Every query runs before any view changes, so a failed read leaves the page as it was.
        """
        inputs = self._view_inputs(filters)
        stale = [name for name, key in inputs.items() if self._drawn.get(name) != key]
        try:
            figures = self.shown_kpis if "kpis" not in stale else None
            if figures is None:
                figures = self._read(lambda: kpis(self._store, filters))
            if figures.incidents == 0:
                self._forget_drawn()
                self._show_message(
                    no_match_message((filters.start, filters.end), filters.primary_types, filters), "warning"
                )
                return False
            queries = self._view_queries(filters, figures)
            results = {name: self._read(queries[name]) for name in stale}
        except _Failed:
            self._forget_drawn()
            return False
        painters = self._view_painters(filters)
        for name in stale:
            painters[name](results[name])
        self._drawn.update(inputs)
        return True

    def _forget_drawn(self) -> None:
        """The views no longer show a known state: the next render draws every one."""
        self._drawn.clear()
        self.shown_kpis = None

    def _view_inputs(self, filters: Filters) -> dict[str, Hashable]:
        """Per view, everything its content depends on; in drawing order."""
        state = (self._generation, filters)
        return {
            "kpis": state,
            "series": (state, self._series_grain(filters)),
            "top": state,
            "heatmap": state,
            "arrest": state,
            "map": state,
            "table": state,
            "export": state,
        }

    def _view_queries(self, filters: Filters, figures: Kpis) -> dict[str, Callable[[], Any]]:
        store = self._store
        grain = self._series_grain(filters)
        size = self._settings.dashboard_table_page_size
        return {
            "kpis": lambda: figures,
            "series": lambda: (incident_series(store, filters, grain), grain),
            "top": lambda: top_types(store, filters, 10),
            "heatmap": lambda: heatmap(store, filters),
            "arrest": lambda: arrest_rate_by_type(store, filters, 15),
            "map": lambda: self._map_frames(filters, figures.incidents),
            "table": lambda: table_page(self._lake_dir, store, filters, 0, size),
            "export": lambda: plan_export(store, filters, self._settings.dashboard_export_max_rows),
        }

    def _view_painters(self, filters: Filters) -> dict[str, Callable[[Any], None]]:
        return {
            "kpis": lambda figures: self._show_kpis(figures, filters),
            "series": lambda result: self.series_figure.update(*result),
            "top": lambda top: self.top_figure.update(top, title=f"Top {len(top)} primary types"),
            "heatmap": self.heatmap_figure.update,
            "arrest": self.arrest_figure.update,
            "map": self._show_map,
            "table": lambda result: self._show_table(0, *result),
            "export": lambda plan: self._show_export_note(filters, plan),
        }

    def _series_grain(self, filters: Filters) -> Grain:
        if self.grain.value == "Auto":
            return series_grain(filters)
        return "week" if self.grain.value == "Week" else "day"

    def _mark_rendered(self, outcome: str, started: float | None = None) -> None:
        """Advance the render marker: the page finished drawing a filter state (see RENDER_MARKER_CLASS)."""
        self.render_generation += 1
        server_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
        self.render_marker.object = render_marker_html(self.render_generation, outcome, server_ms)

    def _map_frames(self, filters: Filters, incidents: int) -> _MapFrames:
        """The map's data: every located incident for short ranges, else the density grid."""
        settings = self._settings
        areas = community_areas(self._store, filters)
        if filters.days <= settings.dashboard_map_points_days and incidents <= settings.dashboard_map_points_max:
            points = map_points(self._lake_dir, filters, settings.dashboard_map_points_max)
            return _MapFrames(True, points, areas, incidents)
        return _MapFrames(False, density_grid(self._store, filters), areas, incidents)

    def _show_map(self, frames: _MapFrames) -> None:
        settings = self._settings
        if frames.as_points:
            self.map_note.object = "### Map\n\n" + (
                f"Every located incident ({len(frames.layer):,} of {frames.incidents:,}; the rest have no "
                "coordinates). Orange circles: community areas, sized by incidents."
            )
        else:
            self.map_note.object = "### Map\n\n" + (
                f"{int(frames.layer['incidents'].sum()):,} located incidents, rasterised with datashader "
                "(too many to draw one by one: "
                f"points are shown up to {settings.dashboard_map_points_days} days and "
                f"{settings.dashboard_map_points_max:,} incidents). Orange circles: community areas."
            )
        self.map_figure.update(as_points=frames.as_points, layer=frames.layer, areas=frames.areas)

    def _render_table(self) -> None:
        filters = self._filters
        if filters is None:
            return
        size = self._settings.dashboard_table_page_size
        page = self._page
        frame, total = self._read(lambda: table_page(self._lake_dir, self._store, filters, page, size))
        self._show_table(page, frame, total)

    def _show_table(self, page: int, frame: pd.DataFrame, total: int) -> None:
        size = self._settings.dashboard_table_page_size
        self._page = page
        self.table.object = table_html(frame, TABLE_COLUMNS)
        first = page * size + 1 if total else 0
        last = min((page + 1) * size, total)
        self.page_info.object = f"Rows {first:,}–{last:,} of {total:,} (newest first)"
        self.prev_page.disabled = page == 0
        self.next_page.disabled = last >= total

    def _turn_page(self, step: int) -> None:
        self._page = max(self._page + step, 0)
        try:
            self._render_table()
        except _Failed:
            return

    def _show_export_note(self, filters: Filters, plan: ExportPlan) -> None:
        cap = plan.cap
        if plan.truncated:
            self.download.label = f"Download CSV (newest {plan.exported:,} of {plan.matching:,} rows)"
            self.export_note.object = (
                f"The download is capped at {cap:,} rows, newest first: narrow the filters to get the rest."
            )
        else:
            self.download.label = f"Download CSV ({plan.exported:,} rows)"
            self.export_note.object = "Every row matching the filters, newest first."
        self.download.filename = f"crimes_{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv"

    def _export_file(self) -> IO[bytes]:
        """FileDownload callback: stream the CSV into a spooled file and hand it over."""
        filters = self._filters
        out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - returned open
        if filters is None:
            return out
        try:
            for chunk in export_csv(self._lake_dir, self._store, filters, self._settings.dashboard_export_max_rows):
                out.write(chunk)
        except CrimestreamError as exc:
            self._show_message(f"The CSV export failed: {exc}", "warning")
        out.seek(0)
        return out  # type: ignore[return-value]

    def _read(self, query: Callable[[], T]) -> T:
        """Run a lake query; on failure put a clear message on the page and raise _Failed.

        A failure also forgets the lake generation, so the next periodic check reads
        again even if no file changed (a race lost, or a broken file repaired).
        """
        try:
            return query()
        except EmptyLakeError as exc:
            self._show_message(str(exc), "info")
        except CrimestreamError as exc:
            self._show_message(str(exc), "warning")
        except Exception:
            log.exception("unexpected error while querying the lake")
            self._show_message(_UNEXPECTED_MESSAGE, "danger")
        self._generation = None
        raise _Failed

    def _show_message(self, text: str, kind: str) -> None:
        self.message.param.update(object=text, alert_type=kind, visible=True)
        self.results.visible = False

    def _show_kpis(self, figures: Kpis, filters: Filters) -> None:
        self.shown_kpis = figures
        self.kpis.object = kpi_cards_html(figures, filters)

    def _update_status(self, snapshot: FactSnapshot) -> None:
        version = snapshot.version
        parts = [f"Lake: {version.file_count} partition file{'s' if version.file_count != 1 else ''}"]
        newest = version.newest_write
        if newest is not None:
            parts.append(f"last write {newest:%Y-%m-%d %H:%M:%S}")
        if self._bounds is not None:
            parts.append(f"days {self._bounds[0]:%Y-%m-%d} to {self._bounds[1]:%Y-%m-%d}")
        parts.append(f"checked {datetime.now():%H:%M:%S}")
        if self._refresh_seconds > 0:
            parts.append(f"rechecks every {self._refresh_seconds:g} s")
        self.status.object = " · ".join(parts)
        try:
            health = read_health(self._settings.data_dir, snapshot, poll_interval=self._settings.poll_interval_seconds)
            self.health.object = _FRESHNESS + render_health(health)
        except Exception:  # the freshness panel must never take the page down
            log.exception("could not read the freshness signals")
            self.health.object = _FRESHNESS + "Freshness signals could not be read; see the server log."


@contextmanager
def _one_patch() -> Iterator[None]:
    """Send everything a render changes to the browser as one message, applied in one go.

    Without it every changed property is its own message (a render changes a few
    dozen), and BokehJS re-lays out the page after each one that touches sizes,
    rather than once.  (Not ``doc.models.freeze()``: it re-indexes every model of
    the page when it ends, about 60 ms, while a render that only feeds data to
    existing models never needs that.)
    """
    doc = pn.state.curdoc
    if doc is None:
        yield
        return
    with pn.io.hold(doc):
        yield


# Weak both ways: the entry never keeps a session's page (or, through its models, its document) alive.
_SHOWN: weakref.WeakKeyDictionary[Document, weakref.ref[Dashboard]] = weakref.WeakKeyDictionary()


def dashboard_of(document: Document) -> Dashboard | None:
    """The dashboard a served session's page shows (None: no dashboard page was built into it)."""
    shown = _SHOWN.get(document)
    return shown() if shown is not None else None


def create_app(settings: DashboardSettings, prepared: PreparedPage[Dashboard] | None = None) -> BaseTemplate:
    """One dashboard page; call once per browser session.

    With ``prepared`` (the server's), a visitor without filters in the URL gets
    the page state built ahead (brought up to date with the lake first), and
    the next one is built once this page has loaded (``dashboard.prepared``).
    """
    url_values: dict[str, Any] = {}
    if pn.state.location is not None:
        try:
            url_values = dict(pn.state.location.query_params)
        except Exception:  # noqa: BLE001 - a malformed query string is ignored, never fatal
            log.info("ignoring an unreadable query string")
    dashboard = prepared.take() if prepared is not None and not url_values else None
    if dashboard is None:
        dashboard = Dashboard(settings, url_values=url_values)
    else:
        dashboard.refresh()  # the lake may have changed since it was built
    template = pn.template.BootstrapTemplate(
        title=APP_TITLE,
        sidebar=[dashboard.filters],
        main=[dashboard.main],
        sidebar_width=340,
        header_background="#1f3a5f",
        # No busy spinner: Panel's busy flag is process-wide, so every open page's spinner would
        # turn on any visitor's click, each one a message to its browser and an animation during
        # the redraw (A/B, 44 redraws each: p50 369 -> 319 and 418 -> 361 ms without it).
        busy_indicator=None,
    )
    _index_models_once(template)
    if pn.state.curdoc is not None:
        _SHOWN[pn.state.curdoc] = weakref.ref(dashboard)
    dashboard.sync_url()
    dashboard.start_live_refresh()
    if prepared is not None:
        prepared.after_load(pn.state.onload)
    return template


def _index_models_once(template: BaseTemplate) -> None:
    """Build the page's document with its model index computed once, not per root; stylesheets shared.

    Panel adds the template's roots one at a time, and Bokeh re-walks every model
    of the document after each (nine walks of ~300 models per page, about a
    quarter of building the document: 300 -> 225 ms median, measured in-process).
    Freezing the index for the whole build leaves one walk at the end, after
    the page's components have been given shared stylesheet models
    (``bundles.share_stylesheets``: 71 -> 8 of them).
    """
    build = template.server_doc

    def server_doc(doc: Document | None = None, title: str | None = None, location: Any = True) -> Document:
        if doc is None:
            return build(doc, title, location)
        with doc.models.freeze():
            built = build(doc, title, location)
            bundles.share_stylesheets(model for root in built.roots for model in root.references())
            return built

    template.server_doc = server_doc  # type: ignore[method-assign]


if __name__.startswith("bokeh"):  # run by `panel serve dashboard/app.py`
    create_app(DashboardSettings()).servable()
