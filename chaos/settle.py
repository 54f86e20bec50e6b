"""After the faults: let everything catch up, run a final reconciliation, and stop the writers.

1. The broker is brought back at once if a fault left it down; the source is frozen by then.
2. The running pipeline catches up by itself: the poller's watermark reaches the source's
   newest stamp, the lake's newest source update reaches it too, every service is up.
3. The running poller is stopped and ``crimestream poll --once --reconcile`` runs: one last
   poll and a deletion reconciliation (tombstones for ids gone from the source).
4. The running processor consumes through the end of the topic (its committed offsets reach
   the end offsets) and is stopped gracefully; if it does not within the time limit, it is
   stopped and ``crimestream process --until-caught-up`` finishes the job, and the report says so.

With the writers stopped the lake no longer changes: the checker reads a stable lake.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos.lake import lake_newest_update
from chaos.pipeline import GROUP_ID, Pipeline, SoakError
from chaos.processes import run_to_end
from chaos.recovery import RecoveryTracker
from chaos.source import parse_stamp
from crimestream.errors import BrokerError
from producers.state import WatermarkStore
from stream_processors.progress import end_offsets

__all__ = ["SettleReport", "settle"]

log = logging.getLogger(__name__)


@dataclass
class SettleReport:
    pipeline_caught_up_s: float | None = None  # step 2, None: not within the limit
    final_reconcile_exit: int | None = None
    processor_caught_up_s: float | None = None  # step 4 by the running processor, None: it did not
    fallback_exit: int | None = None  # exit code of `process --until-caught-up`, when it was needed
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _wait(pipeline: Pipeline, tracker: RecoveryTracker, done: Callable[[], bool], timeout: float) -> float | None:
    """Supervise and time recoveries until ``done()``; the seconds it took, None at the timeout."""
    start = time.monotonic()
    while True:
        now = time.monotonic()
        pipeline.supervise(now)
        if tracker.pending:
            tracker.observe(now, lake_newest_update(pipeline.lake_dir), pipeline.all_up())
        if done():
            return time.monotonic() - start
        if now - start > timeout:
            return None
        time.sleep(0.5)


def _pipeline_caught_up(pipeline: Pipeline, tracker: RecoveryTracker) -> bool:
    newest = pipeline.admin.newest_stamp()
    if newest is None:
        return True
    mark = WatermarkStore(pipeline.watermark_file().parent, "ijzp-q8t2").load()
    lake = lake_newest_update(pipeline.lake_dir)
    return (
        mark is not None
        and parse_stamp(mark.updated_at) >= newest
        and lake is not None
        and lake >= newest
        and not tracker.pending
    )


def _processor_caught_up(pipeline: Pipeline) -> bool:
    settings = pipeline.processor_settings()
    try:
        ends, committed = end_offsets(settings, settings.crimes_topic, GROUP_ID, timeout=5.0)
    except BrokerError as exc:
        log.info("offsets not readable yet: %s", exc)
        return False
    return all(committed.get(p, -1) >= end for p, end in ends.items() if end > 0)


def _one_shot(pipeline: Pipeline, timeout: float) -> dict[str, Any]:
    return {"env": pipeline.env, "logs": pipeline.logs, "cwd": pipeline.work_dir, "timeout": timeout}


def settle(pipeline: Pipeline, tracker: RecoveryTracker, timeout: float) -> SettleReport:
    report = SettleReport()
    started = time.monotonic()
    pipeline.broker.restart_now(started)
    if _wait(pipeline, tracker, lambda: pipeline.broker.up, timeout) is None:
        raise SoakError(f"the Kafka broker did not come back within {timeout:.0f}s; see {pipeline.stack.kafka.workdir}")

    log.info("settling: waiting for the running pipeline to catch up with the source")
    report.pipeline_caught_up_s = _wait(pipeline, tracker, lambda: _pipeline_caught_up(pipeline, tracker), timeout)
    if report.pipeline_caught_up_s is None:
        report.notes.append(f"the running pipeline did not catch up with the source within {timeout:.0f}s")

    log.info("settling: final poll and deletion reconciliation")
    pipeline.poller.stop(timeout=60)
    for _ in range(3):
        report.final_reconcile_exit = run_to_end(
            "poller-final", ["poll", "--once", "--reconcile"], **_one_shot(pipeline, timeout)
        )
        if report.final_reconcile_exit == 0:
            break
        report.notes.append(f"the final `poll --once --reconcile` exited with {report.final_reconcile_exit}")

    log.info("settling: waiting for the running processor to reach the end of the topic")
    report.processor_caught_up_s = _wait(pipeline, tracker, lambda: _processor_caught_up(pipeline), timeout)
    code = pipeline.processor.stop(timeout=30)
    if report.processor_caught_up_s is None:
        report.notes.append(
            f"the running processor did not reach the end of the topic within {timeout:.0f}s; "
            "`process --until-caught-up` finished it"
        )
        report.fallback_exit = run_to_end(
            "processor-final", ["process", "--until-caught-up"], **_one_shot(pipeline, timeout)
        )
    elif code not in (0, None):
        report.notes.append(f"the processor exited with {code} on SIGTERM after catching up")
    report.seconds = time.monotonic() - started
    return report
