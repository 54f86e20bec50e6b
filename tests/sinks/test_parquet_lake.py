"""The lake writer: atomic partition swaps, moves, deletes, idempotent replays."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sinks.lake_schema import LAKE_SCHEMA
from sinks.parquet_lake import Delete, LakeWriter, Upsert
from sinks.records import lake_row, partition_of


def _row(rid: str, date: datetime, updated: datetime, kind: str = "THEFT") -> dict[str, Any]:
    record = {f.name: None for f in LAKE_SCHEMA if f.name != "date_local"}
    record.update(id=rid, date=date, source_updated_at=updated, primary_type=kind, flags=[], year=date.year)
    return lake_row(record)


def _lake(lake: Path) -> list[tuple[Any, ...]]:
    glob = str(lake / "crimes" / "*" / "*" / "*.parquet")
    return duckdb.sql(
        f"select id, primary_type, year, month from read_parquet('{glob}', hive_partitioning=true) order by id"
    ).fetchall()


T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 1, 2, tzinfo=UTC)
JAN = datetime(2024, 1, 15, 12, tzinfo=UTC)
MAY = datetime(2024, 5, 15, 12, tzinfo=UTC)


def test_partition_is_the_local_chicago_month() -> None:
    # 2024-03-01 03:00 UTC is still February 29th in Chicago.
    assert partition_of(datetime(2024, 3, 1, 3, tzinfo=UTC)) == (2024, 2)


def test_upserts_land_in_their_partition_sorted_by_date(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path)
    rows = [_row(str(i), JAN.replace(day=20 - i), T0) for i in range(5)]
    stats = writer.apply([Upsert(r, (2024, 1)) for r in rows], [])
    assert stats.partitions == 1 and stats.rows_written == 5
    table = writer.read_partition((2024, 1))
    assert table["date_local"].to_pylist() == sorted(table["date_local"].to_pylist())
    assert _lake(tmp_path) == [(str(i), "THEFT", 2024, "01") for i in range(5)]


def test_a_move_leaves_the_old_partition_and_no_duplicate(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path)
    writer.apply([Upsert(_row("a", JAN, T0), (2024, 1)), Upsert(_row("b", JAN, T0), (2024, 1))], [])
    writer.apply([Upsert(_row("a", MAY, T1, "BATTERY"), (2024, 5), previous=(2024, 1))], [])
    assert _lake(tmp_path) == [("a", "BATTERY", 2024, "05"), ("b", "THEFT", 2024, "01")]


def test_crossing_moves_in_one_batch(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path)
    writer.apply([Upsert(_row("a", JAN, T0), (2024, 1)), Upsert(_row("b", MAY, T0), (2024, 5))], [])
    writer.apply(
        [
            Upsert(_row("a", MAY, T1), (2024, 5), previous=(2024, 1)),
            Upsert(_row("b", JAN, T1), (2024, 1), previous=(2024, 5)),
        ],
        [],
    )
    assert _lake(tmp_path) == [("a", "THEFT", 2024, "05"), ("b", "THEFT", 2024, "01")]


def test_delete_removes_and_an_emptied_partition_disappears(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path)
    writer.apply([Upsert(_row("a", JAN, T0), (2024, 1)), Upsert(_row("b", MAY, T0), (2024, 5))], [])
    writer.apply([], [Delete("a", (2024, 1))])
    assert _lake(tmp_path) == [("b", "THEFT", 2024, "05")]
    assert not writer.path((2024, 1)).exists()


def test_replaying_a_batch_gives_the_same_lake_and_older_versions_never_win(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path)
    batch = [Upsert(_row("a", JAN, T1, "BATTERY"), (2024, 1))]
    writer.apply(batch, [])
    before = writer.path((2024, 1)).read_bytes()
    writer.apply(batch, [])  # replay
    writer.apply([Upsert(_row("a", JAN, T0, "THEFT"), (2024, 1))], [])  # an older version arriving late
    assert _lake(tmp_path) == [("a", "BATTERY", 2024, "01")]
    assert writer.read_partition((2024, 1)).num_rows == 1
    assert len(before) > 0


def test_swaps_leave_exactly_one_file_per_partition(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path)
    for i in range(20):
        writer.apply([Upsert(_row(str(i), JAN, T0), (2024, 1))], [])
    files = sorted(p.name for p in writer.path((2024, 1)).parent.iterdir() if not p.name.startswith("."))
    assert files == ["data.parquet"]  # (besides the hidden writer lock)
    assert writer.read_partition((2024, 1)).num_rows == 20


def test_metadata_tracks_rows_freshness_and_swaps(tmp_path: Path) -> None:
    from sinks.metadata import read_metadata

    writer = LakeWriter(tmp_path)
    writer.apply([Upsert(_row("a", JAN, T0), (2024, 1)), Upsert(_row("b", MAY, T1), (2024, 5))], [])
    meta = read_metadata(tmp_path / "crimes")
    assert meta["rows"] == 2 and set(meta["partitions"]) == {"2024-01", "2024-05"}
    assert meta["newest_source_update"] == T1.isoformat()
    assert meta["partitions"]["2024-01"]["rows"] == 1 and meta["partitions"]["2024-01"]["swapped_at"]
    writer.apply([], [Delete("b", (2024, 5))])
    meta = read_metadata(tmp_path / "crimes")
    assert meta["rows"] == 1 and set(meta["partitions"]) == {"2024-01"}
    assert meta["newest_source_update"] == T0.isoformat()


def test_a_new_optional_field_reaches_old_partitions_without_breaking_readers(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from sinks.lake_schema import LakeTable
    from sinks.records import CRIMES

    old_schema = LAKE_SCHEMA.remove(LAKE_SCHEMA.get_field_index("flags"))
    old = LakeTable(CRIMES.name, old_schema, CRIMES.key, CRIMES.time_field, CRIMES.local_field)
    LakeWriter(tmp_path, old).apply([Upsert(_row("a", JAN, T0), (2024, 1)), Upsert(_row("b", MAY, T0), (2024, 5))], [])
    new_writer = LakeWriter(tmp_path)  # today's schema has 'flags'
    new_writer.apply([Upsert({**_row("c", MAY, T1), "flags": ["coordinates_out_of_bounds"]}, (2024, 5))], [])
    assert new_writer.migrate() == 1  # January still had the old schema
    assert new_writer.migrate() == 0
    for partition in ((2024, 1), (2024, 5)):
        assert pq.read_schema(new_writer.path(partition)).remove_metadata().equals(LAKE_SCHEMA)
    glob = str(tmp_path / "crimes" / "*" / "*" / "*.parquet")
    rows = duckdb.sql(f"select id, flags from read_parquet('{glob}', hive_partitioning=true) order by id").fetchall()
    assert rows == [("a", None), ("b", None), ("c", ["coordinates_out_of_bounds"])]


def test_stale_copies_from_an_interrupted_attempt_are_removed(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path)
    writer.apply([Upsert(_row("a", JAN, T0), (2024, 1))], [])
    writer.apply([Upsert(_row("a", MAY.replace(month=2), T1), (2024, 2), previous=(2024, 1))], [])  # then a crash
    writer.apply([Upsert(_row("a", MAY, T1), (2024, 5), previous=(2024, 1), stale=((2024, 2),))], [])
    assert _lake(tmp_path) == [("a", "THEFT", 2024, "05")]


def test_a_full_disk_is_a_clear_terminal_error_and_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import sinks.parquet_lake as lake_module
    from crimestream.errors import LakeUnwritableError

    writer = LakeWriter(tmp_path)
    writer.apply([Upsert(_row("a", JAN, T0), (2024, 1))], [])

    def full_disk(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lake_module.pq, "write_table", full_disk)
    with pytest.raises(LakeUnwritableError, match="No space left on device; free space or fix permissions"):
        writer.apply([Upsert(_row("b", JAN, T1), (2024, 1))], [])
    monkeypatch.undo()
    assert _lake(tmp_path) == [("a", "THEFT", 2024, "01")]


def test_a_late_delete_from_a_zombie_writer_never_removes_a_newer_row(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path)
    t2 = T1 + (T1 - T0)
    writer.apply([Upsert(_row("a", JAN, t2, "ROBBERY"), (2024, 1))], [])  # the newest version, back in January
    # A worker that lost its partitions finishes an old move (January -> May at T1) late.
    writer.apply([Upsert(_row("a", MAY, T1), (2024, 5), previous=(2024, 1))], [Delete("a", (2024, 1), T1)])
    assert ("a", "ROBBERY", 2024, "01") in _lake(tmp_path)
    writer.apply([], [Delete("a", (2024, 5), t2)])  # the newest version's own cleanup of the stale copy
    assert _lake(tmp_path) == [("a", "ROBBERY", 2024, "01")]


def test_concurrent_writers_of_one_partition_lose_nothing(tmp_path: Path) -> None:
    import threading

    def write(prefix: str) -> None:
        writer = LakeWriter(tmp_path)
        for i in range(15):
            writer.apply([Upsert(_row(f"{prefix}{i}", JAN, T0), (2024, 1))], [])

    threads = [threading.Thread(target=write, args=(p,)) for p in "xyz"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_lake(tmp_path)) == 45
