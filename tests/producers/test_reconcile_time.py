"""A tombstone must win over every version published before it, whatever the source's clock says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from producers.reconcile import tombstone_time
from stream_processors.lww import Event, Version, fold

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def test_a_tombstone_is_stamped_when_detected_if_the_source_is_behind_us() -> None:
    assert tombstone_time(NOW, None) == NOW
    assert tombstone_time(NOW, NOW - timedelta(hours=1)) == NOW


def test_a_source_clock_ahead_of_ours_still_gets_a_newer_tombstone() -> None:
    ahead = NOW + timedelta(days=1)  # e.g. the emulator's live mode stamps each load a day on
    assert tombstone_time(NOW, ahead) == ahead + timedelta(milliseconds=1)


def test_such_a_tombstone_deletes_the_row_downstream() -> None:
    ahead = NOW + timedelta(days=1)
    kept = {"42": Version(_micros(ahead), (2026, 11), "abc")}
    stamp = tombstone_time(NOW, ahead)
    tombstone = Event("42", Version(_micros(stamp), None, "deleted"), None)
    upserts, deletes, versions = fold(kept, [tombstone])
    assert upserts == [] and [d.record_id for d in deletes] == ["42"]
    assert versions["42"].partition is None
    # ...whereas one stamped at the detection time alone would have lost:
    late = Event("42", Version(_micros(NOW), None, "deleted"), None)
    assert fold(kept, [late])[1] == []
