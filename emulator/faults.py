"""Injected failures, the kinds a SODA client meets in the wild.

Kinds:

* ``throttle``   -- HTTP 429 with ``Retry-After``;
* ``error``      -- HTTP 500;
* ``processing`` -- HTTP 202, SODA's "being prepared, retry";
* ``slow``       -- the normal answer after ``delay`` seconds;
* ``truncate``   -- HTTP 200 whose JSON body stops half-way (the chunked stream ends cleanly);
* ``reset``      -- HTTP 200 headers and half the body, then a TCP reset.

A :class:`FaultPlan` holds a queue (the next N data requests get a fault, in
order) and an optional random rate, drawn from a seeded generator so a run is
repeatable.  Only data requests (``/resource/...``) consume faults; the admin
API never fails.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["FAULT_KINDS", "Fault", "FaultKind", "FaultPlan"]

FaultKind = Literal["throttle", "error", "processing", "slow", "truncate", "reset"]
FAULT_KINDS: tuple[FaultKind, ...] = ("throttle", "error", "processing", "slow", "truncate", "reset")
_KIND_BY_NAME: dict[str, FaultKind] = {k: k for k in FAULT_KINDS}


@dataclass(frozen=True)
class Fault:
    """One injected failure."""

    kind: FaultKind
    retry_after: int = 1  # seconds, for throttle and processing
    delay: float = 2.0  # seconds, for slow

    @classmethod
    def parse(cls, kind: str, **options: Any) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        return cls(
            kind=_KIND_BY_NAME[kind],
            retry_after=int(options.get("retry_after", 1)),
            delay=float(options.get("delay", 2.0)),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """Which data requests fail, and how.  Thread-safe."""

    def __init__(
        self,
        *,
        seed: int = 42,
        rate: float = 0.0,
        kinds: tuple[FaultKind, ...] = ("throttle", "error", "processing"),
        retry_after: int = 1,
        delay: float = 2.0,
    ) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self._rng = random.Random(seed)
        self.rate = rate
        self.kinds = kinds
        self.retry_after = retry_after
        self.delay = delay
        self.served: dict[str, int] = {}

    def add(self, fault: Fault, count: int = 1) -> None:
        """The next ``count`` data requests (after those already queued) get ``fault``."""
        with self._lock:
            self._queue.extend([fault] * count)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.rate = 0.0

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._queue]

    def next(self) -> Fault | None:
        """The fault for the request being served now, if any."""
        with self._lock:
            fault: Fault | None = None
            if self._queue:
                fault = self._queue.popleft()
            elif self.rate > 0 and self.kinds and self._rng.random() < self.rate:
                fault = Fault(self._rng.choice(self.kinds), self.retry_after, self.delay)
            if fault is not None:
                self.served[fault.kind] = self.served.get(fault.kind, 0) + 1
            return fault
