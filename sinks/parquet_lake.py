"""The parquet lake writer: each touched partition rewritten whole, swapped in atomically.

A flush takes the batch's changes (upserts with where the id lived before, and
deletes), and for every touched partition: reads the current file, merges the
changes with last-write-wins on ``source_updated_at`` (so replaying a batch is
harmless), sorts by the local event time, writes a temporary file, fsyncs it and
``os.replace``s it over the old one, then fsyncs the folder.

Moves (an id whose partition changed) are applied in two passes: first every
partition that loses a moved id, then every partition that gains one, so a
reader globbing the lake may miss a moving row for an instant but never sees it
twice.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crimestream.errors import LakeUnwritableError, SinkError
from sinks.lake_schema import PARTITION_FILE, LakeTable, partition_dir, table_dir
from sinks.metadata import PartitionInfo, update_metadata
from sinks.records import CRIMES, Partition

__all__ = ["Delete", "FlushStats", "LakeWriter", "Upsert"]

log = logging.getLogger(__name__)

_UNWRITABLE = {errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT}


@dataclass(frozen=True)
class Upsert:
    row: dict[str, Any]  # a lake row (see sinks.records.lake_row)
    partition: Partition
    previous: Partition | None = None  # where the id lived before, if elsewhere
    stale: tuple[Partition, ...] = ()  # other partitions that may hold the id (after a crash)


@dataclass(frozen=True)
class Delete:
    record_id: str
    partition: Partition
    # Remove the row only if it is not newer than this (the deleting version's source time);
    # None removes it whatever its version.
    not_after: datetime | None = None


@dataclass
class FlushStats:
    partitions: int = 0
    rows_written: int = 0
    bytes_written: int = 0
    touched: dict[str, PartitionInfo | None] = field(default_factory=dict)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LakeWriter:
    def __init__(self, lake_dir: Path, table: LakeTable = CRIMES, row_group_size: int = 64_000) -> None:
        self.lake_dir = lake_dir
        self.spec = table
        self.table = table.name
        self.schema = table.schema
        self.key = table.key
        self.row_group_size = row_group_size

    def path(self, partition: Partition) -> Path:
        return partition_dir(self.lake_dir, *partition, table=self.table) / PARTITION_FILE

    def read_partition(self, partition: Partition) -> pa.Table:
        path = self.path(partition)
        if not path.exists():
            return self.schema.empty_table()
        # Reading with today's schema: columns a newer schema added come back as nulls.
        return pq.read_table(path, schema=self.schema)

    def partitions(self) -> list[Partition]:
        """Every partition that has a file, in order."""
        found = []
        for path in table_dir(self.lake_dir, self.table).glob(f"year=*/month=*/{PARTITION_FILE}"):
            found.append((int(path.parent.parent.name[5:]), int(path.parent.name[6:])))
        return sorted(found)

    def migrate(self) -> int:
        """Rewrite every partition whose file schema differs from today's (schema evolution).

        A field added to the Avro schema becomes a column of nulls in old
        partitions, so every file of the lake has one schema and a plain glob
        keeps working.  Returns how many partitions were rewritten.
        """
        rewritten = 0
        for partition in self.partitions():
            if pq.read_schema(self.path(partition)).remove_metadata().equals(self.schema):
                continue
            self._swap(partition, self.read_partition(partition))
            rewritten += 1
        if rewritten:
            log.info("migrated %d partition(s) of %s to the current schema", rewritten, self.table)
        return rewritten

    def _merge(self, current: pa.Table, upserts: list[dict[str, Any]], deletes: dict[str, datetime | None]) -> pa.Table:
        """Merge changes into a partition; every decision is last-write-wins, so replays and
        late or concurrent writers (a worker that lost its partitions) can never undo newer data."""
        key = self.key
        incoming: dict[str, dict[str, Any]] = {}
        for row in upserts:  # last-write-wins inside the batch too
            seen = incoming.get(row[key])
            if seen is None or row["source_updated_at"] >= seen["source_updated_at"]:
                incoming[row[key]] = row
        touched = pa.array(list(incoming) + list(deletes), pa.string())
        mask = pc.is_in(current[key], value_set=touched)
        keep: list[str] = []
        for old in current.filter(mask).select([key, "source_updated_at"]).to_pylist():
            rid, old_ts = old[key], old["source_updated_at"]
            new = incoming.get(rid)
            if new is not None:
                if old_ts > new["source_updated_at"]:  # the lake already holds a newer version
                    del incoming[rid]
                    keep.append(rid)
            else:
                limit = deletes[rid]  # delete only what is not newer than the deleting version
                if limit is not None and old_ts > limit:
                    keep.append(rid)
        drop = pc.and_(mask, pc.invert(pc.is_in(current[key], value_set=pa.array(keep, pa.string()))))
        kept = current.filter(pc.invert(drop))
        added = pa.Table.from_pylist(list(incoming.values()), schema=self.schema)
        merged = pa.concat_tables([kept, added]) if added.num_rows else kept
        return merged.sort_by([(self.spec.local_field, "ascending"), (key, "ascending")])

    def _swap(self, partition: Partition, table: pa.Table) -> int:
        target = self.path(partition)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if table.num_rows == 0:
                if target.exists():
                    target.unlink()
                    _fsync_dir(target.parent)
                return 0
            tmp = target.with_name(f".{PARTITION_FILE}.tmp-{os.getpid()}-{threading.get_ident()}")
            pq.write_table(table, tmp, compression="zstd", row_group_size=self.row_group_size)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            size = tmp.stat().st_size
            os.replace(tmp, target)
            _fsync_dir(target.parent)
            return size
        except OSError as exc:
            for leftover in target.parent.glob(f".{PARTITION_FILE}.tmp-{os.getpid()}-{threading.get_ident()}"):
                leftover.unlink(missing_ok=True)  # never leave a half-written file behind
            if exc.errno in _UNWRITABLE:
                raise LakeUnwritableError(
                    f"cannot write the lake at {target.parent}: {exc.strerror}; free space or fix permissions"
                ) from exc
            raise SinkError(f"writing {target} failed: {exc}") from exc

    def _rewrite(
        self,
        partition: Partition,
        upserts: list[dict[str, Any]],
        deletes: dict[str, datetime | None],
        stats: FlushStats,
    ) -> None:
        with self._locked(partition):
            self._rewrite_locked(partition, upserts, deletes, stats)

    @contextmanager
    def _locked(self, partition: Partition) -> Iterator[None]:
        """One writer per lake partition at a time, across processes (an advisory file lock).

        Two workers may both hold changes for the same month (ids hash to Kafka
        partitions, not to months); the lock serialises their read-merge-swap so
        neither overwrites the other's rows.
        """
        folder = self.path(partition).parent
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _rewrite_locked(
        self,
        partition: Partition,
        upserts: list[dict[str, Any]],
        deletes: dict[str, datetime | None],
        stats: FlushStats,
    ) -> None:
        merged = self._merge(self.read_partition(partition), upserts, deletes)
        size = self._swap(partition, merged)
        stats.bytes_written += size
        stats.rows_written += merged.num_rows
        stats.partitions += 1
        key = f"{partition[0]:04d}-{partition[1]:02d}"
        if merged.num_rows == 0:
            stats.touched[key] = None
        else:
            newest = pc.max(merged["source_updated_at"]).as_py()
            stats.touched[key] = {
                "rows": merged.num_rows,
                "bytes": size,
                "newest_source_update": newest.isoformat() if newest else None,
                "swapped_at": datetime.now(UTC).isoformat(),
            }

    def apply(self, upserts: Iterable[Upsert], deletes: Iterable[Delete]) -> FlushStats:
        """Apply one batch of changes; returns what was written."""
        ups: dict[Partition, list[dict[str, Any]]] = defaultdict(list)
        incoming_moves: dict[Partition, list[dict[str, Any]]] = defaultdict(list)
        dels: dict[Partition, dict[str, datetime | None]] = defaultdict(dict)
        moved_out: set[Partition] = set()
        for change in deletes:
            dels[change.partition][change.record_id] = change.not_after
        for up in upserts:
            leave = {p for p in (up.previous, *up.stale) if p is not None and p != up.partition}
            if leave:
                for old in leave:
                    dels[old][up.row[self.key]] = up.row["source_updated_at"]
                moved_out |= leave
                incoming_moves[up.partition].append(up.row)
            else:
                ups[up.partition].append(up.row)
        stats = FlushStats()
        # Pass 1: partitions that lose a moved id, without the rows moving in.
        for partition in sorted(moved_out):
            self._rewrite(partition, ups.pop(partition, []), dels.pop(partition), stats)
        # Pass 2: everything else, including rows moving in.
        for partition in sorted(set(ups) | set(dels) | set(incoming_moves)):
            rows = ups.get(partition, []) + incoming_moves.get(partition, [])
            ids = {r[self.key] for r in rows}
            gone = {rid: ts for rid, ts in dels.get(partition, {}).items() if rid not in ids}
            if rows or gone:
                self._rewrite(partition, rows, gone, stats)
        if stats.touched:
            update_metadata(table_dir(self.lake_dir, self.table), stats.touched)
        return stats
