"""Poller backfill benchmark: rows/s from the SODA emulator into Kafka, and peak memory.

    python benchmarks/poller_backfill.py                   # 1,000,000 rows, PAGE_LIMIT=50000
    python benchmarks/poller_backfill.py --rows 200000     # a quicker run
    python benchmarks/poller_backfill.py --json OUT.json   # also write the report (figures + markdown)

Starts the project's local broker and schema registry (``localkafka``), the
SODA emulator in its own process (``python -m emulator``: its CPU and memory
are separate from the poller's) and then ``crimestream poll --once`` as a
subprocess with ``START_DATE`` far back, so it backfills every row.  While the
poller runs, its ``VmHWM`` (peak resident set) is sampled from
``/proc/<pid>/status``; the emulator's too.  Prints one markdown table
(and with ``--json``, writes it with the figures for ``run_all.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import write_report
from localkafka import LocalStack, free_port

__all__ = ["BackfillResult", "main", "peak_rss_mib", "run_backfill"]

_PUBLISHED = re.compile(r"poll done: (\d+) rows, (\d+) published")


@dataclass(frozen=True)
class BackfillResult:
    rows: int
    published: int
    seconds: float
    poller_peak_mib: float
    emulator_peak_mib: float
    emulator_ready_seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def peak_rss_mib(pid: int) -> float | None:
    """The process's peak resident set (``VmHWM``) in MiB; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the emulator exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_emulator/health", timeout=2) as response:  # noqa: S310 (http URL we built)
                if json.load(response).get("ok"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the emulator did not answer within {timeout:.0f}s")


def run_backfill(rows: int, page_limit: int, workdir: Path, stack: LocalStack) -> BackfillResult:
    python = sys.executable
    port = free_port()
    emulator_url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    emulator = subprocess.Popen(
        [python, "-m", "emulator", "--port", str(port), "--rows", str(rows)],
        env=dict(os.environ, LOG_LEVEL="WARNING"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_healthy(emulator_url, emulator, timeout=600)
        ready = time.monotonic() - started
        env = dict(
            os.environ,
            KAFKA_BOOTSTRAP_SERVERS=stack.kafka.bootstrap_servers,
            SCHEMA_REGISTRY_URL=stack.registry.url,
            SODA_BASE_URL=emulator_url,
            DATA_DIR=str(workdir),
            START_DATE="2000-01-01",
            PAGE_LIMIT=str(page_limit),
            CRIMES_TOPIC=f"bench.crimes.{port}",
            RECONCILE_INTERVAL_SECONDS="0",
            METRICS_PORT="0",  # no /metrics server: port 9101 may be taken by a running pipeline
            LOG_LEVEL="INFO",
        )
        log_path = workdir / "poller.log"
        t0 = time.monotonic()
        with open(log_path, "wb") as log:
            poller = subprocess.Popen(
                [python, "-m", "crimestream.cli", "poll", "--once"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            peak = 0.0
            while poller.poll() is None:
                peak = max(peak, peak_rss_mib(poller.pid) or 0.0)
                time.sleep(0.2)
        seconds = time.monotonic() - t0
        if poller.returncode != 0:
            raise RuntimeError(f"the poller failed ({poller.returncode}):\n{log_path.read_text()[-3000:]}")
        emulator_peak = peak_rss_mib(emulator.pid) or 0.0
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    match = _PUBLISHED.search(log_path.read_text())
    done, published = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    return BackfillResult(done, published, seconds, peak, emulator_peak, ready)


def markdown(result: BackfillResult, page_limit: int) -> str:
    """The benchmark's section of RESULTS.md."""
    return (
        "## Poller backfill: emulator → Kafka\n\n"
        f"`crimestream poll --once` backfills every row from the emulator (its own process) into the local Kafka, "
        f"PAGE_LIMIT={page_limit:,}; peak RSS is each process's VmHWM.\n\n"
        "| rows | page | seconds | rows/s | poller peak RSS | emulator peak RSS | emulator ready |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {result.rows:,} | {page_limit:,} | {result.seconds:.1f} | {result.rows_per_second:,.0f} "
        f"| {result.poller_peak_mib:,.0f} MiB | {result.emulator_peak_mib:,.0f} MiB "
        f"| {result.emulator_ready_seconds:.1f} s |\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the emulated dataset")
    parser.add_argument("--page-limit", type=int, default=50_000, help="PAGE_LIMIT of the poller")
    parser.add_argument("--json", type=Path, help="write the report (figures + markdown) here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crimestream-bench-") as tmp, LocalStack() as stack:
        result = run_backfill(args.rows, args.page_limit, Path(tmp), stack)
    figures = {
        "rows": result.rows,
        "rows_per_s": result.rows_per_second,
        "poller_peak_mib": result.poller_peak_mib,
        "emulator_peak_mib": result.emulator_peak_mib,
        "seconds": result.seconds,
        "published": result.published,
        "page_limit": args.page_limit,
    }
    print(write_report(args.json, "poller_backfill", figures, markdown(result, args.page_limit)).markdown)
    if result.published != result.rows:
        print(f"note: {result.rows - result.published:,} row(s) were dead-lettered", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
