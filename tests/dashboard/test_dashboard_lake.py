"""Listing partitions and fingerprinting the lake from the file system."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from dashboard_lake_builder import crime_row, write_partition

from dashboard.lake import lake_version, partition_files
from sinks.lake_schema import PARTITION_FILE


def _row(day: int) -> dict[str, Any]:
    row: dict[str, Any] = crime_row(str(day), datetime(2024, 1, day, 12))
    return row


def test_only_partition_files_of_the_contract_shape_are_listed(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_partition(lake, 2024, 2, [_row(1)])
    write_partition(lake, 2023, 12, [_row(2)])
    crimes = lake / "crimes"
    (crimes / "year=2024" / "month=02" / f".{PARTITION_FILE}.tmp").write_bytes(b"tmp")
    (crimes / "year=2024" / "month=02" / "other.parquet").write_bytes(b"x")
    (crimes / "year=2024" / "month=13").mkdir()
    (crimes / "year=2024" / "month=13" / PARTITION_FILE).write_bytes(b"x")
    (crimes / "year=24" / "month=01").mkdir(parents=True)
    (crimes / "year=24" / "month=01" / PARTITION_FILE).write_bytes(b"x")
    (crimes / "year=2025").mkdir()
    (crimes / "year=2025" / "month=01").write_bytes(b"a file, not a folder")

    assert [(p.year, p.month) for p in partition_files(lake)] == [(2023, 12), (2024, 2)]


def test_no_lake_at_all(tmp_path: Path) -> None:
    assert partition_files(tmp_path / "nothing") == []
    version = lake_version(tmp_path / "nothing")
    assert version.is_empty
    assert version.file_count == 0
    assert version.newest_write is None


def test_version_is_stable_until_a_partition_changes(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_partition(lake, 2024, 1, [_row(1)])
    first = lake_version(lake)
    assert lake_version(lake) == first
    assert first.file_count == 1
    assert first.newest_write is not None

    write_partition(lake, 2024, 1, [_row(1)])  # same rows, swapped in anew
    swapped = lake_version(lake)
    assert swapped != first

    write_partition(lake, 2024, 2, [_row(3)])
    grown = lake_version(lake)
    assert grown != swapped
    assert grown.file_count == 2

    (lake / "crimes" / "year=2024" / "month=02" / PARTITION_FILE).unlink()
    assert lake_version(lake).file_count == 1
