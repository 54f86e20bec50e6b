"""Publish events to Kafka: Avro values in Confluent wire format, keyed by id.

The producer is idempotent (``enable.idempotence``, ``acks=all``); ``confirm()``
waits until Kafka acknowledged every message sent so far and raises
``DeliveryError`` if any was not, so callers advance their watermark only past
confirmed rows.  The topic and its dead-letter topic are created by the project
with explicit configs (``cleanup.policy=compact`` for the main topic).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from crimestream.errors import BrokerError, DeliveryError
from crimestream.schema_registry import registry_client
from crimestream.settings import KafkaSettings, kafka_client_config
from producers.registry import ensure_backward_compatibility, value_subject
from schemas import schema_text

__all__ = ["Publisher", "ensure_topics", "topic_configs"]

log = logging.getLogger(__name__)


def topic_configs() -> dict[str, dict[str, str]]:
    """Configs for the main topic and the dead-letter topic."""
    return {
        "main": {
            "cleanup.policy": "compact",
            # Keep tombstones long enough for slow consumers to see deletions.
            "delete.retention.ms": str(7 * 24 * 3600 * 1000),
            "min.compaction.lag.ms": str(3600 * 1000),
        },
        "dlq": {"cleanup.policy": "delete", "retention.ms": str(30 * 24 * 3600 * 1000)},
    }


def ensure_topics(settings: KafkaSettings, timeout: float = 30.0) -> None:
    """Create the topic and its DLQ if missing (idempotent)."""
    admin = AdminClient(kafka_client_config(settings))
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BrokerError(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {exc.args[0].str()}; "
            "is the broker running (crimestream broker)?"
        ) from None
    configs = topic_configs()
    wanted = [
        NewTopic(
            settings.crimes_topic, settings.topic_partitions, settings.topic_replication_factor, config=configs["main"]
        ),
        NewTopic(settings.dlq_topic, 1, settings.topic_replication_factor, config=configs["dlq"]),
    ]
    missing = [t for t in wanted if t.topic not in existing]
    if not missing:
        return
    for topic, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result()
            log.info("created topic %s", topic)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"could not create topic {topic}: {exc.args[0].str()}") from None


class Publisher:
    """Serialises and produces events; counts what Kafka confirmed."""

    def __init__(self, settings: KafkaSettings, source: str) -> None:
        self.topic = settings.crimes_topic
        self.key_field = settings.spec.key_field
        self.dlq_topic = settings.dlq_topic
        self.source = source
        conf = kafka_client_config(settings) | {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",  # the Java client's partitioner: same key, same partition
            "message.timeout.ms": 120_000,
        }
        self._producer = Producer(conf)
        registry = registry_client(settings.schema_registry_url)
        # The registry refuses any future schema that today's consumers could not read.
        ensure_backward_compatibility(settings.schema_registry_url, value_subject(self.topic), client=registry)
        self._serializer = AvroSerializer(
            registry, schema_text(settings.spec.schema), conf={"auto.register.schemas": True}
        )
        self._ctx = SerializationContext(self.topic, MessageField.VALUE)
        self._failures: list[str] = []
        self.confirmed = 0
        self.dead_lettered = 0

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(f"{msg.topic()}[{msg.key()!r}]: {err.str()}")
        else:
            self.confirmed += 1

    def _produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, str | bytes | None]]
    ) -> None:
        while True:
            try:
                self._producer.produce(topic, key=key, value=value, headers=headers, on_delivery=self._on_delivery)
                return
            except BufferError:
                self._producer.poll(0.5)  # local queue full: let deliveries drain

    def publish(self, record: dict[str, Any]) -> None:
        """Queue one upsert event."""
        value = self._serializer(record, self._ctx)
        updated: datetime = record["source_updated_at"]
        headers: list[tuple[str, str | bytes | None]] = [
            ("operation", b"upsert"),
            ("source", self.source.encode()),
            ("source_updated_at", updated.astimezone(UTC).isoformat().encode()),
        ]
        self._produce(self.topic, record[self.key_field].encode(), value, headers)
        self._producer.poll(0)

    def tombstone(self, record_id: str, detected_at: datetime) -> None:
        """Queue a deletion (null value) for ``record_id``."""
        headers: list[tuple[str, str | bytes | None]] = [
            ("operation", b"delete"),
            ("source", self.source.encode()),
            ("source_updated_at", detected_at.astimezone(UTC).isoformat().encode()),
        ]
        self._produce(self.topic, record_id.encode(), None, headers)

    def dead_letter(self, raw: Any, reason: str) -> None:
        """Queue a row that could not be made valid, with the reason."""
        key = raw.get(self.key_field) if isinstance(raw, dict) else None
        payload = {
            "reason": reason,
            "source": self.source,
            "detected_at": datetime.now(UTC).isoformat(),
            "raw": raw,
        }
        headers: list[tuple[str, str | bytes | None]] = [
            ("reason", reason.encode()[:1000]),
            ("source", self.source.encode()),
        ]
        self._produce(
            self.dlq_topic,
            str(key).encode() if key is not None else None,
            json.dumps(payload, default=str).encode(),
            headers,
        )
        self.dead_lettered += 1

    def confirm(self, timeout: float = 120.0) -> None:
        """Block until every queued message is acknowledged; raise if any was not."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryError(
                f"Kafka did not confirm {remaining} message(s) within {timeout:.0f}s; is the broker up?"
            )
        if self._failures:
            first, count = self._failures[0], len(self._failures)
            self._failures.clear()
            raise DeliveryError(f"Kafka rejected {count} message(s), first: {first}")

    def close(self) -> None:
        self._producer.flush(30)
