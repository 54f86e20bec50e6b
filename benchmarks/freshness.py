"""Freshness benchmark: how long after a change at the source it is visible in the lake.

    python benchmarks/freshness.py                                   # 150 s of changes, 5 s poll interval
    python benchmarks/freshness.py --duration 60 --poll-interval 5 --json freshness.json

Starts the project's local broker and schema registry (``localkafka``), the
SODA emulator (``python -m emulator --rows N``, the benchmarks' data: seed 1,
four years of incidents), ``crimestream poll`` (continuous,
``POLL_INTERVAL_SECONDS``) and ``crimestream process`` (``BATCH_MAX_SECONDS``)
as subprocesses, and waits until the lake holds the base dataset.  Then, for
``--duration`` seconds, it changes the source at random times, 0.5 to 1.5 poll
intervals apart, alternating a load of new rows and a load of corrections
(``POST /_emulator/load``; every row of a load is stamped with its
``:updated_at``; no deletion: those propagate on the poller's reconciliation
schedule), and reads the lake with DuckDB every ``--check-interval`` for each
load's ids at that version or newer.  A sample is one load: the time from its
response to the first lake read showing all its rows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import DATA_DAYS, DATA_SEED, fmt_num, markdown_table, wait_emulator, write_report

__all__ = [
    "Change",
    "FreshnessResult",
    "changes_of",
    "first_poll_published",
    "load_body",
    "main",
    "next_delay",
    "percentile",
    "render_markdown",
    "summarize",
]

TABLE = "crimes"
_POLL_DONE = re.compile(r"poll done: \d+ rows, (\d+) published")


# ---------------------------------------------------------------------------
# Pure logic


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within [0, 100]")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and max (seconds, rounded to ms) of the samples."""
    return {
        "p50_s": round(percentile(values, 50), 3),
        "p95_s": round(percentile(values, 95), 3),
        "max_s": round(max(values), 3),
    }


@dataclass
class Change:
    """Rows of one kind changed by one load, all at ``at_ms`` (their ``:updated_at``)."""

    load: int
    kind: str
    ids: frozenset[str]
    at_ms: int
    applied: float  # monotonic, when the load's response arrived
    visible: float | None = None

    @property
    def latency(self) -> float | None:
        return None if self.visible is None else self.visible - self.applied

    def seen_in(self, versions: dict[str, int]) -> bool:
        """Whether every row is in the lake at this version or a newer one (id -> source_updated_at ms)."""
        return all(versions.get(rid, -1) >= self.at_ms for rid in self.ids)


def changes_of(load: int, report: dict[str, Any], applied: float) -> list[Change]:
    """The load's report (``POST /_emulator/load``) as one change per non-empty kind."""
    at_ms = int(datetime.fromisoformat(str(report["at"])).timestamp() * 1000)
    groups = {"new": report.get("inserted") or [], "correction": report.get("corrected") or []}
    return [Change(load, kind, frozenset(str(i) for i in ids), at_ms, applied) for kind, ids in groups.items() if ids]


def load_body(load: int, rows: int, corrections: int) -> dict[str, int]:
    """``POST /_emulator/load`` body of the ``load``-th change (from 1): new rows first, then corrections, in turn."""
    if load % 2:
        return {"rows": rows, "corrections": 0, "deletions": 0}
    return {"rows": 0, "corrections": corrections, "deletions": 0}


def next_delay(rng: random.Random, poll_interval: float) -> float:
    """Seconds until the next load: uniform over [0.5, 1.5] poll intervals, so loads land at any phase of a poll."""
    return rng.uniform(0.5 * poll_interval, 1.5 * poll_interval)


# ---------------------------------------------------------------------------
# Processes


@dataclass
class Services:
    emulator: subprocess.Popen[bytes]
    poller: subprocess.Popen[bytes]
    processor: subprocess.Popen[bytes]
    logs: Sequence[IO[bytes]] = field(default_factory=list)

    def check_alive(self) -> None:
        for name, proc in (("emulator", self.emulator), ("poller", self.poller), ("processor", self.processor)):
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} exited with code {proc.returncode}")

    def stop(self) -> None:
        for proc in (self.poller, self.processor, self.emulator):
            if proc.poll() is None:
                proc.terminate()
        for proc in (self.poller, self.processor, self.emulator):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for log in self.logs:
            log.close()


def _http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http URL we built)
        return json.load(response)


@dataclass(frozen=True)
class Config:
    rows: int
    seed: int
    days: int
    duration: float
    poll_interval: float
    batch_max_seconds: float
    load_rows: int
    load_corrections: int
    check_interval: float


def start_services(config: Config, workdir: Path, stack: Any, emulator_url: str, port: int) -> Services:
    python = sys.executable
    logs = [open(workdir / f"{name}.log", "wb") for name in ("emulator", "poller", "processor")]  # noqa: SIM115
    emulator = subprocess.Popen(
        [python, "-m", "emulator", "--port", str(port), "--rows", str(config.rows), "--seed", str(config.seed)],
        env=dict(os.environ, EMULATOR_DAYS=str(config.days), EMULATOR_CRASH_ROWS="0", LOG_LEVEL="WARNING"),
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=stack.kafka.bootstrap_servers,
        SCHEMA_REGISTRY_URL=stack.registry.url,
        SODA_BASE_URL=emulator_url,
        DATA_DIR=str(workdir / "data"),
        START_DATE="2000-01-01",
        CRIMES_TOPIC=f"bench.freshness.{port}",
        PROCESSOR_GROUP_ID=f"bench-freshness-{port}",
        POLL_INTERVAL_SECONDS=str(config.poll_interval),
        BATCH_MAX_SECONDS=str(config.batch_max_seconds),
        RECONCILE_INTERVAL_SECONDS="0",
        METRICS_PORT="0",
        LOG_LEVEL="INFO",
    )
    try:
        wait_emulator(emulator_url, emulator, timeout=300)
    except BaseException:
        emulator.terminate()
        emulator.wait(timeout=30)
        for log in logs:
            log.close()
        raise
    cli = [python, "-m", "crimestream.cli"]
    poller = subprocess.Popen([*cli, "poll"], env=env, stdout=logs[1], stderr=subprocess.STDOUT)
    processor = subprocess.Popen([*cli, "process"], env=env, stdout=logs[2], stderr=subprocess.STDOUT)
    return Services(emulator, poller, processor, logs)


# ---------------------------------------------------------------------------
# The lake side


class LakeProbe:
    """Reads the lake's (id, source_updated_at) for given ids with DuckDB, only when the lake changed."""

    def __init__(self, lake_dir: Path) -> None:
        import duckdb

        self.table_dir = lake_dir / TABLE
        self.glob = str(self.table_dir / "*" / "*" / "*.parquet")
        self.con = duckdb.connect()
        self._seen_mtime: int | None = None
        self._last_query = 0.0

    def rows(self) -> int:
        """Row count from ``_metadata.json`` (0 before the first flush)."""
        try:
            meta = json.loads((self.table_dir / "_metadata.json").read_text())
        except (OSError, ValueError):
            return 0
        return int(meta.get("rows", 0))

    def changed(self, max_age: float = 1.0) -> bool:
        """True when ``_metadata.json`` (rewritten after every flush) moved, or ``max_age`` s passed."""
        try:
            mtime: int | None = (self.table_dir / "_metadata.json").stat().st_mtime_ns
        except OSError:
            mtime = None
        return mtime != self._seen_mtime or time.monotonic() - self._last_query >= max_age

    def versions(self, ids: set[str]) -> dict[str, int] | None:
        """id -> source_updated_at (epoch ms) for the ids found; None when the read raced a swap."""
        import duckdb

        try:
            self._seen_mtime = (self.table_dir / "_metadata.json").stat().st_mtime_ns
        except OSError:
            return {}
        self._last_query = time.monotonic()
        try:
            rows = self.con.execute(
                f"select id, epoch_ms(source_updated_at) from read_parquet('{self.glob}') "
                "where id in (select unnest($ids))",
                {"ids": sorted(ids)},
            ).fetchall()
        except duckdb.Error:
            self._seen_mtime = None  # read again on the next tick
            return None
        out: dict[str, int] = {}
        for rid, stamp in rows:
            out[str(rid)] = max(out.get(str(rid), -1), int(stamp))
        return out


def first_poll_published(log_text: str) -> int | None:
    """Rows the poller's first completed poll published (its log line), None before it completes."""
    match = _POLL_DONE.search(log_text)
    return int(match.group(1)) if match else None


def wait_for_base(probe: LakeProbe, services: Services, poller_log: Path, rows: int, timeout: float) -> float:
    """Seconds until the lake holds every base row the poller's first (backfill) poll published."""
    t0 = time.monotonic()
    last_report = 0.0
    target: int | None = None
    while True:
        services.check_alive()
        if target is None:
            target = first_poll_published(poller_log.read_text(errors="replace"))
        have = probe.rows()
        now = time.monotonic()
        if target is not None and have >= target:
            return now - t0
        if now - t0 > timeout:
            raise RuntimeError(f"the lake holds {have:,} of {target or rows:,} base rows after {timeout:.0f}s")
        if now - last_report >= 10:
            print(f"freshness: backfill {have:,}/{target or rows:,} rows in the lake", file=sys.stderr, flush=True)
            last_report = now
        time.sleep(0.5)


def _resolve(probe: LakeProbe, pending: list[Change]) -> list[Change]:
    """Marks the pending changes the lake now shows; returns those still pending."""
    if not pending or not probe.changed():
        return pending
    started = time.monotonic()
    ids: set[str] = set()
    for change in pending:
        ids |= change.ids
    versions = probe.versions(ids)
    if versions is None:
        return pending
    still: list[Change] = []
    for change in pending:
        if change.seen_in(versions):
            change.visible = started
            print(
                f"freshness: load {change.load} {change.kind} ({len(change.ids)} rows) visible after "
                f"{change.latency:.2f}s",
                file=sys.stderr,
                flush=True,
            )
        else:
            still.append(change)
    return still


def measure(config: Config, services: Services, probe: LakeProbe, emulator_url: str) -> list[Change]:
    """Apply loads at random times for ``duration`` seconds, new rows and corrections in turn; wait for each."""
    rng = random.Random(config.seed)
    changes: list[Change] = []
    pending: list[Change] = []
    start = time.monotonic()
    next_load = start + next_delay(rng, config.poll_interval)
    loads = 0
    drain_timeout = max(60.0, 6 * config.poll_interval + 10 * config.batch_max_seconds)
    while True:
        now = time.monotonic()
        if now - start < config.duration and now >= next_load:
            loads += 1
            body = load_body(loads, config.load_rows, config.load_corrections)
            report = _http_json(f"{emulator_url}/_emulator/load", body)
            new = changes_of(loads, report, time.monotonic())
            changes += new
            pending += new
            next_load = time.monotonic() + next_delay(rng, config.poll_interval)
        elif now - start >= config.duration and (not pending or now - start >= config.duration + drain_timeout):
            return changes
        pending = _resolve(probe, pending)
        services.check_alive()
        time.sleep(config.check_interval)


# ---------------------------------------------------------------------------
# Report


@dataclass(frozen=True)
class FreshnessResult:
    config: Config
    changes: list[Change]
    backfill_s: float

    def latencies(self, kind: str | None = None) -> list[float]:
        return [c.latency for c in self.changes if c.latency is not None and (kind is None or c.kind == kind)]

    @property
    def missed(self) -> int:
        return sum(1 for c in self.changes if c.visible is None)


def figures(result: FreshnessResult) -> dict[str, float | int]:
    """Flat numbers for run_all.py: samples, p50_s, p95_s, max_s, poll_interval_s and the run's settings."""
    samples = result.latencies()
    if not samples:
        raise RuntimeError("no change became visible in the lake: no sample")
    c = result.config
    return {
        "samples": len(samples),
        **summarize(samples),
        "poll_interval_s": c.poll_interval,
        "batch_max_seconds": c.batch_max_seconds,
        "loads": len({change.load for change in result.changes}),
        "missed": result.missed,
        "duration_s": c.duration,
        "base_rows": c.rows,
        "backfill_s": round(result.backfill_s, 1),
    }


def _row(label: str, samples: list[float], poll: float) -> list[str]:
    if not samples:
        return [label, "0", "–", "–", "–", "–"]
    s = summarize(samples)
    ratios = f"{s['p50_s'] / poll:.2f} / {s['p95_s'] / poll:.2f} / {s['max_s'] / poll:.2f}"
    return [label, fmt_num(len(samples)), f"{s['p50_s']:.2f} s", f"{s['p95_s']:.2f} s", f"{s['max_s']:.2f} s", ratios]


def render_markdown(result: FreshnessResult) -> str:
    c = result.config
    table = markdown_table(
        ["change", "samples", "p50", "p95", "max", "p50 / p95 / max ÷ poll interval"],
        [
            _row("new rows", result.latencies("new"), c.poll_interval),
            _row("corrections", result.latencies("correction"), c.poll_interval),
            _row("all", result.latencies(), c.poll_interval),
        ],
    )
    text = (
        "## Freshness: a change at the source until it is visible in the lake\n\n"
        f"Base dataset {fmt_num(c.rows)} rows (seed {c.seed}); for {c.duration:g} s the source changed at random "
        f"times, 0.5–1.5 poll intervals apart: {c.load_rows} new rows and {c.load_corrections} corrections in turn; "
        f"`crimestream poll` with `POLL_INTERVAL_SECONDS={c.poll_interval:g}`, `crimestream process` with "
        f"`BATCH_MAX_SECONDS={c.batch_max_seconds:g}`; the lake read with DuckDB every "
        f"{c.check_interval * 1000:.0f} ms. A sample is one change, from the emulator's response "
        "to the first lake read showing all its rows at that version.\n\n"
        f"{table}\n"
    )
    if result.missed:
        text += f"\n**{result.missed} change(s) were not visible within the drain timeout.**\n"
    return text


def run(config: Config, workdir: Path) -> FreshnessResult:
    from localkafka import LocalStack, free_port

    port = free_port()
    emulator_url = f"http://127.0.0.1:{port}"
    print("freshness: starting the broker and schema registry", file=sys.stderr, flush=True)
    with LocalStack(workdir / "broker") as stack:
        print(f"freshness: starting the emulator ({config.rows:,} rows), poller and processor", file=sys.stderr)
        services = start_services(config, workdir, stack, emulator_url, port)
        try:
            probe = LakeProbe(workdir / "data" / "lake")
            backfill = wait_for_base(probe, services, workdir / "poller.log", config.rows, timeout=900)
            print(f"freshness: base dataset in the lake after {backfill:.1f}s; measuring", file=sys.stderr)
            changes = measure(config, services, probe, emulator_url)
        except BaseException:
            for name in ("poller", "processor"):
                tail = (workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                print(f"--- {name}.log (tail) ---\n{tail}", file=sys.stderr)
            raise
        finally:
            services.stop()
    return FreshnessResult(config, changes, backfill)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the base dataset")
    parser.add_argument("--seed", type=int, default=DATA_SEED, help="emulator seed, and of the load times")
    parser.add_argument("--days", type=int, default=DATA_DAYS, help="days of incidents generated (EMULATOR_DAYS)")
    parser.add_argument("--duration", type=float, default=150.0, help="seconds of changes")
    parser.add_argument("--poll-interval", type=float, default=5.0, help="POLL_INTERVAL_SECONDS of the poller")
    parser.add_argument("--batch-max-seconds", type=float, default=1.0, help="BATCH_MAX_SECONDS of the processor")
    parser.add_argument("--load-rows", type=int, default=650, help="new rows per load")
    parser.add_argument("--load-corrections", type=int, default=5, help="corrections per load")
    parser.add_argument("--check-interval", type=float, default=0.1, help="seconds between lake reads")
    parser.add_argument("--json", type=Path, help="write {name, figures, markdown} here")
    parser.add_argument("--workdir", type=Path, help="keep the broker, lake and logs here (default: a temp dir)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = Config(
        args.rows,
        args.seed,
        args.days,
        args.duration,
        args.poll_interval,
        args.batch_max_seconds,
        args.load_rows,
        args.load_corrections,
        args.check_interval,
    )
    with tempfile.TemporaryDirectory(prefix="crimestream-freshness-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = run(config, workdir)
    report = write_report(args.json, "freshness", figures(result), render_markdown(result))
    print(report.markdown, end="")
    if result.missed:
        print(f"freshness: {result.missed} change(s) never became visible", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
