"""The dashboard's query layer: pure functions over the parquet lake, through DuckDB.

    CrimestreamError
    ├── EmptyLakeError     no partition file yet: nothing has been ingested
    └── LakeReadError      the lake could not be read (retryable when it changed under us)

Rules every query here follows:

* User values travel as DuckDB parameters (``$name``), never inside the SQL text;
  so does the list of partition files.
* One in-memory DuckDB database per process, one cursor per thread.
* A date range becomes ``year``/``month`` predicates as well, so DuckDB skips the
  partitions outside it (hive partition pruning) before opening any file.
* The sink swaps partition files with ``os.replace`` while we read.  A query
  during which the partition files changed (swapped, added, vanished) is run
  again on a fresh listing; if it keeps failing it raises a retryable
  :class:`LakeReadError`.  A file that fails while nothing changes raises a
  non-retryable one at once.  Never a raw DuckDB error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from crimestream.errors import CrimestreamError
from dashboard.lake import lake_version

__all__ = [
    "EMPTY_LAKE_MESSAGE",
    "LAKE_SOURCE",
    "DayRange",
    "EmptyLakeError",
    "LakeReadError",
    "crime_types",
    "date_bounds",
    "incidents_per_day",
    "run_on_lake",
    "total_incidents",
]

log = logging.getLogger(__name__)

EMPTY_LAKE_MESSAGE = (
    "The lake is empty: no data has been ingested yet. Start the pipeline with "
    "`make demo` or `crimestream poll` + `crimestream process`."
)

_ATTEMPTS = 4
_BACKOFF_SECONDS = 0.05

T = TypeVar("T")


class EmptyLakeError(CrimestreamError):
    """The lake holds no partition file yet."""

    def __init__(self, message: str = EMPTY_LAKE_MESSAGE) -> None:
        super().__init__(message)


class LakeReadError(CrimestreamError):
    """The lake could not be read; ``retryable`` when it was changing under the query."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class DayRange:
    """An inclusive range of local Chicago days."""

    start: date
    end: date

    def __post_init__(self) -> None:
        # datetime is a date subclass: keep only the day.
        object.__setattr__(self, "start", _as_day(self.start))
        object.__setattr__(self, "end", _as_day(self.end))
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def params(self) -> dict[str, Any]:
        """Query parameters: the wall-clock bounds and the month keys used for pruning."""
        return {
            "start_ts": datetime.combine(self.start, datetime.min.time()),
            "end_ts": datetime.combine(self.end + timedelta(days=1), datetime.min.time()),
            "first_month": self.start.year * 12 + self.start.month,
            "last_month": self.end.year * 12 + self.end.month,
        }


def _as_day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


# --- connections -------------------------------------------------------------


class _Cursors:
    """One in-memory database for the process; one cursor per thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: duckdb.DuckDBPyConnection | None = None
        self._local = threading.local()

    def get(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._lock:
                if self._root is None:
                    self._root = duckdb.connect(":memory:")
                cursor = self._root.cursor()
            self._local.cursor = cursor
        return cursor


_cursors = _Cursors()


# --- SQL ---------------------------------------------------------------------
# Fixed text only: every value below is a $parameter.

LAKE_SOURCE = (
    "read_parquet($files::VARCHAR[], hive_partitioning = true, hive_types = {'year': INTEGER, 'month': INTEGER})"
)

_RANGE_FILTER = """
    year * 12 + month BETWEEN $first_month AND $last_month
    AND date_local >= $start_ts AND date_local < $end_ts
    AND (len($types::VARCHAR[]) = 0 OR list_contains($types::VARCHAR[], primary_type))
"""

_BOUNDS_SQL = f"""
SELECT CAST(min(date_local) AS DATE), CAST(max(date_local) AS DATE)
FROM {LAKE_SOURCE}
"""

_TOTAL_SQL = f"""
SELECT count(*) FROM {LAKE_SOURCE}
WHERE {_RANGE_FILTER}
"""

_PER_DAY_SQL = f"""
WITH counts AS (
    SELECT CAST(date_trunc('day', date_local) AS TIMESTAMP) AS day, count(*) AS incidents
    FROM {LAKE_SOURCE}
    WHERE {_RANGE_FILTER}
    GROUP BY 1
)
SELECT days.day AS day, CAST(coalesce(counts.incidents, 0) AS BIGINT) AS incidents
FROM range($start_ts, $end_ts, INTERVAL 1 DAY) AS days(day)
LEFT JOIN counts USING (day)
ORDER BY day
"""

_TYPES_SQL = f"""
SELECT DISTINCT primary_type FROM {LAKE_SOURCE}
WHERE primary_type IS NOT NULL
ORDER BY primary_type
"""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_on_lake(
    lake_dir: Path,
    sql: str,
    params: dict[str, Any],
    fetch: Callable[[duckdb.DuckDBPyConnection], T],
    *,
    select: Callable[[list[str]], list[str]] | None = None,
    when_no_file: Callable[[], T] | None = None,
) -> T:
    """Run one query over the partition files present now; retry if they changed meanwhile.

    DuckDB opens a file more than once per query (schema at bind time, data at scan
    time), so a swap in between can surface as any DuckDB error, or in principle
    as a result mixing two versions.  The lake's fingerprint taken before and after
    the query tells a race (retry) from a genuinely unreadable file (fail now).

    ``select`` narrows the partition files read (e.g. to the months of a date
    range); when it leaves none, ``when_no_file()`` is the answer.
    """
    last_error: duckdb.Error | None = None
    for attempt in range(1, _ATTEMPTS + 1):
        before = lake_version(lake_dir)
        if before.is_empty:
            raise EmptyLakeError()
        paths = before.paths if select is None else select(before.paths)
        if not paths and when_no_file is not None:
            return when_no_file()
        try:
            cursor = _cursors.get().execute(sql, {"files": paths, **params})
            result = fetch(cursor)
        except duckdb.Error as exc:
            if lake_version(lake_dir) == before:
                log.warning("lake query failed on unchanged files: %s", _first_line(exc))
                raise LakeReadError(
                    f"Could not read the lake at {lake_dir}: {_first_line(exc)}",
                    retryable=False,
                ) from exc
            last_error = exc
            log.info(
                "lake changed during a query (attempt %d/%d): %s",
                attempt,
                _ATTEMPTS,
                _first_line(exc),
            )
        else:
            if lake_version(lake_dir) == before or attempt == _ATTEMPTS:
                return result
            log.debug("lake changed during a query (attempt %d/%d); re-reading", attempt, _ATTEMPTS)
        time.sleep(_BACKOFF_SECONDS * 2 ** (attempt - 1))
    reason = _first_line(last_error) if last_error is not None else "unknown"
    raise LakeReadError(
        f"The lake kept changing while it was being read ({reason}); the next refresh will try again.",
        retryable=True,
    ) from last_error


def _filter_params(days: DayRange, primary_types: Sequence[str]) -> dict[str, Any]:
    types = [str(t) for t in primary_types]
    return {**days.params(), "types": types}


# --- public queries ----------------------------------------------------------


def date_bounds(lake_dir: Path) -> tuple[date, date] | None:
    """First and last local day with an incident; ``None`` if the files hold no rows.

    Raises :class:`EmptyLakeError` when there is no partition file at all.
    """
    row = run_on_lake(lake_dir, _BOUNDS_SQL, {}, lambda cur: cur.fetchone())
    if row is None or row[0] is None or row[1] is None:
        return None
    return row[0], row[1]


def total_incidents(lake_dir: Path, start: date, end: date, *, primary_types: Sequence[str] = ()) -> int:
    """Incidents whose local day is in ``[start, end]`` (and of ``primary_types`` if given)."""
    params = _filter_params(DayRange(start, end), primary_types)
    row = run_on_lake(lake_dir, _TOTAL_SQL, params, lambda cur: cur.fetchone())
    return int(row[0]) if row is not None else 0


def incidents_per_day(lake_dir: Path, start: date, end: date, *, primary_types: Sequence[str] = ()) -> pd.DataFrame:
    """One row per local day in ``[start, end]``: ``day`` (datetime64) and ``incidents``.

    Days without incidents are present with a count of 0, so a chart shows the gap.
    """
    params = _filter_params(DayRange(start, end), primary_types)
    return run_on_lake(lake_dir, _PER_DAY_SQL, params, lambda cur: cur.df())


def crime_types(lake_dir: Path) -> list[str]:
    """The distinct ``primary_type`` values in the lake, sorted."""
    rows = run_on_lake(lake_dir, _TYPES_SQL, {}, lambda cur: cur.fetchall())
    return [str(row[0]) for row in rows]
