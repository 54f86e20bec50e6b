"""Deletions: the portal deletes rows without a trace; only comparing id sets finds them.

A reconciliation reads every id the source holds (within ``START_DATE``) and
every id live on the topic, and publishes a tombstone for each id that
vanished from the source.  Memory grows with the number of ids (about 100 bytes
an id, so ~1 GB for the whole 8.5M-row history); it runs once a
``RECONCILE_INTERVAL_SECONDS`` (daily by default, like the portal's loads).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from producers.publisher import Publisher
from producers.soda import SodaClient

__all__ = ["reconcile_deletions", "source_ids"]

log = logging.getLogger(__name__)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def source_ids(client: SodaClient, start_date: date, page_limit: int) -> set[str]:
    """Every record id at the source, paged by the row identifier (keyset)."""
    ids: set[str] = set()
    last = ""
    base = f"date >= {_quote(start_date.isoformat() + 'T00:00:00.000')}"
    while True:
        rows = client.get(
            {
                "$select": ":id,id",
                "$where": f"{base} AND :id > {_quote(last)}",
                "$order": ":id ASC",
                "$limit": str(page_limit),
            }
        )
        ids.update(str(r["id"]) for r in rows if "id" in r)
        if len(rows) < page_limit:
            return ids
        last = str(rows[-1][":id"])


def reconcile_deletions(
    client: SodaClient,
    publisher: Publisher,
    published_ids: Callable[[], set[str]],
    *,
    start_date: date,
    page_limit: int,
) -> int:
    """Tombstone every published live id that is gone from the source; returns how many.

    ``published_ids`` gives the ids live downstream (in production:
    ``producers.topic_state.live_ids_in_topic``).
    """
    at_source = source_ids(client, start_date, page_limit)
    on_topic = published_ids()
    vanished = sorted(on_topic - at_source)
    now = datetime.now(UTC)
    for record_id in vanished:
        publisher.tombstone(record_id, now)
    publisher.confirm()
    log.info(
        "reconciliation: %d ids at the source, %d live on the topic, %d tombstoned",
        len(at_source),
        len(on_topic),
        len(vanished),
    )
    return len(vanished)
