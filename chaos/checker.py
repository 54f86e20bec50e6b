"""The lake against the source's ground truth, row by row. Pure logic.

For every id the figures count:

* ``lost``: live at the source, absent from the lake;
* ``duplicated``: present more than once in the lake (in one partition or several);
* ``stale``: in the lake at another version than the source's (an older source update time;
  a newer one, which no correct pipeline can produce, counts too);
* ``undeleted``: in the lake although the source deleted it (the lake missed the deletion);
* ``misplaced``: a lake row stored in a ``year=/month=`` partition that is not the month of
  its own incident date, or of the source's date for that id.

``stale`` and the partition check use the id's newest copy in the lake, so a duplicated
id is counted once as duplicated and not again for its older copy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["CheckResult", "LakeRow", "Month", "TruthRow", "check"]

Month = tuple[int, int]  # (year, month)

_EXAMPLES = 5


@dataclass(frozen=True)
class TruthRow:
    """A live source row: its id, source update time and the month of its incident date."""

    record_id: str
    updated_at: datetime
    month: Month


@dataclass(frozen=True)
class LakeRow:
    """A lake row: its id, source update time, the partition it is stored in and its date's month."""

    record_id: str
    updated_at: datetime
    partition: Month  # from the year=/month= path
    date_month: Month  # from the row's own local incident date


@dataclass
class CheckResult:
    rows_compared: int = 0  # ids live at the source
    lake_rows: int = 0
    lost: int = 0
    duplicated: int = 0
    stale: int = 0
    undeleted: int = 0
    misplaced: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return self.lost + self.duplicated + self.stale + self.undeleted + self.misplaced

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def _example(self, what: str, text: str) -> None:
        found = self.examples.setdefault(what, [])
        if len(found) < _EXAMPLES:
            found.append(text)


def check(truth: Iterable[TruthRow], lake: Iterable[LakeRow]) -> CheckResult:
    """Compare the lake with the ground truth; every figure is 0 when the lake is exact."""
    result = CheckResult()
    copies: dict[str, list[LakeRow]] = defaultdict(list)
    for row in lake:
        copies[row.record_id].append(row)
        result.lake_rows += 1
        if row.partition != row.date_month:
            result.misplaced += 1
            result._example("misplaced", f"{row.record_id}: in {_fmt(row.partition)}, dated {_fmt(row.date_month)}")
    source = {row.record_id: row for row in truth}
    result.rows_compared = len(source)
    for record_id, found in copies.items():
        if len(found) > 1:
            result.duplicated += 1
            where = ", ".join(sorted(_fmt(r.partition) for r in found))
            result._example("duplicated", f"{record_id}: {len(found)} copies ({where})")
        if record_id not in source:
            result.undeleted += 1
            result._example("undeleted", f"{record_id}: deleted at the source, still in {_fmt(found[0].partition)}")
    for record_id, expected in source.items():
        found = copies.get(record_id, [])
        if not found:
            result.lost += 1
            result._example("lost", f"{record_id}: updated {expected.updated_at.isoformat()}")
            continue
        newest = max(found, key=lambda r: r.updated_at)
        if newest.updated_at != expected.updated_at:
            result.stale += 1
            relation = "<" if newest.updated_at < expected.updated_at else ">"
            lake_at, source_at = newest.updated_at.isoformat(), expected.updated_at.isoformat()
            result._example("stale", f"{record_id}: lake {lake_at} {relation} source {source_at}")
        elif newest.partition != expected.month and newest.partition == newest.date_month:
            # (a row whose path disagrees with its own date was counted above already)
            result.misplaced += 1
            result._example(
                "misplaced", f"{record_id}: in {_fmt(newest.partition)}, source dated {_fmt(expected.month)}"
            )
    return result


def _fmt(month: Month) -> str:
    return f"year={month[0]:04d}/month={month[1]:02d}"
