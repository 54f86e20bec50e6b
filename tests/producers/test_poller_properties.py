"""Property: for random schedules of source changes and faults, once the poller catches up,
the latest versions it published equal the source's current state, and tombstones cover
every deleted id.  Runs against the real emulator (in-process) with an in-memory publisher.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.dataset import Dataset
from emulator.faults import Fault
from emulator.server import EmulatorServer
from producers.poller import Poller
from producers.reconcile import reconcile_deletions
from producers.soda import SodaClient
from producers.state import WatermarkStore


class StatePublisher:
    """Folds published events into 'latest version per id' as a compacted topic would."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self.tombstoned: set[str] = set()
        self.dead: list[str] = []

    def publish(self, record: dict[str, Any]) -> None:
        seen = self.latest.get(record["id"])
        if seen is None or record["source_updated_at"] >= seen["source_updated_at"]:
            self.latest[record["id"]] = record
        self.tombstoned.discard(record["id"])

    def tombstone(self, record_id: str, detected_at: datetime) -> None:
        self.latest.pop(record_id, None)
        self.tombstoned.add(record_id)

    def dead_letter(self, raw: Any, reason: str) -> None:
        self.dead.append(reason)

    def confirm(self) -> None:
        return None


BASE = datetime(2026, 1, 1, tzinfo=UTC)

operation = st.one_of(
    st.tuples(st.just("insert"), st.integers(1, 40)),
    st.tuples(st.just("correct"), st.integers(0, 10_000), st.sampled_from(["type", "date", "place"])),
    st.tuples(st.just("tie"), st.integers(1, 30)),  # many rows share one stamp: page-boundary ties
    st.tuples(st.just("restamp"), st.integers(0, 10_000)),
    st.tuples(st.just("delete"), st.integers(0, 10_000)),
    st.tuples(st.just("fault"), st.sampled_from(["throttle", "error", "processing", "truncate", "reset"])),
    st.tuples(st.just("poll"), st.just(0)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=3, max_size=18), page=st.integers(3, 25))
def test_published_state_equals_source_state(ops: list[tuple[Any, ...]], page: int, tmp_path_factory: Any) -> None:
    tmp: Path = tmp_path_factory.mktemp("prop")
    dataset = Dataset.generate(120, seed=1, days=40, correction_share=0.1)
    publisher = StatePublisher()
    # The source's clock only moves forward: changes are stamped after everything already there.
    last = dataset.last_updated_at
    clock = [datetime.fromisoformat(last.replace("Z", "+00:00")) if last else BASE]

    def stamp() -> datetime:
        clock[0] += timedelta(seconds=1)
        return clock[0]

    with EmulatorServer(dataset) as emulator:
        client = SodaClient(emulator.url, "ijzp-q8t2", sleep=lambda _s: None, max_retries=20)
        poller = Poller(
            client,
            publisher,
            WatermarkStore(tmp, "x"),
            start_date=date(2000, 1, 1),  # type: ignore[arg-type]
            page_limit=page,
        )
        for op in ops:
            ids = dataset.ids()
            kind = op[0]
            if kind == "insert":
                dataset.insert(op[1], at=stamp())
            elif kind == "correct" and ids:
                rid = ids[op[1] % len(ids)]
                change: dict[str, Any] = {
                    "type": {"primary_type": "ROBBERY"},
                    "date": {"date": "2025-02-03T04:05:00.000"},
                    "place": {"latitude": 41.9, "longitude": -87.7},
                }[op[2]]
                dataset.correct(rid, at=stamp(), **change)
            elif kind == "tie":
                dataset.insert(op[1], at=clock[0])  # same stamp as the previous change
            elif kind == "restamp" and ids:
                chosen = ids[op[1] % len(ids) :][:50]
                dataset.restamp(chosen, at=stamp())
            elif kind == "delete" and ids:
                dataset.delete(ids[op[1] % len(ids)])
            elif kind == "fault":
                emulator.faults.add(Fault.parse(op[1], retry_after=0))
            else:
                poller.poll_once()
        poller.poll_once()
        reconcile_deletions(
            client,
            publisher,
            lambda: set(publisher.latest),
            start_date=date(2000, 1, 1),  # type: ignore[arg-type]
            page_limit=page * 10,
        )
        truth = {r["id"]: r for r in dataset.current_rows()}
        client.close()

    assert set(publisher.latest) == set(truth)
    for rid, row in truth.items():
        got = publisher.latest[rid]
        expected = datetime.fromisoformat(row[":updated_at"].replace("Z", "+00:00"))
        assert got["source_updated_at"] == expected, rid
        assert got["primary_type"] == row.get("primary_type"), rid
    assert not publisher.dead
