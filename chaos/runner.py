"""One soak, phase by phase: start, warm up, inject faults under live changes, catch up, check."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from chaos.checker import check
from chaos.dlq import read_dead_letters
from chaos.faults import plan_faults
from chaos.injector import Injector
from chaos.lake import lake_newest_update, read_lake_rows
from chaos.pipeline import Pipeline, SoakError, prepare_work_dir
from chaos.recovery import RecoveryTracker
from chaos.report import ServiceRecord, SoakReport
from chaos.settings import ChaosSettings
from chaos.settle import settle
from chaos.source import truth_rows
from chaos.workload import Workload

__all__ = ["run_soak"]

log = logging.getLogger(__name__)

_TICK = 0.25
_LATE_FAULTS_GRACE = 60.0  # how long after the window faults that waited for their target may still go in


def _log_to_file(pipeline: Pipeline) -> logging.Handler:
    handler = logging.FileHandler(pipeline.logs / "chaos.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def _warm_up(pipeline: Pipeline, timeout: float) -> None:
    """Wait for the initial backfill: the lake holds the source's newest stamp and everything is up."""
    newest = pipeline.admin.newest_stamp()
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        pipeline.supervise(now)
        lake = lake_newest_update(pipeline.lake_dir)
        if (newest is None or (lake is not None and lake >= newest)) and pipeline.all_up():
            return
        if now > deadline:
            raise SoakError(f"the initial backfill did not reach the lake within {timeout:.0f}s; see {pipeline.logs}")
        time.sleep(0.5)


def _fault_window(
    pipeline: Pipeline, injector: Injector, workload: Workload, tracker: RecoveryTracker, duration: float
) -> tuple[float, int]:
    """Faults and live changes for ``duration`` seconds (late faults up to a grace period).

    Returns the window's length and how many source faults were still queued (never served) at its end.
    """
    start = time.monotonic()
    end = start + duration
    while True:
        now = time.monotonic()
        if now >= end and (not injector.waiting or now >= end + _LATE_FAULTS_GRACE):
            break
        pipeline.supervise(now)
        if now < end:
            workload.tick(now)
        injector.tick(now, start)
        if tracker.pending:
            tracker.observe(now, lake_newest_update(pipeline.lake_dir), pipeline.all_up())
        time.sleep(_TICK)
    unserved = injector.stop()
    return time.monotonic() - start, unserved


def _timed(timings: dict[str, float], phase: str, step: Callable[[], None]) -> None:
    started = time.monotonic()
    step()
    timings[phase] = time.monotonic() - started
    log.info("%s done in %.1fs", phase, timings[phase])


def run_soak(settings: ChaosSettings) -> SoakReport:
    """Run one soak; raises ``SoakError`` when the soak itself cannot run."""
    prepare_work_dir(settings.work_dir)
    pipeline = Pipeline(settings)
    pipeline.logs.mkdir(parents=True, exist_ok=True)
    handler = _log_to_file(pipeline)
    tracker = RecoveryTracker()
    plan = plan_faults(settings.chaos_duration_seconds, settings.chaos_seed, settings.chaos_mean_fault_gap_seconds)
    log.info("soak in %s: %d faults planned over %.0fs", settings.work_dir, len(plan), settings.chaos_duration_seconds)
    timings: dict[str, float] = {}
    try:
        _timed(timings, "start", pipeline.start)
        initial = pipeline.admin.truth_lines()
        workload = Workload(
            pipeline.admin,
            random.Random(settings.chaos_seed),
            interval=settings.chaos_load_interval_seconds,
            rows=settings.chaos_load_rows,
            corrections=settings.chaos_load_corrections,
            deletions=settings.chaos_load_deletions,
            moves=settings.chaos_load_moves,
            wall_clock=settings.chaos_source_clock == "wall",
        )
        workload.prime(initial)
        _timed(timings, "warm-up", lambda: _warm_up(pipeline, settings.chaos_warmup_timeout_seconds))
        injector = Injector(pipeline, tracker, plan, pipeline.logs / "faults.jsonl")
        timings["faults"], unserved = _fault_window(
            pipeline, injector, workload, tracker, settings.chaos_duration_seconds
        )
        started = time.monotonic()
        settled = settle(pipeline, tracker, settings.chaos_settle_timeout_seconds)
        timings["catch-up"] = time.monotonic() - started
        recovery_clock = time.monotonic()
        started = time.monotonic()
        dashboard_status = pipeline.dashboard_page_status()
        pipeline.dashboard.stop(timeout=30)
        truth = truth_rows(pipeline.admin.truth_lines())
        result = check(truth, read_lake_rows(pipeline.lake_dir))
        letters = read_dead_letters(pipeline.processor_settings())
        served = pipeline.admin.faults_served()
        timings["check"] = time.monotonic() - started
        return SoakReport(
            seed=settings.chaos_seed,
            duration_s=settings.chaos_duration_seconds,
            rows_at_start=len(initial),
            work_dir=str(settings.work_dir),
            check=result,
            faults=injector.injected,
            planned_not_injected=len(injector.waiting),
            recoveries=tracker.recoveries,
            recovery_clock=recovery_clock,
            dead_letters=letters,
            workload=workload.stats,
            services=[ServiceRecord(s.name, s.starts, s.kills, list(s.exits)) for s in pipeline.services],
            broker_restarts=pipeline.broker.restarts,
            broker_crashes=pipeline.broker.crashes,
            source_faults_served=served,
            source_faults_unserved=unserved,
            settle=settled,
            timings=timings,
            dashboard_page_status=dashboard_status,
            source_clock=settings.chaos_source_clock,
        )
    finally:
        pipeline.close()
        logging.getLogger().removeHandler(handler)
        handler.close()
