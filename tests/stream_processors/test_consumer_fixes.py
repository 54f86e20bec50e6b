"""The two Faust consumer fixes, on Faust's real consumer object (no broker needed).

The integration proof is the two-worker kill test in test_processor_kills.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from aiokafka import TopicPartition

from stream_processors.consumer_fixes import dedupe_acked_before_commit, fix_consumer, needs_rewind

T = "crimes"


def test_partitions_without_a_positive_committed_offset_need_a_rewind() -> None:
    committed = {
        TopicPartition(T, 0): 120,  # aiokafka seeks this one itself
        TopicPartition(T, 1): None,  # never committed
        TopicPartition(T, 2): -1,  # "no offset" as some clients report it
        TopicPartition(T, 3): 0,  # committed 0: aiokafka does not seek it either
    }
    assert needs_rewind(committed) == [TopicPartition(T, 1), TopicPartition(T, 2), TopicPartition(T, 3)]
    assert needs_rewind({TopicPartition(T, 0): 1}) == []


class _Thread:
    """Faust's consumer thread, as far as the seek fix touches it."""

    def __init__(self, committed: dict[Any, int | None]) -> None:
        self.committed = committed
        self.rewound: list[tuple[Any, ...]] = []

    async def seek_to_committed(self) -> dict[Any, int | None]:
        return self.committed

    async def seek_to_beginning(self, *partitions: Any) -> None:
        self.rewound.append(partitions)


def _consumer(committed: dict[Any, int | None] | None = None) -> Any:
    consumer = faust.App("consumer-fixes-test", broker="kafka://127.0.0.1:1").consumer
    consumer._thread = _Thread(committed or {})
    fix_consumer(consumer)
    return consumer


def test_seek_back_rewinds_only_partitions_without_a_commit_and_returns_the_offsets() -> None:
    committed = {TopicPartition(T, 0): 7, TopicPartition(T, 1): None}
    consumer = _consumer(committed)
    assert asyncio.run(consumer.seek_to_committed()) == committed
    assert consumer._thread.rewound == [(TopicPartition(T, 1),)]


def test_nothing_is_rewound_when_every_partition_has_a_commit() -> None:
    consumer = _consumer({TopicPartition(T, 0): 7, TopicPartition(T, 1): 3})
    asyncio.run(consumer.seek_to_committed())
    assert consumer._thread.rewound == []


def _commit_rounds(consumer: Any, rounds: int) -> int:
    """Faust's commit loop, reduced to its offset bookkeeping: the committed offset after ``rounds``."""
    tp = TopicPartition(T, 0)
    for _ in range(rounds):
        offset = consumer._new_offset(tp)
        if offset is not None:
            consumer._committed_offset[tp] = offset
    return int(consumer._committed_offset[tp])


def _gap_then_its_records_acked(consumer: Any) -> None:
    """Committed 250; offsets 251-264 were taken for a gap when the fetch position jumped, then the
    records 251-300 were read again and acknowledged (as ``Consumer.ack`` records them)."""
    tp = TopicPartition(T, 0)
    consumer._committed_offset[tp] = 250
    asyncio.run(consumer._add_gap(tp, 251, 264))
    for offset in range(251, 301):
        consumer._acked_index[tp].add(offset)
        consumer._acked[tp].append(offset)


def test_offsets_acked_inside_a_gap_are_committed_past_in_one_round_more() -> None:
    consumer = _consumer()
    _gap_then_its_records_acked(consumer)
    assert _commit_rounds(consumer, 2) == 301


def test_without_the_fix_such_commits_crawl_one_offset_per_round() -> None:
    # Faust's own behaviour, kept visible: if an upgrade fixes it, this fails and the fix can go.
    consumer = faust.App("consumer-fixes-test", broker="kafka://127.0.0.1:1").consumer
    _gap_then_its_records_acked(consumer)
    assert _commit_rounds(consumer, 10) < 270
    dedupe_acked_before_commit(consumer)
    assert _commit_rounds(consumer, 1) == 301
