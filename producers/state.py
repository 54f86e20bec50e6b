"""The poller's watermark, kept in ``DATA_DIR/state/`` and written atomically.

The watermark is the (update time, row id) of the last row whose delivery
Kafka confirmed; the next request starts strictly after it (keyset paging).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Watermark", "WatermarkStore", "atomic_write_text"]


@dataclass(frozen=True)
class Watermark:
    updated_at: str  # the source's update time, as the source wrote it
    row_id: str  # the source's row identifier (':id'), the tie-breaker
    seen_at_time: int = 0  # rows confirmed that carry exactly ``updated_at`` (to detect late ties)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class WatermarkStore:
    def __init__(self, state_dir: Path, dataset_id: str) -> None:
        self.path = state_dir / f"poller-{dataset_id}.json"

    def load(self) -> Watermark | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return Watermark(
            updated_at=data["updated_at"], row_id=data["row_id"], seen_at_time=int(data.get("seen_at_time", 0))
        )

    def save(self, mark: Watermark) -> None:
        atomic_write_text(self.path, json.dumps(asdict(mark), indent=2) + "\n")
