"""The example consumer (examples/consumer.py), which knows nothing but docs/consumers.md.

Unit tests pin its last-write-wins rules.  The integration test runs the real
pipeline (emulator -> ``crimestream poll`` with reconciliation -> ``crimestream
process --until-caught-up``) through inserts, corrections, a record moving to
another month, deletions and a stale redelivery, then starts the example
consumer as a separate program: reading from offset 0 it must end with exactly
the lake's rows (ids and source update times), which are the source's rows.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from emulator.dataset import Dataset
from emulator.server import EmulatorServer
from tests.conftest import KafkaStack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "consumer.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_consumer", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _rec(rid: str, minutes: int, kind: str = "THEFT") -> dict[str, Any]:
    return {"id": rid, "source_updated_at": T0 + timedelta(minutes=minutes), "primary_type": kind}


def _tomb(minutes: int | None) -> list[tuple[str, bytes]]:
    headers = [("operation", b"delete"), ("source", b"soda:ijzp-q8t2")]
    if minutes is not None:
        headers.append(("source_updated_at", (T0 + timedelta(minutes=minutes)).isoformat().encode()))
    return headers


def test_newer_versions_win_regardless_of_arrival_order() -> None:
    state = _example().CurrentState()
    state.apply("1", _rec("1", 5, "BATTERY"), [])
    state.apply("1", _rec("1", 1, "THEFT"), [])  # a redelivered older version
    state.apply("1", _rec("1", 5, "ASSAULT"), [])  # same time: the later event wins
    assert state.live["1"]["primary_type"] == "ASSAULT"
    assert (state.events, state.stale) == (3, 1)


def test_tombstones_delete_and_older_versions_do_not_resurrect() -> None:
    state = _example().CurrentState()
    state.apply("1", _rec("1", 1), [])
    state.apply("2", _rec("2", 1), [])
    state.apply("1", None, _tomb(10))
    assert set(state.live) == {"2"}
    state.apply("1", _rec("1", 2), [])  # a stale redelivery after the deletion
    assert set(state.live) == {"2"}
    state.apply("1", _rec("1", 20), [])  # the record came back at the source, later
    assert set(state.live) == {"1", "2"}
    state.apply("2", None, _tomb(None))  # no time header: the deletion wins
    state.apply("2", _rec("2", 99), [])
    assert set(state.live) == {"1"} and state.tombstones == 2


def test_a_tombstone_for_an_unknown_id_is_harmless() -> None:
    state = _example().CurrentState()
    state.apply("9", None, _tomb(1))
    assert state.live == {} and state.tombstones == 1


# --- the pipeline -----------------------------------------------------------------------------------


def _env(stack: KafkaStack, topic: str, data_dir: Path, soda_url: str) -> dict[str, str]:
    return {
        **stack.env(),
        "CRIMES_TOPIC": topic,
        "DATA_DIR": str(data_dir),
        "SODA_BASE_URL": soda_url,
        "START_DATE": "2000-01-01",
        "PAGE_LIMIT": "500",
        "TOPIC_PARTITIONS": "3",
        "PROCESSOR_GROUP_ID": f"example-{uuid.uuid4().hex[:8]}",
        "BATCH_MAX_SECONDS": "1",
    }


def _crimestream(env: dict[str, str], *args: str) -> None:
    log_file = Path(env["DATA_DIR"]) / f"{args[0]}.log"
    with open(log_file, "a") as out:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "crimestream.cli", *args],
                env=dict(os.environ, **env),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"crimestream {' '.join(args)} did not finish in 300 s:\n" + log_file.read_text()[-6000:])
    assert proc.returncode == 0, f"crimestream {' '.join(args)} failed:\n" + log_file.read_text()[-3000:]


def _lake(data_dir: Path) -> dict[str, int]:
    glob = str(data_dir / "lake" / "crimes" / "*" / "*" / "*.parquet")
    relation = duckdb.sql(f"select id, epoch_us(source_updated_at) from read_parquet('{glob}')")
    assert relation is not None
    rows = relation.fetchall()
    assert len(rows) == len({r[0] for r in rows}), "duplicate ids in the lake"
    return {rid: int(us) for rid, us in rows}


def _micros(text: str) -> int:
    delta = datetime.fromisoformat(text) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _redeliver_first_version(stack: KafkaStack, topic: str, record_id: str) -> None:
    """Produce again, byte for byte, the oldest event of ``record_id``: an at-least-once redelivery."""
    consumer = Consumer(
        {"bootstrap.servers": stack.bootstrap_servers, "group.id": "redeliver", "enable.partition.eof": True}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        eof: set[int] = set()
        while len(eof) < len(partitions):
            msg = consumer.poll(5)
            if msg is None:
                continue
            error, partition = msg.error(), msg.partition()
            assert partition is not None
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error.str()
                eof.add(partition)
                continue
            if msg.key() == record_id.encode() and msg.value() is not None:
                producer = Producer({"bootstrap.servers": stack.bootstrap_servers})
                producer.produce(topic, key=msg.key(), value=msg.value(), headers=msg.headers(), partition=partition)
                assert producer.flush(30) == 0
                return
    finally:
        consumer.close()
    raise AssertionError(f"no event for {record_id} on {topic}")


def _run_example(stack: KafkaStack, topic: str, output: Path) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "SCHEMA_REGISTRY_URL": stack.registry_url,
        "CRIMES_TOPIC": topic,
    }
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--output", str(output)],
        env=env,
        cwd=output.parent,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_a_consumer_from_offset_zero_ends_with_exactly_the_lakes_rows(
    kafka_stack: KafkaStack, topic_name: str, tmp_path: Path
) -> None:
    dataset = Dataset.generate(1200, seed=23, days=120, correction_share=0.0)
    with EmulatorServer(dataset) as emulator:
        env = _env(kafka_stack, topic_name, tmp_path, emulator.url)
        _crimestream(env, "poll", "--once")
        _crimestream(env, "process", "--until-caught-up")

        rows = sorted(dataset.current_rows(), key=lambda r: r["id"])
        mover = rows[0]
        moved_to = datetime.fromisoformat(mover["date"]).replace(day=3)
        moved_to = moved_to.replace(month=1 if moved_to.month != 1 else 6)
        dataset.correct(mover["id"], date=moved_to.isoformat())
        for row in rows[1:21]:
            dataset.correct(row["id"], primary_type="ROBBERY")
        deleted = [rows[30]["id"], rows[31]["id"], rows[32]["id"]]
        dataset.delete(*deleted)
        dataset.correct(rows[40]["id"], primary_type="ARSON")
        dataset.delete(rows[40]["id"])  # corrected, then deleted before the next poll
        deleted.append(rows[40]["id"])
        inserted = dataset.insert(60)
        _crimestream(env, "poll", "--once", "--reconcile")
        # At-least-once: an old version of a corrected record arrives again, after the new one.
        _redeliver_first_version(kafka_stack, topic_name, rows[1]["id"])
        _crimestream(env, "process", "--until-caught-up")
        truth = {r["id"] for r in dataset.current_rows()}

    lake = _lake(tmp_path)
    assert set(lake) == truth, "the pipeline itself did not converge; the consumer check would be meaningless"
    assert not set(deleted) & set(lake) and set(inserted) <= set(lake)

    output = tmp_path / "state.jsonl"
    summary = _run_example(kafka_stack, topic_name, output)
    records = [json.loads(line) for line in output.read_text().splitlines()]
    consumed = {r["id"]: _micros(r["source_updated_at"]) for r in records}
    assert len(consumed) == len(records), "the consumer wrote an id twice"
    assert consumed == lake
    corrected = next(r for r in records if r["id"] == rows[1]["id"])
    assert corrected["primary_type"] == "ROBBERY", "the redelivered old version won"

    counts = re.search(r"(\d+) events read \((\d+) tombstones, (\d+) stale versions ignored\); (\d+) live", summary)
    assert counts, summary
    events, tombstones, stale, live = map(int, counts.groups())
    assert tombstones == len(deleted) and stale >= 1 and live == len(lake)
    assert events >= len(lake) + len(deleted) + 21  # nothing compacted yet: every version was read
