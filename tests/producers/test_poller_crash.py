"""The poller SIGKILLed at random points of a backfill resumes and, in the end, has published every row.

Duplicates are allowed (the watermark only moves past confirmed rows, so a page
in flight is published again); losses are not.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from emulator.dataset import Dataset
from emulator.server import EmulatorServer
from tests.conftest import KafkaStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _topic_keys(stack: KafkaStack, topic: str) -> list[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": "crash-check",
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    parts = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    keys: list[str] = []
    done: set[int] = set()
    deadline = time.monotonic() + 60
    while len(done) < len(parts) and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error() is not None:
            done.add(msg.partition())  # partition EOF
            continue
        keys.append(msg.key().decode())
    consumer.close()
    return keys


def test_sigkilled_backfill_resumes_and_loses_nothing(kafka_stack: KafkaStack, topic_name: str, tmp_path: Path) -> None:
    rng = random.Random(20261121)
    dataset = Dataset.generate(20_000, seed=9, days=200, correction_share=0.02)
    with EmulatorServer(dataset) as emulator:
        env = dict(
            os.environ,
            **kafka_stack.env(),
            CRIMES_TOPIC=topic_name,
            DATA_DIR=str(tmp_path),
            SODA_BASE_URL=emulator.url,
            START_DATE="2000-01-01",
            PAGE_LIMIT="500",
            TOPIC_PARTITIONS="3",
        )
        state = tmp_path / "state" / "poller-ijzp-q8t2.json"
        watermarks: list[str] = []
        for _kill in range(5):
            before = state.read_text() if state.exists() else None
            proc = subprocess.Popen(
                [sys.executable, "-m", "crimestream.cli", "poll", "--once"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Kill at a random point after the backfill made progress in this run (not by the clock:
            # a loaded machine starts Python slowly).
            deadline = time.monotonic() + 300
            while (state.read_text() if state.exists() else None) == before:
                assert proc.poll() is None, "the poller exited before making progress"
                assert time.monotonic() < deadline, "the poller made no progress in 300 s"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.6))
            if proc.poll() is not None:
                pytest.fail("the backfill finished before it could be killed; make it larger")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            watermarks.append(state.read_text())
        final = subprocess.run(
            [sys.executable, "-m", "crimestream.cli", "poll", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert final.returncode == 0, final.stderr[-2000:]
    # Each kill landed mid-backfill, after the watermark had moved.
    assert len(set(watermarks)) == 5
    keys = _topic_keys(kafka_stack, topic_name)
    assert set(keys) == set(dataset.ids()), "rows lost (or invented) across the kills"
    assert len(keys) >= len(dataset.ids())
