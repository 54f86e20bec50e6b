"""The poll loop: page through SODA since the watermark, publish, confirm, advance.

Keyset paging over (``:updated_at``, ``:id``): each request asks for rows
strictly after the last confirmed row, ordered by the same pair, so ties on the
update time at a page boundary neither skip nor repeat rows.  The watermark is
saved only after Kafka confirmed every event of the page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from crimestream.errors import CrimestreamError, ValidationError
from producers.normalize import normalize_row
from producers.progress import format_progress
from producers.publisher import Publisher
from producers.soda import SodaClient
from producers.state import Watermark, WatermarkStore

__all__ = ["PollStats", "Poller", "count_params", "keyset_params", "since_clause"]

log = logging.getLogger(__name__)

_UPDATED = ":updated_at"
_ROW_ID = ":id"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _soql_time(value: str) -> str:
    """':updated_at' as SODA prints it ('...000Z') -> a SoQL timestamp literal."""
    return value[:-1] if value.endswith("Z") else value


def since_clause(start_date: date, time_field: str = "date") -> str:
    """SoQL: rows whose event time (the spec's partition-time field) is on or after ``start_date``."""
    return f"{time_field} >= {_quote(start_date.isoformat() + 'T00:00:00.000')}"


def _where(mark: Watermark | None, start_date: date, time_field: str = "date") -> str:
    where = since_clause(start_date, time_field)
    if mark is not None:
        ts = _quote(_soql_time(mark.updated_at))
        where += f" AND ({_UPDATED} > {ts} OR ({_UPDATED} = {ts} AND {_ROW_ID} > {_quote(mark.row_id)}))"
    return where


def count_params(mark: Watermark | None, start_date: date, time_field: str = "date") -> dict[str, str]:
    """SoQL parameters counting the rows still to read after ``mark``."""
    return {"$select": "count(*) AS n", "$where": _where(mark, start_date, time_field)}


def keyset_params(mark: Watermark | None, start_date: date, limit: int, time_field: str = "date") -> dict[str, str]:
    """SoQL parameters for the next page after ``mark``."""
    where = _where(mark, start_date, time_field)
    return {
        "$select": ":*,*",
        "$where": where,
        "$order": f"{_UPDATED} ASC, {_ROW_ID} ASC",
        "$limit": str(limit),
    }


def _advance(mark: Watermark | None, rows: list[dict[str, Any]]) -> Watermark:
    """The watermark after ``rows`` (ordered by update time, then row id) were confirmed."""
    last_time = str(rows[-1][_UPDATED])
    ties = sum(1 for row in rows if str(row.get(_UPDATED)) == last_time)
    if mark is not None and mark.updated_at == last_time:
        ties += mark.seen_at_time
    return Watermark(updated_at=last_time, row_id=str(rows[-1][_ROW_ID]), seen_at_time=ties)


@dataclass
class PollStats:
    rows: int = 0
    published: int = 0
    dead_lettered: int = 0
    pages: int = 0
    seconds: float = 0.0


class Poller:
    def __init__(
        self,
        client: SodaClient,
        publisher: Publisher,
        store: WatermarkStore,
        *,
        start_date: date,
        page_limit: int,
        recover: Callable[[], Watermark | None] | None = None,
        normalize: Callable[[Any], dict[str, Any]] = normalize_row,
        time_field: str = "date",
    ) -> None:
        self.client = client
        self.publisher = publisher
        self.store = store
        self.start_date = start_date
        self.page_limit = page_limit
        self.recover = recover
        self.normalize = normalize
        self.time_field = time_field

    def _reopen_boundary(self, mark: Watermark | None) -> Watermark | None:
        """Re-read the rows at the watermark's time if some appeared behind the cursor (late ties).

        Rows at the watermark's time that sort before its row id were all seen,
        unless the source added some since: then their count exceeds ours.
        """
        if mark is None or not mark.row_id:
            return mark
        ts = _quote(_soql_time(mark.updated_at))
        try:
            where = f"{_UPDATED} = {ts} AND {_ROW_ID} <= {_quote(mark.row_id)}"
            rows = self.client.get({"$select": "count(*) AS n", "$where": where})
            at_time = int(next(iter(rows[0].values())))
        except (LookupError, ValueError, StopIteration):
            return mark
        if at_time > mark.seen_at_time:
            log.info(
                "%d row(s) appeared at the watermark's time %s after it was read; re-reading that boundary",
                at_time - mark.seen_at_time,
                mark.updated_at,
            )
            return Watermark(mark.updated_at, "", 0)
        return mark

    def _count(self, mark: Watermark | None) -> int | None:
        """How many rows are still to read (for progress); None if the portal won't say."""
        try:
            rows = self.client.get(count_params(mark, self.start_date, self.time_field))
            return int(next(iter(rows[0].values())))
        except (CrimestreamError, LookupError, ValueError, StopIteration) as exc:
            log.debug("row count unavailable: %s", exc)
            return None

    def poll_once(self, stop: threading.Event | None = None) -> PollStats:
        """Publish everything new since the watermark; return when caught up."""
        stats = PollStats()
        started = time.monotonic()
        mark = self.store.load()
        if mark is None and self.recover is not None:
            mark = self.recover()
            if mark is not None:
                log.info("no poller state; resuming from the topic's newest event at %s", mark.updated_at)
                self.store.save(mark)
        mark = self._reopen_boundary(mark)
        total = self._count(mark)
        while stop is None or not stop.is_set():
            rows = self.client.get(keyset_params(mark, self.start_date, self.page_limit, self.time_field))
            if not rows:
                break
            for raw in rows:
                try:
                    self.publisher.publish(self.normalize(raw))
                    stats.published += 1
                except ValidationError as exc:
                    self.publisher.dead_letter(raw, str(exc))
                    stats.dead_lettered += 1
            self.publisher.confirm()
            mark = _advance(mark, rows)
            self.store.save(mark)
            stats.rows += len(rows)
            stats.pages += 1
            log.info(
                "page %d: %s; watermark %s",
                stats.pages,
                format_progress(stats.rows, total, time.monotonic() - started),
                mark.updated_at,
            )
            if len(rows) < self.page_limit:
                break
        stats.seconds = time.monotonic() - started
        return stats
