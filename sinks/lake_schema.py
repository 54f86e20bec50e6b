"""The lake's table layout: the contract between the sink and every reader.

Layout: ``{DATA_DIR}/lake/{table}/year=YYYY/month=MM/data.parquet`` (Hive
partitioning by the incident's local Chicago date).  ``year`` and ``month``
come from the path only; files never carry a ``year`` column, so the partition
value and the data can never disagree.  Each partition is one file, rewritten
whole and swapped in with ``os.replace``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

__all__ = [
    "CRIMES_TABLE",
    "LAKE_SCHEMA",
    "PARTITION_FILE",
    "partition_dir",
    "table_dir",
]

CRIMES_TABLE = "crimes"
PARTITION_FILE = "data.parquet"

_TS_UTC = pa.timestamp("us", tz="UTC")

LAKE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("case_number", pa.string()),
        pa.field("date", _TS_UTC, nullable=False),
        # The incident's wall-clock time in Chicago: what analysts group by.
        pa.field("date_local", pa.timestamp("us"), nullable=False),
        pa.field("block", pa.string()),
        pa.field("iucr", pa.string()),
        pa.field("primary_type", pa.string()),
        pa.field("description", pa.string()),
        pa.field("location_description", pa.string()),
        pa.field("arrest", pa.bool_()),
        pa.field("domestic", pa.bool_()),
        pa.field("beat", pa.string()),
        pa.field("district", pa.string()),
        pa.field("ward", pa.string()),
        pa.field("community_area", pa.string()),
        pa.field("fbi_code", pa.string()),
        pa.field("x_coordinate", pa.float64()),
        pa.field("y_coordinate", pa.float64()),
        pa.field("updated_on", _TS_UTC),
        pa.field("latitude", pa.float64()),
        pa.field("longitude", pa.float64()),
        pa.field("location", pa.string()),
        pa.field("source_updated_at", _TS_UTC, nullable=False),
        pa.field("flags", pa.list_(pa.string())),
    ]
)


def table_dir(lake_dir: Path, table: str = CRIMES_TABLE) -> Path:
    return lake_dir / table


def partition_dir(lake_dir: Path, year: int, month: int, table: str = CRIMES_TABLE) -> Path:
    return table_dir(lake_dir, table) / f"year={year:04d}" / f"month={month:02d}"
