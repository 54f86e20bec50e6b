"""Drawing a selection: the render marker, which views a change redraws, charts updated in place."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np
import pytest
from bokeh.document import Document
from bokeh.models import ColumnDataSource, Plot
from bokeh.models.annotations import Title
from bokeh.models.renderers import GlyphRenderer
from dashboard_lake_builder import SampleLake, add_rows, crime_row, settings_for

from dashboard import app as app_module
from dashboard.app import RENDER_MARKER_CLASS, Dashboard, create_app
from dashboard.facts import fact_store
from dashboard.server import warm_up

# Every lake read the page makes to draw a selection (names in dashboard.app).
QUERIES = (
    "kpis",
    "incident_series",
    "top_types",
    "heatmap",
    "arrest_rate_by_type",
    "community_areas",
    "map_points",
    "density_grid",
    "table_page",
    "plan_export",
)
EVERY_VIEW = Counter(
    {name: 1 for name in QUERIES if name != "density_grid"}  # 30 days of the sample lake: a point map
)
EMPTY_DAY = date(2023, 12, 15)  # the sample lake has no incident on this day


def _marker(page: Dashboard) -> tuple[int, str]:
    match = re.search(r'data-render-generation="(\d+)" data-render-outcome="(\w+)"', page.render_marker.object)
    assert match is not None, page.render_marker.object
    return int(match[1]), match[2]


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often the page called each lake query (the real ones: results stay exact)."""
    calls: Counter[str] = Counter()

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return call

    for name in QUERIES:
        monkeypatch.setattr(app_module, name, counting(name, getattr(app_module, name)))
    return calls


def _served(page: Dashboard) -> Document:
    doc = Document()
    page.__panel__().server_doc(doc)
    return doc


def _figures(doc: Document) -> list[Plot]:
    return [p for p in doc.select({"type": Plot}) if isinstance(p, Plot)]


def _figure_titled(doc: Document, prefix: str) -> Plot:
    titles = {p: str(p.title.text) for p in _figures(doc) if isinstance(p.title, Title)}
    found = [p for p, title in titles.items() if title.startswith(prefix)]
    assert len(found) == 1, list(titles.values())
    return found[0]


def _incidents(figure: Plot) -> list[int]:
    renderer = figure.renderers[0]
    assert isinstance(renderer, GlyphRenderer)
    source = renderer.data_source
    assert isinstance(source, ColumnDataSource)
    return [int(n) for n in source.data["incidents"]]


# --- the render marker ------------------------------------------------------------------------


def test_the_render_marker_advances_once_per_filter_change(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    assert page.render_marker in page.main.objects
    assert f'class="{RENDER_MARKER_CLASS}"' in page.render_marker.object
    assert _marker(page) == (1, "views")

    page.crime_types.value = ["THEFT"]
    assert _marker(page) == (2, "views")
    page.crime_types.value = ["THEFT"]  # not a change
    assert _marker(page) == (2, "views")
    page.date_range.value = (EMPTY_DAY, EMPTY_DAY)
    assert _marker(page) == (3, "message")
    assert page.message.visible
    page.date_range.value = (date(2024, 1, 1), date(2024, 1, 31))
    assert _marker(page) == (4, "views")
    assert page.results.visible


def test_the_render_marker_of_an_empty_lake_says_message(empty_data_dir: Any) -> None:
    page = Dashboard(settings_for(empty_data_dir))
    assert _marker(page) == (1, "message")


# --- which views a change redraws --------------------------------------------------------------


def test_a_filter_change_reads_each_view_once(sample_lake: SampleLake, queries: Counter[str]) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    assert queries == EVERY_VIEW
    queries.clear()
    page.districts.value = ["001"]
    assert queries == EVERY_VIEW


def test_the_series_grain_rereads_only_the_series(sample_lake: SampleLake, queries: Counter[str]) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    headline, table = page.shown_kpis.incidents, page.page_info.object
    queries.clear()
    page.grain.value = "Week"
    assert queries == Counter({"incident_series": 1})
    assert (page.shown_kpis.incidents, page.page_info.object) == (headline, table)
    assert _marker(page) == (2, "views")


def test_map_tiles_are_switched_without_a_query(sample_lake: SampleLake, queries: Counter[str]) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir, dashboard_map_tiles="OSM"))
    tiles = page.map_figure.tiles
    assert tiles is not None and tiles.visible
    queries.clear()
    page.tiles.value = False
    assert queries == Counter()
    assert not tiles.visible
    assert _marker(page) == (2, "views")
    page.tiles.value = True
    assert tiles.visible


def test_without_tiles_the_map_has_no_tile_layer(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir, dashboard_map_tiles="none"))
    assert page.map_figure.tiles is None
    assert page.tiles.disabled


def test_a_grain_change_keeps_the_table_page(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    page.next_page.clicks += 1
    second = page.page_info.object
    assert second.startswith("Rows 51–100 of")
    page.grain.value = "Week"
    assert page.page_info.object == second
    page.grain.value = "Day"
    page.arrest.value = "No"  # a filter change starts again at the newest rows
    assert page.page_info.object.startswith("Rows 1–50 of")


def test_new_data_in_the_lake_redraws_every_view(sample_lake: SampleLake, queries: Counter[str]) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    before = page.shown_kpis.incidents
    assert isinstance(before, int)
    queries.clear()
    add_rows(sample_lake.lake_dir, [crime_row("n1", datetime(2024, 3, 1, 12))])  # inside the window
    assert page.refresh() is True
    assert queries == EVERY_VIEW
    assert page.shown_kpis.incidents == before + 1


# --- charts updated in place ----------------------------------------------------------------


def test_charts_are_updated_in_place_with_the_new_data(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    doc = _served(page)
    models = {m.id for m in doc.models}
    series = _figure_titled(doc, "Incidents per day")

    page.date_range.value = (date(2024, 1, 1), date(2024, 1, 31))
    assert {m.id for m in doc.models} == models  # new data, not new models
    assert len(_incidents(series)) == 31
    assert sum(_incidents(series)) == page.shown_kpis.incidents

    # The grain is in the title and the axis label: they follow without a new figure.
    page.grain.value = "Week"
    assert _figure_titled(doc, "Incidents per week") is series
    assert series.xaxis[0].axis_label == "Week starting (Chicago local)"
    assert sum(_incidents(series)) == page.shown_kpis.incidents

    # Fewer bars (one type chosen): the same figure, its axis down to that type.
    page.crime_types.value = ["THEFT"]
    assert {m.id for m in doc.models} == models
    top = _figure_titled(doc, "Top 1 primary types")
    assert list(top.y_range.factors) == ["THEFT"]
    assert _incidents(top) == [page.shown_kpis.incidents]


def test_the_map_switches_between_points_and_density_in_one_figure(sample_lake: SampleLake) -> None:
    pages: list[Dashboard] = []

    class Recorded(Dashboard):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            pages.append(self)

    settings = settings_for(sample_lake.data_dir, dashboard_map_points_days=10)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app_module, "Dashboard", Recorded)
        create_app(settings).server_doc(Document())
    page = pages[0]
    figure = page.map_figure

    def layers() -> tuple[bool, bool]:
        return bool(figure.points.visible), bool(figure.density.visible)

    assert layers() == (False, True)
    density = figure.density_source.data["image"][0]
    located = sample_lake.table.to_pandas()
    window = located[(located["date_local"].dt.date >= date(2024, 2, 18)) & located["latitude"].notna()]
    assert int(np.nansum(density)) == len(window)  # exact: every located incident in one pixel
    page.date_range.value = (date(2024, 3, 12), date(2024, 3, 18))
    assert layers() == (True, False)
    assert "Every located incident" in page.map_note.object
    assert len(figure.points_source.data["x"]) > 0
    page.date_range.value = (date(2024, 1, 1), date(2024, 3, 18))
    assert layers() == (False, True)
    assert len(figure.points_source.data["x"]) == 0
    assert _marker(page) == (3, "views")


# --- warming up -----------------------------------------------------------------------------


def test_warm_up_loads_the_lake_before_the_first_page(sample_lake: SampleLake) -> None:
    settings = settings_for(sample_lake.data_dir)
    warm_up(settings)
    snapshot = fact_store(settings.lake_dir).snapshot
    assert snapshot.generation > 0
    assert snapshot.rows == sample_lake.table.num_rows


def test_a_failed_warm_up_is_logged_not_raised(
    sample_lake: SampleLake, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_settings: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("dashboard.server.create_app", broken)
    with caplog.at_level(logging.ERROR):
        warm_up(settings_for(sample_lake.data_dir))
    assert "warming up the dashboard failed" in caplog.text
