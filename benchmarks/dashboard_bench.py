"""Dashboard benchmark: every dashboard query on a generated lake, beside a naive DuckDB baseline.

    python benchmarks/dashboard_bench.py                 # 8.5M rows (cached in .cache/bench-lake/)
    python benchmarks/dashboard_bench.py --rows 500000   # a quicker run
    python benchmarks/dashboard_bench.py --json OUT.json # also write the report (figures + markdown)

The lake has the sink's exact layout and schema, with realistic shares (types,
arrests, domestic, hours, districts, community areas, 2% without coordinates).
For each typical filter selection, each query runs ``--repeat`` times with the
result cache off (engine time, what a new selection costs) and the naive
baseline computes the same aggregate straight over ``read_parquet`` of the
lake's glob.  Prints a markdown table of p50/p95 per query.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table, write_report
from dashboard import aggregates as agg
from dashboard.cache import query_cache
from dashboard.facts import FactStore
from dashboard.filters import Filters
from dashboard.rows import map_points, table_page
from sinks.lake_schema import LAKE_SCHEMA, PARTITION_FILE, partition_dir

__all__ = ["generate_lake", "main"]

log = logging.getLogger("dashboard_bench")

FIRST_DAY = date(2001, 1, 1)
LAST_DAY = date(2025, 6, 30)
TYPES = {
    "THEFT": 0.21, "BATTERY": 0.18, "CRIMINAL DAMAGE": 0.11, "NARCOTICS": 0.10, "ASSAULT": 0.065,
    "OTHER OFFENSE": 0.062, "BURGLARY": 0.054, "MOTOR VEHICLE THEFT": 0.047, "DECEPTIVE PRACTICE": 0.043,
    "ROBBERY": 0.038, "CRIMINAL TRESPASS": 0.027, "WEAPONS VIOLATION": 0.013, "PROSTITUTION": 0.008,
    "PUBLIC PEACE VIOLATION": 0.007, "OFFENSE INVOLVING CHILDREN": 0.007, "CRIM SEXUAL ASSAULT": 0.004,
    "SEX OFFENSE": 0.004, "INTERFERENCE WITH PUBLIC OFFICER": 0.003, "GAMBLING": 0.002, "ARSON": 0.002,
    "HOMICIDE": 0.0015, "KIDNAPPING": 0.001, "INTIMIDATION": 0.0006, "STALKING": 0.0006,
}  # fmt: skip
ARREST_BY_TYPE = {"NARCOTICS": 0.99, "PROSTITUTION": 0.99, "WEAPONS VIOLATION": 0.8, "GAMBLING": 0.99,
                  "CRIMINAL TRESPASS": 0.7, "THEFT": 0.12, "BATTERY": 0.22}  # fmt: skip
HOUR_WEIGHTS = np.array([4, 3, 2.5, 2, 1.5, 1.2, 1.5, 2.5, 3.5, 4, 4.2, 4.4, 5.5, 4.8, 4.8, 5, 5.2, 5.4, 5.5,
                         5.5, 5.2, 5, 4.6, 4.2])  # fmt: skip


def generate_lake(lake_dir: Path, rows: int, seed: int = 7) -> None:
    """Write ``rows`` synthetic incidents into ``lake_dir`` (vectorised; one file per month)."""
    rng = np.random.default_rng(seed)
    days = (LAST_DAY - FIRST_DAY).days + 1
    # Declining trend (~450k/yr early, ~250k/yr late) with a summer peak.
    day_index = np.arange(days)
    weights = (1.6 - 0.8 * day_index / days) * (1 + 0.2 * np.sin((day_index % 365.25) / 365.25 * 2 * np.pi - 1.6))
    day_of = np.sort(rng.choice(days, size=rows, p=weights / weights.sum()))
    hours = rng.choice(24, size=rows, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = hours * 3600 + rng.integers(0, 3600, size=rows)
    epoch = np.datetime64(FIRST_DAY.isoformat(), "us")
    local = epoch + day_of.astype("timedelta64[D]") + (seconds * 1_000_000).astype("timedelta64[us]")
    order = np.argsort(local, kind="stable")
    local = local[order]
    names = list(TYPES)
    p = np.array(list(TYPES.values()))
    type_idx = rng.choice(len(names), size=rows, p=p / p.sum())
    arrest_p = np.array([ARREST_BY_TYPE.get(n, 0.18) for n in names])[type_idx]
    arrest = rng.random(rows) < arrest_p
    domestic = rng.random(rows) < np.where(np.isin(type_idx, [1, 4]), 0.35, 0.06)
    area = rng.integers(1, 78, size=rows)
    district = (area * 7 % 22) + 1
    centre_lat = 41.65 + (area * 37 % 77) / 77 * 0.35
    centre_lon = -87.90 + (area * 53 % 77) / 77 * 0.36
    lat = centre_lat + rng.normal(0, 0.01, rows)
    lon = centre_lon + rng.normal(0, 0.012, rows)
    missing = rng.random(rows) < 0.02
    utc = local + np.timedelta64(6, "h")

    def strings(pool: list[str], idx: np.ndarray) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32)), pa.array(pool)).cast(pa.string())

    ids = pa.array(np.arange(rows)).cast(pa.string())
    table = pa.table(
        {
            "id": ids,
            "case_number": ids,
            "date": pa.array(utc, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            "date_local": pa.array(local, pa.timestamp("us")),
            "block": strings([f"0{i:02d}XX N STATE ST" for i in range(50)], rng.integers(0, 50, rows)),
            "iucr": strings(["0820", "0486", "1320", "2027", "0560"], type_idx % 5),
            "primary_type": strings(names, type_idx),
            "description": strings(["SIMPLE", "$500 AND UNDER", "TO PROPERTY", "POSS: CRACK"], type_idx % 4),
            "location_description": strings(["STREET", "RESIDENCE", "APARTMENT", "SIDEWALK"], area % 4),
            "arrest": pa.array(arrest),
            "domestic": pa.array(domestic),
            "beat": strings(
                [f"{d:02d}{b:02d}" for d in range(1, 23) for b in range(1, 13)], (district - 1) * 12 + area % 12
            ),
            "district": strings([f"{d:03d}" for d in range(1, 23)], district - 1),
            "ward": strings([str(w) for w in range(1, 51)], area % 50),
            "community_area": strings([str(a) for a in range(1, 78)], area - 1),
            "fbi_code": strings(["06", "08B", "14", "18", "04B"], type_idx % 5),
            "x_coordinate": pa.array(np.where(missing, np.nan, 1_170_000 + lon * 0), mask=missing),
            "y_coordinate": pa.array(np.where(missing, np.nan, 1_900_000 + lat * 0), mask=missing),
            "updated_on": pa.array(utc + np.timedelta64(7, "D"), pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            "latitude": pa.array(lat, mask=missing),
            "longitude": pa.array(lon, mask=missing),
            "location": pa.nulls(rows, pa.string()),
            "source_updated_at": pa.array(utc + np.timedelta64(7, "D"), pa.timestamp("us")).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "flags": pa.array([[]] * rows, pa.list_(pa.string())),
        }
    ).cast(LAKE_SCHEMA)
    months = local.astype("datetime64[M]")
    edges = np.flatnonzero(np.diff(months.astype(np.int64))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [rows]])
    for lo, hi in zip(starts, ends, strict=True):
        month = months[lo].astype(object)
        target = partition_dir(lake_dir, month.year, month.month) / PARTITION_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(lo, hi - lo), target)


# --- naive baseline: the same aggregates straight over the glob -------------------------

_NAIVE_WHERE = """
    CAST(date_local AS DATE) BETWEEN $start AND $end
    AND hour(date_local) BETWEEN $hour_from AND $hour_to
    AND (len($types::VARCHAR[]) = 0 OR list_contains($types::VARCHAR[], primary_type))
    AND (len($districts::VARCHAR[]) = 0 OR list_contains($districts::VARCHAR[], district))
    AND ($arrest::BOOLEAN IS NULL OR arrest = $arrest::BOOLEAN)
"""

NAIVE: dict[str, str] = {
    "kpis": "SELECT count(*), count(*) FILTER (WHERE arrest), count(*) FILTER (WHERE domestic) FROM {src} WHERE {w}",
    "series": "SELECT date_trunc('day', date_local) d, count(*) FROM {src} WHERE {w} GROUP BY 1 ORDER BY 1",
    "top_types": "SELECT primary_type, count(*) n FROM {src} WHERE {w} GROUP BY 1 ORDER BY n DESC LIMIT 10",
    "heatmap": "SELECT isodow(date_local), hour(date_local), count(*) FROM {src} WHERE {w} GROUP BY 1, 2",
    "arrest_by_type": "SELECT primary_type, avg(arrest::INT) FROM {src} WHERE {w} GROUP BY 1",
    "community_areas": "SELECT community_area, count(*), avg(latitude), avg(longitude) FROM {src} WHERE {w} GROUP BY 1",
    "density_grid": "SELECT floor(longitude / 0.002), floor(latitude / 0.002), count(*) "
    "FROM {src} WHERE {w} GROUP BY 1, 2",
    "table_page": "SELECT * EXCLUDE (flags) FROM {src} WHERE {w} ORDER BY date_local DESC, id LIMIT 50",
    "map_points": "SELECT longitude, latitude, date_local, primary_type, block, arrest FROM {src} WHERE {w} "
    "AND latitude IS NOT NULL ORDER BY date_local DESC, id LIMIT 20000",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    filters: Filters


def scenarios(last: date) -> list[Scenario]:
    def back(days: int) -> date:
        return last - timedelta(days=days - 1)

    return [
        Scenario("last 30 days", Filters(back(30), last)),
        Scenario("30 days, THEFT", Filters(back(30), last, primary_types=("THEFT",))),
        Scenario(
            "90 days, district 011, 18-23h", Filters(back(90), last, districts=("011",), hour_from=18, hour_to=23)
        ),
        Scenario("last 365 days", Filters(back(365), last)),
        Scenario("365 days, arrest", Filters(back(365), last, arrest=True)),
        Scenario("full history", Filters(FIRST_DAY, last)),
        Scenario("full history, NARCOTICS", Filters(FIRST_DAY, last, primary_types=("NARCOTICS",))),
    ]


def _timed(call: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _naive(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[Any]:
    return con.execute(sql, params).fetchall()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=8_500_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/bench-lake"))
    parser.add_argument("--json", type=Path, help="write the report (figures + markdown) here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    lake_dir = args.cache_dir / f"rows-{args.rows}" / "lake"
    if not (lake_dir / ".complete").exists():
        print(f"generating a lake of {args.rows:,} rows in {lake_dir} ...", flush=True)
        started = time.perf_counter()
        generate_lake(lake_dir, args.rows)
        (lake_dir / ".complete").write_text("ok\n")
        print(f"  done in {time.perf_counter() - started:.1f}s", flush=True)

    store = FactStore(lake_dir)
    started = time.perf_counter()
    snapshot = store.sync()
    build_s = time.perf_counter() - started
    print(f"fact table: {snapshot.rows:,} rows from {len(snapshot.partitions)} partitions in {build_s:.2f}s")
    bounds = agg.day_bounds(store)
    assert bounds is not None
    query_cache.enabled = False

    naive = duckdb.connect()
    src = f"read_parquet('{lake_dir}/crimes/*/*/*.parquet', hive_partitioning = true)"

    ours: dict[str, list[float]] = {}
    base: dict[str, list[float]] = {}
    for scenario in scenarios(bounds[1]):
        f = scenario.filters
        calls: dict[str, Callable[[], Any]] = {
            "kpis": partial(agg.kpis, store, f),
            "series": partial(agg.incident_series, store, f),
            "top_types": partial(agg.top_types, store, f),
            "heatmap": partial(agg.heatmap, store, f),
            "arrest_by_type": partial(agg.arrest_rate_by_type, store, f),
            "community_areas": partial(agg.community_areas, store, f),
            "density_grid": partial(agg.density_grid, store, f),
            "table_page": partial(table_page, lake_dir, store, f, 0, 50),
        }
        if f.days <= 31:
            calls["map_points"] = partial(map_points, lake_dir, f, 20_000)
        keys = ("start", "end", "hour_from", "hour_to", "types", "districts", "arrest")
        params = {k: v for k, v in f.params().items() if k in keys}
        for name, call in calls.items():
            call()  # warm
            ours.setdefault(name, []).extend(_timed(call, args.repeat))
            text = NAIVE[name].format(src=src, w=_NAIVE_WHERE)
            naive.execute(text, params).fetchall()
            base.setdefault(name, []).extend(_timed(partial(_naive, naive, text, params), args.repeat))

    header = ["query", "ours p50 ms", "ours p95 ms", "naive p50 ms", "naive p95 ms", "p95 ours/naive", "goal ≤ 0.33"]
    rows: list[list[str]] = []
    ratios: list[float] = []
    for name, timings in ours.items():
        o50, o95 = _pct(timings, 0.5), _pct(timings, 0.95)
        n50, n95 = _pct(base[name], 0.5), _pct(base[name], 0.95)
        ratio = o95 / n95 if n95 else float("nan")
        ratios.append(ratio)
        verdict = "✅" if ratio <= 1 / 3 else "❌"
        rows.append([name, f"{o50:.1f}", f"{o95:.1f}", f"{n50:.1f}", f"{n95:.1f}", f"{ratio:.2f}", verdict])
    selections = len(scenarios(bounds[1]))
    markdown = (
        "## Dashboard queries vs a naive DuckDB baseline\n\n"
        f"Lake: {snapshot.rows:,} rows, {len(snapshot.partitions)} partitions; fact table build {build_s:.2f}s; "
        f"{selections} filter selections x {args.repeat} runs, result cache off.\n\n"
        f"{markdown_table(header, rows, align='lrrrrrc')}\n"
    )
    finite = [r for r in ratios if math.isfinite(r)]
    figures: dict[str, float] = {
        "rows": snapshot.rows,
        "partitions": len(snapshot.partitions),
        "fact_build_s": build_s,
        "queries": len(rows),
        "queries_meeting_goal": sum(1 for r in finite if r <= 1 / 3),
    }
    if finite:
        figures["worst_p95_ratio"] = max(finite)
    print()
    print(write_report(args.json, "dashboard", figures, markdown).markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
