"""Live mode: a background thread performing one simulated daily load every interval.

The clock is accelerated: each interval is one day on the dataset's clock
(``Dataset.daily_load`` stamps the next day's load time), so a demo shows day
after day of new rows, corrections and deletions within minutes.
"""

from __future__ import annotations

import logging
import threading

from emulator.dataset import LoadReport
from emulator.served import ServedDataset

__all__ = ["LiveLoader"]

log = logging.getLogger(__name__)


class LiveLoader:
    """Runs ``dataset.daily_load`` every ``interval`` seconds until stopped."""

    def __init__(
        self,
        dataset: ServedDataset,
        interval: float,
        *,
        new_rows: int = 650,
        corrections: int = 5,
        deletions: int = 1,
    ) -> None:
        if interval <= 0:
            raise ValueError("the live interval must be positive")
        self.dataset = dataset
        self.interval = interval
        self.new_rows = new_rows
        self.corrections = corrections
        self.deletions = deletions
        self.loads = 0
        self.last: LoadReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="emulator-live", daemon=True)
        self._thread.start()
        log.info("live mode: one daily load every %.3gs", self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def load_once(self) -> LoadReport:
        report = self.dataset.daily_load(self.new_rows, self.corrections, self.deletions)
        self.loads += 1
        self.last = report
        return report

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.load_once()
            except Exception:  # keep the emulator serving even if one load fails
                log.exception("live daily load failed")
