"""From an event (the Avro record) to a lake row and its partition. Pure logic."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["Partition", "lake_row", "partition_of"]

CHICAGO = ZoneInfo("America/Chicago")

Partition = tuple[int, int]  # (year, month) of the incident's local Chicago date


def partition_of(date: datetime) -> Partition:
    local = date.astimezone(CHICAGO)
    return (local.year, local.month)


def lake_row(record: dict[str, Any]) -> dict[str, Any]:
    """The lake's row for an Avro record: drops ``year`` (it comes from the path), adds ``date_local``."""
    row = {k: v for k, v in record.items() if k != "year"}
    row["date_local"] = record["date"].astimezone(CHICAGO).replace(tzinfo=None)
    return row
