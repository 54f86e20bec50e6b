"""DATASET=chicago_traffic_crashes, producer side: emulator -> poller -> its own topic, Avro by the crash schema."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from emulator.crashes import CRASHES_DATASET_ID, generate_crashes
from emulator.dataset import Dataset
from emulator.server import EmulatorServer
from producers.service import run_poller
from producers.settings import PollerSettings
from schemas import schema_text
from tests.conftest import KafkaStack

pytestmark = [pytest.mark.integration]


def _read_all(stack: KafkaStack, topic: str) -> list[tuple[str, dict[str, object] | None]]:
    consumer = Consumer({"bootstrap.servers": stack.bootstrap_servers, "group.id": "crash-check"})
    deserialize = AvroDeserializer(
        SchemaRegistryClient({"url": stack.registry_url}), schema_text("chicago_traffic_crash")
    )
    ctx = SerializationContext(topic, MessageField.VALUE)
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    out: list[tuple[str, dict[str, object] | None]] = []
    deadline = time.monotonic() + 60
    seen = dict.fromkeys(partitions, 0)
    while any(seen[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None or msg.error() is not None:
            continue
        seen[msg.partition()] = msg.offset() + 1
        value = msg.value()
        out.append((msg.key().decode(), None if value is None else deserialize(value, ctx)))
    consumer.close()
    return out


def test_crashes_land_in_their_own_topic_keyed_by_crash_record_id(
    kafka_stack: KafkaStack, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashes = generate_crashes(600, seed=21)
    with EmulatorServer(Dataset.generate(20, seed=1, days=20), extra_datasets={CRASHES_DATASET_ID: crashes}) as emu:
        for name, value in {
            **kafka_stack.env(),
            "DATASET": "chicago_traffic_crashes",
            "CRIMES_TOPIC": topic_name,
            "DATA_DIR": str(tmp_path),
            "SODA_BASE_URL": emu.url,
            "START_DATE": "2000-01-01",
            "PAGE_LIMIT": "250",
            "TOPIC_PARTITIONS": "2",
            "RECONCILE_INTERVAL_SECONDS": "0",
        }.items():
            monkeypatch.setenv(name, value)
        settings = PollerSettings()
        assert settings.soda_dataset_id == CRASHES_DATASET_ID
        assert run_poller(settings, once=True, stop=threading.Event()) == 0
    events = _read_all(kafka_stack, topic_name)
    assert {key for key, _ in events} == set(crashes.ids()) and len(events) == len(crashes)
    for key, value in events:
        assert value is not None and value["crash_record_id"] == key
    by_key = {key: value for key, value in events}
    truth = {r["crash_record_id"]: r for r in crashes.current_rows()}
    sample = next(k for k, r in truth.items() if "injuries_total" in r)
    assert by_key[sample]["injuries_total"] == int(truth[sample]["injuries_total"])  # type: ignore[index]
    assert (tmp_path / "state" / "poller-85ca-t3if.json").exists()
