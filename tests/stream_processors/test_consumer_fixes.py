"""The Faust consumer fixes, on Faust's real consumer object (no broker needed).

The integration proofs are the kill tests in test_processor_kills.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from aiokafka import TopicPartition

from stream_processors.consumer_fixes import dedupe_acked_before_commit, fix_consumer, needs_rewind, undelivered

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


class _Record:
    def __init__(self, offset: int) -> None:
        self.offset = offset


def test_undelivered_is_the_first_offset_after_the_last_handed_on() -> None:
    p0, p1, p2 = (TopicPartition(T, p) for p in range(3))
    records = {p0: [_Record(o) for o in (5, 6, 7)], p1: [_Record(o) for o in (9, 10)], p2: [_Record(3)]}
    assert undelivered(records, {p0: 6, p1: 10}) == {p0: 7, p2: 3}
    assert undelivered(records, {p0: 7, p1: 10, p2: 3}) == {}


def _fetching_consumer(records: dict[Any, list[_Record]], stop_flow_after: int | None) -> Any:
    """Faust's real consumer, fed one fetch; the flow stops after ``stop_flow_after`` records were handed on."""
    consumer = _consumer()
    seeks: list[tuple[Any, int]] = []
    consumer._thread.seek = lambda tp, offset: seeks.append((tp, offset))
    consumer.seeks = seeks

    async def wait_next_records(timeout: float) -> tuple[Any, Any]:
        return records, set(records)

    consumer._wait_next_records = wait_next_records
    consumer.assignment = lambda: set(records)
    consumer.highwater = lambda tp: 100
    consumer._to_message = lambda tp, record: (tp.partition, record.offset)
    consumer.flow_active = True
    consumer.stop_flow_after = stop_flow_after
    return consumer


def _drain(consumer: Any) -> list[tuple[int, int]]:
    async def run() -> list[tuple[int, int]]:
        handed: list[tuple[int, int]] = []
        async for _tp, message in consumer.getmany(timeout=1.0):
            handed.append(message)
            if len(handed) == consumer.stop_flow_after:
                consumer.flow_active = False  # a rebalance begins
        return handed

    return asyncio.run(run())


def test_a_fetch_cut_short_by_a_rebalance_sends_its_partitions_back_to_the_first_record_not_handed_on() -> None:
    p0, p1 = TopicPartition(T, 0), TopicPartition(T, 1)
    consumer = _fetching_consumer({p0: [_Record(o) for o in (40, 41, 42)], p1: [_Record(o) for o in (7, 8)]}, 2)
    # Faust hands records out round-robin across partitions: 40, 7, then the flow stops.
    assert _drain(consumer) == [(0, 40), (1, 7)]
    assert consumer.seeks == [(p0, 41), (p1, 8)]


def test_a_fetch_handed_on_whole_seeks_nothing() -> None:
    p0 = TopicPartition(T, 0)
    consumer = _fetching_consumer({p0: [_Record(o) for o in (40, 41)]}, None)
    assert _drain(consumer) == [(0, 40), (0, 41)]
    assert consumer.seeks == []


def _drain_with_a_seek(consumer: Any, seek_after: int, committed: dict[Any, int]) -> list[tuple[int, int]]:
    """Faust's fetch loop over one fetch, as far as read offsets go; after ``seek_after`` records were
    handed on, a seek to ``committed`` runs to its end while that record is still being handed on."""
    consumer._thread.committed = committed

    async def run() -> list[tuple[int, int]]:
        handed: list[tuple[int, int]] = []
        async for tp, message in consumer.getmany(timeout=1.0):
            handed.append(message)
            if len(handed) == seek_after:
                await consumer.perform_seek()  # Faust's recovery, while the flow runs
            consumer._read_offset[tp] = message[1]  # as Faust's fetch loop does once a record is handed on
        return handed

    return asyncio.run(run())


def test_a_seek_that_overtakes_a_fetch_stops_it_and_its_read_offsets_stand() -> None:
    p0, p1 = TopicPartition(T, 0), TopicPartition(T, 1)
    consumer = _fetching_consumer({p0: [_Record(o) for o in (40, 41, 42)], p1: [_Record(o) for o in (7, 8)]}, None)
    handed = _drain_with_a_seek(consumer, 2, {p0: 30, p1: 5})
    # Nothing of the old fetch after the seek, and no seek back over the committed positions.
    assert handed == [(0, 40), (1, 7)]
    assert consumer.seeks == []
    # The read offsets are the seek's, so records 30.. and 5.. read again are not dropped as seen.
    assert consumer._read_offset[p0] == 30 and consumer._read_offset[p1] == 5


def test_a_fetch_that_returns_while_a_seek_runs_is_put_back_whole() -> None:
    p0, p1 = TopicPartition(T, 0), TopicPartition(T, 1)
    consumer = _fetching_consumer({p0: [_Record(o) for o in (40, 41)], p1: [_Record(o) for o in (7, 8)]}, None)
    release = asyncio.Event()
    seek_to_committed = consumer._thread.seek_to_committed

    async def slow_seek_to_committed() -> dict[Any, int | None]:
        await release.wait()  # one broker round trip per partition
        return await seek_to_committed()

    consumer._thread.seek_to_committed = slow_seek_to_committed

    async def run() -> list[Any]:
        seek = asyncio.ensure_future(consumer.perform_seek())
        await asyncio.sleep(0)
        handed = [message async for _tp, message in consumer.getmany(timeout=1.0)]
        release.set()
        await seek
        return handed

    assert asyncio.run(run()) == []
    assert consumer.seeks == [(p0, 40), (p1, 7)]


def test_a_fetch_after_a_seek_has_ended_is_handed_on_whole() -> None:
    p0 = TopicPartition(T, 0)
    consumer = _fetching_consumer({p0: [_Record(o) for o in (30, 31)]}, None)
    consumer._thread.committed = {p0: 30}
    asyncio.run(consumer.perform_seek())
    assert _drain(consumer) == [(0, 30), (0, 31)]
    assert consumer.seeks == []


def _book_acks(consumer: Any, tp: Any, offsets: range) -> None:
    """Acknowledge ``offsets`` as ``Consumer.ack`` books them."""
    for offset in offsets:
        consumer._acked[tp].append(offset)
        consumer._acked_index[tp].add(offset)


def test_a_seek_forgets_acks_of_records_skipped_during_the_rebalance() -> None:
    tp = TopicPartition(T, 0)
    consumer = _consumer({tp: 2050})
    # Mid-rebalance the stream skipped records 2500-2600 unprocessed and acknowledged them.
    _book_acks(consumer, tp, range(2500, 2601))
    asyncio.run(consumer.perform_seek())  # back to the committed 2050: all of it is read again
    _book_acks(consumer, tp, range(2050, 2500))  # processed again up to 2499; 2500- still on their way
    assert _commit_rounds(consumer, 3) == 2500


def test_records_finished_after_the_seek_are_booked() -> None:
    tp = TopicPartition(T, 0)
    consumer = _consumer({tp: 2050})
    asyncio.run(consumer.perform_seek())
    _book_acks(consumer, tp, range(2050, 2100))
    assert _commit_rounds(consumer, 2) == 2100


def test_nothing_is_committed_from_a_revocation_until_the_seek_has_ended() -> None:
    tp = TopicPartition(T, 0)
    consumer = _consumer({tp: 2050})
    consumer._committed_offset[tp] = 2050
    asyncio.run(consumer.on_partitions_revoked({tp}))  # Faust forgets the committed offset here
    _book_acks(consumer, tp, range(2500, 2601))  # skipped unprocessed, acknowledged anyway
    assert consumer._new_offset(tp) is None  # not 2601
    asyncio.run(consumer.perform_seek())
    _book_acks(consumer, tp, range(2050, 2060))
    assert consumer._new_offset(tp) == 2060
