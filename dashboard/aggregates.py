"""The dashboard's aggregate views, computed over the in-memory fact table.

Every function takes a :class:`~dashboard.facts.FactStore` and a
:class:`~dashboard.filters.Filters`, and answers from the store's current
snapshot (synchronise it with ``store.sync()``; a never-synchronised store is
synchronised on first use).  Results are cached per (query, filters, fact-table
generation): a changed lake never serves an old answer.

Each query reads the smallest exact table that holds every column its filters
and groups use (a rollup of counts, else the fact table, see
:meth:`~dashboard.facts.FactSnapshot.source`), with a predicate made of the
active filters only.  All user values are DuckDB parameters; the SQL text is
assembled from fixed fragments, table and column names of our own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeVar

import duckdb
import numpy as np
import pandas as pd

from dashboard.cache import query_cache
from dashboard.facts import DENSITY_CELL_DEGREES, FACT_TABLE, FactSnapshot, FactStore, Source, dimension_table
from dashboard.filters import Filters
from dashboard.queries import EmptyLakeError, LakeReadError

__all__ = [
    "DENSITY_CELL_DEGREES",
    "Kpis",
    "LakeOptions",
    "arrest_rate_by_type",
    "community_areas",
    "day_bounds",
    "density_grid",
    "heatmap",
    "incident_series",
    "kpis",
    "lake_options",
    "series_grain",
    "top_types",
    "web_mercator",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

_MERCATOR_RADIUS = 6378137.0

Grain = Literal["day", "week"]


@dataclass(frozen=True)
class Kpis:
    """The headline numbers for a selection and the same-length period before it."""

    incidents: int
    arrests: int
    domestic: int
    previous_incidents: int
    previous_covered: bool  # the previous period lies (at least partly) within the lake's days

    @property
    def arrest_rate(self) -> float | None:
        return self.arrests / self.incidents if self.incidents else None

    @property
    def domestic_share(self) -> float | None:
        return self.domestic / self.incidents if self.incidents else None

    @property
    def change(self) -> float | None:
        """Relative change versus the previous period; None when it cannot be told."""
        if not self.previous_covered or self.previous_incidents == 0:
            return None
        return (self.incidents - self.previous_incidents) / self.previous_incidents


@dataclass(frozen=True)
class LakeOptions:
    """The distinct values the filters offer."""

    primary_types: tuple[str, ...]
    districts: tuple[str, ...]
    community_areas: tuple[str, ...]


def _snapshot(store: FactStore) -> FactSnapshot:
    snapshot = store.snapshot
    if snapshot.generation == 0:
        snapshot = store.sync()
    if snapshot.is_empty:
        raise EmptyLakeError()
    return snapshot


def _cached(store: FactStore, key: Hashable, compute: Callable[[duckdb.DuckDBPyConnection, FactSnapshot], T]) -> T:
    snapshot = _snapshot(store)
    full_key = (id(store), snapshot.generation, store.use_rollups, key)

    def run() -> T:
        try:
            return compute(store.cursor(), snapshot)
        except duckdb.Error as exc:
            log.warning("aggregate query failed: %s", exc)
            raise LakeReadError(f"The dashboard could not compute a view: {exc}", retryable=False) from exc

    return query_cache.get_or_compute(full_key, run)


def _plan(
    store: FactStore, snapshot: FactSnapshot, filters: Filters, needs: tuple[str, ...] = ()
) -> tuple[Source, str, dict[str, Any]]:
    """The table to read, the predicate of the active filters, and its parameters."""
    where, params = snapshot.where(filters)
    return snapshot.source(filters, needs, rollups=store.use_rollups), where, params


def _name(column: str, code: str, alias: str) -> str:
    """SQL: the dictionary value of a code column (fixed names only)."""
    return f"(SELECT value FROM {dimension_table(column)} AS dim WHERE dim.{code} = {alias}.{code})"


# --- lake-wide -----------------------------------------------------------------


def day_bounds(store: FactStore) -> tuple[date, date] | None:
    """First and last local day with an incident; None when the files hold no row."""

    def compute(cur: duckdb.DuckDBPyConnection, _snapshot: FactSnapshot) -> tuple[date, date] | None:
        row = cur.execute(f"SELECT min(day), max(day) FROM {FACT_TABLE}").fetchone()
        if row is None or row[0] is None:
            return None
        return row[0], row[1]

    return _cached(store, ("bounds",), compute)


def lake_options(store: FactStore) -> LakeOptions:
    """Distinct primary types, districts and community areas (sorted; areas numerically)."""

    def distinct(cur: duckdb.DuckDBPyConnection, column: str, code: str) -> tuple[str, ...]:
        rows = cur.execute(
            f"SELECT value FROM {dimension_table(column)} WHERE {code} IN "
            f"(SELECT DISTINCT {code} FROM {FACT_TABLE} WHERE {code} IS NOT NULL)"
        ).fetchall()
        values = [str(r[0]) for r in rows]
        return tuple(sorted(values, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v)))

    def compute(cur: duckdb.DuckDBPyConnection, _snapshot: FactSnapshot) -> LakeOptions:
        return LakeOptions(
            distinct(cur, "primary_type", "type_code"),
            distinct(cur, "district", "district_code"),
            distinct(cur, "community_area", "area_code"),
        )

    return _cached(store, ("options",), compute)


# --- per selection ---------------------------------------------------------------


def _count(expression: str) -> str:
    return f"CAST(coalesce({expression}, 0) AS BIGINT)"


def kpis(store: FactStore, filters: Filters) -> Kpis:
    """Incidents, arrests, domestic incidents, and incidents in the previous period."""
    previous = filters.previous()
    span = filters.with_range(previous.start, filters.end)

    def compute(cur: duckdb.DuckDBPyConnection, snapshot: FactSnapshot) -> Kpis:
        source, where, params = _plan(store, snapshot, span)
        current = "day >= $current_start"
        sql = f"""
            SELECT {_count(source.count_if(current))},
                   {_count(source.count_if(current + " AND arrest"))},
                   {_count(source.count_if(current + " AND domestic"))},
                   {_count(source.count_if("day < $current_start"))}
            FROM {source.table} WHERE {where}
        """
        row = cur.execute(sql, {**params, "current_start": filters.start}).fetchone()
        assert row is not None
        bounds = day_bounds(store)
        covered = bounds is not None and previous.end >= bounds[0]
        return Kpis(int(row[0]), int(row[1]), int(row[2]), int(row[3]), covered)

    return _cached(store, ("kpis", filters), compute)


def series_grain(filters: Filters) -> Grain:
    """Per day up to about half a year, per week beyond."""
    return "day" if filters.days <= 183 else "week"


def incident_series(store: FactStore, filters: Filters, grain: Grain | None = None) -> pd.DataFrame:
    """Incidents per ``period`` (a day, or a week starting Monday); empty periods count 0."""
    chosen: Grain = grain or series_grain(filters)
    if chosen not in ("day", "week"):
        raise ValueError(f"grain must be 'day' or 'week', not {chosen!r}")

    def compute(cur: duckdb.DuckDBPyConnection, snapshot: FactSnapshot) -> pd.DataFrame:
        source, where, params = _plan(store, snapshot, filters)
        # Per day first (cheap on integers-like dates), then per period on a few thousand rows.
        sql = f"""
            WITH per_day AS (
                SELECT day, {source.count} AS n FROM {source.table} WHERE {where} GROUP BY day
            ), counts AS (
                SELECT CAST(date_trunc($grain, day) AS DATE) AS period, sum(n) AS incidents FROM per_day GROUP BY 1
            )
            SELECT CAST(periods.period AS TIMESTAMP) AS period,
                   CAST(coalesce(counts.incidents, 0) AS BIGINT) AS incidents
            FROM (
                SELECT CAST(p AS DATE) AS period
                FROM range(CAST(date_trunc($grain, $start::DATE) AS TIMESTAMP),
                           CAST($end::DATE AS TIMESTAMP) + INTERVAL 1 DAY,
                           CASE WHEN $grain = 'week' THEN INTERVAL 7 DAY ELSE INTERVAL 1 DAY END) AS r(p)
            ) AS periods
            LEFT JOIN counts USING (period)
            ORDER BY period
        """
        return cur.execute(sql, {**params, "grain": chosen}).df()

    return _cached(store, ("series", filters, chosen), compute)


def _type_counts(
    store: FactStore, snapshot: FactSnapshot, filters: Filters, *, arrests: bool
) -> tuple[str, dict[str, Any]]:
    source, where, params = _plan(store, snapshot, filters, ("type_code",))
    extra = f", {_count(source.count_if('arrest'))} AS arrests" if arrests else ""
    sql = f"""
        WITH counts AS (
            SELECT type_code, {_count(source.count)} AS incidents{extra}
            FROM {source.table} WHERE {where} GROUP BY type_code
        )
        SELECT coalesce({_name("primary_type", "type_code", "counts")}, '(unknown)') AS primary_type,
               incidents{", arrests, 100.0 * arrests / incidents AS arrest_rate" if arrests else ""}
        FROM counts
        ORDER BY incidents DESC, primary_type
        LIMIT $limit
    """
    return sql, params


def top_types(store: FactStore, filters: Filters, n: int = 10) -> pd.DataFrame:
    """The ``n`` most frequent primary types: ``primary_type``, ``incidents``."""

    def compute(cur: duckdb.DuckDBPyConnection, snapshot: FactSnapshot) -> pd.DataFrame:
        sql, params = _type_counts(store, snapshot, filters, arrests=False)
        return cur.execute(sql, {**params, "limit": int(n)}).df()

    return _cached(store, ("top", filters, int(n)), compute)


def heatmap(store: FactStore, filters: Filters) -> pd.DataFrame:
    """7 x 24 rows: ISO ``dow`` (1 = Monday), ``hour`` (0-23), ``incidents``."""

    def compute(cur: duckdb.DuckDBPyConnection, snapshot: FactSnapshot) -> pd.DataFrame:
        source, where, params = _plan(store, snapshot, filters, ("dow", "hour"))
        sql = f"""
            WITH counts AS (
                SELECT dow, hour, {source.count} AS incidents FROM {source.table} WHERE {where} GROUP BY 1, 2
            )
            SELECT d.dow AS dow, h.hour AS hour, CAST(coalesce(counts.incidents, 0) AS BIGINT) AS incidents
            FROM range(1, 8) AS d(dow) CROSS JOIN range(0, 24) AS h(hour)
            LEFT JOIN counts ON counts.dow = d.dow AND counts.hour = h.hour
            ORDER BY dow, hour
        """
        return cur.execute(sql, params).df()

    return _cached(store, ("heatmap", filters), compute)


def arrest_rate_by_type(store: FactStore, filters: Filters, n: int = 15) -> pd.DataFrame:
    """Arrest rate (%) of the ``n`` most frequent types, highest rate first."""

    def compute(cur: duckdb.DuckDBPyConnection, snapshot: FactSnapshot) -> pd.DataFrame:
        sql, params = _type_counts(store, snapshot, filters, arrests=True)
        frame = cur.execute(sql, {**params, "limit": int(n)}).df()
        return frame.sort_values(["arrest_rate", "primary_type"], ascending=[False, True]).reset_index(drop=True)

    return _cached(store, ("arrest", filters, int(n)), compute)


def community_areas(store: FactStore, filters: Filters) -> pd.DataFrame:
    """Per community area: incidents, arrest rate (%), and the mean position of its incidents."""

    def compute(cur: duckdb.DuckDBPyConnection, snapshot: FactSnapshot) -> pd.DataFrame:
        source, where, params = _plan(store, snapshot, filters, ("area_code", "position"))
        if source.is_rollup:  # exact counts; mean positions from exact sums (rounding aside)
            measures = """sum(n) AS incidents,
                       100.0 * sum(CASE WHEN arrest THEN n ELSE 0 END) / sum(n) AS arrest_rate,
                       sum(lat_sum) / nullif(sum(lat_n), 0) AS latitude,
                       sum(lon_sum) / nullif(sum(lon_n), 0) AS longitude"""
        else:
            measures = """count(*) AS incidents,
                       100.0 * sum(CASE WHEN arrest THEN 1 ELSE 0 END) / count(*) AS arrest_rate,
                       avg(latitude) AS latitude,
                       avg(longitude) AS longitude"""
        sql = f"""
            WITH counts AS (
                SELECT area_code, {measures}
                FROM {source.table}
                WHERE {where} AND area_code IS NOT NULL
                GROUP BY 1
            )
            SELECT {_name("community_area", "area_code", "counts")} AS community_area,
                   CAST(incidents AS BIGINT) AS incidents, arrest_rate, latitude, longitude
            FROM counts
            ORDER BY incidents DESC, community_area
        """
        return _with_mercator(cur.execute(sql, params).df())

    return _cached(store, ("areas", filters), compute)


def density_grid(store: FactStore, filters: Filters, cell: float = DENSITY_CELL_DEGREES) -> pd.DataFrame:
    """Incidents per map cell: cell centre in lon/lat and Web Mercator (``x``, ``y``), ``incidents``.

    The exact counts a rasterised map needs, at a fraction of the points.
    """

    def compute(cur: duckdb.DuckDBPyConnection, snapshot: FactSnapshot) -> pd.DataFrame:
        where, params = snapshot.where(filters)
        if float(cell) == DENSITY_CELL_DEGREES:  # cells computed once, when the rows were loaded
            cells = "gx, gy"
        else:
            cells = "CAST(floor(longitude / $cell) AS INTEGER) AS gx, CAST(floor(latitude / $cell) AS INTEGER) AS gy"
            params = {**params, "cell": float(cell)}
        sql = f"""
            SELECT {cells}, count(*) AS incidents
            FROM {FACT_TABLE}
            WHERE {where} AND latitude IS NOT NULL AND longitude IS NOT NULL
            GROUP BY 1, 2
        """
        frame = cur.execute(sql, params).df()
        frame["longitude"] = (frame.pop("gx") + 0.5) * cell
        frame["latitude"] = (frame.pop("gy") + 0.5) * cell
        return _with_mercator(frame)

    return _cached(store, ("density", filters, float(cell)), compute)


def web_mercator(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator ``x``/``y`` (metres, as web map tiles use) of longitudes and latitudes (degrees)."""
    x = np.asarray(lon, dtype="float64") * (math.pi / 180.0) * _MERCATOR_RADIUS
    clipped = np.clip(np.asarray(lat, dtype="float64"), -85.0, 85.0)
    y = np.log(np.tan(math.pi / 4 + np.radians(clipped) / 2)) * _MERCATOR_RADIUS
    return x, y


def _with_mercator(frame: pd.DataFrame) -> pd.DataFrame:
    """Add Web Mercator ``x``/``y`` (metres) for tile maps; lon/lat kept for tooltips."""
    frame["x"], frame["y"] = web_mercator(frame["longitude"], frame["latitude"])
    return frame
