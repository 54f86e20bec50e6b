"""The poller as a service: wire settings to client, publisher and state."""

from __future__ import annotations

import logging
import threading

from crimestream.errors import CrimestreamError
from producers.poller import Poller
from producers.publisher import Publisher, ensure_topics
from producers.settings import PollerSettings
from producers.soda import SodaClient
from producers.state import WatermarkStore

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
    return Poller(client, publisher, store, start_date=settings.start_date, page_limit=settings.page_limit)


def run_poller(settings: PollerSettings, *, once: bool, stop: threading.Event) -> int:
    poller = build_poller(settings)
    log.info(
        "polling %s dataset %s into topic %s%s",
        settings.soda_base_url,
        settings.soda_dataset_id,
        settings.crimes_topic,
        "" if settings.soda_app_token else " (no app token: expect throttling)",
    )
    try:
        if once:
            stats = poller.poll_once(stop)
            log.info(
                "done: %d rows, %d published, %d dead-lettered in %.1fs",
                stats.rows,
                stats.published,
                stats.dead_lettered,
                stats.seconds,
            )
        else:
            poller.run(settings.poll_interval_seconds, stop)
    except CrimestreamError:
        raise
    finally:
        poller.publisher.close()
        poller.client.close()
    return 0
