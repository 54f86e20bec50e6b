"""Four fixes to Faust's (faust-streaming 0.15) consumer offset bookkeeping.

The first three were found by the two-worker kill test (a worker SIGKILLed
half-way, the survivor takes over its partitions), which failed about one run
in five on a loaded machine; the fourth by traces of the kill-and-restart test,
which failed in CI.  Each is applied to the app's consumer instance by
:func:`fix_consumer`; each has a unit test, and the kill tests are their proof.
(Upgrading Faust: re-check each against its ``transport/consumer.py``.)

1. **Seek-back must rewind partitions that have no committed offset.**  Faust
   drops records it has fetched when a rebalance interrupts their delivery,
   and relies on "seek to the committed offsets" to read them again.
   aiokafka's ``seek_to_committed`` leaves a partition without a committed
   offset (or with 0) where it is, so those records were skipped for good: the
   survivor sat behind the dead worker's partitions until the stall watchdog
   restarted it.  Such partitions are now sought to the beginning of the log,
   where the group starts anyway (``auto.offset.reset`` is earliest).

2. **Acknowledged offsets are a set.**  When the fetch position jumps (records
   dropped as above), Faust takes the skipped offsets for a gap (as in a
   compacted topic) and adds them to the partition's acked list, but not to
   the index that keeps that list free of duplicates.  Once those records are
   read again and acknowledged, every offset of the range is listed twice, and
   each commit then advances past one offset only (every ~2.8 s): a survivor
   needed half an hour to commit a few hundred events it had long written.
   The list is de-duplicated before each commit computes its offset.

3. **Records a fetch returned but did not hand on are read again.**  Faust's
   ``getmany`` stops handing out a fetched batch when the flow stops or the
   group generation changes mid-batch, and skips records of partitions that
   are paused, without moving the fetch position back: the next fetch starts
   after them, Faust books the hole as a gap (acked, committed past), and the
   records are never processed.  Traces of the kill test showed a survivor's
   replay missing such offsets; where the dead worker had moved an id to a new
   month without its table write reaching the changelog, the lake kept the id
   twice.  Every record a fetch returned and ``getmany`` did not yield now sends
   its partition back to the first such offset.

4. **No record is handed on across a seek to the committed offsets.**  After a
   rebalance Faust resumes the stream partitions and only then awaits
   ``perform_seek`` (one broker round trip per partition), while the flow is
   already running: the fetcher keeps handing on records fetched from the old
   positions, and when the seek ends it resets the read offsets under them.
   The next record of the old fetch then looks like a jump (Faust books a gap,
   which it counts as acknowledged) and the records read again from the
   committed offset look already read (Faust drops them).  Traces showed both;
   a restarted worker's commit then stood still below a record it had dropped,
   until the stall watchdog stopped it.  Now a fetch that returns while a seek
   runs is put back whole, a fetch that a seek overtakes stops handing on (the
   seek has set its positions), and the read offsets the seek set are restored
   over the one the last handed-on record wrote after it.  A seek also forgets
   the acknowledgements and gaps booked above the committed offsets, as every
   record from there is read again: during a rebalance Faust's stream
   acknowledges records it skips unprocessed (old generation, flow stopped),
   and such an acknowledgement let a commit pass records still on their way
   to the lake.  For the same reason nothing is committed from a revocation
   (where Faust forgets the committed offsets) until that seek has ended.

Re-reading is always safe here: the fold is last-write-wins and ignores
versions the table already has.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SeekGuard",
    "dedupe_acked_before_commit",
    "first_offsets",
    "fix_consumer",
    "forget_booked_acks",
    "guard_seeks",
    "needs_rewind",
    "rewind_uncommitted_on_seek",
    "seek_back_undelivered",
    "undelivered",
]

log = logging.getLogger(__name__)


def fix_consumer(consumer: Any) -> None:
    """Apply the four fixes to a Faust aiokafka consumer (``app.consumer``)."""
    rewind_uncommitted_on_seek(consumer)
    dedupe_acked_before_commit(consumer)
    seek_back_undelivered(consumer, guard_seeks(consumer))


def needs_rewind(committed: Mapping[Any, int | None]) -> list[Any]:
    """The partitions a seek-to-committed leaves in place (aiokafka seeks only offsets > 0)."""
    return sorted((tp for tp, offset in committed.items() if not (offset and offset > 0)), key=tuple)


def rewind_uncommitted_on_seek(consumer: Any) -> None:
    """Wrap ``seek_to_committed`` so partitions with no committed offset are sought to the log's beginning."""
    seek_to_committed: Callable[[], Awaitable[Mapping[Any, int | None]]] = consumer.seek_to_committed

    async def seek_to_committed_or_beginning() -> Mapping[Any, int | None]:
        committed = await seek_to_committed()
        rewind = needs_rewind(committed)
        if rewind:
            log.debug("no committed offset for partitions %s: seeking to the beginning", [tp[1] for tp in rewind])
            await consumer._thread.seek_to_beginning(*rewind)  # the driver's consumer thread (private)
        return committed

    consumer.seek_to_committed = seek_to_committed_or_beginning


def dedupe_acked_before_commit(consumer: Any) -> None:
    """Wrap ``_new_offset`` (the committable offset of a partition) to drop duplicate acked offsets first."""
    new_offset: Callable[[Any], int | None] = consumer._new_offset  # Faust's commit bookkeeping (private)

    def new_offset_of_unique_acks(tp: Any) -> int | None:
        acked: list[int] = consumer._acked[tp]
        if len(acked) != len(set(acked)):
            acked[:] = sorted(set(acked))
        return new_offset(tp)

    consumer._new_offset = new_offset_of_unique_acks


def undelivered(records: Mapping[Any, Sequence[Any]], delivered: Mapping[Any, int]) -> dict[Any, int]:
    """Per partition, the first fetched offset after the last one handed on (``delivered``).

    A fetch returns each partition's records in offset order.
    """
    back: dict[Any, int] = {}
    for tp, batch in records.items():
        last = delivered.get(tp)
        first = next((record.offset for record in batch if last is None or record.offset > last), None)
        if first is not None:
            back[tp] = first
    return back


@dataclass
class SeekGuard:
    """What the fetch loop must know of Faust's seeks to the committed offsets (``perform_seek``)."""

    running: int = 0  # seeks in progress
    epoch: int = 0  # moves when a seek starts and when it ends
    read_offsets: dict[Any, int | None] = field(default_factory=dict)  # as the last seek left them
    settled: bool = True  # False from a revocation until the next seek has ended: no commits

    def moved_since(self, epoch: int) -> bool:
        """Has a seek started or ended since ``epoch``?"""
        return self.running > 0 or self.epoch != epoch


def guard_seeks(consumer: Any) -> SeekGuard:
    """Wrap ``perform_seek`` so the fetch loop can tell when a seek overtook a fetch, and hold
    commits from a revocation until the next seek has ended (fix 4)."""
    guard = SeekGuard()
    perform_seek: Callable[[], Awaitable[None]] = consumer.perform_seek
    on_partitions_revoked: Callable[[Any], Awaitable[None]] = consumer.on_partitions_revoked
    new_offset: Callable[[Any], int | None] = consumer._new_offset

    async def perform_seek_guarded() -> None:
        guard.running += 1
        guard.epoch += 1
        try:
            await perform_seek()
            forget_booked_acks(consumer)
            guard.settled = True
        finally:
            guard.running -= 1
            guard.epoch += 1
            guard.read_offsets = dict(consumer._read_offset)  # Faust's read offsets (private)

    async def on_partitions_revoked_unsettled(revoked: Any) -> None:
        # Faust forgets the committed offsets here; until a seek sets them again, a commit would
        # take the first run of acknowledged offsets for committable, skipped records included.
        guard.settled = False
        await on_partitions_revoked(revoked)

    def new_offset_once_settled(tp: Any) -> int | None:
        return new_offset(tp) if guard.settled else None

    consumer.perform_seek = perform_seek_guarded
    consumer.on_partitions_revoked = on_partitions_revoked_unsettled
    consumer._new_offset = new_offset_once_settled
    return guard


def forget_booked_acks(consumer: Any) -> None:
    """After a seek to the committed offsets: every acknowledgement and gap Faust booked is stale.

    Faust only books offsets at or above the committed one, and everything from there is read (and
    acknowledged) again; records finished after the seek are booked anew.
    """
    for book in (consumer._acked, consumer._acked_index, consumer._gap):  # Faust's bookkeeping (private)
        book.clear()


def first_offsets(records: Mapping[Any, Sequence[Any]]) -> dict[Any, int]:
    """Per partition, the first offset of a fetch: where putting the whole fetch back seeks to."""
    return {tp: batch[0].offset for tp, batch in records.items() if batch}


def seek_back_undelivered(consumer: Any, guard: SeekGuard) -> None:
    """Replace ``getmany`` with Faust's own, plus a seek back for what it fetched but did not yield,
    and no record handed on once a seek to the committed offsets has overtaken the fetch."""

    async def getmany(timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        records, active_partitions = await consumer._wait_next_records(timeout)
        generation_id = consumer.app.consumer_generation_id
        if records is None or consumer.should_stop:
            return
        if guard.running:
            # Fetched while a seek moves the positions: partitions it has not reached yet returned
            # records from their old positions.  Put the fetch back; the seek moves on from there.
            _seek_back(consumer, first_offsets(records))
            return
        epoch = guard.epoch
        if not consumer.flow_active:
            # Faust's own answer to a fetch while the flow is stopped: back to the committed offsets.
            try:
                await consumer.perform_seek()
            except Exception as exc:  # noqa: BLE001 - as Faust does: logged, the next rebalance seeks again
                log.warning("seeking back to committed offsets failed: %s", exc)
            return
        delivered: dict[Any, int] = {}
        try:
            for tp, record in consumer.scheduler.iterate(records):
                if not consumer.flow_active or consumer.app.consumer_generation_id != generation_id:
                    break
                if guard.moved_since(epoch):
                    break
                if active_partitions is None or tp in active_partitions or tp in consumer._buffered_partitions:
                    consumer.app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
                    yield tp, consumer._to_message(tp, record)
                    delivered[tp] = record.offset
        finally:
            if guard.moved_since(epoch):
                # The seek set every position and read offset; the fetch loop has since written the
                # read offset of the last record handed on over one of them.  Put them back.
                if not guard.running:
                    consumer._read_offset.update(guard.read_offsets)
            else:
                _seek_back(consumer, undelivered(records, delivered))

    consumer.getmany = getmany


def _seek_back(consumer: Any, offsets: Mapping[Any, int]) -> None:
    if not offsets:
        return
    assigned = consumer.assignment()
    for tp, offset in offsets.items():
        if tp not in assigned:
            continue  # revoked: its next owner starts from the committed offset
        log.debug("%s[%d]: fetched records not handed on; reading again from offset %d", tp[0], tp[1], offset)
        try:
            consumer._thread.seek(tp, offset)
        except Exception as exc:  # noqa: BLE001 - e.g. revoked in between; a rebalance seeks anyway
            log.warning("could not seek partition %s back to %d: %s", tp[1], offset, exc)
