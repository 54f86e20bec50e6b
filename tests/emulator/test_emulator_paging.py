"""Paging through the HTTP API: keyset over (:updated_at, :id) is exact; offset paging is not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from emulator_support import RESOURCE, client_for, make_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import Dataset, EmulatorServer

PAGE = 250


def keyset_scan(client: httpx.Client, page: int = PAGE, since: str | None = None) -> list[dict[str, Any]]:
    """What a careful poller does: order by (:updated_at, :id), continue strictly after the last key."""
    seen: list[dict[str, Any]] = []
    last: tuple[str, str] | None = None
    while True:
        params: dict[str, Any] = {"$select": ":*,*", "$order": ":updated_at, :id", "$limit": page}
        if last is not None:
            stamp, row_id = last
            params["$where"] = f":updated_at > '{stamp}' OR (:updated_at = '{stamp}' AND :id > '{row_id}')"
        elif since is not None:
            params["$where"] = f":updated_at > '{since}'"
        response = client.get(RESOURCE, params=params)
        assert response.status_code == 200, response.text
        rows = response.json()
        seen.extend(rows)
        if len(rows) < page:
            return seen
        last = (rows[-1][":updated_at"], rows[-1][":id"])


def test_keyset_paging_returns_every_row_once_despite_huge_ties(dataset: Dataset, http: httpx.Client) -> None:
    # Most rows share one :updated_at (a mass re-stamp), so most page boundaries fall inside a tie.
    tie = datetime(2024, 8, 1, 20, 40, 52, tzinfo=UTC)
    ids = dataset.ids()
    assert dataset.restamp(ids[: len(ids) * 4 // 5], at=tie) == len(ids) * 4 // 5
    rows = keyset_scan(http)
    got = [r["id"] for r in rows]
    assert len(got) == len(set(got)) == len(dataset)
    assert set(got) == set(ids)
    keys = [(r[":updated_at"], r[":id"]) for r in rows]
    assert keys == sorted(keys)
    assert sum(1 for r in rows if r[":updated_at"] == "2024-08-01T20:40:52.000Z") == len(ids) * 4 // 5
    assert {r["updated_on"] for r in rows if r[":updated_at"] == "2024-08-01T20:40:52.000Z"} == {
        "2024-08-01T15:40:52.000"
    }


def test_keyset_paging_with_ties_exactly_at_page_boundaries(dataset: Dataset, http: httpx.Client) -> None:
    # Blocks of exactly PAGE rows per stamp, so every page ends on the last row of a tie.
    ids = dataset.ids()
    for n, start in enumerate(range(0, len(ids), PAGE)):
        dataset.restamp(ids[start : start + PAGE], at=datetime(2024, 9, 1, 20, 0, n, tzinfo=UTC))
    rows = keyset_scan(http)
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert len(rows) == len(ids)


def test_incremental_poll_sees_corrections_and_new_rows(dataset: Dataset, http: httpx.Client) -> None:
    first = keyset_scan(http)
    watermark = max(r[":updated_at"] for r in first)
    victim = first[0]["id"]
    corrected = dataset.correct(victim, primary_type="ROBBERY")
    new_ids = dataset.insert(3)
    second = keyset_scan(http, since=watermark)
    assert {r["id"] for r in second} == {victim, *new_ids}
    assert corrected[":updated_at"] > watermark
    changed = next(r for r in second if r["id"] == victim)
    assert changed["primary_type"] == "ROBBERY" and changed == corrected


def test_offset_paging_without_a_total_order_skips_and_duplicates_under_changes(
    dataset: Dataset, http: httpx.Client
) -> None:
    # The portal's hazard, reproduced: without $order, a corrected row moves (a new row version)
    # and a deleted row shifts every later row one place up.
    first = http.get(RESOURCE, params={"$limit": PAGE, "$offset": 0}).json()
    dataset.correct(first[0]["id"], arrest=True)  # moves to the end: served again later
    dataset.delete(first[1]["id"])  # later rows shift up: one is skipped
    rest: list[dict[str, Any]] = []
    offset = PAGE
    while True:
        page = http.get(RESOURCE, params={"$limit": PAGE, "$offset": offset}).json()
        rest.extend(page)
        offset += PAGE
        if len(page) < PAGE:
            break
    ids = [r["id"] for r in first + rest]
    assert len(ids) != len(set(ids)), "expected a duplicate"
    assert set(dataset.ids()) - set(ids), "expected a skipped row"


def test_keyset_scan_of_a_large_page_is_fast_enough() -> None:
    dataset = make_dataset(50_500, seed=2, restamp_share=0.9)
    with EmulatorServer(dataset) as server, client_for(server.url, timeout=60) as c:
        started = datetime.now(UTC)
        rows = keyset_scan(c, page=50_000)
        elapsed = (datetime.now(UTC) - started).total_seconds()
    assert len({r["id"] for r in rows}) == 50_500
    assert elapsed < 20, elapsed


ORDER_FIELDS = ["id", "date", "updated_on", ":updated_at", ":id", "beat", "latitude", "ward", "primary_type"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.sampled_from(ORDER_FIELDS),
    second=st.sampled_from(ORDER_FIELDS),
    descending=st.booleans(),
    pick=st.integers(min_value=0, max_value=399),
    op=st.sampled_from([">", ">=", "<", "<=", "="]),
    page=st.integers(min_value=1, max_value=120),
)
def test_index_narrowing_matches_brute_force(
    small: Dataset, first: str, second: str, descending: bool, pick: int, op: str, page: int
) -> None:
    """Whatever the order and bound, the indexed scan returns what filtering + sorting would."""
    truth = small.current_rows()
    pivot = truth[pick % len(truth)]
    a, b = pivot.get(first), pivot.get(second)
    if a is None or b is None or first == second:
        return
    lit_a, lit_b = _literal(a), _literal(b)
    where = f"{first} {op} {lit_a} OR ({first} = {lit_a} AND {second} {op} {lit_b})"
    order = f"{first} {'DESC' if descending else 'ASC'}, {second}"
    got = small.query({"$select": ":*,*", "$where": where, "$order": order, "$limit": str(page)})
    expected = _brute_force(truth, first, second, op, a, b, descending)[:page]
    assert [r["id"] for r in got] == [r["id"] for r in expected]


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


NUMERIC = {"id", "latitude", "ward"}


def _value(row: dict[str, Any], field: str) -> Any:
    v = row.get(field)
    if v is None:
        return None
    return float(v) if field in NUMERIC else v


def _compare(x: Any, op: str, y: Any) -> bool:
    if x is None:
        return False
    return bool({">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y, "=": x == y}[op])


def _brute_force(
    truth: list[dict[str, Any]], first: str, second: str, op: str, a: Any, b: Any, descending: bool
) -> list[dict[str, Any]]:
    a_value = float(a) if first in NUMERIC else a
    b_value = float(b) if second in NUMERIC else b
    rows = [
        r
        for r in truth
        if _compare(_value(r, first), op, a_value)
        or (_value(r, first) == a_value and _compare(_value(r, second), op, b_value))
    ]

    def null_last(v: Any) -> tuple[int, Any]:
        return (1, 0) if v is None else (0, v)

    rows.sort(key=lambda r: r[":id"])
    rows.sort(key=lambda r: null_last(_value(r, second)))
    rows.sort(key=lambda r: null_last(_value(r, first)), reverse=descending)
    return rows


def _ties(dataset: Dataset) -> Dataset:
    ids = dataset.ids()
    dataset.restamp(ids[::3], at=datetime(2024, 8, 1, tzinfo=UTC))
    dataset.correct(ids[1], latitude=None)
    return dataset


@pytest.fixture(scope="module")
def small() -> Dataset:
    return _ties(make_dataset(400, seed=21))
