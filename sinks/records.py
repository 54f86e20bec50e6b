"""From an event (the Avro record) to a lake row and its partition. Pure logic."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from crimestream.datasets import DATASETS
from sinks.lake_schema import LAKE_SCHEMA, PARTITION_COLUMNS, LakeTable, lake_table

__all__ = ["CRIMES", "Partition", "lake_row", "partition_of"]

CHICAGO = ZoneInfo("America/Chicago")
CRIMES = lake_table(DATASETS["chicago_crimes"])
assert CRIMES.schema is LAKE_SCHEMA

Partition = tuple[int, int]  # (year, month) of the event's local Chicago date


def partition_of(moment: datetime) -> Partition:
    local = moment.astimezone(CHICAGO)
    return (local.year, local.month)


def lake_row(record: dict[str, Any], table: LakeTable = CRIMES) -> dict[str, Any]:
    """The lake's row for an Avro record: drops ``year``/``month`` (they come from the path), adds the local time."""
    row = {k: v for k, v in record.items() if k not in PARTITION_COLUMNS}
    row[table.local_field] = record[table.time_field].astimezone(CHICAGO).replace(tzinfo=None)
    return row
