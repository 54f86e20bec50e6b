"""How long the pipeline took to recover from each fault. Pure logic.

Definition (the same for every kind): a fault's recovery time is the time from its
injection until both

1. the lake holds a change made at the source right after the injection (the runner
   inserts one probe row then; the lake holds it once the newest source update time in
   the lake's ``_metadata.json`` reaches the probe's ``:updated_at``), and
2. every service is up again: poller and processor running, the dashboard answering
   ``/ready``, the broker answering metadata requests.

So a killed poller, processor or broker, or a source that fails, counts until fresh
data flows end to end again; a killed dashboard counts until it serves again.
Faults that overlap share the slowest one's recovery; :func:`isolated` picks the faults
that recovered before any other fault hit, whose times are theirs alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Recovery", "RecoveryTracker", "isolated"]


@dataclass
class Recovery:
    index: int  # the fault's position in the run
    kind: str
    injected_at: float  # monotonic seconds
    probe_stamp: datetime | None  # None: no probe could be made; only the services count
    recovered_at: float | None = None

    def seconds(self, now: float) -> float:
        """The recovery time, or the time elapsed so far while not recovered."""
        end = self.recovered_at if self.recovered_at is not None else now
        return max(0.0, end - self.injected_at)


class RecoveryTracker:
    def __init__(self) -> None:
        self.recoveries: list[Recovery] = []

    def open(self, index: int, kind: str, injected_at: float, probe_stamp: datetime | None) -> Recovery:
        recovery = Recovery(index, kind, injected_at, probe_stamp)
        self.recoveries.append(recovery)
        return recovery

    @property
    def pending(self) -> list[Recovery]:
        return [r for r in self.recoveries if r.recovered_at is None]

    def observe(self, now: float, lake_newest: datetime | None, services_up: bool) -> list[Recovery]:
        """Close every open recovery whose probe is in the lake while all services are up."""
        closed: list[Recovery] = []
        if not services_up:
            return closed
        for recovery in self.pending:
            stamp = recovery.probe_stamp
            if stamp is None or (lake_newest is not None and lake_newest >= stamp):
                recovery.recovered_at = now
                closed.append(recovery)
        return closed

    def longest(self, now: float) -> tuple[float, bool]:
        """(the longest recovery time, whether every fault recovered); open ones count until ``now``."""
        if not self.recoveries:
            return 0.0, True
        return max(r.seconds(now) for r in self.recoveries), not self.pending


def isolated(recoveries: list[Recovery], now: float) -> list[Recovery]:
    """The recoveries during which no other fault was injected (their time is that fault's alone)."""
    out: list[Recovery] = []
    for recovery in recoveries:
        end = recovery.recovered_at if recovery.recovered_at is not None else now
        if not any(other is not recovery and recovery.injected_at <= other.injected_at < end for other in recoveries):
            out.append(recovery)
    return out
