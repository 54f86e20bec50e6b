"""The poller is spec-driven (a second dataset: traffic crashes) and survives schema drift at the source."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from crimestream.datasets import DATASETS
from emulator.crashes import CRASHES_DATASET_ID, generate_crashes
from emulator.dataset import Dataset
from emulator.records import RecordDataset
from emulator.server import EmulatorServer
from producers.normalize import Normalizer
from producers.poller import Poller
from producers.reconcile import reconcile_deletions
from producers.settings import PollerSettings
from producers.soda import SodaClient
from producers.state import WatermarkStore

SPEC = DATASETS["chicago_traffic_crashes"]


class MemoryPublisher:
    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.published: list[dict[str, Any]] = []
        self.tombstones: list[str] = []
        self.dead: list[tuple[Any, str]] = []

    def publish(self, record: dict[str, Any]) -> None:
        self.pending.append(record)

    def tombstone(self, record_id: str, detected_at: datetime) -> None:
        self.tombstones.append(record_id)

    def dead_letter(self, raw: Any, reason: str) -> None:
        self.dead.append((raw, reason))

    def confirm(self) -> None:
        self.published += self.pending
        self.pending.clear()


def _crash_poller(url: str, tmp_path: Path, publisher: MemoryPublisher, limit: int) -> Poller:
    return Poller(
        SodaClient(url, SPEC.dataset_id, sleep=lambda _s: None),
        publisher,  # type: ignore[arg-type]
        WatermarkStore(tmp_path, SPEC.dataset_id),
        start_date=date(2000, 1, 1),
        page_limit=limit,
        normalize=Normalizer(SPEC),
        time_field=SPEC.partition_time_field,
    )


@pytest.fixture
def crashes() -> RecordDataset:
    data = generate_crashes(700, seed=6, correction_share=0.0)
    data.restamp(at="2025-06-01T12:00:00Z")  # ties on the update time across every page boundary
    return data


def test_settings_follow_the_dataset_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATASET", "chicago_traffic_crashes")
    settings = PollerSettings()
    assert settings.soda_dataset_id == "85ca-t3if" and settings.crimes_topic == "chicago.traffic_crashes"
    monkeypatch.setenv("SODA_DATASET_ID", "abcd-1234")
    assert PollerSettings().soda_dataset_id == "abcd-1234"  # an explicit id wins
    monkeypatch.delenv("DATASET")
    monkeypatch.delenv("SODA_DATASET_ID")
    assert PollerSettings().soda_dataset_id == "ijzp-q8t2"


def test_crashes_are_polled_by_their_own_key_and_event_time(crashes: RecordDataset, tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    crimes = Dataset.generate(50, seed=1, days=30)
    with EmulatorServer(crimes, extra_datasets={CRASHES_DATASET_ID: crashes}) as emulator:
        poller = _crash_poller(emulator.url, tmp_path, publisher, limit=90)
        stats = poller.poll_once()
        keys = [r["crash_record_id"] for r in publisher.published]
        assert len(keys) == len(set(keys)) == len(crashes) == stats.published
        assert set(keys) == set(crashes.ids())
        assert all(isinstance(r["injuries_total"], int) for r in publisher.published)

        target = crashes.ids()[3]
        crashes.correct(target, injuries_total="9")
        gone = crashes.ids()[4]
        crashes.delete(gone)
        publisher.published.clear()
        assert poller.poll_once().rows == 1
        assert publisher.published[0]["crash_record_id"] == target and publisher.published[0]["injuries_total"] == 9

        deleted = reconcile_deletions(
            poller.client,
            publisher,  # type: ignore[arg-type]
            lambda: set(keys),
            start_date=date(2000, 1, 1),
            page_limit=100,
            key_field=SPEC.key_field,
            time_field=SPEC.partition_time_field,
            normalize=poller.normalize,
        )
    assert deleted == 1 and publisher.tombstones == [gone]
    assert (tmp_path / "poller-85ca-t3if.json").exists()


def test_schema_drift_a_new_column_is_ignored_and_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    publisher = MemoryPublisher()
    crimes = Dataset.generate(400, seed=8, days=60, correction_share=0.0)
    with EmulatorServer(crimes) as emulator:
        client = SodaClient(emulator.url, "ijzp-q8t2", sleep=lambda _s: None)
        poller = Poller(
            client,
            publisher,  # type: ignore[arg-type]
            WatermarkStore(tmp_path, "ijzp-q8t2"),
            start_date=date(2000, 1, 1),
            page_limit=100,
            normalize=Normalizer(DATASETS["chicago_crimes"]),
        )
        poller.poll_once()
        emulator.admin("config", {"extra_fields": {"new_field": "x"}})
        assert client.get({"$limit": "1"})[0]["new_field"] == "x"  # the source drifted
        assert "new_field" not in client.get({"$select": "count(*) AS n"})[0]
        new = crimes.insert(250)
        crimes.restamp(crimes.ids()[:10])
        with caplog.at_level(logging.INFO, logger="producers.normalize"):
            stats = poller.poll_once()
    assert stats.published == 260 and stats.dead_lettered == 0 and not publisher.dead
    assert set(new) <= {r["id"] for r in publisher.published}
    assert all("new_field" not in r for r in publisher.published)
    drift_logs = [r for r in caplog.records if "new_field" in r.getMessage()]
    assert len(drift_logs) == 1 and drift_logs[0].levelno == logging.INFO
