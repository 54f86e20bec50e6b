"""Live changes at the source during the soak, driven through the emulator's admin API.

Every ``interval`` seconds: one daily load (new rows, random corrections, deletions),
then ``moves`` corrections that re-date a row into another month, so the lake must move
it between partitions.  The runner drives the loads itself (rather than the emulator's
own live mode) so it can freeze the source before the final comparison.

Loads are stamped with the wall clock (never behind the source's newest stamp), as the
portal stamps them; ``wall_clock=False`` leaves the stamp to the emulator, which puts
each load a simulated day after the previous one (its live mode), into the future.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chaos.source import EmulatorAdmin

__all__ = ["Workload", "WorkloadStats", "shift_months"]

log = logging.getLogger(__name__)


@dataclass
class WorkloadStats:
    loads: int = 0
    inserted: int = 0
    corrected: int = 0
    deleted: int = 0
    moved: int = 0  # corrections that changed the row's month


def shift_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by ``months`` calendar months (day capped at 28)."""
    index = moment.year * 12 + (moment.month - 1) + months
    return moment.replace(year=index // 12, month=index % 12 + 1, day=min(moment.day, 28))


class Workload:
    def __init__(
        self,
        admin: EmulatorAdmin,
        rng: random.Random,
        *,
        interval: float,
        rows: int,
        corrections: int,
        deletions: int,
        moves: int,
        wall_clock: bool = True,
    ) -> None:
        self.admin = admin
        self.rng = rng
        self.interval = interval
        self.rows = rows
        self.corrections = corrections
        self.deletions = deletions
        self.moves = moves
        self.wall_clock = wall_clock
        self.stats = WorkloadStats()
        self._dates: dict[str, datetime] = {}  # ids whose current incident date we know
        self._next = 0.0

    def prime(self, truth: list[dict[str, Any]]) -> None:
        """Learn the initial rows' dates (the candidates for month moves)."""
        self._dates = {str(row["id"]): datetime.fromisoformat(str(row["date"])) for row in truth}

    def tick(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + self.interval
        self._load()
        for _ in range(self.moves):
            self._move()

    def _load(self) -> None:
        at: datetime | None = None
        if self.wall_clock:
            newest = self.admin.newest_stamp()
            at = datetime.now(UTC).replace(microsecond=0)
            if newest is not None and at <= newest:
                at = newest + timedelta(seconds=1)
        report = self.admin.load(self.rows, self.corrections, self.deletions, at)
        self.stats.loads += 1
        self.stats.inserted += len(report["inserted"])
        self.stats.corrected += len(report["corrected"])
        self.stats.deleted += len(report["deleted"])
        for record_id in (*report["corrected"], *report["deleted"]):
            self._dates.pop(str(record_id), None)  # a correction may have re-dated it

    def _move(self) -> None:
        if not self._dates:
            return
        record_id = self.rng.choice(list(self._dates))
        old = self._dates[record_id]
        months = self.rng.choice((-3, -2, -1, 1, 2, 3))
        new = shift_months(old, months)
        if new > datetime.now() - timedelta(days=2):  # floating local time, as the source writes it
            new = shift_months(old, -abs(months))
        row = self.admin.correct(record_id, {"date": new.strftime("%Y-%m-%dT%H:%M:%S")})
        if row is None:  # deleted meanwhile
            del self._dates[record_id]
            return
        landed = datetime.fromisoformat(str(row["date"]))
        self._dates[record_id] = landed
        self.stats.corrected += 1
        if (landed.year, landed.month) != (old.year, old.month):
            self.stats.moved += 1
