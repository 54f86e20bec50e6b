"""The lake's table layout: the contract between the sink and every reader.

Layout: ``{DATA_DIR}/lake/{table}/year=YYYY/month=MM/data.parquet`` (Hive
partitioning by the event's local Chicago date).  ``year`` and ``month``
come from the path only; files never carry a ``year`` or ``month`` column, so
the partition value and the data can never disagree.  Each partition is one
file, rewritten whole and swapped in with ``os.replace``.

The columns follow the dataset's Avro schema (``schemas/``): strings, numbers
and booleans as themselves, ``timestamp-micros`` as UTC timestamps, and next
to the partition-time field ``<field>_local``, its Chicago wall-clock time
(what analysts group by).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from crimestream.datasets import DATASETS, DatasetSpec
from crimestream.errors import ConfigError
from schemas import load_schema

__all__ = [
    "CRIMES_TABLE",
    "LAKE_SCHEMA",
    "PARTITION_COLUMNS",
    "PARTITION_FILE",
    "LakeTable",
    "lake_table",
    "partition_dir",
    "table_dir",
]

CRIMES_TABLE = "crimes"
PARTITION_FILE = "data.parquet"
PARTITION_COLUMNS = ("year", "month")

_TS_UTC = pa.timestamp("us", tz="UTC")
_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
}


@dataclass(frozen=True)
class LakeTable:
    """One table of the lake: its folder name, arrow schema, key and time columns."""

    name: str
    schema: pa.Schema
    key: str  # the record's id column
    time_field: str  # the event time partitioned by (UTC)
    local_field: str  # its Chicago wall-clock twin, the sort key within files


def _arrow_type(avro: Any) -> tuple[pa.DataType, bool]:
    """(arrow type, nullable) of an Avro field type."""
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) != 1:
            raise ConfigError(f"unsupported Avro union {avro!r} for the lake")
        return _arrow_type(branches[0])[0], True
    if isinstance(avro, dict):
        if avro.get("logicalType") in ("timestamp-micros", "timestamp-millis"):
            return _TS_UTC, False
        if avro.get("type") == "array":
            return pa.list_(_arrow_type(avro["items"])[0]), True
        return _arrow_type(avro["type"])
    if avro in _PRIMITIVES:
        return _PRIMITIVES[avro], False
    raise ConfigError(f"unsupported Avro type {avro!r} for the lake")


@cache
def lake_table(spec: DatasetSpec) -> LakeTable:
    """The lake table of a dataset, derived from its Avro schema."""
    local = f"{spec.partition_time_field}_local"
    fields: list[pa.Field] = []
    for field in load_schema(spec.schema)["fields"]:
        if field["name"] in PARTITION_COLUMNS:
            continue  # comes from the path
        arrow, nullable = _arrow_type(field["type"])
        fields.append(pa.field(field["name"], arrow, nullable=nullable))
        if field["name"] == spec.partition_time_field:
            fields.append(pa.field(local, pa.timestamp("us"), nullable=False))
    return LakeTable(spec.table, pa.schema(fields), spec.key_field, spec.partition_time_field, local)


LAKE_SCHEMA = lake_table(DATASETS["chicago_crimes"]).schema


def table_dir(lake_dir: Path, table: str = CRIMES_TABLE) -> Path:
    return lake_dir / table


def partition_dir(lake_dir: Path, year: int, month: int, table: str = CRIMES_TABLE) -> Path:
    return table_dir(lake_dir, table) / f"year={year:04d}" / f"month={month:02d}"
