"""SODA emulator -> poller -> real Kafka + registry -> Faust processor -> parquet lake -> DuckDB.

The emulator serves rows, then corrects some (one moves to another month),
deletes one and adds more; after the pipeline catches up, the lake holds
exactly one row per live id, each at its latest version, none in a stale
partition, and DuckDB reading the lake with a plain glob agrees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from emulator.dataset import Dataset
from emulator.server import EmulatorServer
from producers.reconcile import reconcile_deletions
from producers.service import build_poller
from producers.settings import PollerSettings
from producers.topic_state import live_ids_in_topic
from tests.conftest import KafkaStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _env(stack: KafkaStack, topic: str, data_dir: Path, soda_url: str) -> dict[str, str]:
    return {
        **stack.env(),
        "CRIMES_TOPIC": topic,
        "DATA_DIR": str(data_dir),
        "SODA_BASE_URL": soda_url,
        "START_DATE": "2000-01-01",
        "PAGE_LIMIT": "700",
        "TOPIC_PARTITIONS": "3",
        "PROCESSOR_GROUP_ID": f"e2e-{uuid.uuid4().hex[:8]}",
        "BATCH_MAX_SECONDS": "1",
    }


def _process_until_caught_up(env: dict[str, str]) -> None:
    log_file = Path(env["DATA_DIR"]) / "processor.log"
    with open(log_file, "a") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "crimestream.cli", "process", "--until-caught-up"],
            env=dict(os.environ, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    assert proc.returncode == 0, f"processor failed; see {log_file}:\n" + log_file.read_text()[-3000:]


def _lake(data_dir: Path) -> list[dict[str, Any]]:
    glob = str(data_dir / "lake" / "crimes" / "*" / "*" / "*.parquet")
    rel = duckdb.sql(f"select * from read_parquet('{glob}', hive_partitioning=true)")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def _local(floating: str) -> datetime:
    return datetime.fromisoformat(floating)


def _assert_lake_matches(data_dir: Path, truth: list[dict[str, Any]]) -> None:
    lake = _lake(data_dir)
    ids = [r["id"] for r in lake]
    assert len(ids) == len(set(ids)), "duplicate ids in the lake"
    by_id = {r["id"]: r for r in lake}
    expected = {r["id"]: r for r in truth}
    assert set(by_id) == set(expected), (
        f"missing {sorted(set(expected) - set(by_id))[:5]}, extra {sorted(set(by_id) - set(expected))[:5]}"
    )
    for rid, src in expected.items():
        row = by_id[rid]
        assert row["primary_type"] == src.get("primary_type"), rid
        assert row["date_local"] == _local(src["date"]), rid
        updated = datetime.fromisoformat(src[":updated_at"].replace("Z", "+00:00"))
        assert row["source_updated_at"] == updated, rid
        assert (int(row["year"]), int(row["month"])) == (row["date_local"].year, row["date_local"].month), rid
        assert row["beat"] == src.get("beat"), rid


def test_a_corrected_record_flows_from_soda_to_the_lake(
    kafka_stack: KafkaStack, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = Dataset.generate(3000, seed=11, days=150, correction_share=0.0)
    with EmulatorServer(dataset) as emulator:
        env = _env(kafka_stack, topic_name, tmp_path, emulator.url)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        poller = build_poller(PollerSettings())
        try:
            first = poller.poll_once()
            assert first.published == 3000 and first.pages == 5
            _process_until_caught_up(env)
            _assert_lake_matches(tmp_path, dataset.current_rows())

            # Corrections: one row moves to another month, others change type or place.
            rows = sorted(dataset.current_rows(), key=lambda r: r["id"])
            mover = rows[0]
            old_month = _local(mover["date"]).month
            new_date = _local(mover["date"]).replace(month=1 if old_month != 1 else 6, day=10)
            dataset.correct(mover["id"], date=new_date.isoformat())
            for row in rows[1:11]:
                dataset.correct(row["id"], primary_type="ROBBERY")
            for row in rows[11:16]:
                dataset.correct(row["id"], latitude=41.88, longitude=-87.63)
            gone = rows[20]["id"]
            dataset.delete(gone)
            new_ids = dataset.insert(200)

            # The poller's state is lost: it resumes from the topic's newest event, not from scratch.
            poller.store.path.unlink()
            second = poller.poll_once()
            assert 216 <= second.published < 3000
            # Deletions leave no trace at the source; reconciliation finds them.
            settings = PollerSettings()
            tombstoned = reconcile_deletions(
                poller.client,
                poller.publisher,
                lambda: live_ids_in_topic(settings),
                start_date=settings.start_date,
                page_limit=settings.page_limit,
            )
            assert tombstoned == 1
            _process_until_caught_up(env)
        finally:
            poller.publisher.close()
            poller.client.close()

    truth = dataset.current_rows()
    _assert_lake_matches(tmp_path, truth)
    lake = {r["id"]: r for r in _lake(tmp_path)}
    assert gone not in lake and set(new_ids) <= set(lake)
    moved = lake[mover["id"]]
    assert (int(moved["year"]), int(moved["month"])) == (new_date.year, new_date.month)
    assert int(moved["month"]) != old_month
    # The old partition no longer holds the mover (no stale copy anywhere).
    assert sum(1 for r in _lake(tmp_path) if r["id"] == mover["id"]) == 1
    assert date(2000, 1, 1) < moved["date_local"].date()
