"""A batch holding a poison record (not Avro, or an id that does not match its key) does not
block the rest: the good events reach the lake, the bad ones go to the dead-letter topic with a reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from producers.normalize import normalize_row
from producers.publisher import Publisher, ensure_topics
from producers.settings import PollerSettings
from tests.conftest import KafkaStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_poison_goes_to_the_dlq_with_a_reason_and_the_rest_flows(
    kafka_stack: KafkaStack, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        **kafka_stack.env(),
        "CRIMES_TOPIC": topic_name,
        "DATA_DIR": str(tmp_path),
        "TOPIC_PARTITIONS": "1",
        "PROCESSOR_GROUP_ID": f"poison-{uuid.uuid4().hex[:8]}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = PollerSettings()
    ensure_topics(settings)
    publisher = Publisher(settings, source="test")
    good = [
        normalize_row({"id": str(i), "date": "2024-03-03T10:00:00.000", ":updated_at": "2025-01-01T00:00:00.000Z"})
        for i in range(20)
    ]
    for record in good[:10]:
        publisher.publish(record)
    publisher.confirm()
    raw = Producer({"bootstrap.servers": kafka_stack.bootstrap_servers})
    raw.produce(topic_name, key=b"bad-1", value=b"{not avro}")
    raw.produce(topic_name, key=b"bad-2", value=b"\x00\x00\x00\x00\x01garbage")
    assert raw.flush(30) == 0
    for record in good[10:]:
        publisher.publish(record)
    publisher.confirm()
    publisher.close()

    log = tmp_path / "processor.log"
    with open(log, "w") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "crimestream.cli", "process", "--until-caught-up"],
            env=dict(os.environ, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    assert proc.returncode == 0, log.read_text()[-3000:]

    glob = str(tmp_path / "lake" / "crimes" / "*" / "*" / "*.parquet")
    ids = sorted(r[0] for r in duckdb.sql(f"select id from read_parquet('{glob}')").fetchall())
    assert ids == sorted(str(i) for i in range(20))

    consumer = Consumer(
        {"bootstrap.servers": kafka_stack.bootstrap_servers, "group.id": "dlq-check", "enable.partition.eof": True}
    )
    consumer.assign([TopicPartition(settings.dlq_topic, 0, 0)])
    dead: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error() is not None:
            break
        dead.append({**json.loads(msg.value()), "kafka_key": msg.key()})
    consumer.close()
    assert sorted(d["kafka_key"] for d in dead) == [b"bad-1", b"bad-2"]  # type: ignore[type-var]
    reasons = {d["key"]: d["reason"] for d in dead}
    assert "Confluent wire-format" in str(reasons["bad-1"])
    assert "undecodable Avro" in str(reasons["bad-2"])
    assert all(d["stage"] == "processor" and d["value_hex"] for d in dead)
