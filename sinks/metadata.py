"""Lake metadata that the dashboard and operators can read cheaply.

``{lake}/{table}/_metadata.json`` (outside the ``year=/month=`` glob), rewritten
atomically after every flush::

    {"table": "crimes", "written_at": "...", "rows": 123,
     "newest_source_update": "...",            # the lake's freshness
     "partitions": {"2024-01": {"rows": 42, "bytes": 9000,
                                "newest_source_update": "...", "swapped_at": "..."}}}
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["METADATA_FILE", "PartitionInfo", "read_metadata", "update_metadata"]

METADATA_FILE = "_metadata.json"

PartitionInfo = dict[str, Any]  # rows, bytes, newest_source_update, swapped_at


def read_metadata(table_dir: Path) -> dict[str, Any]:
    """The metadata, or an empty skeleton when the lake has none yet."""
    try:
        data: dict[str, Any] = json.loads((table_dir / METADATA_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"table": table_dir.name, "rows": 0, "newest_source_update": None, "written_at": None, "partitions": {}}
    return data


def update_metadata(table_dir: Path, changed: dict[str, PartitionInfo | None]) -> dict[str, Any]:
    """Merge per-partition info (None: the partition is gone) and write the file atomically.

    Serialised across writers by a lock file, so concurrent workers never lose each other's entries.
    """
    table_dir.mkdir(parents=True, exist_ok=True)
    with open(table_dir / ".metadata.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _update(table_dir, changed)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _update(table_dir: Path, changed: dict[str, PartitionInfo | None]) -> dict[str, Any]:
    meta = read_metadata(table_dir)
    parts: dict[str, PartitionInfo] = meta.setdefault("partitions", {})
    for key, info in changed.items():
        if info is None:
            parts.pop(key, None)
        else:
            parts[key] = info
    meta["rows"] = sum(int(p["rows"]) for p in parts.values())
    newest = [p["newest_source_update"] for p in parts.values() if p.get("newest_source_update")]
    meta["newest_source_update"] = max(newest) if newest else None
    meta["written_at"] = datetime.now(UTC).isoformat()
    meta["partitions"] = dict(sorted(parts.items()))
    tmp = table_dir / f".{METADATA_FILE}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, table_dir / METADATA_FILE)
    return meta
