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
from dataclasses import dataclass
from datetime import date

from crimestream.errors import ValidationError
from producers.normalize import normalize_row
from producers.publisher import Publisher
from producers.soda import SodaClient
from producers.state import Watermark, WatermarkStore

__all__ = ["PollStats", "Poller", "keyset_params"]

log = logging.getLogger(__name__)

_UPDATED = ":updated_at"
_ROW_ID = ":id"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _soql_time(value: str) -> str:
    """':updated_at' as SODA prints it ('...000Z') -> a SoQL timestamp literal."""
    return value[:-1] if value.endswith("Z") else value


def keyset_params(mark: Watermark | None, start_date: date, limit: int) -> dict[str, str]:
    """SoQL parameters for the next page after ``mark``."""
    where = f"date >= {_quote(start_date.isoformat() + 'T00:00:00.000')}"
    if mark is not None:
        ts = _quote(_soql_time(mark.updated_at))
        where += f" AND ({_UPDATED} > {ts} OR ({_UPDATED} = {ts} AND {_ROW_ID} > {_quote(mark.row_id)}))"
    return {
        "$select": ":*,*",
        "$where": where,
        "$order": f"{_UPDATED} ASC, {_ROW_ID} ASC",
        "$limit": str(limit),
    }


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
    ) -> None:
        self.client = client
        self.publisher = publisher
        self.store = store
        self.start_date = start_date
        self.page_limit = page_limit

    def poll_once(self, stop: threading.Event | None = None) -> PollStats:
        """Publish everything new since the watermark; return when caught up."""
        stats = PollStats()
        started = time.monotonic()
        mark = self.store.load()
        while stop is None or not stop.is_set():
            rows = self.client.get(keyset_params(mark, self.start_date, self.page_limit))
            if not rows:
                break
            for raw in rows:
                try:
                    self.publisher.publish(normalize_row(raw))
                    stats.published += 1
                except ValidationError as exc:
                    self.publisher.dead_letter(raw, str(exc))
                    stats.dead_lettered += 1
            self.publisher.confirm()
            last = rows[-1]
            mark = Watermark(updated_at=str(last[_UPDATED]), row_id=str(last[_ROW_ID]))
            self.store.save(mark)
            stats.rows += len(rows)
            stats.pages += 1
            elapsed = time.monotonic() - started
            log.info(
                "page %d: %d rows (total %d, %.0f rows/s), watermark %s",
                stats.pages,
                len(rows),
                stats.rows,
                stats.rows / max(elapsed, 1e-9),
                mark.updated_at,
            )
            if len(rows) < self.page_limit:
                break
        stats.seconds = time.monotonic() - started
        return stats

    def run(self, interval: float, stop: threading.Event) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            stats = self.poll_once(stop)
            log.info(
                "poll done: %d rows, %d published, %d dead-lettered in %.1fs",
                stats.rows,
                stats.published,
                stats.dead_lettered,
                stats.seconds,
            )
            stop.wait(interval)
