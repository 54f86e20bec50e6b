"""Read the lake as the checker needs it: every file under ``year=*/month=*``, plus its freshness."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq

from chaos.checker import LakeRow, Month
from sinks.lake_schema import table_dir
from sinks.metadata import read_metadata

__all__ = ["lake_files", "lake_newest_update", "read_lake_rows"]


def _month_of(path: Path) -> Month:
    """(year, month) from ``.../year=YYYY/month=MM/<file>``."""
    return int(path.parent.parent.name.removeprefix("year=")), int(path.parent.name.removeprefix("month="))


def lake_files(lake_dir: Path) -> list[Path]:
    """Every parquet file a reader globbing ``year=*/month=*/*.parquet`` would see."""
    root = table_dir(lake_dir)
    return sorted(p for p in root.glob("year=*/month=*/*.parquet") if not p.name.startswith("."))


def read_lake_rows(lake_dir: Path) -> list[LakeRow]:
    rows: list[LakeRow] = []
    for path in lake_files(lake_dir):
        partition = _month_of(path)
        table = pq.read_table(path, columns=["id", "source_updated_at", "date_local"])
        ids = table.column("id").to_pylist()
        updated = table.column("source_updated_at").to_pylist()
        dates = table.column("date_local").to_pylist()
        for record_id, stamp, local in zip(ids, updated, dates, strict=True):
            rows.append(LakeRow(str(record_id), stamp, partition, (local.year, local.month)))
    return rows


def lake_newest_update(lake_dir: Path) -> datetime | None:
    """The newest source update time in the lake (from ``_metadata.json``), None while empty."""
    newest = read_metadata(table_dir(lake_dir)).get("newest_source_update")
    return datetime.fromisoformat(newest) if newest else None
