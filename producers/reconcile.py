"""Deletions: the portal deletes rows without a trace; only comparing id sets finds them.

A reconciliation reads every id the source holds (within ``START_DATE``) and
every id live on the topic, publishes a tombstone for each id that vanished
from the source, and, as a backstop for rows that reached the source with an
update time already behind the watermark, fetches and publishes every source
id the topic lacks.  Memory grows with the number of ids (about 100 bytes
an id, so ~1 GB for the whole 8.5M-row history); it runs once a
``RECONCILE_INTERVAL_SECONDS`` (daily by default, like the portal's loads).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crimestream.errors import ValidationError
from producers.normalize import normalize_row
from producers.poller import since_clause
from producers.publisher import Publisher
from producers.soda import SodaClient

__all__ = ["reconcile_deletions", "source_ids", "tombstone_time"]

log = logging.getLogger(__name__)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def source_ids(
    client: SodaClient, start_date: date, page_limit: int, *, key_field: str = "id", time_field: str = "date"
) -> set[str]:
    """Every record key at the source, paged by the row identifier (keyset)."""
    ids: set[str] = set()
    last = ""
    base = since_clause(start_date, time_field)
    while True:
        rows = client.get(
            {
                "$select": f":id,{key_field}",
                "$where": f"{base} AND :id > {_quote(last)}",
                "$order": ":id ASC",
                "$limit": str(page_limit),
            }
        )
        ids.update(str(r[key_field]) for r in rows if key_field in r)
        if len(rows) < page_limit:
            return ids
        last = str(rows[-1][":id"])


def _literal(record_id: str) -> str:
    return record_id if record_id.isdigit() else _quote(record_id)


def _publish_missing(
    client: SodaClient,
    publisher: Publisher,
    missing: list[str],
    key_field: str,
    normalize: Callable[[Any], dict[str, Any]],
) -> int:
    published = 0
    for start in range(0, len(missing), 200):
        chunk = missing[start : start + 200]
        where = f"{key_field} IN ({', '.join(_literal(i) for i in chunk)})"
        rows = client.get({"$select": ":*,*", "$where": where, "$limit": "1000"})
        for raw in rows:
            try:
                publisher.publish(normalize(raw))
                published += 1
            except ValidationError as exc:
                publisher.dead_letter(raw, str(exc))
    return published


def tombstone_time(now: datetime, newest_source_update: datetime | None) -> datetime:
    """A tombstone's source time: when the deletion was detected, but always after
    every version published so far.

    Downstream, last-write-wins lets a tombstone delete only versions that are not
    newer than it; a source whose clock runs ahead of ours (or stamps loads in the
    future) would otherwise keep a deleted row alive for good.
    """
    if newest_source_update is not None and newest_source_update >= now:
        return newest_source_update + timedelta(milliseconds=1)
    return now


def reconcile_deletions(
    client: SodaClient,
    publisher: Publisher,
    published_ids: Callable[[], set[str]],
    *,
    start_date: date,
    page_limit: int,
    key_field: str = "id",
    time_field: str = "date",
    normalize: Callable[[Any], dict[str, Any]] = normalize_row,
    newest_source_update: datetime | None = None,
) -> int:
    """Tombstone every published live id that is gone from the source; returns how many.

    ``published_ids`` gives the ids live downstream (in production:
    ``producers.topic_state.live_ids_in_topic``); ``newest_source_update`` is the
    poller's watermark time (see ``tombstone_time``).
    """
    at_source = source_ids(client, start_date, page_limit, key_field=key_field, time_field=time_field)
    on_topic = published_ids()
    vanished = sorted(on_topic - at_source)
    now = tombstone_time(datetime.now(UTC), newest_source_update)
    for record_id in vanished:
        publisher.tombstone(record_id, now)
    republished = _publish_missing(client, publisher, sorted(at_source - on_topic), key_field, normalize)
    publisher.confirm()
    log.info(
        "reconciliation: %d ids at the source, %d live on the topic, %d tombstoned, %d missing ones published",
        len(at_source),
        len(on_topic),
        len(vanished),
        republished,
    )
    return len(vanished)
