"""The poll loop against the real emulator (in-process), with an in-memory publisher."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from crimestream.errors import DeliveryError
from emulator.dataset import Dataset
from emulator.server import EmulatorServer
from producers.poller import Poller
from producers.soda import SodaClient
from producers.state import WatermarkStore


class MemoryPublisher:
    """Records what would be published; ``fail_confirms`` makes the next confirms fail."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.published: list[dict[str, Any]] = []
        self.dead: list[tuple[Any, str]] = []
        self.fail_confirms = 0

    def publish(self, record: dict[str, Any]) -> None:
        self.pending.append(record)

    def dead_letter(self, raw: Any, reason: str) -> None:
        self.dead.append((raw, reason))

    def confirm(self) -> None:
        if self.fail_confirms:
            self.fail_confirms -= 1
            self.pending.clear()  # never acknowledged
            raise DeliveryError("Kafka did not confirm")
        self.published += self.pending
        self.pending.clear()


@pytest.fixture
def dataset() -> Dataset:
    data = Dataset.generate(900, seed=3, days=60, correction_share=0.0)
    data.restamp(at="2025-06-01T12:00:00.000Z")  # every row ties on the update time
    return data


def _poller(url: str, tmp_path: Path, publisher: MemoryPublisher, limit: int = 100) -> Poller:
    client = SodaClient(url, "ijzp-q8t2", sleep=lambda _s: None)
    return Poller(
        client,
        publisher,
        WatermarkStore(tmp_path, "ijzp-q8t2"),  # type: ignore[arg-type]
        start_date=date(2000, 1, 1),
        page_limit=limit,
    )


def test_ties_on_update_time_across_pages_neither_skip_nor_repeat(dataset: Dataset, tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    with EmulatorServer(dataset) as emulator:
        stats = _poller(emulator.url, tmp_path, publisher, limit=70).poll_once()
    ids = [r["id"] for r in publisher.published]
    assert len(ids) == len(set(ids)) == 900 == stats.published
    assert set(ids) == set(dataset.ids())


def test_watermark_moves_only_past_confirmed_rows(dataset: Dataset, tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    with EmulatorServer(dataset) as emulator:
        poller = _poller(emulator.url, tmp_path, publisher)
        publisher.fail_confirms = 0
        # First page confirmed, the second fails: the run stops, the watermark stays after page 1.
        original = publisher.confirm
        calls = {"n": 0}

        def confirm_then_fail() -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                publisher.fail_confirms = 1
            original()

        publisher.confirm = confirm_then_fail  # type: ignore[method-assign]
        with pytest.raises(DeliveryError):
            poller.poll_once()
        assert len(publisher.published) == 100
        publisher.confirm = original  # type: ignore[method-assign]
        poller.poll_once()  # resumes after the last confirmed row
    ids = [r["id"] for r in publisher.published]
    assert len(ids) == len(set(ids)) == 900


def test_corrections_after_a_poll_are_picked_up_and_nothing_else(dataset: Dataset, tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    with EmulatorServer(dataset) as emulator:
        poller = _poller(emulator.url, tmp_path, publisher)
        poller.poll_once()
        target = dataset.ids()[5]
        dataset.correct(target, primary_type="ROBBERY")
        new = dataset.insert(3)
        publisher.published.clear()
        stats = poller.poll_once()
    assert sorted(r["id"] for r in publisher.published) == sorted([target, *new])
    assert stats.rows == 4
    assert next(r for r in publisher.published if r["id"] == target)["primary_type"] == "ROBBERY"


def test_invalid_rows_are_dead_lettered_with_a_reason_not_dropped(tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    data = Dataset.generate(50, seed=5, days=30, correction_share=0.0)
    with EmulatorServer(data) as emulator:
        poller = _poller(emulator.url, tmp_path, publisher)
        real_get = poller.client.get

        def get_with_broken_row(params: dict[str, str]) -> list[dict[str, Any]]:
            rows = real_get(params)
            if rows:
                rows[0] = {k: v for k, v in rows[0].items() if k != "date"}
            return rows

        poller.client.get = get_with_broken_row  # type: ignore[method-assign]
        stats = poller.poll_once()
    assert stats.dead_lettered == 1 and stats.published == 49
    raw, reason = publisher.dead[0]
    assert "date" in reason and raw["id"]
