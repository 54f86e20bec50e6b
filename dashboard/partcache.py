"""Recently used partitions' row columns, in memory, exactly as their file holds them.

Map points and table pages read a month or two of rows, usually the newest
ones, again and again.  Listing the whole lake, opening the parquet files and
decoding them cost more than the query itself; this cache keeps the columns
those views need for the last few partitions read.

A partition is identified by its fingerprint (path, size, modification time,
inode, as in :mod:`dashboard.lake`): a ``stat`` of the path tells whether the
cached copy is still the file's content, and a file is read through one open
descriptor whose ``fstat`` is the fingerprint stored with it, so a copy is
never a mix of two versions.  Callers fall back to reading the files when
:meth:`PartitionRows.tables` answers ``None``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from sinks.lake_schema import PARTITION_FILE, partition_dir

__all__ = ["ROW_COLUMNS", "PartitionRows", "partition_rows"]

ROW_COLUMNS = (
    "date_local",
    "id",
    "case_number",
    "primary_type",
    "description",
    "block",
    "location_description",
    "arrest",
    "domestic",
    "district",
    "community_area",
    "latitude",
    "longitude",
)

Fingerprint = tuple[str, int, int, int]


class PartitionRows:
    """An LRU of ``max_partitions`` partitions' :data:`ROW_COLUMNS`, plus a DuckDB cursor per thread."""

    def __init__(self, max_partitions: int = 12) -> None:
        self.max_partitions = max_partitions
        self._entries: OrderedDict[str, tuple[Fingerprint, pa.Table]] = OrderedDict()
        self._lock = threading.Lock()
        self._root = duckdb.connect(":memory:")
        self._local = threading.local()
        self.reads = 0

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._lock:
                cursor = self._root.cursor()
            self._local.cursor = cursor
        return cursor

    def tables(self, lake_dir: Path, months: Sequence[int]) -> list[pa.Table] | None:
        """The rows of the partitions of ``months`` (``year*12+month``) that exist, or None to fall back.

        None when no partition of those months exists (the caller tells an empty
        lake from an empty range) or one cannot be read here.
        """
        out: list[pa.Table] = []
        for key in months:
            year, month = divmod(key - 1, 12)
            path = str(partition_dir(Path(lake_dir), year, month + 1) / PARTITION_FILE)
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            except OSError:
                return None
            table = self._get(path, (path, stat.st_size, stat.st_mtime_ns, stat.st_ino))
            if table is None:
                return None
            out.append(table)
        return out or None

    def _get(self, path: str, fingerprint: Fingerprint) -> pa.Table | None:
        with self._lock:
            cached = self._entries.get(path)
            if cached is not None and cached[0] == fingerprint:
                self._entries.move_to_end(path)
                return cached[1]
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                table = pq.read_table(handle, columns=list(ROW_COLUMNS))
        except (OSError, pa.ArrowException):
            return None  # vanished, swapped or unreadable: the file path decides
        self.reads += 1
        read = (path, stat.st_size, stat.st_mtime_ns, stat.st_ino)
        with self._lock:
            self._entries[path] = (read, table)
            self._entries.move_to_end(path)
            while len(self._entries) > self.max_partitions:
                self._entries.popitem(last=False)
        return table

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


partition_rows = PartitionRows()
