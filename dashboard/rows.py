"""Row-level views read from the partition files: map points, table pages, CSV export.

Only the partition files of the months a query needs are passed to DuckDB (an
explicit file list, not a glob), so a one-month question opens one file.  For a
table page or an export, the fact table's per-month counts tell exactly which
months hold the requested rows, newest first, so even a whole-history table
page reads one or two files.

The CSV export is a generator of byte chunks: one month at a time, newest
first, one Arrow record batch at a time, stopping at the cap.  Callers say how
many rows they got against how many matched (:class:`ExportPlan`).

Map points and table pages first try the in-memory copy of recently read
partitions (:mod:`dashboard.partcache`), exact and checked against each file's
fingerprint; the files are read when it cannot answer.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from dashboard.cache import query_cache
from dashboard.facts import FactStore
from dashboard.filters import Filters, row_where
from dashboard.partcache import ROW_COLUMNS, partition_rows
from dashboard.queries import LAKE_SOURCE, EmptyLakeError, run_on_lake

__all__ = [
    "EXPORT_COLUMNS",
    "TABLE_COLUMNS",
    "ExportPlan",
    "export_csv",
    "map_points",
    "month_counts",
    "plan_export",
    "table_page",
]

log = logging.getLogger(__name__)

_PARTITION = re.compile(r"year=(\d{4})[/\\]month=(\d{2})[/\\]")

# The table shows every cached row column except the coordinates (those feed the map).
TABLE_COLUMNS = tuple(c for c in ROW_COLUMNS if c not in ("latitude", "longitude"))

EXPORT_COLUMNS = (
    "id",
    "case_number",
    "date_local",
    "date",
    "block",
    "iucr",
    "primary_type",
    "description",
    "location_description",
    "arrest",
    "domestic",
    "beat",
    "district",
    "ward",
    "community_area",
    "fbi_code",
    "x_coordinate",
    "y_coordinate",
    "latitude",
    "longitude",
    "updated_on",
    "source_updated_at",
)

_ORDER = "ORDER BY date_local DESC, id"


def _files_for(months: set[int]) -> Any:
    def select(paths: list[str]) -> list[str]:
        chosen = []
        for path in paths:
            match = _PARTITION.search(path)
            if match and int(match.group(1)) * 12 + int(match.group(2)) in months:
                chosen.append(path)
        return chosen

    return select


def _in_memory(lake_dir: Any, months: set[int], sql: str, params: dict[str, Any]) -> pd.DataFrame | None:
    """Run ``sql`` over ``part_rows`` (the cached partitions of ``months``); None when the cache cannot answer."""
    tables = partition_rows.tables(lake_dir, sorted(months))
    if tables is None:
        return None
    rows = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    cursor = partition_rows.cursor()
    cursor.register("part_rows", rows)
    try:
        return cursor.execute(sql, params).df()
    except duckdb.Error as exc:
        log.info("in-memory rows could not answer (%s); reading the files", exc)
        return None
    finally:
        cursor.unregister("part_rows")


# --- month counts (from the fact table) -------------------------------------------


def month_counts(store: FactStore, filters: Filters) -> list[tuple[int, int]]:
    """``(year*12+month, rows)`` of every month with matching rows, newest first."""
    snapshot = store.snapshot if store.snapshot.generation else store.sync()
    if snapshot.is_empty:
        raise EmptyLakeError()
    where, params = snapshot.where(filters)
    source = snapshot.source(filters, ("part",), rollups=store.use_rollups)
    sql = f"SELECT part, {source.count} AS n FROM {source.table} WHERE {where} GROUP BY part ORDER BY part DESC"

    def compute() -> list[tuple[int, int]]:
        rows = store.cursor().execute(sql, params).fetchall()
        return [(int(part), int(n)) for part, n in rows]

    key = (id(store), snapshot.generation, store.use_rollups, "months", filters)
    return query_cache.get_or_compute(key, compute)


# --- map points --------------------------------------------------------------------

_POINTS_SQL = """
SELECT longitude, latitude, date_local, primary_type, block, arrest
FROM {source}
WHERE {where} AND latitude IS NOT NULL AND longitude IS NOT NULL
{order}
LIMIT $cap
"""


def map_points(lake_dir: Any, filters: Filters, cap: int) -> pd.DataFrame:
    """Up to ``cap`` located incidents (newest first) for a point map."""

    def empty() -> pd.DataFrame:
        return pd.DataFrame(columns=["longitude", "latitude", "date_local", "primary_type", "block", "arrest"])

    months = set(filters.months())
    where, params = row_where(filters, partitioned=False)
    params["cap"] = int(cap)
    frame = _in_memory(lake_dir, months, _POINTS_SQL.format(source="part_rows", where=where, order=_ORDER), params)
    if frame is not None:
        return frame
    where, params = row_where(filters)
    params["cap"] = int(cap)
    return run_on_lake(
        lake_dir,
        _POINTS_SQL.format(source=LAKE_SOURCE, where=where, order=_ORDER),
        params,
        lambda cur: cur.df(),
        select=_files_for(months),
        when_no_file=empty,
    )


# --- table pages -------------------------------------------------------------------

_PAGE_SQL = f"""
SELECT {", ".join(TABLE_COLUMNS)}
FROM {{source}}
WHERE {{where}}
{_ORDER}
LIMIT $limit OFFSET $offset
"""


def _months_covering(counts: list[tuple[int, int]], offset: int, limit: int) -> tuple[set[int], int]:
    """Newest-first months holding rows ``[offset, offset+limit)``, and the offset within them."""
    months: set[int] = set()
    skipped = 0
    seen = 0
    for part, n in counts:
        if seen + n <= offset:
            seen += n
            skipped = seen
            continue
        months.add(part)
        seen += n
        if seen >= offset + limit:
            break
    return months, offset - skipped


def table_page(
    lake_dir: Any, store: FactStore, filters: Filters, page: int, page_size: int
) -> tuple[pd.DataFrame, int]:
    """Rows of page ``page`` (0-based, newest first) and the total number of matching rows."""
    counts = month_counts(store, filters)
    total = sum(n for _, n in counts)
    months, inner_offset = _months_covering(counts, max(page, 0) * page_size, page_size)

    def empty() -> pd.DataFrame:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))

    if not months:
        return empty(), total
    where, params = row_where(filters, partitioned=False)
    params.update(limit=int(page_size), offset=int(inner_offset))
    cached = _in_memory(lake_dir, months, _PAGE_SQL.format(source="part_rows", where=where), params)
    if cached is not None:
        return cached, total
    where, params = row_where(filters)
    params.update(limit=int(page_size), offset=int(inner_offset))
    frame = run_on_lake(
        lake_dir,
        _PAGE_SQL.format(source=LAKE_SOURCE, where=where),
        params,
        lambda cur: cur.df(),
        select=_files_for(months),
        when_no_file=empty,
    )
    return frame, total


# --- CSV export --------------------------------------------------------------------


@dataclass(frozen=True)
class ExportPlan:
    """How many rows match and how many the export will hold (newest first)."""

    matching: int
    exported: int
    cap: int
    months: tuple[tuple[int, int], ...]

    @property
    def truncated(self) -> bool:
        return self.exported < self.matching


def plan_export(store: FactStore, filters: Filters, cap: int) -> ExportPlan:
    counts = month_counts(store, filters)
    matching = sum(n for _, n in counts)
    return ExportPlan(matching, min(matching, cap), cap, tuple(counts))


_EXPORT_SQL = f"""
SELECT {", ".join(EXPORT_COLUMNS)}
FROM {{source}}
WHERE {{where}}
{_ORDER}
LIMIT $limit
"""

_BATCH_ROWS = 50_000


def export_csv(lake_dir: Any, store: FactStore, filters: Filters, cap: int) -> Iterator[bytes]:
    """The filtered rows as CSV bytes (header first), newest first, at most ``cap`` rows.

    Reads one month at a time and yields one chunk per Arrow batch, so memory
    stays bounded whatever the selection.
    """
    plan = plan_export(store, filters, cap)
    header = ",".join(f'"{c}"' for c in EXPORT_COLUMNS) + "\n"
    yield header.encode("utf-8")
    remaining = plan.exported
    for part, _n in plan.months:
        if remaining <= 0:
            break

        def fetch(cur: duckdb.DuckDBPyConnection) -> list[pa.RecordBatch]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "extra copy": one month at most
                reader: pa.RecordBatchReader = cur.to_arrow_reader(_BATCH_ROWS)  # type: ignore[assignment]
                return list(reader)

        where, params = row_where(filters)
        params["limit"] = int(remaining)
        batches = run_on_lake(
            lake_dir,
            _EXPORT_SQL.format(source=LAKE_SOURCE, where=where),
            params,
            fetch,
            select=_files_for({part}),
            when_no_file=lambda: [],
        )
        for batch in batches:
            if batch.num_rows == 0:
                continue
            buffer = io.BytesIO()
            pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False))
            remaining -= batch.num_rows
            yield buffer.getvalue()
    log.info("CSV export: %d of %d rows (%s)", plan.exported - max(remaining, 0), plan.matching, filters.describe())
