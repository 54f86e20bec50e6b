"""Every dead letter of the run, read from the DLQ topic with its reason."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, TopicPartition

from crimestream.settings import KafkaSettings, kafka_client_config

__all__ = ["DeadLetter", "parse_dead_letter", "read_dead_letters"]


@dataclass(frozen=True)
class DeadLetter:
    key: str | None
    stage: str  # "poller" (a source row that could not be made valid) or "processor" (a poison event)
    reason: str


def parse_dead_letter(key: bytes | None, value: bytes | None) -> DeadLetter:
    """A DLQ message as the report shows it (the poller's and the processor's payloads both carry a reason)."""
    text_key = key.decode(errors="replace") if key else None
    try:
        payload = json.loads(value or b"{}")
    except ValueError:
        return DeadLetter(text_key, "unknown", "(the dead letter itself is not JSON)")
    if not isinstance(payload, dict):
        return DeadLetter(text_key, "unknown", "(the dead letter is not a JSON object)")
    return DeadLetter(text_key, str(payload.get("stage", "poller")), str(payload.get("reason", "(no reason)")))


def read_dead_letters(settings: KafkaSettings, timeout: float = 60.0) -> list[DeadLetter]:
    """Every message on ``settings.dlq_topic`` (empty when the topic does not exist)."""
    consumer = Consumer(
        kafka_client_config(settings)
        | {"group.id": "crimestream-chaos-dlq", "enable.auto.commit": False, "enable.partition.eof": True}
    )
    letters: list[DeadLetter] = []
    try:
        meta = consumer.list_topics(settings.dlq_topic, timeout=30).topics.get(settings.dlq_topic)
        if meta is None or meta.error is not None:
            return letters
        assignment: list[TopicPartition] = []
        pending: set[int] = set()
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(settings.dlq_topic, partition), timeout=30)
            if high > low:
                assignment.append(TopicPartition(settings.dlq_topic, partition, low))
                pending.add(partition)
        if not assignment:
            return letters
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                partition = msg.partition()
                if error.code() == KafkaError._PARTITION_EOF and partition is not None:
                    pending.discard(partition)
                continue
            letters.append(parse_dead_letter(msg.key(), msg.value()))
    finally:
        consumer.close()
    return letters
