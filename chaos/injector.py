"""Injects the planned faults into the running pipeline, each when it is due and its target is up.

A fault whose target is down (a service restarting, the broker already down, a drift
already on) waits until the target is back.  A source fault also waits until the poller
is running with the broker up and the source's earlier faults were all served, so that
each one really meets the poller (not a queue behind a poller blocked on a dead broker).

Right after each injection a probe row is inserted at the source; the recovery tracker
times how long it takes to reach the lake.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from chaos.faults import BROKER_KINDS, KILL_KINDS, PlannedFault
from chaos.pipeline import Pipeline
from chaos.processes import Service
from chaos.recovery import RecoveryTracker
from chaos.source import soda_stamp

__all__ = ["InjectedFault", "Injector"]

log = logging.getLogger(__name__)

_EMULATOR_KIND = {
    "source_throttle": "throttle",
    "source_error": "error",
    "source_truncate": "truncate",
    "source_reset": "reset",
}


@dataclass(frozen=True)
class InjectedFault:
    index: int
    kind: str
    detail: str
    planned_at: float  # seconds into the chaos window
    injected_at: float  # seconds into the chaos window
    probe_id: str
    probe_stamp: str


class Injector:
    def __init__(self, pipeline: Pipeline, tracker: RecoveryTracker, plan: list[PlannedFault], journal: Path) -> None:
        self.pipeline = pipeline
        self.tracker = tracker
        self.waiting = list(plan)
        self.injected: list[InjectedFault] = []
        self.journal = journal
        self._drift_ends: float | None = None

    @property
    def by_kind(self) -> Counter[str]:
        return Counter(f.kind for f in self.injected)

    def _target(self, fault: PlannedFault) -> Service | None:
        return {
            "kill_poller": self.pipeline.poller,
            "kill_processor": self.pipeline.processor,
            "kill_dashboard": self.pipeline.dashboard,
        }.get(fault.kind)

    def _ready_for(self, fault: PlannedFault) -> bool:
        if fault.kind in KILL_KINDS:
            target = self._target(fault)
            return target is not None and target.alive()
        if fault.kind in BROKER_KINDS:
            return self.pipeline.broker.up
        polling = self.pipeline.broker.up and self.pipeline.poller.alive()
        if fault.kind == "source_drift":
            return polling and self._drift_ends is None
        return polling and not self.pipeline.admin.stats().get("faults_pending")

    def tick(self, now: float, window_start: float) -> None:
        """Inject every due fault whose target is ready (in plan order); end a drift that is over."""
        if self._drift_ends is not None and now >= self._drift_ends:
            self.pipeline.admin.set_extra_fields({})
            self._drift_ends = None
            log.info("schema drift over")
        still: list[PlannedFault] = []
        for fault in self.waiting:
            if window_start + fault.at <= now and self._ready_for(fault):
                self._inject(fault, now, window_start)
                now = time.monotonic()  # a broker stop takes a moment
            else:
                still.append(fault)
        self.waiting = still

    def _inject(self, fault: PlannedFault, now: float, window_start: float) -> None:
        pipeline = self.pipeline
        index = len(self.injected) + 1
        log.info("fault %d at +%.1fs: %s", index, now - window_start, fault.describe())
        target = self._target(fault)
        if target is not None:
            target.kill(now)
        elif fault.kind in BROKER_KINDS:
            pipeline.broker.take_down(now, fault.hold, kill=fault.kind == "broker_kill")
        elif fault.kind == "source_drift":
            pipeline.admin.set_extra_fields({f"chaos_drift_{index}": f"drift {index}"})
            self._drift_ends = now + fault.hold
        else:
            pipeline.admin.queue_fault(_EMULATOR_KIND[fault.kind], fault.count, max(1, fault.retry_after))
        probe_id, stamp = pipeline.admin.insert_one()
        self.tracker.open(index, fault.kind, now, stamp)
        record = InjectedFault(
            index,
            fault.kind,
            fault.describe(),
            fault.at,
            round(now - window_start, 2),
            probe_id,
            soda_stamp(stamp),
        )
        self.injected.append(record)
        with open(self.journal, "a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(record)) + "\n")

    def stop(self) -> int:
        """No more faults: clear what is queued at the source and end any drift; how many were still queued."""
        unserved = len(self.pipeline.admin.stats().get("faults_pending", []))
        self.pipeline.admin.clear_faults()
        self._drift_ends = None
        return unserved
