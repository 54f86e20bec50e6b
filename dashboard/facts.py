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

One store per lake directory and process (:func:`fact_store`), shared by every
page; one DuckDB cursor per thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dashboard.lake import LakeVersion, lake_version, partition_files

__all__ = [
    "FACT_TABLE",
    "FactSnapshot",
    "FactStore",
    "PartitionInfo",
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

_CREATE_SQL = f"""
CREATE TABLE {FACT_TABLE} (
    part INTEGER NOT NULL,          -- year * 12 + month of the partition
    day DATE NOT NULL,              -- local Chicago day
    hour UTINYINT NOT NULL,         -- local hour 0-23
    dow UTINYINT NOT NULL,          -- ISO day of week, 1 = Monday
    primary_type VARCHAR,
    district VARCHAR,
    community_area VARCHAR,
    arrest BOOLEAN,
    domestic BOOLEAN,
    latitude FLOAT,
    longitude FLOAT
)
"""

_INSERT_SQL = f"""
INSERT INTO {FACT_TABLE}
SELECT part,
       CAST(date_local AS DATE),
       CAST(hour(date_local) AS UTINYINT),
       CAST(isodow(date_local) AS UTINYINT),
       primary_type, district, community_area, arrest, domestic,
       CAST(latitude AS FLOAT), CAST(longitude AS FLOAT)
FROM incoming
"""


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


class FactStore:
    """The fact table of one lake, synchronised with the partition files on demand."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = lake_dir
        self._root = duckdb.connect(":memory:")
        self._root.execute(_CREATE_SQL)
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
            tables.append(table)

        if gone or tables:
            self._replace(gone, tables)
        partitions = {p: i for p, i in loaded.items() if p not in gone}
        partitions.update(fresh)
        # Failed partitions whose file vanished are no longer a problem.
        self._failed_entries = {p: e for p, e in self._failed_entries.items() if p in wanted}
        snapshot = FactSnapshot(current.generation + 1, version, partitions, problems, time.time())
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

    def _replace(self, gone: list[int], tables: list[pa.Table]) -> None:
        cursor = self.cursor()
        cursor.execute("BEGIN TRANSACTION")
        try:
            if gone:
                cursor.execute(f"DELETE FROM {FACT_TABLE} WHERE list_contains($parts, part)", {"parts": gone})
            if tables:
                incoming = pa.concat_tables(tables, promote_options="permissive")
                cursor.register("incoming", incoming)
                try:
                    cursor.execute(_INSERT_SQL)
                finally:
                    cursor.unregister("incoming")
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
