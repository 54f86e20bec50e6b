"""Build small lakes for the dashboard tests: LAKE_SCHEMA exactly, the sink's layout.

Also the reference computations the query layer is checked against (plain
pyarrow, no DuckDB).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dashboard.settings import DashboardSettings
from sinks.lake_schema import LAKE_SCHEMA, PARTITION_FILE, partition_dir

__all__ = [
    "BOUNDARY_ROWS",
    "CRIME_TYPES",
    "SampleLake",
    "add_rows",
    "counts_per_day",
    "crime_row",
    "read_lake",
    "sample_rows",
    "settings_for",
    "write_lake",
    "write_partition",
]

CHICAGO = ZoneInfo("America/Chicago")
CRIME_TYPES = ("THEFT", "BATTERY", "CRIMINAL DAMAGE", "NARCOTICS", "ASSAULT")


def crime_row(row_id: str, local: datetime, primary_type: str = "THEFT") -> dict[str, Any]:
    """One lake row whose incident happened at ``local`` Chicago wall-clock time."""
    utc = local.replace(tzinfo=CHICAGO).astimezone(UTC)
    return {
        "id": row_id,
        "case_number": f"JH{row_id.zfill(6)}",
        "date": utc,
        "date_local": local,
        "block": "001XX N STATE ST",
        "iucr": "0820",
        "primary_type": primary_type,
        "description": "$500 AND UNDER",
        "location_description": "STREET",
        "arrest": False,
        "domestic": False,
        "beat": "0111",
        "district": "001",
        "ward": "42",
        "community_area": "32",
        "fbi_code": "06",
        "x_coordinate": 1176000.0,
        "y_coordinate": 1901000.0,
        "updated_on": utc + timedelta(days=7),
        "latitude": 41.88,
        "longitude": -87.63,
        "location": None,
        "source_updated_at": utc + timedelta(days=7),
        "flags": [],
    }


def sample_rows(start: date, days: int, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic rows over ``days`` days from ``start``; some days have none."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        count = 0 if offset % 11 == 5 else rng.randint(1, 9)
        for _ in range(count):
            moment = datetime.combine(day, time()) + timedelta(
                seconds=rng.randrange(24 * 3600), microseconds=rng.randrange(1_000_000)
            )
            rows.append(crime_row(str(len(rows) + 1), moment, rng.choice(CRIME_TYPES)))
    return rows


def write_partition(lake_dir: Path, year: int, month: int, rows: Sequence[dict[str, Any]]) -> Path:
    """Write one partition whole and swap it in, as the sink does."""
    target = partition_dir(lake_dir, year, month) / PARTITION_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(list(rows), schema=LAKE_SCHEMA)
    tmp = target.with_name(f".{PARTITION_FILE}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, target)
    return target


def write_lake(lake_dir: Path, rows: Iterable[dict[str, Any]]) -> list[Path]:
    """Write ``rows`` into their (year, month) partitions of local date."""
    by_month: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for row in rows:
        local: datetime = row["date_local"]
        by_month.setdefault((local.year, local.month), []).append(row)
    return [
        write_partition(lake_dir, year, month, month_rows) for (year, month), month_rows in sorted(by_month.items())
    ]


def add_rows(lake_dir: Path, rows: Iterable[dict[str, Any]]) -> list[Path]:
    """Add ``rows`` to the lake: each touched partition is rewritten whole with them."""
    existing = read_lake(lake_dir).to_pylist()
    new = list(rows)
    months = {(r["date_local"].year, r["date_local"].month) for r in new}
    kept = [r for r in existing if (r["date_local"].year, r["date_local"].month) in months]
    return write_lake(lake_dir, kept + new)


def read_lake(lake_dir: Path) -> pa.Table:
    """Every row of the lake, read with pyarrow alone."""
    files = sorted((lake_dir / "crimes").glob(f"year=*/month=*/{PARTITION_FILE}"))
    if not files:
        return LAKE_SCHEMA.empty_table()
    return pa.concat_tables(pq.read_table(f, schema=LAKE_SCHEMA) for f in files)


def counts_per_day(table: pa.Table, start: date, end: date, types: Sequence[str] = ()) -> dict[date, int]:
    """Incidents per local day in ``[start, end]`` (days with none included), via pyarrow."""
    days = pc.cast(table["date_local"], pa.date32())
    mask = pc.and_(pc.greater_equal(days, start), pc.less_equal(days, end))
    if types:
        mask = pc.and_(mask, pc.is_in(table["primary_type"], pa.array(list(types))))
    counted = Counter(days.filter(mask).to_pylist())
    return {start + timedelta(days=i): counted.get(start + timedelta(days=i), 0) for i in range((end - start).days + 1)}


@dataclass(frozen=True)
class SampleLake:
    data_dir: Path
    lake_dir: Path
    table: pa.Table
    first_day: date
    last_day: date


def settings_for(data_dir: Path, **overrides: Any) -> DashboardSettings:
    """Settings over ``data_dir``; live refresh off unless overridden."""
    values: dict[str, Any] = {"data_dir": data_dir, "dashboard_refresh_seconds": 0}
    values.update(overrides)
    return DashboardSettings(**values)


# Rows right on month and year boundaries: pruning must keep every one of them.
BOUNDARY_ROWS = [
    crime_row("b1", datetime(2023, 12, 31, 23, 59, 59, 999_999), "ARSON"),
    crime_row("b2", datetime(2024, 1, 1, 0, 0), "ARSON"),
    crime_row("b3", datetime(2024, 1, 31, 23, 59, 59), "ARSON"),
    crime_row("b4", datetime(2024, 2, 1, 0, 0), "ARSON"),
    crime_row("b5", datetime(2024, 2, 29, 12, 0), "ARSON"),
    crime_row("b6", datetime(2024, 3, 1, 0, 0, 0, 1), "ARSON"),
]
