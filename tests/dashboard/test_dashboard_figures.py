"""The charts' column data (exact numbers from the query frames), the table page, and the page's bundles."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
from bokeh.document import Document
from dashboard_lake_builder import SampleLake, settings_for

from dashboard import bundles
from dashboard.aggregates import Kpis, web_mercator
from dashboard.app import create_app
from dashboard.bundles import (
    models_under,
    page_needs_mathjax,
    page_needs_module_shims,
    patch_page_css,
    share_stylesheets,
    unused_bundles,
)
from dashboard.figures import (
    DOW_LABELS,
    MapFigure,
    SeriesFigure,
    bar_columns,
    density_raster,
    heatmap_columns,
    point_columns,
    tile_provider,
)
from dashboard.filters import Filters
from dashboard.kpicards import kpi_cards_html
from dashboard.tablehtml import table_html

CELL = 0.002


def test_heatmap_columns_fill_every_cell_of_the_week() -> None:
    cells = pd.DataFrame({"dow": [1, 7], "hour": [0, 23], "incidents": [5, 9]})
    columns, peak = heatmap_columns(cells)
    assert len(columns["hour"]) == len(columns["day"]) == len(columns["incidents"]) == 7 * 24
    by_cell = {(d, h): n for d, h, n in zip(columns["day"], columns["hour"], columns["incidents"], strict=True)}
    assert by_cell[(DOW_LABELS[0], 0)] == 5
    assert by_cell[(DOW_LABELS[6], 23)] == 9
    assert sum(columns["incidents"]) == 14
    assert peak == 9


def test_bar_columns_put_the_first_row_on_top() -> None:
    frame = pd.DataFrame({"primary_type": ["THEFT", "BATTERY"], "arrest_rate": [12.5, 30.0], "incidents": [8, 4]})
    columns, factors = bar_columns(frame, "arrest_rate")
    assert factors == ["BATTERY", "THEFT"]  # a categorical axis lists bottom up
    assert list(columns["arrest_rate"]) == [30.0, 12.5]
    assert list(columns["incidents"]) == [4, 8]


def test_density_raster_keeps_every_incident_in_its_own_pixel() -> None:
    # Three cells of a 0.002-degree grid (centres), one of them far from the others.
    lon = [(-43900 + 0.5) * CELL, (-43899 + 0.5) * CELL, (-43850 + 0.5) * CELL]
    lat = [(20900 + 0.5) * CELL, (20900 + 0.5) * CELL, (20950 + 0.5) * CELL]
    raster = density_raster(pd.DataFrame({"longitude": lon, "latitude": lat, "incidents": [3, 4, 5]}), CELL)
    image = raster["image"][0]
    assert image.shape == (51, 51)  # one pixel per cell over the cells' extent
    assert np.nansum(image) == 12
    assert np.count_nonzero(~np.isnan(image)) == 3  # empty pixels are NaN: drawn transparent
    assert image[0, 0] == 3 and image[0, 1] == 4 and image[50, 50] == 5  # row 0 is the south
    assert raster["dw"][0] > 0 and raster["dh"][0] > 0


def test_density_raster_of_nothing_is_empty() -> None:
    assert density_raster(pd.DataFrame({"longitude": [], "latitude": [], "incidents": []}), CELL)["image"] == []


def test_point_columns_project_to_web_mercator() -> None:
    points = pd.DataFrame(
        {
            "longitude": [0.0, -87.6298],
            "latitude": [0.0, 41.8781],
            "date_local": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:00"]),
            "primary_type": ["THEFT", "BATTERY"],
            "block": ["001XX W MADISON ST", "002XX N STATE ST"],
            "arrest": [True, None],
        }
    )
    columns = point_columns(points)
    assert abs(columns["x"][0]) < 1e-6 and abs(columns["y"][0]) < 1e-6
    assert math.isclose(columns["x"][1], -9755100, rel_tol=1e-3)
    assert math.isclose(columns["y"][1], 5142300, rel_tol=1e-3)
    assert list(columns["arrest"]) == ["yes", "no"]


def test_series_figure_follows_the_grain_in_place() -> None:
    figure = SeriesFigure()
    series = pd.DataFrame({"period": pd.to_datetime(["2024-01-01", "2024-01-08"]), "incidents": [3, 4]})
    figure.update(series, "week")
    assert figure.figure.title.text == "Incidents per week"
    assert list(figure.source.data["incidents"]) == [3, 4]
    assert figure.markers.visible


def test_the_map_shows_one_layer_at_a_time() -> None:
    figure = MapFigure(tiles=tile_provider("none"), cell=CELL)
    x, y = web_mercator([-87.63], [41.88])  # as dashboard.aggregates.community_areas gives them
    areas = pd.DataFrame({"community_area": ["LOOP"], "incidents": [2], "arrest_rate": [50.0], "x": x, "y": y})
    cells = pd.DataFrame({"longitude": [-87.631], "latitude": [41.881], "incidents": [2]})
    figure.update(as_points=False, layer=cells, areas=areas)
    assert (figure.points.visible, figure.density.visible) == (False, True)
    assert list(figure.areas_source.data["community_area"]) == ["LOOP"]
    assert figure.tiles is None


def test_tile_providers() -> None:
    assert tile_provider("none") is None
    osm = tile_provider("OSM")
    assert osm is not None and "openstreetmap" in osm.url
    unknown = tile_provider("CartoLight")
    assert unknown is not None and "light_all" in unknown.url


def test_mathjax_only_for_pages_with_tex() -> None:
    plain = pn.Column(pn.pane.Markdown("Incidents: **12**"), pn.indicators.Number(value=3)).get_root(Document())
    assert not page_needs_mathjax([plain])
    tex = pn.pane.Markdown("$$x^2$$").get_root(Document())
    assert page_needs_mathjax([tex])
    nested = pn.Column(pn.Row(pn.pane.Markdown("rate $$r = a/n$$"))).get_root(Document())
    assert page_needs_mathjax([nested])  # below the root, as in a template's content


def test_the_module_shims_only_for_pages_with_an_es_module_component() -> None:
    class Widget(pn.custom.JSComponent):
        _esm = "export function render() { return document.createElement('div') }"

    plain = pn.Column(pn.pane.Markdown("x"), pn.widgets.MultiChoice(options=["a"])).get_root(Document())
    assert not page_needs_module_shims([plain])
    assert page_needs_module_shims([pn.Column(pn.Row(Widget())).get_root(Document())])


def test_a_served_page_lists_only_the_bundles_it_uses(sample_lake: SampleLake) -> None:
    from bokeh.resources import Resources
    from panel.io import server

    bundles.install()
    doc = Document()
    create_app(settings_for(sample_lake.data_dir)).server_doc(doc)
    scripts = [str(url) for url in server.bundle_resources(doc.roots, Resources(mode="server")).js_files]
    assert any("bokeh.min.js" in url for url in scripts)
    assert not [url for url in scripts if "es-module-shims" in url or "bokeh-gl" in url or "mathjax" in url]
    assert models_under(doc.roots) == list(doc.models)


def test_the_table_page_is_escaped_html() -> None:
    frame = pd.DataFrame(
        {
            "date_local": pd.to_datetime(["2024-03-18 22:05"]),
            "id": ["1"],
            "block": ["<script>alert('x')</script> & co"],
            "arrest": [True],
            "domestic": [None],
        }
    )
    page = table_html(frame, ["date_local", "id", "block", "arrest", "domestic"])
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert "<td>2024-03-18 22:05</td><td>1</td>" in page
    assert "<td>Yes</td><td></td></tr>" in page
    assert page.count("<tr>") == 2  # the header and one row


def test_components_share_one_stylesheet_model_per_url() -> None:
    from bokeh.models import ImportedStyleSheet

    # Built without a shared document, as when a template applies its design: each pane its own sheets.
    roots = [pn.pane.Markdown("a").get_root(Document()), pn.pane.Markdown("b").get_root(Document())]

    def urls(root: Any) -> list[str]:
        return [getattr(sheet, "url", sheet) for sheet in root.stylesheets]  # a sheet may be raw CSS

    urls_before = [urls(root) for root in roots]
    sheets = [sheet for root in roots for sheet in root.stylesheets if isinstance(sheet, ImportedStyleSheet)]
    distinct = {sheet.url for sheet in sheets}
    assert len({id(sheet) for sheet in sheets}) == len(sheets) > len(distinct)

    assert share_stylesheets(roots) == len(sheets) - len(distinct)
    assert [urls(root) for root in roots] == urls_before  # same sheets, same order
    shared = {id(sheet) for root in roots for sheet in root.stylesheets if isinstance(sheet, ImportedStyleSheet)}
    assert len(shared) == len(distinct)


def test_a_page_holds_one_stylesheet_model_per_url(sample_lake: SampleLake) -> None:
    from bokeh.models import ImportedStyleSheet

    doc = Document()
    create_app(settings_for(sample_lake.data_dir)).server_doc(doc)
    sheets = [model for model in doc.models if isinstance(model, ImportedStyleSheet)]
    assert sheets
    assert len(sheets) == len({sheet.url for sheet in sheets})


def test_the_webgl_bundle_only_for_webgl_plots() -> None:
    canvas = SeriesFigure().figure
    assert unused_bundles([canvas]) == {"bokeh-gl"}
    canvas.output_backend = "webgl"
    assert unused_bundles([canvas]) == set()
    assert unused_bundles([pn.Column(pn.pane.Bokeh(canvas)).get_root(Document())]) == set()


def test_kpi_cards_show_the_figures_and_escape_the_types() -> None:
    filters = Filters(start=date(2024, 3, 1), end=date(2024, 3, 10), primary_types=("<b>O'HARE</b>",))
    up = Kpis(incidents=1200, arrests=300, domestic=120, previous_incidents=1000, previous_covered=True)
    page = kpi_cards_html(up, filters)
    assert ">1,200<" in page and ">25.0%<" in page and ">10.0%<" in page
    assert ">+20.0%<" in page and "#c62828" in page  # more incidents than before: red
    assert "&lt;b&gt;O&#x27;HARE&lt;/b&gt;" in page and "<b>O'HARE" not in page
    assert "10 days" in page and "120.0 per day" in page
    unknown = Kpis(incidents=5, arrests=0, domestic=0, previous_incidents=0, previous_covered=False)
    assert ">n/a<" in kpi_cards_html(unknown, filters)


def test_the_page_passes_bokehs_integrity_checks(sample_lake: SampleLake) -> None:
    """The served dashboard skips Bokeh's per-session document checks (``skip_document_validation``):
    they run here instead, on the page as it is built."""
    from bokeh.core.validation.check import check_integrity

    doc = Document()
    create_app(settings_for(sample_lake.data_dir)).server_doc(doc)
    issues = check_integrity(list(doc.models))
    assert issues.error == [] and issues.warning == []


def test_the_mathjax_check_runs_the_tex_pattern_only_on_texts_with_its_delimiters() -> None:
    from bokeh.embed.util import contains_tex_string

    texts = ["plain $5 and <td>$</td>", "a $$x^2$$ b", r"\[x\]", r"\(x\)", "$$ unclosed", "<b>\\</b>"]
    for text in texts:
        assert page_needs_mathjax([pn.pane.HTML(text).get_root(Document())]) == contains_tex_string(text), text


def test_stylesheets_are_patched_as_panels_own_patch_does(sample_lake: SampleLake) -> None:
    from bokeh.models import ImportedStyleSheet
    from panel.io.resources import patch_model_css

    def patched_urls(patch: Any) -> list[str]:
        doc = Document()
        create_app(settings_for(sample_lake.data_dir)).server_doc(doc)
        for root in doc.roots:
            patch(root, dist_url="./static/extensions/panel/")
        return sorted(model.url for model in doc.models if isinstance(model, ImportedStyleSheet))

    ours = patched_urls(patch_page_css)
    assert ours == patched_urls(patch_model_css)
    assert any(url.startswith("./static/extensions/panel/") for url in ours)
