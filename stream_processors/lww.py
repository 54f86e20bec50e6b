"""Last-write-wins by source order, not arrival order. Pure logic.

Per id we keep a ``Version``: the source update time (UTC micros), the lake
partition holding the row (``None`` once deleted) and a content hash.  An
incoming version replaces the kept one when it is newer; at an equal update
time the one with the greater content hash wins (a deterministic rule that every
worker and every replay agrees on), and an identical version is dropped.
A tombstone deletes the id unless the kept version is newer than the deletion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sinks.parquet_lake import Delete, Upsert
from sinks.records import Partition

__all__ = ["Event", "Version", "fold", "wins"]


@dataclass(frozen=True)
class Version:
    ts: int  # source update time, microseconds since the epoch (UTC)
    partition: Partition | None  # None: deleted
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts, "p": list(self.partition) if self.partition else None, "h": self.digest}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Version:
        part = data.get("p")
        return cls(ts=int(data["ts"]), partition=(int(part[0]), int(part[1])) if part else None, digest=data["h"])


@dataclass(frozen=True)
class Event:
    record_id: str
    version: Version
    row: dict[str, Any] | None  # the lake row; None for a tombstone


_MAX_MICROS = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def from_micros(ts: int) -> datetime | None:
    """A Version time as a datetime; None when beyond any date (a tombstone without a time)."""
    if ts > _MAX_MICROS:
        return None
    return datetime.fromtimestamp(ts // 1_000_000, UTC).replace(microsecond=ts % 1_000_000)


def wins(new: Version, old: Version | None) -> bool:
    """Does ``new`` replace ``old``?"""
    if old is None:
        return True
    if new.ts != old.ts:
        return new.ts > old.ts
    return new.digest > old.digest


def fold(kept: dict[str, Version | None], events: list[Event]) -> tuple[list[Upsert], list[Delete], dict[str, Version]]:
    """Fold a batch into lake changes and the new per-id versions.

    ``kept`` maps each id of the batch to its stored version (or None).  Returns
    the upserts and deletes for the sink and the versions to store once the
    sink has made them durable.
    """
    winners: dict[str, Event] = {}
    # Every partition a version newer than the kept one points at: a previous attempt
    # at this batch may have written it to the lake before the worker died (the kept
    # versions are only as new as the last durable commit), so the winner must
    # remove the id from all of them, not only from the kept partition.
    landed: dict[str, set[Partition]] = {}
    for event in events:
        rid = event.record_id
        if event.version.partition is not None and wins(event.version, kept.get(rid)):
            landed.setdefault(rid, set()).add(event.version.partition)
        current = winners[rid].version if rid in winners else kept.get(rid)
        if wins(event.version, current):
            winners[rid] = event
    upserts: list[Upsert] = []
    deletes: list[Delete] = []
    for record_id, event in winners.items():
        before = kept.get(record_id)
        before_partition = before.partition if before else None
        leave = set(landed.get(record_id, ()))
        if before_partition is not None:
            leave.add(before_partition)
        if event.row is None:
            not_after = from_micros(event.version.ts)
            deletes.extend(Delete(record_id, p, not_after) for p in sorted(leave))
        else:
            assert event.version.partition is not None
            stale = tuple(sorted(leave - {event.version.partition, before_partition}))  # type: ignore[arg-type]
            upserts.append(Upsert(event.row, event.version.partition, before_partition, stale))
    return upserts, deletes, {rid: ev.version for rid, ev in winners.items()}
