"""The Faust processor: last-write-wins per id, micro-batches into the lake.

One agent (concurrency 1) reads the crimes topic in batches
(``take_events(n, within=s)``: flushes on size or time, idle streams
included), folds each batch against the table of kept versions, hands the
changes to the lake writer, and only then records the new versions in the
table.  The batch's offsets are acknowledged when the loop asks for the next
batch, i.e. after the lake swap is durable.  A sink error never escapes the
loop: it is retried with backoff, and when retries are exhausted or the lake is
unwritable the worker stops hard (exit code 70) without acknowledging the
batch, so the events are processed again after a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.streams import _current_event as _CURRENT_EVENT

from crimestream.errors import CrimestreamError, LakeUnwritableError, RegistryUnavailableError, ValidationError
from crimestream.faust_security import faust_broker_credentials
from crimestream.observability import (
    Readiness,
    record_dead_letters,
    record_flush,
    set_consumer_lag,
    start_observability,
)
from sinks.parquet_lake import LakeWriter
from stream_processors.consumer_fixes import fix_consumer
from stream_processors.decode import EventDecoder
from stream_processors.lww import Event, Version, fold
from stream_processors.progress import CatchUpTracker, end_offsets
from stream_processors.settings import ProcessorSettings

__all__ = ["EXIT_SINK_FAILED", "create_app"]

log = logging.getLogger(__name__)

EXIT_SINK_FAILED = 70
STALL_CHECK_SECONDS = 15.0
SHUTDOWN_GRACE_SECONDS = 30.0  # after a caught-up run has committed, a hung graceful stop is cut short
TABLE_NAME = "crimes-lww"
# Faust opens one RocksDB per table partition with 3 x 64 MiB write buffers and a
# 2 GiB block cache each; our values are ~100 bytes per id, so far less will do.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 16 * 1024**2,
    "max_write_buffer_number": 2,
    "block_cache_size": 64 * 1024**2,
    "block_cache_compressed_size": 16 * 1024**2,
}


def _as_current(event: Any) -> None:
    """Make ``event`` Faust's current event *in this task only* (a context variable).

    Faust's table picks the partition for a key's store and changelog entry from
    the current event; in a batch, that must be the event of that key.  Setting
    the stream's own attribute instead would race with Faust's background
    buffering task.
    """
    _CURRENT_EVENT.set(weakref.ref(event) if event is not None else None)


@dataclass
class _Pending:
    """Events taken but not yet in the lake: their messages stay un-acked until they are."""

    held: list[Any] = field(default_factory=list)  # faust events, in arrival order
    events: list[Event] = field(default_factory=list)  # the decoded ones
    source_event: dict[str, Any] = field(default_factory=dict)  # id -> its latest faust event
    started: float = field(default_factory=time.monotonic)
    last_batch: float = field(default_factory=time.monotonic)


@dataclass
class _StallWatch:
    """How long nothing has moved (offsets committed, events taken, flushes) while events wait."""

    last: object = None
    since: float = field(default_factory=time.monotonic)
    behind: dict[int, int] = field(default_factory=dict)

    def observe(self, ends: dict[int, int], committed: dict[int, int], activity: object, now: float) -> float:
        done = {p: max(committed.get(p, 0), 0) for p in ends}
        self.behind = {p: end - done[p] for p, end in ends.items() if done[p] < end}
        marker = (done, activity)
        if not self.behind or marker != self.last:
            self.last, self.since = marker, now
            return 0.0
        return now - self.since


@dataclass
class _Merging:
    """The batches merged so far; the agent and the quiet-time timer take turns on them."""

    pending: _Pending = field(default_factory=_Pending)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _retry_delay(attempt: int) -> float:
    """Seconds before retry ``attempt`` (0-based) of a failed lake flush or registry lookup:
    exponential from 0.5 s, capped at 30 s, jittered down to half so workers do not retry in step."""
    return min(30.0, 0.5 * 2.0**attempt) * random.uniform(0.5, 1.0)


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap.split(",") if server.strip()]


def create_app(
    settings: ProcessorSettings, *, until_caught_up: bool = False, readiness: Readiness | None = None
) -> faust.App:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.processor_group_id,
        broker=_broker_urls(settings.kafka_bootstrap_servers),
        store=settings.processor_store,
        datadir=str(settings.processor_table_dir or settings.state_dir / "faust"),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        producer_acks=-1,
        broker_credentials=faust_broker_credentials(settings),
        broker_session_timeout=settings.processor_session_timeout_seconds,
        broker_heartbeat_interval=max(1.0, settings.processor_session_timeout_seconds / 5),
    )
    fix_consumer(app.consumer)
    source = app.topic(settings.crimes_topic, key_type=bytes, value_type=bytes, acks=True)
    dlq = app.topic(settings.dlq_topic, key_type=bytes, value_type=bytes)
    # Keyed by the raw id.  Faust puts a key's entry (local store and changelog)
    # in the partition of the *current event*; inside a batch we set that event
    # explicitly per id, so each id lives in its source partition, which moves
    # between workers together with the id's events.
    table = app.Table(
        TABLE_NAME,
        default=None,
        partitions=settings.topic_partitions,
        key_type=bytes,
        options=ROCKSDB_OPTIONS if settings.processor_store.startswith("rocksdb") else None,
    )
    decoder = EventDecoder(settings.schema_registry_url, settings.crimes_topic, settings.spec)
    writer = LakeWriter(settings.lake_dir, decoder.table)
    tracker: CatchUpTracker | None = None
    stats = {"events": 0, "flushes": 0, "flush_attempts": 0, "dead_lettered": 0}

    def stop_hard(reason: str) -> None:
        log.critical("stopping the processor without acknowledging the batch: %s", reason)
        logging.shutdown()
        os._exit(EXIT_SINK_FAILED)

    async def flush(changes: Any) -> None:
        upserts, deletes = changes
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            started = time.monotonic()
            stats["flush_attempts"] += 1
            try:
                result = await loop.run_in_executor(None, writer.apply, upserts, deletes)
            except LakeUnwritableError as exc:
                stop_hard(str(exc))
            except Exception as exc:  # noqa: BLE001 - a sink error must never escape the loop
                if attempt >= settings.sink_max_retries:
                    stop_hard(f"lake flush failed {attempt + 1} times, last: {exc}")
                delay = _retry_delay(attempt)
                log.warning("lake flush failed (%s); retrying in %.1fs", exc, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            stats["flushes"] += 1
            record_flush(time.monotonic() - started, len(upserts), len(deletes))
            log.info(
                "flush: %d upserts, %d deletes -> %d partitions, %d bytes in %.2fs",
                len(upserts),
                len(deletes),
                result.partitions,
                result.bytes_written,
                time.monotonic() - started,
            )
            return

    async def dead_letter(key: bytes | None, value: bytes | None, reason: str) -> None:
        payload = {
            "reason": reason,
            "stage": "processor",
            "key": key.decode(errors="replace") if key else None,
            "value_hex": value[:4096].hex() if value else None,
        }
        await dlq.send(key=key, value=json.dumps(payload).encode(), headers=[("reason", reason.encode()[:1000])])
        stats["dead_lettered"] += 1
        record_dead_letters("processor")

    last_offset: dict[int, int] = {}

    @app.timer(5.0)
    async def report_lag() -> None:
        lag = 0
        for tp in app.consumer.assignment():
            if tp.topic == settings.crimes_topic:
                high = app.consumer.highwater(tp) or 0
                lag += max(0, high - last_offset.get(tp.partition, -1) - 1)
        set_consumer_lag(lag)

    def more_waiting(batch: list[Any]) -> bool:
        """Are more events of the batch's partitions already in the log (the worker is behind)?"""
        newest: dict[Any, int] = {}
        for event in batch:
            tp = event.message.tp
            newest[tp] = max(newest.get(tp, -1), event.message.offset)
        return any((app.consumer.highwater(tp) or 0) > offset + 1 for tp, offset in newest.items())

    def keep_merging(pending: _Pending, batch: list[Any]) -> bool:
        """While behind (more events already in the log), merge batches so each lake partition
        is rewritten once per many events; a batch cut short by BATCH_MAX_SECONDS counts too,
        since the consumer may deliver slower than the processor could merge."""
        return (
            len(pending.held) + settings.batch_max_events <= settings.backfill_batch_events
            and time.monotonic() - pending.started < settings.backfill_max_seconds
            and more_waiting(batch)
        )

    async def decode_into(pending: _Pending, batch: list[Any]) -> None:
        for event in batch:
            event.message.incref()  # held un-acked (uncommitted) until the lake has it
            pending.held.append(event)
            msg = event.message
            try:
                decoded = await decode_retrying(event)
                pending.events.append(decoded)
                pending.source_event[decoded.record_id] = event
            except ValidationError as exc:
                log.warning("poison event at %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, exc)
                await dead_letter(event.key, event.value, str(exc))

    async def decode_retrying(event: Any) -> Event:
        """Decode; while the schema registry is unreachable, wait and retry (never dead-letter)."""
        attempt = 0
        while True:
            try:
                return decoder.decode(event.key, event.value, event.message.headers)
            except RegistryUnavailableError as exc:
                if attempt >= settings.registry_max_retries:
                    stop_hard(f"{exc} ({attempt + 1} attempts); is SCHEMA_REGISTRY_URL right and the registry up?")
                delay = _retry_delay(attempt)
                log.warning("%s; retrying in %.1fs", exc, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def apply(pending: _Pending) -> None:
        kept: dict[str, Version | None] = {}
        for record_id, event in pending.source_event.items():
            _as_current(event)
            stored = table.get(record_id.encode())
            kept[record_id] = Version.from_json(stored) if stored else None
        upserts, deletes, versions = fold(kept, pending.events)
        if upserts or deletes:
            await flush((upserts, deletes))
        for record_id, version in versions.items():
            _as_current(pending.source_event[record_id])
            table[record_id.encode()] = version.to_json()
        _as_current(None)
        stats["events"] += len(pending.held)
        for event in pending.held:
            last_offset[event.message.partition] = event.message.offset
        if readiness is not None:
            readiness.succeeded()
        if tracker is not None:
            for event in pending.held:
                tracker.processed(event.message.partition, event.message.offset)
            if tracker.caught_up():
                _finish()

    stall = _StallWatch()

    @app.timer(STALL_CHECK_SECONDS)
    async def exit_when_stalled() -> None:
        # A worker can outlive a broker outage without ever consuming again (it
        # stays in the process, never re-joins the group): the group's committed
        # offsets not moving while the topic has more is the symptom; exiting lets
        # the supervisor (or container) start a fresh one.
        if settings.processor_stall_seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        try:
            ends, committed = await loop.run_in_executor(
                None, end_offsets, settings, settings.crimes_topic, settings.processor_group_id, 10.0
            )
        except CrimestreamError:
            return  # the broker is away: not our stall
        working = time.monotonic() if merging.lock.locked() else 0.0  # decoding or flushing right now
        activity = (stats["events"], stats["flush_attempts"], len(merging.pending.held), working)
        stalled_for = stall.observe(ends, committed, activity, time.monotonic())
        if stalled_for > settings.processor_stall_seconds:
            stop_hard(
                f"no progress for {stalled_for:.0f}s while {sum(stall.behind.values())} event(s) wait "
                f"on partitions {sorted(stall.behind)}; exiting so a fresh worker takes over"
            )

    merging = _Merging()

    async def drain() -> None:
        """Write what is merged so far to the lake, then give its events their final ack."""
        async with merging.lock:
            pending, merging.pending = merging.pending, _Pending()
            if not pending.held:
                return
            await apply(pending)
            for event in pending.held:
                event.ack()  # the final ack: the offset may now be committed

    @app.timer(1.0)
    async def drain_when_quiet() -> None:
        # Held events block a rebalance (Faust waits for every taken event to be
        # acked), and no new batch arrives meanwhile: flush once batches stop coming.
        pending = merging.pending
        if pending.held and time.monotonic() - pending.last_batch > settings.batch_max_seconds:
            await drain()

    @app.agent(source, concurrency=1)
    async def process(stream: Any) -> None:  # a faust.Stream (take_events is not on StreamT)
        try:
            async for batch in stream.take_events(settings.batch_max_events, within=settings.batch_max_seconds):
                async with merging.lock:
                    await decode_into(merging.pending, batch)
                    merging.pending.last_batch = time.monotonic()
                    if keep_merging(merging.pending, batch):
                        continue
                await drain()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Faust would log it and keep a worker that does nothing
            log.exception("the processing loop failed")
            stop_hard(f"unexpected error in the processing loop: {type(exc).__name__}: {exc}")

    caught_up = asyncio.Event()

    def _finish() -> None:
        if not caught_up.is_set():
            log.info(
                "caught up: %d events processed, %d flushes, %d dead-lettered",
                stats["events"],
                stats["flushes"],
                stats["dead_lettered"],
            )
            caught_up.set()

    if until_caught_up:
        targets, committed = end_offsets(settings, settings.crimes_topic, settings.processor_group_id)
        tracker = CatchUpTracker(targets, committed)
        log.info("catching up to end offsets %s (committed %s)", targets, committed)

        @app.timer(15.0)
        async def report_catch_up() -> None:
            # A catch-up that stalls must say where: which partitions are behind,
            # what this worker holds, and whether table recovery is still running.
            if tracker is None or caught_up.is_set():
                return
            assigned = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == settings.crimes_topic)
            log.info(
                "catching up: %d events processed, behind %s, assigned partitions %s, table recovery %s",
                stats["events"],
                tracker.behind(),
                assigned,
                "running" if app.tables.recovery.in_recovery else "done",  # type: ignore[attr-defined]
            )

        @app.timer(0.5)
        async def stop_when_committed() -> None:
            # The agent has acknowledged the last batch once it asks for the next
            # one; commit here, confirm the commit landed, then stop gracefully.
            if tracker is None or not (caught_up.is_set() or tracker.caught_up()):
                return
            await app.consumer.commit()
            loop = asyncio.get_running_loop()
            _, committed = await loop.run_in_executor(
                None, end_offsets, settings, settings.crimes_topic, settings.processor_group_id
            )
            if tracker.committed_through(committed):
                log.info("offsets committed through %s; stopping", tracker.targets)
                _exit_if_shutdown_hangs(SHUTDOWN_GRACE_SECONDS)
                os.kill(os.getpid(), signal.SIGTERM)

    app.crimestream_stats = stats  # type: ignore[attr-defined]
    app.crimestream_writer = writer  # type: ignore[attr-defined]
    return app


def _exit_if_shutdown_hangs(grace: float) -> None:
    """Everything is flushed and committed: if Faust's graceful stop hangs, exit 0 anyway."""

    def expire() -> None:
        log.warning("graceful shutdown still running after %.0fs; exiting (offsets are committed)", grace)
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(grace, expire)
    timer.daemon = True
    timer.start()


def _bound_the_stop(worker: faust.Worker, app: faust.App, grace: float) -> None:
    """Once a stop has begun (SIGTERM, or Faust crashed), give it ``grace`` seconds.

    Faust's graceful stop can wait forever (e.g. to leave a group on a broker that
    is gone).  Nothing un-flushed is lost by cutting it short: offsets are only
    committed after the lake has the data, so a restart replays the rest.
    """
    while not (worker.should_stop or app.should_stop):
        time.sleep(0.5)
    time.sleep(grace)
    log.warning("the processor is still stopping after %.0fs; exiting now (uncommitted events will be replayed)", grace)
    logging.shutdown()
    os._exit(0)


def run(settings: ProcessorSettings, *, until_caught_up: bool = False) -> int:
    """Run a worker until stopped (or caught up); returns the exit code."""
    readiness = Readiness(max(60.0, 10 * settings.batch_max_seconds), what="batch")
    observability = start_observability(settings, readiness, lake_dir=settings.lake_dir)
    app = create_app(settings, until_caught_up=until_caught_up, readiness=readiness)
    app.crimestream_writer.migrate()  # type: ignore[attr-defined]
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    threading.Thread(
        target=_bound_the_stop, args=(worker, app, SHUTDOWN_GRACE_SECONDS), name="bounded-stop", daemon=True
    ).start()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    except CrimestreamError as exc:
        log.error("%s", exc)
        return 1
    finally:
        if observability is not None:
            observability.close()
    return 0
