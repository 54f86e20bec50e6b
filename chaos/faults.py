"""The random fault schedule: pure, and the same for the same seed.

Kinds (what the injector does for each):

* ``kill_poller`` / ``kill_processor`` / ``kill_dashboard`` -- SIGKILL the service; the
  runner restarts it after a short delay;
* ``broker_stop`` / ``broker_kill`` -- stop Kafka with SIGTERM (clean shutdown) or
  SIGKILL, keep it down for ``hold`` seconds, restart it on the same port and data dir;
* ``source_throttle`` -- the next ``count`` SODA requests get HTTP 429 with ``Retry-After``;
* ``source_error`` -- the next ``count`` requests get HTTP 500;
* ``source_truncate`` -- the next ``count`` responses end half-way through the JSON body;
* ``source_reset`` -- the next ``count`` responses are cut by a TCP reset;
* ``source_drift`` -- every row gains a new field for ``hold`` seconds (schema drift).

The schedule starts with every kind once, in a shuffled order, so a run long
enough for ``len(FAULT_KINDS)`` faults injects each kind at least once; the rest
are drawn uniformly.  Gaps between faults are uniform in ``[0.5, 1.5] * mean_gap``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["BROKER_KINDS", "FAULT_KINDS", "KILL_KINDS", "SOURCE_KINDS", "FaultKind", "PlannedFault", "plan_faults"]

FaultKind = Literal[
    "kill_poller",
    "kill_processor",
    "kill_dashboard",
    "broker_stop",
    "broker_kill",
    "source_throttle",
    "source_error",
    "source_truncate",
    "source_reset",
    "source_drift",
]
KILL_KINDS: tuple[FaultKind, ...] = ("kill_poller", "kill_processor", "kill_dashboard")
BROKER_KINDS: tuple[FaultKind, ...] = ("broker_stop", "broker_kill")
SOURCE_KINDS: tuple[FaultKind, ...] = (
    "source_throttle",
    "source_error",
    "source_truncate",
    "source_reset",
    "source_drift",
)
FAULT_KINDS: tuple[FaultKind, ...] = KILL_KINDS + BROKER_KINDS + SOURCE_KINDS


@dataclass(frozen=True)
class PlannedFault:
    """One fault: when (seconds after the chaos window opens), what, and how hard."""

    at: float
    kind: FaultKind
    hold: float = 0.0  # seconds the broker stays down / the drift lasts
    count: int = 0  # SODA requests affected (throttle, error, truncate, reset)
    retry_after: int = 0  # Retry-After of a throttle, seconds

    def describe(self) -> str:
        if self.kind in BROKER_KINDS or self.kind == "source_drift":
            return f"{self.kind} for {self.hold:.0f}s"
        if self.kind == "source_throttle":
            return f"{self.kind} x{self.count} (Retry-After {self.retry_after}s)"
        if self.count:
            return f"{self.kind} x{self.count}"
        return self.kind


def _details(kind: FaultKind, at: float, rng: random.Random) -> PlannedFault:
    if kind in BROKER_KINDS:
        return PlannedFault(at, kind, hold=round(rng.uniform(2.0, 10.0), 1))
    if kind == "source_drift":
        return PlannedFault(at, kind, hold=round(rng.uniform(5.0, 25.0), 1))
    if kind == "source_throttle":
        return PlannedFault(at, kind, count=rng.randint(1, 5), retry_after=rng.randint(1, 3))
    if kind == "source_error":
        # Sometimes more failures in a row than the poller retries (SODA_MAX_RETRIES=6 in the soak):
        # the poller then exits and is restarted.
        return PlannedFault(at, kind, count=rng.randint(1, 9))
    if kind in ("source_truncate", "source_reset"):
        return PlannedFault(at, kind, count=rng.randint(1, 4))
    return PlannedFault(at, kind)


def plan_faults(duration: float, seed: int, mean_gap: float, *, first_at: float = 2.0) -> list[PlannedFault]:
    """The faults of a chaos window of ``duration`` seconds, in time order."""
    if duration <= 0 or mean_gap <= 0:
        return []
    rng = random.Random(seed)
    opening = list(FAULT_KINDS)
    rng.shuffle(opening)
    faults: list[PlannedFault] = []
    at = first_at
    while at < duration:
        kind = opening[len(faults)] if len(faults) < len(opening) else rng.choice(FAULT_KINDS)
        faults.append(_details(kind, round(at, 2), rng))
        at += rng.uniform(0.5 * mean_gap, 1.5 * mean_gap)
    return faults
