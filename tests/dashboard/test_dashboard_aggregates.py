"""Every dashboard query against a pandas reference on a small, varied lake."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dashboard_lake_builder import crime_row, write_lake, write_partition

from dashboard import aggregates as agg
from dashboard.cache import query_cache
from dashboard.facts import FactStore
from dashboard.filters import Filters
from dashboard.queries import EmptyLakeError
from dashboard.rows import EXPORT_COLUMNS, export_csv, map_points, plan_export, table_page

HOSTILE = [
    "'; DROP TABLE facts; --",
    "THEFT' OR '1'='1",
    'BATTERY"); SELECT 1; --',
    "SELECT * FROM read_csv('/etc/passwd')",
    "$types",
    "?",
    "%",
    "\\'",
    "",
]
TYPES = ("THEFT", "BATTERY", "NARCOTICS", "ASSAULT", "ARSON")
START = date(2023, 11, 20)
DAYS = 120


def _rows(seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        for _ in range(rng.randint(0, 6)):
            local = datetime.combine(day, time()) + timedelta(seconds=rng.randrange(86400))
            row = crime_row(str(len(rows) + 1), local, rng.choice(TYPES))
            row.update(
                district=rng.choice(["001", "002", "011"]),
                community_area=rng.choice(["8", "25", "32", None]),
                arrest=rng.random() < 0.3,
                domestic=rng.random() < 0.2,
                latitude=None if rng.random() < 0.05 else 41.8 + rng.random() / 10,
                longitude=-87.7 + rng.random() / 10,
            )
            rows.append(row)
    return rows


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Path, FactStore, pd.DataFrame]:
    rows = _rows()
    lake_dir = tmp_path / "lake"
    write_lake(lake_dir, rows)
    frame = pd.DataFrame(rows)
    frame["day"] = frame["date_local"].dt.date
    frame["hour"] = frame["date_local"].dt.hour
    store = FactStore(lake_dir)
    store.sync()
    return lake_dir, store, frame


def _select(frame: pd.DataFrame, f: Filters) -> pd.DataFrame:
    mask = (frame["day"] >= f.start) & (frame["day"] <= f.end)
    mask &= frame["hour"].between(f.hour_from, f.hour_to)
    if f.primary_types:
        mask &= frame["primary_type"].isin(f.primary_types)
    if f.districts:
        mask &= frame["district"].isin(f.districts)
    if f.community_areas:
        mask &= frame["community_area"].isin(f.community_areas)
    if f.arrest is not None:
        mask &= frame["arrest"] == f.arrest
    if f.domestic is not None:
        mask &= frame["domestic"] == f.domestic
    return frame[mask]


FILTERS = [
    Filters(date(2024, 1, 1), date(2024, 1, 31)),
    Filters(date(2023, 12, 25), date(2024, 2, 5), primary_types=("THEFT", "ARSON")),
    Filters(START, START + timedelta(days=DAYS), districts=("011",), arrest=True),
    Filters(date(2024, 1, 15), date(2024, 3, 1), community_areas=("32", "8"), domestic=False, hour_from=18, hour_to=23),
    Filters(date(2024, 2, 29), date(2024, 2, 29)),
]


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: f.describe())
def test_aggregates_match_pandas(lake: tuple[Path, FactStore, pd.DataFrame], f: Filters) -> None:
    _, store, frame = lake
    chosen = _select(frame, f)
    figures = agg.kpis(store, f)
    assert figures.incidents == len(chosen)
    assert figures.arrests == int(chosen["arrest"].sum())
    assert figures.domestic == int(chosen["domestic"].sum())
    assert figures.previous_incidents == len(_select(frame, f.previous()))

    series = agg.incident_series(store, f, "day")
    assert len(series) == f.days
    expected = chosen.groupby("day").size()
    got = {ts.date(): n for ts, n in zip(series["period"], series["incidents"], strict=True)}
    assert {d: n for d, n in got.items() if n} == {d: int(n) for d, n in expected.items()}

    weekly = agg.incident_series(store, f, "week")
    assert int(weekly["incidents"].sum()) == len(chosen)
    assert all(ts.weekday() == 0 for ts in weekly["period"])

    top = agg.top_types(store, f, 3)
    reference = chosen["primary_type"].value_counts()
    assert list(top["incidents"]) == sorted(reference.values, reverse=True)[:3]

    cells = agg.heatmap(store, f)
    assert len(cells) == 7 * 24
    assert int(cells["incidents"].sum()) == len(chosen)
    by_hour = chosen.groupby("hour").size()
    assert cells.groupby("hour")["incidents"].sum().loc[by_hour.index].tolist() == by_hour.tolist()

    rates = agg.arrest_rate_by_type(store, f)
    for row in rates.itertuples():
        sub = chosen[chosen["primary_type"] == row.primary_type]
        assert row.incidents == len(sub)
        assert row.arrest_rate == pytest.approx(100 * sub["arrest"].mean())

    areas = agg.community_areas(store, f)
    assert dict(zip(areas["community_area"], areas["incidents"], strict=True)) == (
        chosen["community_area"].dropna().value_counts().to_dict()
    )
    grid = agg.density_grid(store, f)
    assert int(grid["incidents"].sum()) == int(chosen["latitude"].notna().sum())


@pytest.mark.parametrize("f", FILTERS[:4], ids=lambda f: f.describe())
def test_rows_match_pandas(lake: tuple[Path, FactStore, pd.DataFrame], f: Filters) -> None:
    lake_dir, store, frame = lake
    chosen = _select(frame, f).sort_values(["date_local", "id"], ascending=[False, True])
    ids = list(chosen["id"])

    page0, total = table_page(lake_dir, store, f, 0, 7)
    page2, _ = table_page(lake_dir, store, f, 2, 7)
    assert total == len(chosen)
    assert list(page0["id"]) == ids[:7]
    assert list(page2["id"]) == ids[14:21]

    points = map_points(lake_dir, f, cap=10)
    assert len(points) == min(10, int(chosen["latitude"].notna().sum()))

    text = b"".join(export_csv(lake_dir, store, f, cap=10_000)).decode()
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in exported] == ids
    assert text.splitlines()[0].replace('"', "").split(",") == list(EXPORT_COLUMNS)


def test_export_is_capped_and_says_so(lake: tuple[Path, FactStore, pd.DataFrame]) -> None:
    lake_dir, store, frame = lake
    f = Filters(START, START + timedelta(days=DAYS))
    plan = plan_export(store, f, cap=25)
    assert plan.matching == len(frame)
    assert plan.exported == 25
    assert plan.truncated
    lines = b"".join(export_csv(lake_dir, store, f, cap=25)).decode().splitlines()
    assert len(lines) == 1 + 25
    newest = frame.sort_values(["date_local", "id"], ascending=[False, True])["id"].head(25).tolist()
    assert [line.split(",")[0].strip('"') for line in lines[1:]] == newest


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_are_only_values(lake: tuple[Path, FactStore, pd.DataFrame], hostile: str) -> None:
    lake_dir, store, frame = lake
    everything = Filters(START, START + timedelta(days=DAYS))
    for f in (
        Filters(START, START + timedelta(days=DAYS), primary_types=(hostile,)),
        Filters(START, START + timedelta(days=DAYS), districts=(hostile,)),
        Filters(START, START + timedelta(days=DAYS), community_areas=(hostile,)),
    ):
        assert agg.kpis(store, f).incidents == 0
        assert int(agg.incident_series(store, f)["incidents"].sum()) == 0
        assert agg.top_types(store, f).empty
        assert int(agg.heatmap(store, f)["incidents"].sum()) == 0
        assert agg.arrest_rate_by_type(store, f).empty
        assert agg.community_areas(store, f).empty
        assert agg.density_grid(store, f).empty
        assert map_points(lake_dir, f, 100).empty
        page, total = table_page(lake_dir, store, f, 0, 10)
        assert total == 0
        assert page.empty
        assert b"".join(export_csv(lake_dir, store, f, 100)).count(b"\n") == 1  # header only
    mixed = Filters(START, START + timedelta(days=DAYS), primary_types=(hostile, "ARSON"))
    assert agg.kpis(store, mixed).incidents == int((frame["primary_type"] == "ARSON").sum())
    # Nothing was dropped or altered.
    assert agg.kpis(store, everything).incidents == len(frame)


def test_a_hostile_value_stored_in_the_lake_is_matched_exactly(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    day = datetime(2024, 5, 5, 12)
    write_lake(lake_dir, [crime_row("1", day, HOSTILE[0]), crime_row("2", day, "THEFT")])
    store = FactStore(lake_dir)
    f = Filters(day.date(), day.date(), primary_types=(HOSTILE[0],))
    assert agg.kpis(store, f).incidents == 1
    assert HOSTILE[0] in agg.lake_options(store).primary_types
    text = b"".join(export_csv(lake_dir, store, f, 10)).decode()
    assert next(iter(csv.DictReader(io.StringIO(text))))["primary_type"] == HOSTILE[0]


def test_kpi_change_versus_previous_period(lake: tuple[Path, FactStore, pd.DataFrame]) -> None:
    _, store, frame = lake
    f = Filters(date(2024, 2, 1), date(2024, 2, 14))
    figures = agg.kpis(store, f)
    before = len(_select(frame, Filters(date(2024, 1, 18), date(2024, 1, 31))))
    assert figures.previous_incidents == before
    assert figures.change == pytest.approx((figures.incidents - before) / before)
    # The previous period of the lake's first days lies before the lake: no change to show.
    first = agg.kpis(store, Filters(START, START + timedelta(days=3)))
    assert not first.previous_covered
    assert first.change is None


def test_results_are_cached_per_lake_version(lake: tuple[Path, FactStore, pd.DataFrame]) -> None:
    lake_dir, store, _ = lake
    f = Filters(date(2024, 1, 1), date(2024, 1, 31))
    first = agg.kpis(store, f).incidents
    hits = query_cache.hits
    assert agg.kpis(store, f).incidents == first
    assert query_cache.hits == hits + 1
    # A new row in January: a new lake version, so a fresh answer.
    january = [r for r in _rows() if r["date_local"].month == 1 and r["date_local"].year == 2024]
    write_partition(lake_dir, 2024, 1, [*january, crime_row("new", datetime(2024, 1, 9, 9))])
    store.sync()
    assert agg.kpis(store, f).incidents == first + 1


def test_incremental_sync_rereads_only_changed_partitions(lake: tuple[Path, FactStore, pd.DataFrame]) -> None:
    lake_dir, store, frame = lake
    before = store.snapshot
    assert store.sync() is before  # nothing changed: same snapshot
    write_partition(lake_dir, 2024, 3, [crime_row("x", datetime(2024, 3, 1, 1))])
    after = store.sync()
    assert after.generation == before.generation + 1
    changed = [p for p in after.partitions if after.partitions[p] is not before.partitions.get(p)]
    assert changed == [2024 * 12 + 3]
    march = int((frame["date_local"].dt.month == 3).sum())
    assert after.rows == before.rows - march + 1


def test_empty_lake_and_partitions_without_rows(tmp_path: Path) -> None:
    store = FactStore(tmp_path / "lake")
    f = Filters(date(2024, 1, 1), date(2024, 1, 31))
    with pytest.raises(EmptyLakeError):
        agg.kpis(store, f)
    write_partition(tmp_path / "lake", 2024, 1, [])
    store.sync()
    assert agg.day_bounds(store) is None
    assert agg.kpis(store, f).incidents == 0
    assert agg.top_types(store, f).empty


def test_filters_validate_their_values() -> None:
    with pytest.raises(ValueError, match="after"):
        Filters(date(2024, 2, 1), date(2024, 1, 1))
    with pytest.raises(ValueError, match="hour"):
        Filters(date(2024, 1, 1), date(2024, 1, 2), hour_from=20, hour_to=3)
    a = Filters(date(2024, 1, 1), date(2024, 1, 2), primary_types=("B", "A", "A"))
    b = Filters(date(2024, 1, 1), date(2024, 1, 2), primary_types=("A", "B"))
    assert a == b
    assert hash(a) == hash(b)
    assert a.previous() == Filters(date(2023, 12, 30), date(2023, 12, 31), primary_types=("A", "B"))
