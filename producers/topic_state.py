"""What the topic itself says about what was published.

Used when the poller's state file is missing (resume from the newest event
instead of re-publishing everything) and by the deletion reconciliation (the
ids whose latest event on the compacted topic is not a tombstone).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from crimestream.errors import BrokerError
from crimestream.headers import header_value
from crimestream.settings import KafkaSettings, kafka_client_config
from producers.state import Watermark

__all__ = ["live_ids_in_topic", "soda_system_time", "watermark_from_topic"]

log = logging.getLogger(__name__)

_TAIL = 500  # events read from the end of each partition to find the newest update time


def soda_system_time(instant: datetime) -> str:
    """An instant as SODA prints ':updated_at' ('2025-05-17T20:40:52.000Z')."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _consumer(settings: KafkaSettings) -> Consumer:
    conf = kafka_client_config(settings) | {
        "group.id": "crimestream-poller-inspect",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    }
    return Consumer(conf)


def _partitions(consumer: Consumer, topic: str) -> list[TopicPartition]:
    try:
        meta = consumer.list_topics(topic, timeout=30).topics.get(topic)
    except KafkaException as exc:
        raise BrokerError(f"cannot read topic {topic!r}: {exc.args[0].str()}") from None
    if meta is None or meta.error is not None:
        return []
    return [TopicPartition(topic, p) for p in meta.partitions]


def _read_until_end(consumer: Consumer, assignment: list[TopicPartition], ends: dict[int, int]) -> Iterator[Message]:
    """Yield messages of ``assignment`` up to the end offsets captured before."""
    pending = {tp.partition for tp in assignment if ends[tp.partition] > tp.offset}
    if not pending:
        return
    consumer.assign(assignment)
    while pending:
        msg = consumer.poll(5.0)
        if msg is None:
            continue
        error = msg.error()
        partition, offset = msg.partition(), msg.offset()
        if partition is None or offset is None:
            continue
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                pending.discard(partition)
                continue
            raise BrokerError(f"reading {msg.topic()} failed: {error.str()}")
        if offset >= ends[partition] - 1:
            pending.discard(partition)
        if offset < ends[partition]:
            yield msg


def watermark_from_topic(settings: KafkaSettings) -> Watermark | None:
    """The newest source update time among the last events of each partition.

    The returned watermark has an empty row id, so the rows that share that
    update time are read again: duplicates, which are harmless downstream.
    """
    consumer = _consumer(settings)
    try:
        partitions = _partitions(consumer, settings.crimes_topic)
        ends: dict[int, int] = {}
        assignment = []
        for tp in partitions:
            low, high = consumer.get_watermark_offsets(tp, timeout=30)
            ends[tp.partition] = high
            assignment.append(TopicPartition(tp.topic, tp.partition, max(low, high - _TAIL)))
        newest: datetime | None = None
        for msg in _read_until_end(consumer, assignment, ends):
            if msg.value() is None or header_value(msg.headers(), "operation") == b"delete":
                continue
            stamp = header_value(msg.headers(), "source_updated_at")
            if stamp:
                ts = datetime.fromisoformat(stamp.decode())
                newest = ts if newest is None or ts > newest else newest
    finally:
        consumer.close()
    return None if newest is None else Watermark(updated_at=soda_system_time(newest), row_id="")


def live_ids_in_topic(settings: KafkaSettings) -> set[str]:
    """Every id whose latest event on the topic is not a tombstone."""
    consumer = _consumer(settings)
    live: set[str] = set()
    try:
        partitions = _partitions(consumer, settings.crimes_topic)
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in partitions}
        assignment = [TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in partitions]
        for tp in assignment:
            tp.offset = consumer.get_watermark_offsets(tp, timeout=30)[0]
        for msg in _read_until_end(consumer, assignment, ends):
            key = msg.key()
            if key is None:
                continue
            if msg.value() is None:
                live.discard(key.decode())
            else:
                live.add(key.decode())
    finally:
        consumer.close()
    return live
