"""The poller as a service: wire settings to client, publisher and state."""

from __future__ import annotations

import logging
import threading
import time

from crimestream.errors import CrimestreamError
from producers.normalize import Normalizer
from producers.poller import Poller
from producers.publisher import Publisher, ensure_topics
from producers.reconcile import reconcile_deletions
from producers.settings import PollerSettings
from producers.soda import SodaClient
from producers.state import WatermarkStore, atomic_write_text
from producers.topic_state import live_ids_in_topic, watermark_from_topic

__all__ = ["build_poller", "run_poller"]

log = logging.getLogger(__name__)


def build_poller(settings: PollerSettings) -> Poller:
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
    publisher = Publisher(settings, source=f"soda:{settings.soda_dataset_id}")
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
    )


def run_poller(settings: PollerSettings, *, once: bool, stop: threading.Event, reconcile: bool = False) -> int:
    """Poll once or until stopped; reconcile deletions when asked or due."""
    poller = build_poller(settings)
    schedule = ReconcileSchedule(settings)
    log.info(
        "polling %s dataset %s (%s) into topic %s%s",
        settings.soda_base_url,
        settings.spec.name,
        settings.soda_dataset_id,
        settings.crimes_topic,
        "" if settings.soda_app_token else " (no app token: expect throttling)",
    )
    try:
        while not stop.is_set():
            stats = poller.poll_once(stop)
            log.info(
                "poll done: %d rows, %d published, %d dead-lettered in %.1fs",
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
    except CrimestreamError:
        raise
    finally:
        poller.publisher.close()
        poller.client.close()
    return 0
