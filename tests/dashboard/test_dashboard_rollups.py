"""The rollups, dictionary codes and in-memory partitions answer exactly what the fact table answers.

Every aggregate is computed twice for random filter combinations, once through
the rollups (when the filters allow) and once over the fact table only, and
the answers must be equal: counts exactly, mean positions to rounding.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from dashboard_lake_builder import crime_row, write_lake, write_partition

from dashboard import aggregates as agg
from dashboard.cache import query_cache
from dashboard.facts import DENSITY_CELL_DEGREES, FACT_TABLE, FactStore
from dashboard.figures import BarsFigure
from dashboard.filters import Filters
from dashboard.partcache import partition_rows
from dashboard.rows import map_points, month_counts, table_page

TYPES = ("THEFT", "BATTERY", "NARCOTICS", "ASSAULT", "ARSON", "O'HARE; --")
DISTRICTS = ("001", "002", "011", None)
AREAS = ("8", "25", "32", "77", None)
START = date(2023, 11, 20)
DAYS = 130


def _rows(seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        for _ in range(rng.randint(0, 9)):
            local = datetime.combine(day, time()) + timedelta(seconds=rng.randrange(86400))
            row = crime_row(str(len(rows) + 1), local, rng.choice(TYPES))
            row.update(
                district=rng.choice(DISTRICTS),
                community_area=rng.choice(AREAS),
                arrest=rng.choice([True, False, False, None]),
                domestic=rng.random() < 0.25,
                latitude=None if rng.random() < 0.05 else 41.8 + rng.random() / 10,
                longitude=None if rng.random() < 0.03 else -87.7 + rng.random() / 10,
            )
            rows.append(row)
    return rows


def _random_filters(rng: random.Random) -> Filters:
    start = START - timedelta(days=5) + timedelta(days=rng.randrange(DAYS))
    end = start + timedelta(days=rng.choice([0, 1, 6, 30, 45, 200]))
    hours = (0, 23) if rng.random() < 0.6 else tuple(sorted(rng.sample(range(24), 2)))

    def some(values: tuple[Any, ...], unknown: str) -> tuple[str, ...]:
        if rng.random() < 0.6:
            return ()
        picked = {v for v in rng.sample(values, rng.randint(1, 3)) if v is not None}
        if rng.random() < 0.15:
            picked.add(unknown)
        return tuple(picked)

    return Filters(
        start,
        end,
        primary_types=some(TYPES, "NOT A TYPE"),
        districts=some(DISTRICTS, "999"),
        community_areas=some(AREAS, "'; DROP TABLE facts; --"),
        arrest=rng.choice([None, None, True, False]),
        domestic=rng.choice([None, None, True, False]),
        hour_from=hours[0],
        hour_to=hours[1],
    )


def _answers(store: FactStore, f: Filters) -> dict[str, Any]:
    return {
        "kpis": agg.kpis(store, f),
        "series_day": agg.incident_series(store, f, "day"),
        "series_week": agg.incident_series(store, f, "week"),
        "top": agg.top_types(store, f, 4),
        "heatmap": agg.heatmap(store, f),
        "arrest": agg.arrest_rate_by_type(store, f, 5),
        "areas": agg.community_areas(store, f),
        "months": month_counts(store, f),
    }


@pytest.fixture
def store(tmp_path: Path) -> FactStore:
    lake_dir = tmp_path / "lake"
    write_lake(lake_dir, _rows())
    store = FactStore(lake_dir)
    store.sync()
    return store


def _assert_same(store: FactStore, f: Filters) -> None:
    store.use_rollups = True
    fast = _answers(store, f)
    store.use_rollups = False
    exact = _answers(store, f)
    store.use_rollups = True
    for name, got in fast.items():
        want = exact[name]
        if name == "areas":
            pd.testing.assert_frame_equal(
                got[["community_area", "incidents", "arrest_rate"]],
                want[["community_area", "incidents", "arrest_rate"]],
            )
            for column in ("latitude", "longitude", "x", "y"):
                np.testing.assert_allclose(got[column], want[column], rtol=1e-9)
        elif isinstance(got, pd.DataFrame):
            pd.testing.assert_frame_equal(got, want, check_dtype=False)
        else:
            assert got == want, (name, f.describe())


def test_rollups_equal_the_fact_table_for_random_filters(store: FactStore) -> None:
    rng = random.Random(2024)
    used: set[str] = set()
    snapshot = store.snapshot
    for _ in range(60):
        f = _random_filters(rng)
        used.add(snapshot.source(f).table)
        used.add(snapshot.source(f, ("dow", "hour")).table)
        used.add(snapshot.source(f, ("area_code", "position")).table)
        _assert_same(store, f)
    # The random filters exercised every rollup and the fallback.
    assert used == {"rollup_daily", "rollup_hourly", "rollup_areas", FACT_TABLE}


def test_rollups_stay_exact_across_incremental_syncs(store: FactStore) -> None:
    lake_dir = store.lake_dir
    f_all = Filters(START - timedelta(days=40), START + timedelta(days=DAYS + 40))
    before = agg.kpis(store, f_all).incidents
    # January rewritten with a new type and a new district, February removed, a new month added.
    jan = [crime_row(f"j{i}", datetime(2024, 1, 1 + i, 10 + i % 12), "NEW TYPE") for i in range(20)]
    for i, row in enumerate(jan):
        row.update(district="031", community_area="8", arrest=i % 2 == 0)
    write_partition(lake_dir, 2024, 1, jan)
    (lake_dir / "crimes" / "year=2024" / "month=02" / "data.parquet").unlink()
    write_partition(lake_dir, 2024, 6, [crime_row("jun", datetime(2024, 6, 1, 1), "THEFT")])
    store.sync()
    after = agg.kpis(store, f_all).incidents
    assert after != before
    assert "NEW TYPE" in agg.lake_options(store).primary_types
    assert "031" in agg.lake_options(store).districts
    rng = random.Random(7)
    for f in [f_all, Filters(date(2024, 1, 1), date(2024, 1, 31), primary_types=("NEW TYPE",), arrest=True)] + [
        _random_filters(rng) for _ in range(25)
    ]:
        _assert_same(store, f)
    only_new = agg.kpis(store, Filters(date(2024, 1, 1), date(2024, 1, 31), districts=("031",)))
    assert (only_new.incidents, only_new.arrests) == (20, 10)


def test_unknown_values_select_nothing(store: FactStore) -> None:
    f = Filters(START, START + timedelta(days=DAYS), primary_types=("NOT A TYPE",))
    for rollups in (True, False):
        store.use_rollups = rollups
        assert agg.kpis(store, f).incidents == 0
        assert agg.top_types(store, f).empty
        assert int(agg.heatmap(store, f)["incidents"].sum()) == 0
        assert month_counts(store, f) == []
    store.use_rollups = True


def test_density_cells_precomputed_at_load_equal_computed_ones(store: FactStore) -> None:
    f = Filters(START, START + timedelta(days=DAYS))
    precomputed = agg.density_grid(store, f).sort_values(["longitude", "latitude"]).reset_index(drop=True)
    facts = store.cursor().execute(f"SELECT latitude, longitude FROM {FACT_TABLE} WHERE latitude IS NOT NULL").df()
    facts = facts.dropna()
    gx = np.floor(facts["longitude"].astype("float64") / DENSITY_CELL_DEGREES).astype(int)
    gy = np.floor(facts["latitude"].astype("float64") / DENSITY_CELL_DEGREES).astype(int)
    expected = pd.DataFrame({"gx": gx, "gy": gy}).value_counts()
    assert int(precomputed["incidents"].sum()) == int(expected.sum())
    assert sorted(precomputed["incidents"].tolist()) == sorted(expected.tolist())
    # Another cell size is computed on the fly, over the same rows.
    assert int(agg.density_grid(store, f, cell=0.01)["incidents"].sum()) == int(expected.sum())


def test_in_memory_partitions_match_the_files_and_follow_rewrites(store: FactStore) -> None:
    lake_dir = store.lake_dir
    f = Filters(date(2024, 1, 1), date(2024, 1, 31), arrest=False)
    partition_rows.clear()
    reads = partition_rows.reads
    points = map_points(lake_dir, f, 1000)
    page, total = table_page(lake_dir, store, f, 0, 10)
    assert partition_rows.reads == reads + 1  # read once, then served from memory
    # The same rows straight from the file.
    path = str(lake_dir / "crimes" / "year=2024" / "month=01" / "data.parquet")
    ordered = duckdb.sql(
        f"SELECT id, latitude, longitude FROM read_parquet('{path}') WHERE arrest = false ORDER BY date_local DESC, id"
    ).df()
    assert list(page["id"]) == list(ordered["id"][:10])
    located = ordered.dropna()
    assert list(points["longitude"]) == list(located["longitude"])
    assert list(points["latitude"]) == list(located["latitude"])
    # A rewritten partition is read again.
    write_partition(lake_dir, 2024, 1, [crime_row("only", datetime(2024, 1, 5, 5))])
    store.sync()
    query_cache.clear()
    assert list(map_points(lake_dir, f, 1000)["primary_type"]) == ["THEFT"]
    assert total > 1


def test_bars_axis_follows_the_data() -> None:
    first = pd.DataFrame({"primary_type": ["THEFT", "BATTERY", "ARSON"], "incidents": [30, 20, 10]})
    second = pd.DataFrame({"primary_type": ["NARCOTICS", "THEFT"], "incidents": [40, 5]})
    bars = BarsFigure(value="incidents", title="Top", axis_label="Incidents", color="#000", tooltips=[])
    bars.update(first)
    assert list(bars.factors.factors) == ["ARSON", "BATTERY", "THEFT"]  # bottom up: the largest on top
    bars.update(second)
    assert list(bars.factors.factors) == ["THEFT", "NARCOTICS"]
    assert list(bars.source.data["primary_type"]) == ["THEFT", "NARCOTICS"]
    assert list(bars.source.data["incidents"]) == [5, 40]
