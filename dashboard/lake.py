"""What is in the lake right now, from the file system alone (no DuckDB).

A partition is ``{lake}/crimes/year=YYYY/month=MM/data.parquet`` (see
``sinks.lake_schema``).  Only paths of exactly that shape count: temporary files
the sink writes before its ``os.replace`` and stray folders are never read.

The :class:`LakeVersion` is a cheap fingerprint of the partition files (name,
size, modification time, inode).  An atomic swap changes the inode and the
mtime, a new or vanished partition changes the set, so comparing two versions
tells a live page whether re-querying is worth it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sinks.lake_schema import CRIMES_TABLE, PARTITION_FILE, table_dir

__all__ = [
    "LakeVersion",
    "Partition",
    "lake_version",
    "partition_files",
]

_YEAR_DIR = re.compile(r"^year=(\d{4})$")
_MONTH_DIR = re.compile(r"^month=(\d{2})$")


@dataclass(frozen=True, order=True)
class Partition:
    """One partition file and the (year, month) its path names."""

    year: int
    month: int
    path: Path


@dataclass(frozen=True)
class LakeVersion:
    """A fingerprint of the partition files; equal versions mean unchanged data."""

    entries: tuple[tuple[str, int, int, int], ...] = ()

    @property
    def file_count(self) -> int:
        return len(self.entries)

    @property
    def paths(self) -> list[str]:
        return [entry[0] for entry in self.entries]

    @property
    def is_empty(self) -> bool:
        return not self.entries

    @property
    def newest_write(self) -> datetime | None:
        """Local time of the most recent partition write, if any."""
        if not self.entries:
            return None
        return datetime.fromtimestamp(max(entry[2] for entry in self.entries) / 1e9)


def _subdirs(parent: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    try:
        entries = list(os.scandir(parent))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found: list[tuple[int, Path]] = []
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        try:
            if entry.is_dir():
                found.append((int(match.group(1)), Path(entry.path)))
        except OSError:
            continue
    return found


def partition_files(lake_dir: Path, table: str = CRIMES_TABLE) -> list[Partition]:
    """The partition files present now, oldest partition first."""
    partitions: list[Partition] = []
    for year, year_dir in _subdirs(table_dir(lake_dir, table), _YEAR_DIR):
        for month, month_dir in _subdirs(year_dir, _MONTH_DIR):
            path = month_dir / PARTITION_FILE
            if 1 <= month <= 12 and path.is_file():
                partitions.append(Partition(year, month, path))
    return sorted(partitions)


def lake_version(lake_dir: Path, table: str = CRIMES_TABLE) -> LakeVersion:
    """Fingerprint the partition files; a file vanishing mid-scan is simply left out."""
    entries: list[tuple[str, int, int, int]] = []
    for partition in partition_files(lake_dir, table):
        try:
            stat = partition.path.stat()
        except FileNotFoundError:
            continue
        entries.append((str(partition.path), stat.st_size, stat.st_mtime_ns, stat.st_ino))
    return LakeVersion(tuple(entries))
