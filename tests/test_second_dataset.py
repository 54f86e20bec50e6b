"""The pipeline is not crime-specific: Chicago traffic crashes (85ca-t3if, key crash_record_id)
flow from the emulator through their own topic into their own lake table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from emulator.crashes import CRASHES_DATASET_ID, generate_crashes
from emulator.dataset import Dataset
from emulator.server import EmulatorServer
from tests.conftest import KafkaStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(args: list[str], env: dict[str, str], log: Path) -> None:
    with open(log, "a") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "crimestream.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    assert proc.returncode == 0, log.read_text()[-3000:]


def test_traffic_crashes_land_in_their_own_topic_and_table(kafka_stack: KafkaStack, tmp_path: Path) -> None:
    crashes = generate_crashes(1500, seed=5, days=90)
    with EmulatorServer(Dataset.generate(10, seed=1), extra_datasets={CRASHES_DATASET_ID: crashes}) as emulator:
        env = dict(
            os.environ,
            **kafka_stack.env(),
            DATASET="chicago_traffic_crashes",
            DATA_DIR=str(tmp_path),
            SODA_BASE_URL=emulator.url,
            START_DATE="2000-01-01",
            PAGE_LIMIT="400",
            TOPIC_PARTITIONS="2",
            PROCESSOR_GROUP_ID=f"crashes-{uuid.uuid4().hex[:8]}",
        )
        env.pop("CRIMES_TOPIC", None)
        env.pop("SODA_DATASET_ID", None)
        log = tmp_path / "pipeline.log"
        _run(["poll", "--once"], env, log)
        _run(["process", "--until-caught-up"], env, log)
        first = crashes.current_rows()[0]
        crashes.correct(first["crash_record_id"], crash_date="2024-01-05T08:30:00.000")  # moves partitions
        _run(["poll", "--once"], env, log)
        _run(["process", "--until-caught-up"], env, log)
        truth = {r["crash_record_id"]: r for r in crashes.current_rows()}

    assert not (tmp_path / "lake" / "crimes").exists()
    glob = str(tmp_path / "lake" / "traffic_crashes" / "*" / "*" / "*.parquet")
    rows = duckdb.sql(
        f"select crash_record_id, crash_date_local, year, month from read_parquet('{glob}', hive_partitioning=true)"
    ).fetchall()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) and set(ids) == set(truth)
    for rid, local, year, month in rows:
        assert local == datetime.fromisoformat(truth[rid]["crash_date"]), rid
        assert (int(year), int(month)) == (local.year, local.month), rid
    moved = next(r for r in rows if r[0] == first["crash_record_id"])
    assert (int(moved[2]), int(moved[3])) == (2024, 1)
