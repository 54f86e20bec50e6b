"""What the analyst selected: one immutable, hashable value (the cache key) and its SQL.

The SQL text here is fixed; every user value reaches DuckDB as a ``$parameter``
(:meth:`Filters.params`).  The same predicate is written twice, once over the
in-memory fact table (``FACT_WHERE``) and once over raw partition files
(``ROW_WHERE``), so aggregates and exported rows always agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

__all__ = [
    "FACT_WHERE",
    "ROW_WHERE",
    "Filters",
    "month_key",
]

# Over the fact table (columns: day, hour, primary_type, district, community_area, arrest, domestic).
FACT_WHERE = """
    day BETWEEN $start AND $end
    AND hour BETWEEN $hour_from AND $hour_to
    AND (len($types::VARCHAR[]) = 0 OR list_contains($types::VARCHAR[], primary_type))
    AND (len($districts::VARCHAR[]) = 0 OR list_contains($districts::VARCHAR[], district))
    AND (len($areas::VARCHAR[]) = 0 OR list_contains($areas::VARCHAR[], community_area))
    AND ($arrest::BOOLEAN IS NULL OR arrest = $arrest::BOOLEAN)
    AND ($domestic::BOOLEAN IS NULL OR domestic = $domestic::BOOLEAN)
"""

# Over partition files read with hive partitioning (year, month as INTEGER).
ROW_WHERE = """
    year * 12 + month BETWEEN $first_month AND $last_month
    AND date_local >= $start_ts AND date_local < $end_ts
    AND hour(date_local) BETWEEN $hour_from AND $hour_to
    AND (len($types::VARCHAR[]) = 0 OR list_contains($types::VARCHAR[], primary_type))
    AND (len($districts::VARCHAR[]) = 0 OR list_contains($districts::VARCHAR[], district))
    AND (len($areas::VARCHAR[]) = 0 OR list_contains($areas::VARCHAR[], community_area))
    AND ($arrest::BOOLEAN IS NULL OR arrest = $arrest::BOOLEAN)
    AND ($domestic::BOOLEAN IS NULL OR domestic = $domestic::BOOLEAN)
"""


def month_key(day: date) -> int:
    """``year * 12 + month``: consecutive months get consecutive keys."""
    return day.year * 12 + day.month


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _strings(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(sorted({str(v) for v in values}))


@dataclass(frozen=True)
class Filters:
    """Every filter of the page; empty tuples and ``None`` mean "all".

    Multi-valued filters are stored sorted and de-duplicated, so two selections
    that differ only in order share a cache entry.
    """

    start: date
    end: date
    primary_types: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    community_areas: tuple[str, ...] = ()
    arrest: bool | None = None
    domestic: bool | None = None
    hour_from: int = 0
    hour_to: int = 23

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _day(self.start))
        object.__setattr__(self, "end", _day(self.end))
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        for name in ("primary_types", "districts", "community_areas"):
            object.__setattr__(self, name, _strings(getattr(self, name)))
        hours = (int(self.hour_from), int(self.hour_to))
        if not 0 <= hours[0] <= hours[1] <= 23:
            raise ValueError(f"hour range {hours[0]}-{hours[1]} is not within 0-23")
        object.__setattr__(self, "hour_from", hours[0])
        object.__setattr__(self, "hour_to", hours[1])
        for name in ("arrest", "domestic"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"{name} must be True, False or None")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The same filters over the period of the same length just before this one."""
        length = timedelta(days=self.days)
        return replace(self, start=self.start - length, end=self.end - length)

    def with_range(self, start: date, end: date) -> Filters:
        return replace(self, start=start, end=end)

    def months(self) -> range:
        """The month keys (see :func:`month_key`) the date range touches."""
        return range(month_key(self.start), month_key(self.end) + 1)

    def params(self) -> dict[str, Any]:
        """Parameters for ``FACT_WHERE`` and ``ROW_WHERE`` (a superset of both)."""
        return {
            "start": self.start,
            "end": self.end,
            "start_ts": datetime.combine(self.start, datetime.min.time()),
            "end_ts": datetime.combine(self.end + timedelta(days=1), datetime.min.time()),
            "first_month": month_key(self.start),
            "last_month": month_key(self.end),
            "hour_from": self.hour_from,
            "hour_to": self.hour_to,
            "types": list(self.primary_types),
            "districts": list(self.districts),
            "areas": list(self.community_areas),
            "arrest": self.arrest,
            "domestic": self.domestic,
        }

    def describe(self) -> str:
        """A one-line, human summary (for messages and export notes)."""
        span = f"on {self.start:%Y-%m-%d}" if self.days == 1 else f"from {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"
        parts = [span]
        if self.primary_types:
            parts.append("type " + ", ".join(self.primary_types))
        if self.districts:
            parts.append("district " + ", ".join(self.districts))
        if self.community_areas:
            parts.append("community area " + ", ".join(self.community_areas))
        if self.arrest is not None:
            parts.append("with arrest" if self.arrest else "without arrest")
        if self.domestic is not None:
            parts.append("domestic" if self.domestic else "not domestic")
        if (self.hour_from, self.hour_to) != (0, 23):
            parts.append(f"hours {self.hour_from:02d}:00-{self.hour_to:02d}:59")
        return "; ".join(parts)
