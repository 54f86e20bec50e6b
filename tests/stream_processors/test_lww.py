"""Last-write-wins by source order: pure fold logic."""

from typing import Any

from stream_processors.app import _StallWatch
from stream_processors.lww import Event, Version, fold, wins


def _ev(rid: str, ts: int, part: tuple[int, int] | None = (2024, 1), digest: str = "h") -> Event:
    row: dict[str, Any] | None = None if part is None else {"id": rid, "ts": ts}
    return Event(rid, Version(ts, part, digest if part else "deleted"), row)


def test_newer_wins_older_and_identical_are_dropped() -> None:
    old = Version(10, (2024, 1), "a")
    assert wins(Version(11, (2024, 1), "a"), old)
    assert not wins(Version(9, (2024, 1), "z"), old)
    assert not wins(Version(10, (2024, 1), "a"), old)


def test_equal_time_different_content_is_resolved_by_hash_both_ways() -> None:
    a, b = Version(10, (2024, 1), "aaa"), Version(10, (2024, 1), "bbb")
    assert wins(b, a) and not wins(a, b)


def test_fold_keeps_the_latest_by_source_time_not_arrival() -> None:
    ups, dels, versions = fold({"x": None}, [_ev("x", 3), _ev("x", 1), _ev("x", 2)])
    assert [u.row["ts"] for u in ups] == [3] and not dels
    assert versions["x"].ts == 3


def test_fold_drops_versions_older_than_the_kept_one() -> None:
    ups, dels, versions = fold({"x": Version(5, (2024, 1), "h")}, [_ev("x", 4)])
    assert ups == [] and dels == [] and versions == {}


def test_fold_reports_moves_with_the_previous_partition() -> None:
    ups, _, _ = fold({"x": Version(1, (2024, 1), "h")}, [_ev("x", 2, (2024, 5))])
    assert ups[0].partition == (2024, 5) and ups[0].previous == (2024, 1)


def test_tombstone_deletes_from_the_kept_partition() -> None:
    ups, dels, versions = fold({"x": Version(1, (2024, 3), "h")}, [_ev("x", 2, None)])
    assert ups == [] and [(d.record_id, d.partition) for d in dels] == [("x", (2024, 3))]
    assert versions["x"].partition is None


def test_tombstone_older_than_the_kept_version_is_ignored() -> None:
    ups, dels, _ = fold({"x": Version(5, (2024, 3), "h")}, [_ev("x", 2, None)])
    assert ups == [] and dels == []


def test_a_replayed_batch_removes_the_id_from_every_partition_a_newer_version_may_have_landed_in() -> None:
    # The kept version is in January; an earlier, unacknowledged attempt may have written the
    # February version before the worker died; now both come again in one batch with May winning.
    kept = {"x": Version(1, (2024, 1), "h")}
    ups, dels, _ = fold(kept, [_ev("x", 2, (2024, 2)), _ev("x", 5, (2024, 5)), _ev("x", 0, (2024, 7))])
    assert ups[0].partition == (2024, 5) and ups[0].previous == (2024, 1)
    assert ups[0].stale == ((2024, 2),)  # July was older than the kept version: it never landed
    ups, dels, _ = fold(kept, [_ev("x", 2, (2024, 2)), _ev("x", 5, None)])
    assert ups == [] and sorted(d.partition for d in dels) == [(2024, 1), (2024, 2)]


def test_the_stall_watch_counts_only_time_without_any_progress_while_events_wait() -> None:
    watch = _StallWatch()
    ends = {0: 100, 1: 50}
    assert watch.observe(ends, {0: 40, 1: 50}, (1,), now=0.0) == 0.0
    assert watch.observe(ends, {0: 40, 1: 50}, (1,), now=90.0) == 90.0  # nothing moved
    assert watch.behind == {0: 60}
    assert watch.observe(ends, {0: 41, 1: 50}, (1,), now=100.0) == 0.0  # a commit: progress
    assert watch.observe(ends, {0: 41, 1: 50}, (2,), now=200.0) == 0.0  # local work: progress
    assert watch.observe(ends, {0: 41, 1: 50}, (2,), now=350.0) == 150.0
    # caught up: waiting for new events is not a stall
    assert watch.observe({0: 41, 1: 50}, {0: 41, 1: 50}, (2,), now=900.0) == 0.0
    # a group that never committed (-1001) starts from offset 0
    fresh = _StallWatch()
    fresh.observe({0: 10}, {0: -1001}, (0,), now=0.0)
    assert fresh.behind == {0: 10}
