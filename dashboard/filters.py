"""What the analyst selected: one immutable, hashable value (the cache key) and its SQL.

The SQL text is built from fixed fragments, one per *active* filter (a filter
left at "all" adds nothing for DuckDB to evaluate); every user value reaches
DuckDB as a ``$parameter``, never inside the text.  :func:`row_where` is the
predicate over raw partition rows; the fact table's (over dictionary codes) is
``dashboard.facts.FactSnapshot.where``.  Both select the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

__all__ = [
    "Filters",
    "in_list",
    "month_key",
    "row_where",
]


def in_list(column: str, name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """``column IN ($name_0, $name_1, ...)``: one parameter per value, never a value in the text."""
    names = []
    for i, value in enumerate(values):
        params[f"{name}_{i}"] = value
        names.append(f"${name}_{i}")
    return f"{column} IN ({', '.join(names)})" if names else "FALSE"


def row_where(filters: Filters, *, partitioned: bool = True) -> tuple[str, dict[str, Any]]:
    """The predicate over raw partition rows and its parameters, built from the active filters only.

    A filter left at "all" adds nothing to the text.  ``partitioned`` adds the
    ``year``/``month`` hive-partition predicate (for ``read_parquet`` with hive
    partitioning); leave it out for tables without those columns.
    """
    params: dict[str, Any] = {
        "start_ts": datetime.combine(filters.start, datetime.min.time()),
        "end_ts": datetime.combine(filters.end + timedelta(days=1), datetime.min.time()),
    }
    parts = ["date_local >= $start_ts AND date_local < $end_ts"]
    if partitioned:
        parts.insert(0, "year * 12 + month BETWEEN $first_month AND $last_month")
        params.update(first_month=month_key(filters.start), last_month=month_key(filters.end))
    if (filters.hour_from, filters.hour_to) != (0, 23):
        parts.append("hour(date_local) BETWEEN $hour_from AND $hour_to")
        params.update(hour_from=filters.hour_from, hour_to=filters.hour_to)
    for column, name, values in (
        ("primary_type", "type", filters.primary_types),
        ("district", "district", filters.districts),
        ("community_area", "area", filters.community_areas),
    ):
        if values:
            parts.append(in_list(column, name, values, params))
    for column in ("arrest", "domestic"):
        value = getattr(filters, column)
        if value is not None:
            parts.append(f"{column} = ${column}")
            params[column] = value
    return " AND ".join(parts), params


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
