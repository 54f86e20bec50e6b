"""Background work waits for a quiet server: ``dashboard.activity`` and Panel's full garbage collection
(``dashboard.quietgc``), within a bound."""

from __future__ import annotations

from collections.abc import Iterator

import panel as pn
import pytest
from panel.io import document
from panel.util import edit_readonly

from dashboard.activity import Activity
from dashboard.quietgc import QuietCollector, install


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _collector(clock: _Clock, collected: list[float]) -> tuple[QuietCollector, Activity]:
    activity = Activity(clock)
    quiet = QuietCollector(
        activity, quiet_seconds=3.0, max_delay_seconds=60.0, collect=lambda: collected.append(clock.now)
    )
    return quiet, activity


def test_a_quiet_server_collects_at_once() -> None:
    clock, collected, asked = _Clock(), [], []
    quiet, _activity = _collector(clock, collected)
    quiet.run(asked.append)
    assert collected == [1000.0] and asked == []


def test_the_collection_waits_until_activity_has_stopped_for_the_quiet_time() -> None:
    clock, collected, asked = _Clock(), [], []
    quiet, activity = _collector(clock, collected)
    activity.touch()  # a page opened
    clock.now += 1.0
    quiet.run(asked.append)
    assert collected == [] and asked == [2.0]
    clock.now += 1.5
    activity.touch()  # a filter changed meanwhile
    clock.now += 0.5
    quiet.run(asked.append)
    assert collected == [] and asked == [2.0, 2.5]
    clock.now += 2.5
    quiet.run(asked.append)
    assert collected == [1005.5] and quiet.collections == 1 and quiet.postponed == 2


def test_a_server_never_quiet_still_collects_within_the_bound() -> None:
    clock, collected, asked = _Clock(), [], []
    quiet, activity = _collector(clock, collected)
    while not collected:
        activity.touch()
        quiet.run(asked.append)
        assert not asked or asked[-1] <= 3.0
        clock.now += 2.0
    assert collected == [1060.0]  # waited 60 s from its first call, not longer
    activity.touch()
    quiet.run(asked.append)  # the bound counts afresh from the next request
    assert collected == [1060.0] and asked[-1] == 3.0


@pytest.fixture
def panel_globals() -> Iterator[None]:
    """Panel's collection and its global callbacks as they were before the test."""
    original, created = document._garbage_collect, list(pn.state._on_session_created)
    watchers = list(pn.state.param.watchers.get("busy", {}).get("value", []))
    yield
    document._garbage_collect = original
    pn.state._on_session_created[:] = created
    for watcher in pn.state.param.watchers.get("busy", {}).get("value", []):
        if watcher not in watchers:
            pn.state.param.unwatch(watcher)


def test_panels_collection_and_activity_are_wired_to_panel(panel_globals: None) -> None:
    clock, collected = _Clock(), []
    quiet, activity = _collector(clock, collected)
    activity.watch_panel()
    install(quiet)
    assert document._garbage_collect.__module__ == "dashboard.quietgc"
    clock.now += 10.0
    with edit_readonly(pn.state):  # as Panel flags a page's callback running
        pn.state.busy = True
        pn.state.busy = False
    assert quiet.delay() == 3.0
    clock.now += 3.0
    document._garbage_collect()  # what Panel's scheduler calls after a page is discarded
    assert collected == [1013.0]
    clock.now += 1.0
    pn.state._on_session_created[-1](None)  # as Panel calls it when a page is opened
    assert activity.quiet_in(3.0) == 3.0
