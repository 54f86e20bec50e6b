"""The query layer against small lakes built with pyarrow."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from dashboard_lake_builder import (
    SampleLake,
    counts_per_day,
    crime_row,
    read_lake,
    write_lake,
    write_partition,
)

from crimestream.errors import CrimestreamError
from dashboard import queries
from dashboard.lake import LakeVersion, lake_version
from dashboard.queries import (
    EMPTY_LAKE_MESSAGE,
    DayRange,
    EmptyLakeError,
    LakeReadError,
    crime_types,
    date_bounds,
    incidents_per_day,
    total_incidents,
)
from sinks.lake_schema import PARTITION_FILE, partition_dir

HOSTILE = [
    "'; DROP TABLE x; --",
    "THEFT' OR '1'='1",
    'BATTERY"); SELECT 1; --',
    "$types",
    "?",
    "%",
    "\\'",
    "",
]


def _as_dict(per_day: pd.DataFrame) -> dict[date, int]:
    return {ts.date(): int(n) for ts, n in zip(per_day["day"], per_day["incidents"], strict=True)}


def test_date_bounds(sample_lake: SampleLake) -> None:
    assert date_bounds(sample_lake.lake_dir) == (sample_lake.first_day, sample_lake.last_day)


def test_per_day_matches_pyarrow_over_the_whole_lake(sample_lake: SampleLake) -> None:
    start, end = sample_lake.first_day, sample_lake.last_day
    per_day = incidents_per_day(sample_lake.lake_dir, start, end)
    assert list(per_day.columns) == ["day", "incidents"]
    assert _as_dict(per_day) == counts_per_day(sample_lake.table, start, end)
    assert int(per_day["incidents"].sum()) == sample_lake.table.num_rows


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2024, 1, 10), date(2024, 1, 20)),  # inside one partition
        (date(2023, 12, 31), date(2024, 1, 1)),  # across a year boundary
        (date(2024, 1, 31), date(2024, 2, 1)),  # across a month boundary
        (date(2024, 2, 29), date(2024, 3, 1)),  # leap day into March
        (date(2024, 2, 1), date(2024, 2, 1)),  # one day
        (date(2023, 11, 1), date(2024, 5, 31)),  # wider than the lake
    ],
)
def test_date_filter_and_pruning_keep_every_row(sample_lake: SampleLake, start: date, end: date) -> None:
    expected = counts_per_day(sample_lake.table, start, end)
    per_day = incidents_per_day(sample_lake.lake_dir, start, end)
    assert _as_dict(per_day) == expected
    assert total_incidents(sample_lake.lake_dir, start, end) == sum(expected.values())


def test_boundary_rows_land_on_their_local_day(sample_lake: SampleLake) -> None:
    lake = sample_lake.lake_dir
    arson = ["ARSON"]
    assert total_incidents(lake, date(2023, 12, 31), date(2023, 12, 31), primary_types=arson) == 1
    assert total_incidents(lake, date(2024, 1, 1), date(2024, 1, 1), primary_types=arson) == 1
    assert total_incidents(lake, date(2024, 1, 31), date(2024, 2, 1), primary_types=arson) == 2
    assert total_incidents(lake, date(2024, 3, 1), date(2024, 3, 1), primary_types=arson) == 1


def test_days_without_incidents_are_zero_not_missing(sample_lake: SampleLake) -> None:
    start, end = date(2023, 12, 10), date(2023, 12, 20)
    per_day = incidents_per_day(sample_lake.lake_dir, start, end)
    assert len(per_day) == 11
    assert (per_day["incidents"] == 0).any()  # the builder leaves some days empty
    assert per_day["day"].is_monotonic_increasing


def test_partition_pruning_never_opens_partitions_outside_the_range(
    sample_lake: SampleLake,
) -> None:
    # A partition no valid query for early 2024 should ever open: unreadable garbage.
    broken = partition_dir(sample_lake.lake_dir, 2025, 6) / PARTITION_FILE
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a parquet file")

    start, end = date(2024, 1, 1), date(2024, 2, 29)
    expected = counts_per_day(sample_lake.table, start, end)
    assert _as_dict(incidents_per_day(sample_lake.lake_dir, start, end)) == expected

    with pytest.raises(LakeReadError) as info:
        total_incidents(sample_lake.lake_dir, date(2025, 6, 1), date(2025, 6, 30))
    assert not info.value.retryable  # nothing was changing: no pointless retries
    assert "year=2025" in str(info.value)


def test_crime_type_filter(sample_lake: SampleLake) -> None:
    start, end = sample_lake.first_day, sample_lake.last_day
    types = ["THEFT", "NARCOTICS"]
    per_day = incidents_per_day(sample_lake.lake_dir, start, end, primary_types=types)
    assert _as_dict(per_day) == counts_per_day(sample_lake.table, start, end, types)


def test_crime_types_lists_distinct_sorted_values(sample_lake: SampleLake) -> None:
    expected = sorted(set(sample_lake.table["primary_type"].to_pylist()))
    assert crime_types(sample_lake.lake_dir) == expected


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_are_only_values(sample_lake: SampleLake, hostile: str) -> None:
    lake, start, end = sample_lake.lake_dir, sample_lake.first_day, sample_lake.last_day
    assert total_incidents(lake, start, end, primary_types=[hostile]) == 0
    mixed = total_incidents(lake, start, end, primary_types=[hostile, "ARSON"])
    assert mixed == 6
    # The lake and the connection are intact afterwards.
    assert total_incidents(lake, start, end) == sample_lake.table.num_rows


def test_a_hostile_type_value_stored_in_the_lake_is_matched_exactly(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    day = datetime(2024, 5, 5, 12)
    write_lake(lake, [crime_row("1", day, HOSTILE[0]), crime_row("2", day, "THEFT")])
    assert crime_types(lake) == sorted([HOSTILE[0], "THEFT"])
    assert total_incidents(lake, day.date(), day.date(), primary_types=[HOSTILE[0]]) == 1


def test_odd_characters_in_the_data_dir(tmp_path: Path) -> None:
    lake = tmp_path / "it's; a -- lake" / "lake"
    write_lake(lake, [crime_row("1", datetime(2024, 5, 5, 12))])
    assert date_bounds(lake) == (date(2024, 5, 5), date(2024, 5, 5))


def test_no_rows_match(sample_lake: SampleLake) -> None:
    start, end = date(2022, 1, 1), date(2022, 1, 31)
    assert total_incidents(sample_lake.lake_dir, start, end) == 0
    per_day = incidents_per_day(sample_lake.lake_dir, start, end)
    assert len(per_day) == 31
    assert int(per_day["incidents"].sum()) == 0


def test_datetime_arguments_are_taken_as_days(sample_lake: SampleLake) -> None:
    lake = sample_lake.lake_dir
    by_day = total_incidents(lake, date(2024, 1, 5), date(2024, 1, 6))
    assert total_incidents(lake, datetime(2024, 1, 5, 18), datetime(2024, 1, 6, 3)) == by_day


def test_reversed_range_is_rejected(sample_lake: SampleLake) -> None:
    with pytest.raises(ValueError, match="after"):
        total_incidents(sample_lake.lake_dir, date(2024, 2, 1), date(2024, 1, 1))


def test_day_range_pruning_keys() -> None:
    params = DayRange(date(2023, 12, 30), date(2024, 1, 2)).params()
    assert params["first_month"] == 2023 * 12 + 12
    assert params["last_month"] == 2024 * 12 + 1
    assert params["end_ts"] == datetime(2024, 1, 3)


@pytest.mark.parametrize("layout", ["missing", "bare", "temp-and-stray"])
def test_empty_lake(tmp_path: Path, layout: str) -> None:
    lake = tmp_path / "lake"
    if layout != "missing":
        (lake / "crimes").mkdir(parents=True)
    if layout == "temp-and-stray":
        month = lake / "crimes" / "year=2024" / "month=01"
        month.mkdir(parents=True)
        (month / f".{PARTITION_FILE}.tmp").write_bytes(b"half written")
        (lake / "crimes" / "year=abcd" / "month=01").mkdir(parents=True)
        (lake / "crimes" / "year=abcd" / "month=01" / PARTITION_FILE).write_bytes(b"x")
    calls = [
        lambda: date_bounds(lake),
        lambda: crime_types(lake),
        lambda: total_incidents(lake, date(2024, 1, 1), date(2024, 1, 31)),
        lambda: incidents_per_day(lake, date(2024, 1, 1), date(2024, 1, 31)),
    ]
    for call in calls:
        with pytest.raises(EmptyLakeError) as info:
            call()
        assert str(info.value) == EMPTY_LAKE_MESSAGE
        assert isinstance(info.value, CrimestreamError)


def test_partition_files_without_rows(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_partition(lake, 2024, 1, [])
    assert date_bounds(lake) is None
    assert crime_types(lake) == []
    assert total_incidents(lake, date(2024, 1, 1), date(2024, 1, 31)) == 0


def test_new_data_is_seen_by_the_next_query(sample_lake: SampleLake) -> None:
    lake = sample_lake.lake_dir
    before = total_incidents(lake, date(2024, 4, 1), date(2024, 4, 30))
    write_lake(lake, [crime_row("n1", datetime(2024, 4, 2, 8)), crime_row("n2", datetime(2024, 4, 3, 9))])
    assert total_incidents(lake, date(2024, 4, 1), date(2024, 4, 30)) == before + 2
    assert date_bounds(lake) == (sample_lake.first_day, date(2024, 4, 3))


def test_concurrent_queries_from_many_threads(sample_lake: SampleLake) -> None:
    lake, start, end = sample_lake.lake_dir, sample_lake.first_day, sample_lake.last_day
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: total_incidents(lake, start, end), range(30)))
    assert set(results) == {sample_lake.table.num_rows}


def test_queries_survive_partitions_being_swapped(sample_lake: SampleLake) -> None:
    """A writer swapping partitions (os.replace) never breaks a reader."""
    lake = sample_lake.lake_dir
    january = [r for r in sample_lake.table.to_pylist() if r["date_local"].month == 1]
    smaller = january[: len(january) // 2]
    start, end = date(2024, 1, 1), date(2024, 1, 31)
    allowed = {len(january), len(smaller)}
    stop = threading.Event()

    def writer() -> None:
        flip = False
        while not stop.is_set():
            write_partition(lake, 2024, 1, smaller if flip else january)
            flip = not flip

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    seen: set[int] = set()
    gave_up = 0
    deadline = time.monotonic() + 1.5
    try:
        while time.monotonic() < deadline:
            try:
                seen.add(total_incidents(lake, start, end))
            except LakeReadError as exc:  # allowed only as the typed, retryable error
                assert exc.retryable
                gave_up += 1
    finally:
        stop.set()
        thread.join()
    assert seen, "no query succeeded while the writer was swapping"
    assert seen <= allowed
    assert gave_up <= 2


def test_a_vanished_partition_is_retried_not_raised(sample_lake: SampleLake, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing names a file that is gone by the time DuckDB opens it."""
    lake = sample_lake.lake_dir
    doomed = partition_dir(lake, 2024, 3) / PARTITION_FILE
    calls = {"n": 0}

    def listing_then_delete(lake_dir: Path) -> LakeVersion:
        version = lake_version(lake_dir)
        calls["n"] += 1
        if calls["n"] == 1:
            os.remove(doomed)
        return version

    monkeypatch.setattr(queries, "lake_version", listing_then_delete)
    total = total_incidents(lake, sample_lake.first_day, sample_lake.last_day)
    assert not doomed.exists()
    assert total == read_lake(lake).num_rows < sample_lake.table.num_rows
    assert calls["n"] >= 3  # listed, failed, re-listed


def test_the_lake_reads_a_range_one_day_past_a_month_end(sample_lake: SampleLake) -> None:
    end = date(2024, 1, 31)
    got = total_incidents(sample_lake.lake_dir, end - timedelta(days=1), end + timedelta(days=1))
    assert got == sum(counts_per_day(sample_lake.table, end - timedelta(days=1), end + timedelta(days=1)).values())
