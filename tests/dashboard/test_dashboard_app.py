"""The Panel page: builds on any lake, shows messages instead of charts, follows new data."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import panel as pn
import pytest
from bokeh.document import Document
from bokeh.document.events import DocumentChangedEvent
from dashboard_lake_builder import (
    SampleLake,
    add_rows,
    counts_per_day,
    crime_row,
    settings_for,
    write_lake,
    write_partition,
)
from panel.util import edit_readonly

from dashboard import app as app_module
from dashboard.app import NO_ROWS_IN_LAKE_MESSAGE, Dashboard, create_app
from dashboard.queries import EMPTY_LAKE_MESSAGE, LakeReadError
from sinks.lake_schema import PARTITION_FILE, partition_dir


def _render(data_dir: Path) -> Document:
    doc = Document()
    create_app(settings_for(data_dir)).server_doc(doc)
    return doc


def test_create_app_on_an_empty_lake(empty_data_dir: Path) -> None:
    assert _render(empty_data_dir).roots


def test_create_app_on_a_lake(sample_lake: SampleLake) -> None:
    assert _render(sample_lake.data_dir).roots


def test_a_page_indexes_its_models_once_and_completely(
    sample_lake: SampleLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Panel adds the template's roots one by one; Bokeh would re-walk the whole model graph after each.
    from bokeh.document.models import DocumentModelManager

    walks = 0
    recompute = DocumentModelManager.recompute

    def counted(self: DocumentModelManager) -> None:
        nonlocal walks
        walks += 1
        recompute(self)

    monkeypatch.setattr(DocumentModelManager, "recompute", counted)
    doc = _render(sample_lake.data_dir)
    assert walks == 1
    reachable = {model.id for root in doc.roots for model in root.references()}
    assert reachable == {model.id for model in doc.models}


def test_another_visitors_click_never_changes_a_page(sample_lake: SampleLake) -> None:
    # Panel's busy flag is process-wide: a busy spinner on the page would turn on (a message to the
    # browser, an animation during its own redraws) whenever any visitor's page is working.
    doc = _render(sample_lake.data_dir)
    changes: list[DocumentChangedEvent] = []
    doc.on_change(changes.append)
    with edit_readonly(pn.state):  # as Panel flags a page's callback running, and done
        pn.state.busy = True
        pn.state.busy = False
    assert changes == []


def test_empty_lake_shows_the_message_not_charts(empty_data_dir: Path) -> None:
    page = Dashboard(settings_for(empty_data_dir))
    assert page.message.visible
    assert page.message.object == EMPTY_LAKE_MESSAGE
    assert not page.results.visible
    assert page.date_range.disabled


def test_default_view_is_the_last_30_days(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    window = (date(2024, 2, 18), date(2024, 3, 18))
    assert page.window == window
    assert not page.message.visible
    assert page.results.visible
    assert page.chart.object is not None
    expected = sum(counts_per_day(sample_lake.table, *window).values())
    assert page.shown_kpis.incidents == expected
    assert "30 days" in str(page.kpis.object)
    assert page.crime_types.options == sorted(set(sample_lake.table["primary_type"].to_pylist()))


def test_default_window_length_is_a_setting(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir, dashboard_default_days=7))
    assert page.window == (date(2024, 3, 12), date(2024, 3, 18))


def test_filters_recompute_the_headline(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    window = (date(2024, 1, 1), date(2024, 1, 31))
    page.date_range.value = window
    assert page.shown_kpis.incidents == sum(counts_per_day(sample_lake.table, *window).values())
    page.crime_types.value = ["THEFT"]
    themed = counts_per_day(sample_lake.table, *window, types=["THEFT"])
    assert page.shown_kpis.incidents == sum(themed.values())


def test_no_matching_rows_shows_a_message(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    page.date_range.value = (date(2024, 1, 1), date(2024, 1, 1))
    page.crime_types.value = ["ARSON"]
    assert page.results.visible  # one ARSON row on New Year's Day
    page.date_range.value = (date(2024, 1, 2), date(2024, 1, 30))
    assert page.message.visible
    assert not page.results.visible
    assert "No incidents of type ARSON from 2024-01-02 to 2024-01-30" in page.message.object


def test_refresh_picks_up_new_data_and_follows_the_newest_day(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    assert page.refresh() is False  # nothing changed: nothing re-read
    before = page.shown_kpis.incidents

    add_rows(
        sample_lake.lake_dir,
        [crime_row("n1", datetime(2024, 3, 20, 10)), crime_row("n2", datetime(2024, 3, 20, 11))],
    )
    assert page.refresh() is True
    assert page.window == (date(2024, 2, 20), date(2024, 3, 20))
    assert page.date_range.end == date(2024, 3, 20)
    on_new_day = counts_per_day(sample_lake.table, date(2024, 2, 18), date(2024, 2, 19))
    assert page.shown_kpis.incidents == before - sum(on_new_day.values()) + 2


def test_refresh_keeps_a_past_window(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    page.date_range.value = (date(2024, 1, 1), date(2024, 1, 7))
    add_rows(sample_lake.lake_dir, [crime_row("n1", datetime(2024, 3, 25, 10))])
    assert page.refresh() is True
    assert page.window == (date(2024, 1, 1), date(2024, 1, 7))


def test_the_first_data_replaces_the_empty_message(empty_data_dir: Path) -> None:
    page = Dashboard(settings_for(empty_data_dir))
    assert page.message.visible
    write_lake(empty_data_dir / "lake", [crime_row("1", datetime(2024, 6, 1, 9))])
    assert page.refresh() is True
    assert not page.message.visible
    assert page.shown_kpis.incidents == 1
    assert page.window == (date(2024, 6, 1), date(2024, 6, 1))


def test_a_lake_emptied_later_shows_the_message_again(sample_lake: SampleLake) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))
    for path in (sample_lake.lake_dir / "crimes").glob(f"*/*/{PARTITION_FILE}"):
        path.unlink()
    page.refresh()
    assert page.message.object == EMPTY_LAKE_MESSAGE
    assert not page.results.visible


def test_partitions_without_rows(tmp_path: Path) -> None:
    write_partition(tmp_path / "lake", 2024, 1, [])
    page = Dashboard(settings_for(tmp_path))
    assert page.message.object == NO_ROWS_IN_LAKE_MESSAGE


def test_an_unreadable_partition_is_a_warning_and_the_rest_is_shown(sample_lake: SampleLake) -> None:
    broken = partition_dir(sample_lake.lake_dir, 2024, 3) / PARTITION_FILE
    broken.write_bytes(b"garbage")
    page = Dashboard(settings_for(sample_lake.data_dir))
    assert page.warning.visible
    assert "Could not read the lake partition" in page.warning.object
    assert "year=2024/month=03" in page.warning.object
    assert "Unreadable partition" in page.health.object
    # The other partitions still answer: the lake now ends in February.
    assert page.results.visible
    assert page.window is not None and page.window[1] == date(2024, 2, 29)
    # Rewritten: the warning goes away on the next check.
    write_partition(sample_lake.lake_dir, 2024, 3, [crime_row("m1", datetime(2024, 3, 3, 3))])
    assert page.refresh() is True
    assert not page.warning.visible
    assert page.window is not None and page.window[1] == date(2024, 3, 3)


def test_a_lake_read_error_while_filtering_keeps_the_page_alive(
    sample_lake: SampleLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))

    def failing(*_args: object, **_kwargs: object) -> None:
        raise LakeReadError("The lake kept changing while it was being read", retryable=True)

    monkeypatch.setattr(app_module, "kpis", failing)
    page.date_range.value = (date(2024, 1, 1), date(2024, 1, 31))
    assert page.message.visible
    assert "kept changing" in page.message.object

    monkeypatch.undo()
    # The next periodic check reads again although no file changed.
    assert page.refresh() is True
    assert page.results.visible
    assert not page.message.visible
    assert page.refresh() is False


def test_an_unexpected_error_is_logged_and_summarised(
    sample_lake: SampleLake, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    page = Dashboard(settings_for(sample_lake.data_dir))

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(page._store, "sync", broken)
    assert page.refresh(force=True) is True
    assert page.message.alert_type == "danger"
    assert "server log" in page.message.object
    assert "boom" not in page.message.object
    assert "dashboard refresh failed" in caplog.text
