"""An exact, in-memory copy of the columns the dashboard aggregates, kept per partition.

Every aggregate view filters and groups on a handful of columns.  Reading them
from parquet on each filter change costs tens of milliseconds on the full
history; a compact DuckDB table in memory answers the same questions in a few.
The table is exact (one row per lake row, no sampling, no rounding of what
is counted) and is maintained **per partition**: when the lake's fingerprint
changes, only the partitions whose file changed are re-read, and their old rows
are replaced in one transaction, so a reader sees the old or the new state of a
partition, never a mix.

A partition is read through one open file descriptor: the sink's ``os.replace``
cannot change the bytes under it, and ``fstat`` of that descriptor is exactly the
fingerprint entry of what was read.  A partition that cannot be read is left
out and reported in :attr:`FactSnapshot.problems`; the rest of the lake keeps
working.

Strings the dashboard filters and groups on (primary type, district, community
area) are stored as small integer codes of a per-store dictionary (append-only,
so a code never changes meaning); filters translate values to codes in Python
(:meth:`FactSnapshot.where`), so DuckDB compares integers, not strings.

Beside the fact table the store keeps exact **rollups**: counts per
(partition, day, primary type, arrest, domestic) and per (partition, day, hour,
primary type, arrest, domestic), rebuilt for exactly the partitions that
changed, in the same transaction as the fact rows.  A query whose filters and
groups use only a rollup's columns reads the rollup (17x and 2.3x fewer rows on
the full history); any other reads the fact table (:func:`FactSnapshot.source`).
A count table keyed by district and community area as well would not pay off:
on the benchmark lake it has 8.32M rows for 8.5M incidents.

One store per lake directory and process (:func:`fact_store`), shared by every
page; one DuckDB cursor per thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dashboard.filters import Filters, in_list
from dashboard.lake import LakeVersion, lake_version, partition_files

__all__ = [
    "DENSITY_CELL_DEGREES",
    "DIMENSIONS",
    "FACT_TABLE",
    "ROLLUPS",
    "FactSnapshot",
    "FactStore",
    "PartitionInfo",
    "Source",
    "dimension_table",
    "fact_store",
]

log = logging.getLogger(__name__)

FACT_TABLE = "facts"

_READ_COLUMNS = [
    "date_local",
    "primary_type",
    "district",
    "community_area",
    "arrest",
    "domestic",
    "latitude",
    "longitude",
    "source_updated_at",
]

# Cells of the rasterised map: ~0.002 degrees is about 170-220 m in Chicago.
DENSITY_CELL_DEGREES = 0.002

# Dictionary-coded columns: lake column -> code column of the fact table.
DIMENSIONS: dict[str, str] = {
    "primary_type": "type_code",
    "district": "district_code",
    "community_area": "area_code",
}

_CREATE_SQL = f"""
CREATE TABLE {FACT_TABLE} (
    part INTEGER NOT NULL,          -- year * 12 + month of the partition
    day DATE NOT NULL,              -- local Chicago day
    hour UTINYINT NOT NULL,         -- local hour 0-23
    dow UTINYINT NOT NULL,          -- ISO day of week, 1 = Monday
    type_code UINTEGER,             -- codes of dimension_table('primary_type') etc.; NULL = no value
    district_code UINTEGER,
    area_code UINTEGER,
    arrest BOOLEAN,
    domestic BOOLEAN,
    latitude FLOAT,
    longitude FLOAT,
    gx INTEGER,                     -- density-grid cell at DENSITY_CELL_DEGREES
    gy INTEGER
)
"""

_INSERT_SQL = f"""
INSERT INTO {FACT_TABLE}
SELECT part,
       CAST(date_local AS DATE),
       CAST(hour(date_local) AS UTINYINT),
       CAST(isodow(date_local) AS UTINYINT),
       type_code, district_code, area_code, arrest, domestic,
       CAST(latitude AS FLOAT), CAST(longitude AS FLOAT),
       CAST(floor(CAST(longitude AS FLOAT) / CAST({DENSITY_CELL_DEGREES!r} AS DOUBLE)) AS INTEGER),
       CAST(floor(CAST(latitude AS FLOAT) / CAST({DENSITY_CELL_DEGREES!r} AS DOUBLE)) AS INTEGER)
FROM incoming
"""

# Exact count tables: name -> the fact columns they group by (besides ``part``).  Every rollup
# holds ``n`` (incidents); the areas rollup also the sums and counts of the positions.
ROLLUPS: dict[str, tuple[str, ...]] = {
    "rollup_daily": ("day", "type_code", "arrest", "domestic"),
    "rollup_hourly": ("day", "hour", "dow", "type_code", "arrest", "domestic"),
    "rollup_areas": ("day", "area_code", "arrest", "domestic"),
}
_MEASURES: dict[str, str] = {
    "rollup_areas": ", sum(CAST(latitude AS DOUBLE)) AS lat_sum, count(latitude) AS lat_n, "
    "sum(CAST(longitude AS DOUBLE)) AS lon_sum, count(longitude) AS lon_n",
}


_MEASURE_COLUMNS: dict[str, tuple[str, ...]] = {"rollup_areas": ("position",)}


def dimension_table(column: str) -> str:
    """The DuckDB table ``(code, value)`` of a dictionary-coded lake column."""
    return f"dim_{DIMENSIONS[column]}"


def _rollup_sql(name: str, dims: tuple[str, ...]) -> tuple[str, str]:
    columns = ", ".join(dims)
    measures = _MEASURES.get(name, "")
    create = (
        f"CREATE TABLE {name} AS SELECT part, {columns}, count(*) AS n{measures} FROM {FACT_TABLE} "
        "GROUP BY ALL WITH NO DATA"
    )
    insert = (
        f"INSERT INTO {name} SELECT part, {columns}, count(*){measures} FROM {FACT_TABLE} "
        f"WHERE list_contains($parts, part) GROUP BY ALL ORDER BY part, day"
    )
    return create, insert


@dataclass(frozen=True)
class Source:
    """Where an aggregate reads from: the fact table (one row per incident) or a rollup (``n`` per row)."""

    table: str

    @property
    def is_rollup(self) -> bool:
        return self.table != FACT_TABLE

    @property
    def count(self) -> str:
        """SQL: the number of incidents in a group."""
        return "sum(n)" if self.is_rollup else "count(*)"

    def count_if(self, condition: str) -> str:
        """SQL: the number of incidents in a group for which ``condition`` (fixed text) is true."""
        if self.is_rollup:
            return f"sum(CASE WHEN {condition} THEN n ELSE 0 END)"
        return f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)"


@dataclass(frozen=True)
class PartitionInfo:
    """What was read from one partition file."""

    part: int
    path: str
    entry: tuple[str, int, int, int]
    rows: int
    newest_source_update: datetime | None


@dataclass(frozen=True)
class FactSnapshot:
    """The state the fact table holds: a ``generation`` bumps on every change."""

    generation: int
    version: LakeVersion
    partitions: dict[int, PartitionInfo] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    synced_at: float = 0.0
    codes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """No partition file at all (as opposed to files without rows)."""
        return self.version.is_empty

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions.values())

    @property
    def newest_source_update(self) -> datetime | None:
        stamps = [p.newest_source_update for p in self.partitions.values() if p.newest_source_update is not None]
        return max(stamps) if stamps else None

    def where(self, filters: Filters) -> tuple[str, dict[str, Any]]:
        """The fact-table (and rollup) predicate of the active filters only, and its parameters.

        Selected values become dictionary codes here; a value the lake does not
        hold matches nothing (a filter whose values are all unknown selects no row).
        """
        params: dict[str, Any] = {"start": filters.start, "end": filters.end}
        parts = ["day BETWEEN $start AND $end"]
        if (filters.hour_from, filters.hour_to) != (0, 23):
            parts.append("hour BETWEEN $hour_from AND $hour_to")
            params.update(hour_from=filters.hour_from, hour_to=filters.hour_to)
        for column, values in _selected(filters):
            if values:
                known = self.codes.get(column, {})
                codes = sorted({known[v] for v in values if v in known})
                parts.append(in_list(DIMENSIONS[column], DIMENSIONS[column], codes, params))
        for column in ("arrest", "domestic"):
            value = getattr(filters, column)
            if value is not None:
                parts.append(f"{column} = ${column}")
                params[column] = value
        return " AND ".join(parts), params

    def source(self, filters: Filters, needs: Iterable[str] = (), *, rollups: bool = True) -> Source:
        """The smallest table that answers exactly: a rollup holding every column used, else the facts.

        ``needs`` names the columns the query groups on or reads besides the filters'.
        """
        used = set(needs) | {"day"}
        if (filters.hour_from, filters.hour_to) != (0, 23):
            used.add("hour")
        used.update(DIMENSIONS[column] for column, values in _selected(filters) if values)
        if rollups:
            for name, dims in ROLLUPS.items():
                if used <= {"part", *dims, *_MEASURE_COLUMNS.get(name, ())}:
                    return Source(name)
        return Source(FACT_TABLE)


def _selected(filters: Filters) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return (
        ("primary_type", filters.primary_types),
        ("district", filters.districts),
        ("community_area", filters.community_areas),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_partition(path: str, part: int) -> tuple[PartitionInfo, pa.Table]:
    """Read one partition through a single descriptor; its fstat is the fingerprint."""
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        table = pq.read_table(handle, columns=_READ_COLUMNS)
    newest = pc.max(table["source_updated_at"]).as_py() if table.num_rows else None
    info = PartitionInfo(part, path, (path, stat.st_size, stat.st_mtime_ns, stat.st_ino), table.num_rows, newest)
    table = table.drop_columns(["source_updated_at"])
    table = table.append_column("part", pa.array([part] * table.num_rows, type=pa.int32()))
    return info, table


def _encode(table: pa.Table, values: dict[str, list[str]], index: dict[str, dict[str, int]]) -> pa.Table:
    """Replace each dictionary-coded column by its codes, adding unseen values to ``values``/``index``."""
    for column, code_column in DIMENSIONS.items():
        strings = table[column].cast(pa.string())
        known = index[column]
        for value in pc.unique(strings).drop_null().to_pylist():
            if value not in known:
                known[value] = len(values[column])
                values[column].append(value)
        codes = pc.index_in(strings, value_set=pa.array(values[column], pa.string())).cast(pa.uint32())
        position = table.schema.get_field_index(column)
        table = table.set_column(position, code_column, codes)
    return table


class FactStore:
    """The fact table of one lake, synchronised with the partition files on demand.

    ``use_rollups = False`` makes every aggregate read the fact table (to check the
    rollups against it, and to measure).
    """

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = lake_dir
        self._root = duckdb.connect(":memory:")
        # Group keys with small known ranges (the map's grid cells: ~2^16 in a city) get DuckDB's
        # perfect hash aggregate, about twice as fast as the general one on the full history.
        self._root.execute("SET GLOBAL perfect_ht_threshold = 18")
        self._root.execute(_CREATE_SQL)
        for column, code_column in DIMENSIONS.items():
            self._root.execute(
                f"CREATE TABLE {dimension_table(column)} ({code_column} UINTEGER PRIMARY KEY, value VARCHAR)"
            )
        for name, dims in ROLLUPS.items():
            self._root.execute(_rollup_sql(name, dims)[0])
        self.use_rollups = True
        self._values: dict[str, list[str]] = {column: [] for column in DIMENSIONS}
        self._index: dict[str, dict[str, int]] = {column: {} for column in DIMENSIONS}
        self._root_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._local = threading.local()
        self._snapshot = FactSnapshot(0, LakeVersion())
        self._failed_entries: dict[int, tuple[str, int, int, int]] = {}

    # --- reading -------------------------------------------------------------

    @property
    def snapshot(self) -> FactSnapshot:
        return self._snapshot

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the in-memory database."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._root_lock:
                cursor = self._root.cursor()
            self._local.cursor = cursor
        return cursor

    # --- synchronising -------------------------------------------------------

    def sync(self) -> FactSnapshot:
        """Bring the table up to the partition files present now; cheap when nothing changed."""
        with self._sync_lock:
            version = lake_version(self.lake_dir)
            current = self._snapshot
            if version == current.version and current.generation > 0:
                return current
            return self._apply(version, current)

    def _apply(self, version: LakeVersion, current: FactSnapshot) -> FactSnapshot:
        started = time.perf_counter()
        wanted = {p.year * 12 + p.month: str(p.path) for p in partition_files(self.lake_dir)}
        entries = {entry[0]: entry for entry in version.entries}
        loaded = current.partitions
        problems = {path: text for path, text in current.problems.items() if path in entries}

        to_read: list[tuple[int, str]] = []
        for part, path in wanted.items():
            entry = entries.get(path)
            if entry is None:  # vanished between the two listings
                continue
            info = loaded.get(part)
            if info is not None and info.entry == entry:
                continue
            if self._failed_entries.get(part) == entry:
                continue  # still the same broken file: do not re-read it on every check
            to_read.append((part, path))
        gone = [part for part in loaded if part not in wanted or part in dict(to_read)]

        fresh: dict[int, PartitionInfo] = {}
        tables: list[pa.Table] = []
        values = {column: list(known) for column, known in self._values.items()}
        index = {column: dict(known) for column, known in self._index.items()}
        for part, path in to_read:
            try:
                info, table = _read_partition(path, part)
            except FileNotFoundError:
                continue  # swapped out or deleted: the next sync sees what replaced it
            except (OSError, pa.ArrowException) as exc:
                entry = entries[path]
                self._failed_entries[part] = entry
                problems[path] = _first_line(exc)
                log.warning("cannot read partition %s: %s", path, _first_line(exc))
                continue
            self._failed_entries.pop(part, None)
            problems.pop(path, None)
            fresh[part] = info
            tables.append(_encode(table, values, index))

        if gone or tables:
            added = {column: list(enumerate(values[column]))[len(self._values[column]) :] for column in DIMENSIONS}
            self._replace(gone, tables, sorted(fresh), added)
            self._values, self._index = values, index
        partitions = {p: i for p, i in loaded.items() if p not in gone}
        partitions.update(fresh)
        # Failed partitions whose file vanished are no longer a problem.
        self._failed_entries = {p: e for p, e in self._failed_entries.items() if p in wanted}
        codes = {column: dict(known) for column, known in self._index.items()}
        snapshot = FactSnapshot(current.generation + 1, version, partitions, problems, time.time(), codes)
        self._snapshot = snapshot
        if to_read or gone:
            log.info(
                "fact table: %d partition(s) read, %d dropped, %d rows in %.2fs",
                len(fresh),
                len(set(gone) - set(fresh)),
                snapshot.rows,
                time.perf_counter() - started,
            )
        return snapshot

    def _replace(
        self, gone: list[int], tables: list[pa.Table], parts: list[int], added: dict[str, list[tuple[int, str]]]
    ) -> None:
        """One transaction: new dictionary values, fact rows of ``gone`` out, new rows and their rollups in."""
        cursor = self.cursor()
        cursor.execute("BEGIN TRANSACTION")
        try:
            for column, entries in added.items():
                if entries:
                    cursor.executemany(f"INSERT INTO {dimension_table(column)} VALUES (?, ?)", entries)
            if gone:
                cursor.execute(f"DELETE FROM {FACT_TABLE} WHERE list_contains($parts, part)", {"parts": gone})
                for name in ROLLUPS:
                    cursor.execute(f"DELETE FROM {name} WHERE list_contains($parts, part)", {"parts": gone})
            if tables:
                incoming = pa.concat_tables(tables, promote_options="permissive")
                cursor.register("incoming", incoming)
                try:
                    cursor.execute(_INSERT_SQL)
                finally:
                    cursor.unregister("incoming")
                for name, dims in ROLLUPS.items():
                    cursor.execute(_rollup_sql(name, dims)[1], {"parts": parts})
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise


_stores: dict[Path, FactStore] = {}
_stores_lock = threading.Lock()


def fact_store(lake_dir: Path) -> FactStore:
    """The process-wide store of ``lake_dir`` (created on first use)."""
    key = Path(os.path.abspath(lake_dir))
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = FactStore(key)
        return store
