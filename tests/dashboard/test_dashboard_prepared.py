"""A page's state built ahead: handed out once, up to date with the lake, rebuilt after the page loads."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import panel as pn
import pytest
from bokeh.document import Document
from dashboard_lake_builder import SampleLake, add_rows, crime_row, settings_for

from dashboard.activity import Activity
from dashboard.app import Dashboard, create_app
from dashboard.prepared import AheadSchedule, PreparedPage

_WHO = contextvars.ContextVar("who", default="nobody")


class _Counter:
    def __init__(self, fail: int = 0) -> None:
        self.calls = 0
        self.fail = fail

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.fail:
            raise RuntimeError("lake unreadable")
        return f"page {self.calls} built for {_WHO.get()}"


def test_a_prepared_value_is_handed_out_once() -> None:
    build = _Counter()
    prepared = PreparedPage(build)
    assert prepared.take() is None
    prepared.prepare()
    prepared.prepare()  # one is waiting: nothing more is built
    assert build.calls == 1
    assert prepared.take() == "page 1 built for nobody"
    assert prepared.take() is None
    assert (prepared.built, prepared.taken) == (1, 1)


def test_a_failed_build_is_logged_and_leaves_nothing_prepared(caplog: pytest.LogCaptureFixture) -> None:
    prepared = PreparedPage(_Counter(fail=1))
    with caplog.at_level(logging.ERROR, logger="dashboard.prepared"):
        prepared.prepare()  # never raises
    assert "building a page ahead failed" in caplog.text
    assert prepared.take() is None
    prepared.prepare()  # the next attempt builds
    assert prepared.take() == "page 2 built for nobody"


def test_the_next_value_is_built_after_load_outside_the_sessions_context() -> None:
    prepared = PreparedPage(_Counter(), fallback_seconds=60.0, quiet_seconds=0.0, load_seconds=0.0)
    loaded: list[Callable[[], None]] = []

    async def session() -> None:
        _WHO.set("session 1")  # as Panel's state.curdoc is set while it builds a session's page
        prepared.after_load(loaded.append)
        assert not prepared.ready  # nothing is built while the page itself is being built
        await asyncio.sleep(0.05)
        assert not prepared.ready
        loaded.pop()()  # the browser reports the page loaded
        await asyncio.sleep(0.05)

    asyncio.run(session())
    assert prepared.take() == "page 1 built for nobody"


def test_the_next_value_waits_until_the_server_has_been_quiet_after_the_load() -> None:
    activity = Activity()
    prepared = PreparedPage(_Counter(), fallback_seconds=60.0, activity=activity, quiet_seconds=0.3, load_seconds=0.0)
    loaded: list[Callable[[], None]] = []

    async def session() -> None:
        prepared.after_load(loaded.append)
        loaded.pop()()  # the page loaded (its follow-up messages come right after)
        await asyncio.sleep(0.2)
        assert not prepared.ready
        activity.touch()  # the visitor changed a filter
        await asyncio.sleep(0.2)
        assert not prepared.ready  # 0.4 s after the load, but only 0.2 s after the change
        await asyncio.sleep(0.25)
        assert prepared.ready

    asyncio.run(session())


def test_a_page_never_loaded_is_followed_at_the_fallback_only_once_the_server_is_quiet() -> None:
    activity = Activity()
    prepared = PreparedPage(_Counter(), fallback_seconds=0.3, activity=activity, quiet_seconds=0.2, load_seconds=0.0)

    async def session() -> None:
        prepared.after_load(lambda _callback: None)  # never reports itself loaded
        for _ in range(8):  # another visitor clicks every 0.1 s for 0.8 s, past the fallback
            activity.touch()
            await asyncio.sleep(0.1)
            assert not prepared.ready  # their clicks come first
        await asyncio.sleep(0.3)
        assert prepared.ready  # built once the server was quiet

    asyncio.run(session())


def test_a_pages_fallback_does_not_build_once_a_later_page_was_opened() -> None:
    build = _Counter()
    prepared = PreparedPage(build, fallback_seconds=0.4, quiet_seconds=0.0, load_seconds=0.0)
    loaded: list[Callable[[], None]] = []

    async def visits() -> None:
        prepared.after_load(loaded.append)  # page 1 at 0 s: its fallback is due at 0.4 s
        loaded.pop()()  # it loads: the next page is built
        await asyncio.sleep(0.3)
        assert build.calls == 1
        assert prepared.take() is not None  # page 2 at 0.3 s is handed that page (its fallback: 0.7 s)
        prepared.after_load(loaded.append)
        await asyncio.sleep(0.25)  # 0.55 s: page 1's fallback came in the middle of page 2's load
        assert build.calls == 1 and not prepared.ready
        loaded.pop()()  # page 2 loads: now the next one is built
        await asyncio.sleep(0.05)
        assert build.calls == 2 and prepared.ready

    asyncio.run(visits())


def test_without_a_browser_the_next_value_is_built_after_the_fallback_delay() -> None:
    prepared = PreparedPage(_Counter(), fallback_seconds=0.05, load_seconds=0.0)

    async def session() -> None:
        prepared.after_load(lambda _callback: None)  # never loads: a health check, a crawler
        await asyncio.sleep(0.2)

    asyncio.run(session())
    assert prepared.ready


def test_two_builds_waiting_for_the_same_quiet_spell_never_run_back_to_back() -> None:
    activity = Activity()
    started: list[tuple[str, float]] = []

    def schedule(name: str) -> AheadSchedule:
        def start() -> None:
            started.append((name, activity.now()))

        return AheadSchedule(
            start, lambda: name not in dict(started), activity=activity, quiet_seconds=0.2, fallback_seconds=60.0
        )

    first, second = schedule("page state"), schedule("session")

    async def page_loads() -> None:
        first.loaded()  # both wait for the same quiet spell after the load
        second.loaded()
        await asyncio.sleep(0.7)

    asyncio.run(page_loads())
    assert [name for name, _ in started] == ["page state", "session"]
    assert started[1][1] - started[0][1] >= 0.2  # the second waited for a quiet spell of its own


def test_no_build_starts_while_a_page_handed_out_is_loading() -> None:
    activity = Activity()
    build = _Counter()
    prepared = PreparedPage(build, fallback_seconds=60.0, activity=activity, quiet_seconds=0.0, load_seconds=0.4)
    loaded: list[Callable[[], None]] = []

    async def visits() -> None:
        prepared.after_load(loaded.append)  # page 1 opened: it loads in its browser until ~0.4 s
        first_page_loaded = loaded.pop()
        await asyncio.sleep(0.1)
        first_page_loaded()  # its load ended early: the wait still covers the time a load takes
        await asyncio.sleep(0.15)
        assert build.calls == 0  # 0.25 s: the server's next work could be that page's document pull
        await asyncio.sleep(0.3)
        assert build.calls == 1

    asyncio.run(visits())


def _page(data_dir: Any, prepared: PreparedPage[Dashboard]) -> tuple[Dashboard | None, Document]:
    """Build a page as the server does (inside an event loop); the Dashboard it showed, and its document."""
    shown: list[Dashboard] = []

    def build() -> Dashboard:
        page = Dashboard(settings_for(data_dir))
        shown.append(page)
        return page

    prepared._build = build  # the test watches which page is built when

    async def session() -> Document:
        doc = Document()
        create_app(settings_for(data_dir), prepared).server_doc(doc)
        await asyncio.sleep(0.05)  # outside a session Panel runs onload callbacks at once
        return doc

    doc = asyncio.run(session())
    return (shown[0] if shown else None), doc


def test_the_default_view_uses_the_prepared_page_and_prepares_the_next(sample_lake: SampleLake) -> None:
    prepared: PreparedPage[Dashboard] = PreparedPage(
        lambda: Dashboard(settings_for(sample_lake.data_dir)), quiet_seconds=0.0, load_seconds=0.0
    )
    prepared.prepare()
    waiting = prepared.take()
    assert waiting is not None
    prepared._ready = waiting  # keep a handle on the page that is handed out

    built_next, doc = _page(sample_lake.data_dir, prepared)

    assert prepared.taken == 2
    assert waiting.series_figure.figure.id in {model.id for model in doc.models}  # the prepared page is shown
    assert built_next is not None and built_next is not waiting
    assert prepared.ready  # the next one was built once the page had loaded


def test_a_prepared_page_shows_data_that_arrived_after_it_was_built(sample_lake: SampleLake) -> None:
    prepared: PreparedPage[Dashboard] = PreparedPage(
        lambda: Dashboard(settings_for(sample_lake.data_dir)), quiet_seconds=0.0, load_seconds=0.0
    )
    prepared.prepare()
    assert prepared._ready is not None
    page = prepared._ready
    assert page.window == (date(2024, 2, 18), date(2024, 3, 18))
    before = page.shown_kpis.incidents

    add_rows(sample_lake.lake_dir, [crime_row("late", datetime(2024, 3, 20, 10))])
    _page(sample_lake.data_dir, prepared)

    assert prepared.taken == 1
    assert page.window == (date(2024, 2, 20), date(2024, 3, 20))  # follows the newest day
    assert page.shown_kpis.incidents != before


def test_a_url_with_filters_gets_its_own_page(sample_lake: SampleLake, monkeypatch: pytest.MonkeyPatch) -> None:
    location = pn.io.location.Location(search="?start=2024-01-01&end=2024-01-07")  # the browser's URL
    monkeypatch.setattr(type(pn.state), "location", property(lambda _self: location))
    prepared: PreparedPage[Dashboard] = PreparedPage(
        lambda: Dashboard(settings_for(sample_lake.data_dir)), quiet_seconds=0.0, load_seconds=0.0
    )
    prepared.prepare()
    waiting = prepared._ready

    _built, doc = _page(sample_lake.data_dir, prepared)

    assert prepared.taken == 0 and prepared._ready is waiting  # still waiting for a default view
    assert waiting is not None and waiting.series_figure.figure.id not in {model.id for model in doc.models}
    (dates,) = [m for m in doc.models if "filter-dates" in (getattr(m, "css_classes", None) or [])]
    assert [str(d) for d in dates.value] == ["2024-01-01", "2024-01-07"]  # the URL's view
