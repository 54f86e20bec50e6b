"""Two fixes to Faust's (faust-streaming 0.15) consumer offset bookkeeping.

Both were found by the two-worker kill test (a worker SIGKILLed half-way, the
survivor takes over its partitions), which failed about one run in five on a
loaded machine.  Each is applied to the app's consumer instance by
:func:`fix_consumer`; each has a unit test, and the kill test is their proof.

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

Re-reading is always safe here: the fold is last-write-wins and ignores
versions the table already has.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["dedupe_acked_before_commit", "fix_consumer", "needs_rewind", "rewind_uncommitted_on_seek"]

log = logging.getLogger(__name__)


def fix_consumer(consumer: Any) -> None:
    """Apply both fixes to a Faust aiokafka consumer (``app.consumer``)."""
    rewind_uncommitted_on_seek(consumer)
    dedupe_acked_before_commit(consumer)


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
