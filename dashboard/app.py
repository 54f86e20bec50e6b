"""The analyst dashboard: a Panel page over the lake, refreshed live.

``create_app(settings)`` builds one page (one per browser session).  The page
shows a date-range filter (default: the last 30 days present in the lake), an
optional crime-type filter, a headline count and a chart of incidents per day.
Instead of charts it shows a plain message when the lake is empty, when no row
matches, or when the lake could not be read; errors never reach the page as a
traceback.

While served, the page checks the lake every ``DASHBOARD_REFRESH_SECONDS``: it
compares a file-system fingerprint of the partition files (cheap) and re-queries
only when that changed, so a viewer sees new data arrive without reloading.

Run directly with ``panel serve dashboard/app.py`` (settings from the
environment), or through ``crimestream dashboard`` (``dashboard.server``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import pandas as pd
import panel as pn
import param
from panel.template.base import BaseTemplate

from crimestream.errors import CrimestreamError
from dashboard.charts import incidents_per_day_chart
from dashboard.lake import LakeVersion, lake_version
from dashboard.queries import (
    EMPTY_LAKE_MESSAGE,
    EmptyLakeError,
    crime_types,
    date_bounds,
    incidents_per_day,
)
from dashboard.selection import DateWindow, follow_lake
from dashboard.settings import DashboardSettings

__all__ = [
    "APP_TITLE",
    "NO_ROWS_IN_LAKE_MESSAGE",
    "Dashboard",
    "create_app",
    "no_match_message",
]

log = logging.getLogger(__name__)

APP_TITLE = "crimestream · Chicago crimes"

NO_ROWS_IN_LAKE_MESSAGE = (
    "The lake has partition files but no incidents in them yet; the page updates as soon as data arrives."
)
_UNEXPECTED_MESSAGE = (
    "The dashboard could not read the lake because of an unexpected error; the details are in the server log."
)

T = TypeVar("T")


def no_match_message(window: DateWindow, types: Sequence[str]) -> str:
    """The message shown when the filters select no incident."""
    start, end = window
    span = f"on {start:%Y-%m-%d}" if start == end else f"from {start:%Y-%m-%d} to {end:%Y-%m-%d}"
    kinds = f" of type {', '.join(types)}" if types else ""
    return f"No incidents{kinds} {span}. Widen the date range or clear the crime-type filter."


class _Failed(Exception):
    """Internal: a lake read failed and its message is already on the page."""


class Dashboard(pn.viewable.Viewer):
    """The page's state and widgets; ``refresh()`` re-reads the lake when it changed."""

    def __init__(self, settings: DashboardSettings, **params: Any) -> None:
        super().__init__(**params)
        self._lake_dir = settings.lake_dir
        self._default_days = settings.dashboard_default_days
        self._refresh_seconds = settings.dashboard_refresh_seconds
        self._version: LakeVersion | None = None
        self._bounds: DateWindow | None = None
        self._syncing = False

        self.date_range = pn.widgets.DateRangePicker(
            label="Days (Chicago local date)", disabled=True, sizing_mode="stretch_width"
        )
        self.crime_types = pn.widgets.MultiChoice(
            label="Crime types",
            options=[],
            placeholder="All crime types",
            disabled=True,
            sizing_mode="stretch_width",
        )
        self.headline = pn.indicators.Number(
            label="Incidents", value=0, format="{value:,}", font_size="40pt", title_size="14pt"
        )
        self.period = pn.pane.Markdown("", margin=(24, 10, 0, 10))
        self.chart = pn.pane.HoloViews(None, sizing_mode="stretch_width", min_height=380)
        self.message = pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width")
        self.results = pn.Column(
            pn.Row(self.headline, self.period),
            self.chart,
            visible=False,
            sizing_mode="stretch_width",
        )
        self.status = pn.pane.Markdown(
            "", styles={"color": "#6c757d", "font-size": "0.85em"}, sizing_mode="stretch_width"
        )
        self.filters = pn.Column(self.date_range, self.crime_types, self.status)
        self.main = pn.Column(self.message, self.results, sizing_mode="stretch_width")

        self.date_range.param.watch(self._on_filter_change, "value")
        self.crime_types.param.watch(self._on_filter_change, "value")
        self.refresh(force=True)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(pn.Column(self.filters, width=320), self.main, sizing_mode="stretch_width")

    # --- public -------------------------------------------------------------

    @property
    def window(self) -> DateWindow | None:
        value = self.date_range.value
        if not value or value[0] is None or value[1] is None:
            return None
        return _day(value[0]), _day(value[1])

    def refresh(self, force: bool = False) -> bool:
        """Re-read the lake if its files changed (or ``force``); True if it re-read."""
        try:
            version = lake_version(self._lake_dir)
            if not force and version == self._version:
                self._update_status(version)
                return False
            self._version = version
            self._reload(version)
            return True
        except Exception:  # the periodic callback must never die
            log.exception("dashboard refresh failed")
            self._version = None
            self._show_message(_UNEXPECTED_MESSAGE, "danger")
            return True

    def start_live_refresh(self) -> None:
        """Check the lake periodically while this page is open (served sessions only)."""
        if self._refresh_seconds <= 0 or pn.state.curdoc is None:
            return
        pn.state.add_periodic_callback(self._tick, period=int(self._refresh_seconds * 1000))

    # --- internals ------------------------------------------------------------

    def _tick(self) -> None:
        self.refresh()

    def _reload(self, version: LakeVersion) -> None:
        if version.is_empty:
            self._set_bounds(None, [])
            self._show_message(EMPTY_LAKE_MESSAGE, "info")
            self._update_status(version)
            return
        try:
            bounds = self._read(lambda: date_bounds(self._lake_dir))
            types = self._read(lambda: crime_types(self._lake_dir)) if bounds else []
        except _Failed:
            self._update_status(version)
            return
        if bounds is None:
            self._set_bounds(None, [])
            self._show_message(NO_ROWS_IN_LAKE_MESSAGE, "info")
        else:
            self._set_bounds(bounds, types)
            self._render()
        self._update_status(version)

    def _set_bounds(self, bounds: DateWindow | None, types: list[str]) -> None:
        """Move the filters to the lake's new contents without re-rendering on each change."""
        self._syncing = True
        try:
            if bounds is None:
                self.date_range.disabled = True
                self.crime_types.disabled = True
            else:
                window = follow_lake(self.window, self._bounds, bounds, self._default_days)
                # Bounds first: the value is validated against them.
                self.date_range.param.update(start=bounds[0], end=bounds[1], disabled=False)
                self.date_range.value = window
                kept = [t for t in self.crime_types.value if t in types]
                self.crime_types.param.update(options=types, value=kept, disabled=False)
            self._bounds = bounds
        finally:
            self._syncing = False

    def _on_filter_change(self, _event: param.parameterized.Event) -> None:
        if not self._syncing:
            self._render()

    def _render(self) -> None:
        window = self.window
        if self._bounds is None or window is None:
            return
        types = list(self.crime_types.value)
        try:
            per_day = self._read(lambda: incidents_per_day(self._lake_dir, window[0], window[1], primary_types=types))
        except _Failed:
            return
        total = int(per_day["incidents"].sum())
        if total == 0:
            self._show_message(no_match_message(window, types), "warning")
            return
        self._show_results(per_day, window, total, types)

    def _read(self, query: Callable[[], T]) -> T:
        """Run a lake query; on failure put a clear message on the page and raise _Failed.

        A failure also forgets the lake version, so the next periodic check reads
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
        self._version = None
        raise _Failed

    def _show_message(self, text: str, kind: str) -> None:
        self.message.param.update(object=text, alert_type=kind, visible=True)
        self.results.visible = False

    def _show_results(self, per_day: pd.DataFrame, window: DateWindow, total: int, types: Sequence[str]) -> None:
        start, end = window
        days = (end - start).days + 1
        kinds = ", ".join(types) if types else "all crime types"
        self.headline.value = total
        self.period.object = (
            f"**{start:%a %d %b %Y} – {end:%a %d %b %Y}**  \n"
            f"{days:,} day{'s' if days != 1 else ''} · {kinds} · "
            f"{total / days:,.1f} per day"
        )
        self.chart.object = incidents_per_day_chart(per_day)
        self.message.visible = False
        self.results.visible = True

    def _update_status(self, version: LakeVersion) -> None:
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


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def create_app(settings: DashboardSettings) -> BaseTemplate:
    """One dashboard page; call once per browser session."""
    pn.extension()
    dashboard = Dashboard(settings)
    template = pn.template.BootstrapTemplate(
        title=APP_TITLE,
        sidebar=[dashboard.filters],
        main=[dashboard.main],
        sidebar_width=340,
        header_background="#1f3a5f",
    )
    dashboard.start_live_refresh()
    return template


if __name__.startswith("bokeh"):  # run by `panel serve dashboard/app.py`
    create_app(DashboardSettings()).servable()
