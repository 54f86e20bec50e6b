"""The poller as a service: wire settings to client, publisher and state.

``run_poller`` serves ``/metrics``, ``/health`` and ``/ready`` (``METRICS_PORT``,
default 9101) while it runs: rows polled, events produced and dead letters are
counted page by page, when Kafka confirms them; the poller is ready while its
last confirmed page or poll is recent and nothing failed since.

Stopping: the ``stop`` event (set on SIGTERM/SIGINT) is checked between pages.
A page in flight is published, confirmed and its watermark saved before the
loop ends, so a stop loses nothing and repeats nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from crimestream.errors import CrimestreamError
from crimestream.observability import (
    Readiness,
    record_dead_letters,
    record_events_produced,
    record_poll_error,
    record_rows_polled,
    start_observability,
)
from producers.normalize import Normalizer, parse_floating, parse_system_time
from producers.poller import Poller
from producers.publisher import Publisher, ensure_topics
from producers.reconcile import reconcile_deletions
from producers.settings import PollerSettings
from producers.soda import SodaClient
from producers.state import Watermark, WatermarkStore, atomic_write_text
from producers.topic_state import live_ids_in_topic, watermark_from_topic

__all__ = ["MeteredPublisher", "build_poller", "run_poller"]

log = logging.getLogger(__name__)


class MeteredPublisher(Publisher):
    """A ``Publisher`` that reports to the metrics what Kafka confirmed, at each ``confirm()``.

    Rows polled are the source rows handed on (published or dead-lettered);
    events produced are upserts and tombstones.  A successful confirm marks
    ``readiness`` as succeeded, a failed one as failed.
    """

    def __init__(self, settings: PollerSettings, source: str, readiness: Readiness | None = None) -> None:
        super().__init__(settings, source)
        self.readiness = readiness
        self._rows = 0
        self._events = 0
        self._dead = 0

    def publish(self, record: dict[str, Any]) -> None:
        super().publish(record)
        self._rows += 1
        self._events += 1

    def tombstone(self, record_id: str, detected_at: Any) -> None:
        super().tombstone(record_id, detected_at)
        self._events += 1

    def dead_letter(self, raw: Any, reason: str) -> None:
        super().dead_letter(raw, reason)
        self._rows += 1
        self._dead += 1

    def confirm(self, timeout: float = 120.0) -> None:
        rows, events, dead = self._rows, self._events, self._dead
        self._rows = self._events = self._dead = 0
        try:
            super().confirm(timeout)
        except CrimestreamError as exc:
            if self.readiness is not None:
                self.readiness.failed(str(exc))
            raise
        record_rows_polled(rows)
        record_events_produced(events)
        if dead:
            record_dead_letters("poller", dead)
        if self.readiness is not None:
            self.readiness.succeeded()


def build_poller(settings: PollerSettings, *, readiness: Readiness | None = None) -> Poller:
    ensure_topics(settings)
    token = settings.soda_app_token.get_secret_value() if settings.soda_app_token else None
    client = SodaClient(
        settings.soda_base_url,
        settings.soda_dataset_id,
        app_token=token,
        timeout=settings.soda_timeout_seconds,
        max_retries=settings.soda_max_retries,
        backoff=settings.soda_backoff_seconds,
        backoff_max=settings.soda_backoff_max_seconds,
    )
    publisher = MeteredPublisher(settings, f"soda:{settings.soda_dataset_id}", readiness)
    store = WatermarkStore(settings.state_dir, settings.soda_dataset_id)
    return Poller(
        client,
        publisher,
        store,
        start_date=settings.start_date,
        page_limit=settings.page_limit,
        recover=lambda: watermark_from_topic(settings),
        normalize=Normalizer(settings.spec),
        time_field=settings.spec.partition_time_field,
    )


class ReconcileSchedule:
    """When the last reconciliation ran, kept beside the watermark."""

    def __init__(self, settings: PollerSettings) -> None:
        self.path = settings.state_dir / f"poller-{settings.soda_dataset_id}-reconciled-at"
        self.interval = settings.reconcile_interval_seconds

    def due(self) -> bool:
        if self.interval <= 0:
            return False
        try:
            last = float(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return True
        return time.time() - last >= self.interval

    def done(self) -> None:
        atomic_write_text(self.path, f"{time.time():.3f}\n")


def _reconcile(poller: Poller, settings: PollerSettings) -> None:
    reconcile_deletions(
        poller.client,
        poller.publisher,
        lambda: live_ids_in_topic(settings),
        start_date=settings.start_date,
        page_limit=settings.page_limit,
        key_field=settings.spec.key_field,
        time_field=settings.spec.partition_time_field,
        normalize=poller.normalize,
        newest_source_update=_watermark_time(poller.store.load()),
    )


def _watermark_time(mark: Watermark | None) -> datetime | None:
    """The watermark's source time as an instant (system time 'Z', else a floating local time)."""
    if mark is None:
        return None
    text = mark.updated_at
    return parse_system_time(text) if text.endswith("Z") else parse_floating(text)


def run_poller(settings: PollerSettings, *, once: bool, stop: threading.Event, reconcile: bool = False) -> int:
    """Poll once or until stopped; reconcile deletions when asked or due; 0 when done or stopped."""
    readiness = Readiness(settings.ready_max_age_seconds, what="poll")
    server = start_observability(settings, readiness)
    try:
        poller = build_poller(settings, readiness=readiness)
        try:
            _poll_loop(poller, settings, readiness, once=once, stop=stop, reconcile=reconcile)
        finally:
            poller.publisher.close()
            poller.client.close()
    finally:
        if server is not None:
            server.close()
    if stop.is_set():
        mark = poller.store.load()
        log.info("poller stopped; watermark at %s", mark.updated_at if mark else "(none)")
    return 0


def _poll_loop(
    poller: Poller,
    settings: PollerSettings,
    readiness: Readiness,
    *,
    once: bool,
    stop: threading.Event,
    reconcile: bool,
) -> None:
    schedule = ReconcileSchedule(settings)
    log.info(
        "polling %s dataset %s (%s) into topic %s%s",
        settings.soda_base_url,
        settings.spec.name,
        settings.soda_dataset_id,
        settings.crimes_topic,
        "" if settings.soda_app_token else " (no app token: expect throttling)",
    )
    while not stop.is_set():
        try:
            stats = poller.poll_once(stop)
        except Exception as exc:
            record_poll_error()
            readiness.failed(str(exc) or type(exc).__name__)
            raise
        readiness.succeeded()
        log.info(
            "poll %s: %d rows, %d published, %d dead-lettered in %.1fs",
            "stopped" if stop.is_set() else "done",
            stats.rows,
            stats.published,
            stats.dead_lettered,
            stats.seconds,
        )
        if not stop.is_set() and (reconcile or schedule.due()):
            _reconcile(poller, settings)
            schedule.done()
            reconcile = False
        if once:
            break
        stop.wait(settings.poll_interval_seconds)
