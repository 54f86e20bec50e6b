"""The pure logic of benchmarks/peer_dlt.py (SODA keyset paging) and benchmarks/freshness.py (percentiles, changes)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from benchmarks.freshness import (
    Change,
    changes_of,
    first_poll_published,
    load_body,
    next_delay,
    percentile,
    summarize,
)
from benchmarks.peer_dlt import EPOCH, keyset_params, keyset_where, soda_pages
from emulator import Dataset
from emulator.soql import parse_query

Row = dict[str, Any]

# ---------------------------------------------------------------------------
# percentiles


@pytest.mark.parametrize("q", [0, 5, 25, 50, 75, 90, 95, 99, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    rng = random.Random(q)
    for n in (1, 2, 3, 10, 101):
        values = [rng.uniform(0, 30) for _ in range(n)]
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_interpolates_between_order_statistics() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 9.0], 0) == 1.0
    assert percentile([1.0, 9.0], 100) == 9.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0], -1)


def test_summarize() -> None:
    samples = [float(i) for i in range(1, 21)]  # 1..20
    assert summarize(samples) == {"p50_s": 10.5, "p95_s": 19.05, "max_s": 20.0}


# ---------------------------------------------------------------------------
# freshness: changes


def test_changes_of_splits_a_load_report_by_kind() -> None:
    report = {
        "at": "2026-11-21T21:46:39.000Z",
        "inserted": ["1", "2"],
        "corrected": ["7"],
        "deleted": ["9"],
    }
    new, correction = changes_of(3, report, applied=100.0)
    at_ms = int(datetime(2026, 11, 21, 21, 46, 39, tzinfo=UTC).timestamp() * 1000)
    assert (new.load, new.kind, new.ids, new.at_ms, new.applied) == (3, "new", frozenset({"1", "2"}), at_ms, 100.0)
    assert (correction.kind, correction.ids) == ("correction", frozenset({"7"}))
    assert changes_of(1, {"at": report["at"], "inserted": [], "corrected": ["5"]}, 0.0)[0].kind == "correction"


def test_change_is_seen_only_when_every_row_is_at_its_version_or_newer() -> None:
    change = Change(1, "new", frozenset({"a", "b"}), at_ms=1000, applied=10.0)
    assert not change.seen_in({})
    assert not change.seen_in({"a": 1000})  # b missing
    assert not change.seen_in({"a": 1000, "b": 999})  # b at an older version
    assert change.seen_in({"a": 1000, "b": 2000, "c": 1})
    assert change.latency is None
    change.visible = 12.5
    assert change.latency == 2.5


def test_load_body_alternates_new_rows_and_corrections_without_deletions() -> None:
    assert load_body(1, 650, 5) == {"rows": 650, "corrections": 0, "deletions": 0}
    assert load_body(2, 650, 5) == {"rows": 0, "corrections": 5, "deletions": 0}
    assert [load_body(n, 3, 2)["rows"] for n in range(1, 7)] == [3, 0, 3, 0, 3, 0]


def test_next_delay_spans_half_to_one_and_a_half_intervals() -> None:
    rng = random.Random(1)
    delays = [next_delay(rng, 4.0) for _ in range(2000)]
    assert min(delays) >= 2.0
    assert max(delays) <= 6.0
    assert 3.8 < sum(delays) / len(delays) < 4.2
    assert min(delays) < 2.2
    assert max(delays) > 5.8


def test_first_poll_published_reads_the_poller_log() -> None:
    assert first_poll_published("polling http://x dataset chicago_crimes\n") is None
    log = (
        "2026-11-21 03:44:45,858 INFO    producers.service: poll done: 20000 rows, 19998 published, "
        "2 dead-lettered in 9.5s\n"
        "2026-11-21 03:44:51,316 INFO    producers.service: poll done: 655 rows, 655 published, 0 dead-lettered\n"
    )
    assert first_poll_published(log) == 19998


# ---------------------------------------------------------------------------
# peer: SODA keyset paging


def test_keyset_where_first_page_and_after() -> None:
    assert keyset_where("2025-01-02T03:04:05.000Z", None) == ":updated_at >= '2025-01-02T03:04:05.000'"
    assert keyset_where(EPOCH, ("2025-01-02T03:04:05.000Z", "row-'x")) == (
        ":updated_at > '2025-01-02T03:04:05.000' OR (:updated_at = '2025-01-02T03:04:05.000' AND :id > 'row-''x')"
    )
    params = keyset_params(EPOCH, None, 500)
    assert params == {
        "$select": ":*,*",
        "$where": ":updated_at >= '1970-01-01T00:00:00.000'",
        "$order": ":updated_at ASC, :id ASC",
        "$limit": "500",
    }


def _fetcher(dataset: Dataset, calls: list[dict[str, str]]) -> Callable[[dict[str, str]], list[Row]]:
    def fetch(params: dict[str, str]) -> list[Row]:
        calls.append(params)
        return [json.loads(text) for text in dataset.execute(parse_query(params)).json_rows()]

    return fetch


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    """A small emulated dataset whose last daily load stamps 60 rows with one :updated_at (ties across pages)."""
    data = Dataset.generate(
        300, 5, start="2024-01-01", end="2024-03-01", clock=lambda: datetime(2024, 3, 5, tzinfo=UTC)
    )
    data.daily_load(60, 4, 1)
    return data


def test_soda_pages_reads_every_row_once_in_keyset_order(dataset: Dataset) -> None:
    calls: list[dict[str, str]] = []
    pages = list(soda_pages(_fetcher(dataset, calls), EPOCH, 7))
    rows = [row for page in pages for row in page]
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == dataset.stats()["rows"]
    keys = [(row[":updated_at"], row[":id"]) for row in rows]
    assert keys == sorted(keys)
    assert all(len(page) == 7 for page in pages[:-1])
    assert 0 < len(pages[-1]) <= 7
    assert len(calls) == len(pages) + (1 if len(pages[-1]) == 7 else 0)


def test_soda_pages_from_a_start_value_returns_the_rows_at_or_after_it(dataset: Dataset) -> None:
    report = dataset.daily_load(13, 3, 0)
    calls: list[dict[str, str]] = []
    rows = [row for page in soda_pages(_fetcher(dataset, calls), report.at, 5) for row in page]
    assert {row["id"] for row in rows} == set(report.inserted) | set(report.corrected)
    assert {row[":updated_at"] for row in rows} == {report.at}
    assert len(calls) == 4  # 5 + 5 + 5 + 1 rows


def test_soda_pages_stops_on_an_exact_multiple_with_one_empty_request() -> None:
    data = [{":updated_at": f"2025-01-01T00:00:0{i // 2}.000Z", ":id": f"row-{i}", "id": str(i)} for i in range(6)]
    calls: list[dict[str, str]] = []

    def fetch(params: dict[str, str]) -> list[Row]:
        calls.append(params)
        after = len(calls) - 1
        return data[after * 3 : after * 3 + 3]

    pages = list(soda_pages(fetch, EPOCH, 3))
    assert [len(p) for p in pages] == [3, 3]
    assert len(calls) == 3
    assert ":id > 'row-2'" in calls[1]["$where"]
    assert "'2025-01-01T00:00:01.000'" in calls[1]["$where"]
    with pytest.raises(ValueError):
        next(soda_pages(fetch, EPOCH, 0))
