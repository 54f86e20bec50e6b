"""Knowing when the lake holds every event that was on the topic at start-up."""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from crimestream.errors import BrokerError
from crimestream.settings import KafkaSettings, kafka_client_config

__all__ = ["CatchUpTracker", "end_offsets"]

log = logging.getLogger(__name__)

_TRANSIENT = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
}


def end_offsets(
    settings: KafkaSettings, topic: str, group_id: str, timeout: float = 60.0
) -> tuple[dict[int, int], dict[int, int]]:
    """(log-end offset, committed offset of ``group_id``) per partition of ``topic``.

    Retries while the group coordinator is still loading (right after a broker start).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _end_offsets(settings, topic, group_id)
        except KafkaException as exc:
            if (not exc.args[0].retriable() and exc.args[0].code() not in _TRANSIENT) or time.monotonic() > deadline:
                raise BrokerError(f"cannot read offsets of {topic!r}: {exc.args[0].str()}") from None
            log.info("offsets not readable yet (%s); retrying", exc.args[0].str())
            time.sleep(1.0)


def _end_offsets(settings: KafkaSettings, topic: str, group_id: str) -> tuple[dict[int, int], dict[int, int]]:
    consumer = Consumer(kafka_client_config(settings) | {"group.id": group_id, "enable.auto.commit": False})
    try:
        md = consumer.list_topics(topic, timeout=30)
        meta = md.topics.get(topic)
        if meta is None or meta.error is not None:
            raise BrokerError(f"topic {topic!r} does not exist yet; run the poller first (crimestream poll)")
        ends: dict[int, int] = {}
        for partition in meta.partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            ends[partition] = high
        committed = {
            tp.partition: tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in ends], timeout=30)
        }
        return ends, committed
    finally:
        consumer.close()


class CatchUpTracker:
    """Tracks processed offsets against the end offsets seen at start-up."""

    def __init__(self, targets: dict[int, int], committed: dict[int, int]) -> None:
        self.targets = targets
        # next offset still to process, per partition
        self.next_offset = {p: max(committed.get(p, 0), 0) for p in targets}

    def processed(self, partition: int, offset: int) -> None:
        if partition in self.next_offset and offset + 1 > self.next_offset[partition]:
            self.next_offset[partition] = offset + 1

    def behind(self) -> dict[int, int]:
        return {p: t - self.next_offset[p] for p, t in self.targets.items() if self.next_offset[p] < t}

    def caught_up(self) -> bool:
        return not self.behind()

    def committed_through(self, committed: dict[int, int]) -> bool:
        """Has the group committed every target offset?"""
        return all(committed.get(p, -1) >= t for p, t in self.targets.items() if t > 0)
