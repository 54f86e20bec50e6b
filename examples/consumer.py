#!/usr/bin/env python3
"""Rebuild the current state of the crimes topic from offset 0 (see docs/consumers.md).

    python examples/consumer.py                      # print a summary
    python examples/consumer.py --output state.jsonl # and write one JSON line per live record

It reads every partition from the beginning up to the end offsets it saw at
start-up, applies each event with last-write-wins on ``source_updated_at``
(tombstones delete; an event older than what is already kept is ignored, so
redeliveries and replays are harmless), then exits.  It needs only
confluent-kafka (``pip install "confluent-kafka[avro,schemaregistry]"``).

Settings: ``--bootstrap-servers`` / ``KAFKA_BOOTSTRAP_SERVERS``,
``--registry-url`` / ``SCHEMA_REGISTRY_URL``, ``--topic`` / ``CRIMES_TOPIC``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO, cast

from confluent_kafka import OFFSET_BEGINNING, DeserializingConsumer, TopicPartition
from confluent_kafka.error import ConsumeError
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer

__all__ = ["CurrentState", "main"]

log = logging.getLogger("crimestream.example")

# A deletion without a time header wins over every version (as in the project's own processor).
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def _header(headers: Sequence[tuple[str, bytes | None]] | None, name: str) -> str | None:
    for key, value in headers or []:
        if key == name and value is not None:
            return value.decode()
    return None


@dataclass
class CurrentState:
    """id -> latest record, by the source's update time (not by arrival order)."""

    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    kept_at: dict[str, datetime] = field(default_factory=dict)  # the update time of what we hold (deleted ids too)
    events: int = 0
    tombstones: int = 0
    stale: int = 0  # events older than what we already held: ignored

    def apply(self, key: str, value: dict[str, Any] | None, headers: Any) -> None:
        self.events += 1
        if value is None:
            self.tombstones += 1
            stamp = _header(headers, "source_updated_at")
            at = datetime.fromisoformat(stamp) if stamp else _END_OF_TIME
        else:
            at = value["source_updated_at"]
        if key in self.kept_at and at < self.kept_at[key]:
            self.stale += 1  # at equal times the later event wins: it is also what compaction keeps
            return
        self.kept_at[key] = at
        if value is None:
            self.live.pop(key, None)
        else:
            self.live[key] = value


def _consumer(bootstrap: str, registry_url: str) -> DeserializingConsumer:
    registry = SchemaRegistryClient({"url": registry_url, "timeout": 15})  # the default waits forever
    return DeserializingConsumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"crimestream-example-{uuid.uuid4().hex[:8]}",  # unused: we assign(), never commit
            "enable.auto.commit": False,
            "key.deserializer": StringDeserializer("utf_8"),
            # No reader schema: records come as written (the writer's schema, from the registry).
            "value.deserializer": AvroDeserializer(registry),
        }
    )


def read_state(bootstrap: str, registry_url: str, topic: str, timeout: float = 60.0) -> CurrentState:
    """Read ``topic`` from offset 0 to the end offsets of now and fold it into a ``CurrentState``."""
    consumer = _consumer(bootstrap, registry_url)
    state = CurrentState()
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics[topic]
        if meta.error is not None:
            raise SystemExit(f"topic {topic!r}: {meta.error.str()}")
        ends: dict[int, int] = {}
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        pending = set(ends)
        last_progress = time.monotonic()
        while pending:
            if time.monotonic() - last_progress > timeout:
                raise SystemExit(f"no progress on {topic!r} for {timeout:.0f}s; partitions left: {sorted(pending)}")
            try:
                msg = consumer.poll(1.0)
            except ConsumeError as exc:  # an undecodable value: report it and go on
                log.warning("skipping an event: %s", exc)
                last_progress = time.monotonic()
                continue
            if msg is not None:
                last_progress = time.monotonic()
                key: str | None = cast(Any, msg.key())  # deserialized: str and dict, not bytes
                if key is None:
                    log.warning("skipping an event without a key at %d@%s", msg.partition(), msg.offset())
                    continue
                state.apply(key, cast(Any, msg.value()), msg.headers())
            for tp in consumer.position([TopicPartition(topic, p) for p in pending]):
                if tp.offset >= ends[tp.partition]:
                    pending.discard(tp.partition)
    finally:
        consumer.close()
    return state


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_jsonl(state: CurrentState, out: TextIO) -> None:
    for key in sorted(state.live):
        out.write(json.dumps(state.live[key], default=_json_default, sort_keys=True) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the crimes topic's current state from offset 0.")
    parser.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument(
        "--registry-url", default=os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")
    )
    parser.add_argument("--topic", default=os.environ.get("CRIMES_TOPIC", "chicago.crimes"))
    parser.add_argument("--output", help="write the live records as JSON lines to this file ('-': stdout)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)

    state = read_state(args.bootstrap_servers, args.registry_url, args.topic)
    if args.output == "-":
        write_jsonl(state, sys.stdout)
    elif args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            write_jsonl(state, out)
    newest = max((r["source_updated_at"] for r in state.live.values()), default=None)
    log.info(
        "%s: %d events read (%d tombstones, %d stale versions ignored); %d live records, newest update %s",
        args.topic,
        state.events,
        state.tombstones,
        state.stale,
        len(state.live),
        newest.isoformat() if newest else "-",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
