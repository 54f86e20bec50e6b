"""End-to-end backfill: SODA emulator -> poller -> Kafka -> processor -> lake, every stage running at once.

    python benchmarks/end_to_end.py [--rows 1000000] [--json OUT.json]

Starts the project's local Kafka + registry and the SODA emulator in its own
process (``python -m emulator``, seed 1, four years of incidents: the data of
the other benchmarks).  Once the emulator answers and the (empty) topic exists,
the clock starts and ``crimestream poll --once`` and ``crimestream process``
start together; the processor runs continuously, as in production.  The clock
stops when the lake's ``_metadata.json`` counts every row the poller published;
then the processor gets SIGTERM.  The lake must hold exactly ``--rows`` rows
with ``--rows`` distinct ids (checked with DuckDB), or the run fails.  Each
process's peak RSS is its ``VmHWM``, sampled from ``/proc``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb

from benchmarks._common import (
    DATA_DAYS,
    DATA_SEED,
    PeakSampler,
    fmt_mib,
    fmt_num,
    fmt_rate,
    markdown_table,
    stop_on_sigterm,
    wait_emulator,
    write_report,
)
from localkafka import LocalStack, free_port
from producers.publisher import ensure_topics
from producers.settings import PollerSettings
from sinks.lake_schema import PARTITION_FILE, table_dir
from sinks.metadata import read_metadata

__all__ = ["EndToEnd", "main", "run"]

_POLL_DONE = re.compile(r"poll done: (\d+) rows, (\d+) published, (\d+) dead-lettered")
_FLUSH = re.compile(r"flush: .* (\d+) bytes in")


@dataclass(frozen=True)
class EndToEnd:
    rows: int
    wall_s: float
    poller_s: float
    emulator_ready_s: float
    poller_peak_mib: float
    processor_peak_mib: float
    emulator_peak_mib: float
    lake_bytes: int
    partitions: int
    flushes: int
    written_bytes: int

    def figures(self) -> dict[str, float]:
        return {
            "rows": self.rows,
            "wall_s": self.wall_s,
            "rows_per_s": self.rows / self.wall_s,
            "poller_s": self.poller_s,
            "poller_peak_mib": self.poller_peak_mib,
            "processor_peak_mib": self.processor_peak_mib,
            "emulator_peak_mib": self.emulator_peak_mib,
            "lake_bytes": self.lake_bytes,
            "partitions": self.partitions,
            "flushes": self.flushes,
            "write_amplification": self.written_bytes / max(self.lake_bytes, 1),
        }

    def markdown(self, page_limit: int) -> str:
        table = markdown_table(
            ["rows", "wall s", "rows/s", "poller done at", "peak RSS poller", "peak RSS processor",
             "peak RSS emulator", "flushes", "partitions", "write amp."],
            [[
                fmt_num(self.rows), f"{self.wall_s:.1f}", fmt_rate(self.rows / self.wall_s), f"{self.poller_s:.1f} s",
                fmt_mib(self.poller_peak_mib), fmt_mib(self.processor_peak_mib), fmt_mib(self.emulator_peak_mib),
                str(self.flushes), str(self.partitions), f"{self.written_bytes / max(self.lake_bytes, 1):.1f}",
            ]],
            align="r" * 10,
        )  # fmt: skip
        return (
            "## End to end: emulator → poller → Kafka → processor → lake\n\n"
            f"{fmt_num(self.rows)} rows served by the emulator in its own process (seed 1, four years; ready after "
            f"{self.emulator_ready_s:.0f} s, not counted). `crimestream poll --once` (PAGE_LIMIT={page_limit:,}) and "
            "`crimestream process` (continuous, default batches) start together on an empty topic; the clock stops "
            "when the lake's metadata counts every row. The lake then held exactly that many distinct ids (DuckDB). "
            "Peak RSS is each process's VmHWM.\n\n"
            f"{table}\n"
        )


def _lake_check(lake: Path) -> tuple[int, int]:
    """(rows, distinct ids) of the lake, read with a plain glob as any reader would."""
    glob = str(lake / "*" / "*" / PARTITION_FILE).replace("'", "''")
    with duckdb.connect() as con:
        query = f"select count(*), count(distinct id) from read_parquet('{glob}', hive_partitioning = true)"
        ((rows, distinct),) = con.execute(query).fetchall()
    return int(rows), int(distinct)


def _stop(proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """SIGTERM one of our own children, SIGKILL it if it does not stop in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def _pipeline_env(stack: LocalStack, emulator_url: str, data_dir: Path, topic: str, page_limit: int) -> dict[str, str]:
    return dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=stack.kafka.bootstrap_servers,
        SCHEMA_REGISTRY_URL=stack.registry.url,
        SODA_BASE_URL=emulator_url,
        DATA_DIR=str(data_dir),
        START_DATE="2000-01-01",
        PAGE_LIMIT=str(page_limit),
        CRIMES_TOPIC=topic,
        RECONCILE_INTERVAL_SECONDS="0",
        PROCESSOR_GROUP_ID=f"bench-e2e-{uuid.uuid4().hex[:8]}",
        METRICS_PORT="0",
        LOG_LEVEL="INFO",
    )


def _wait_complete(
    poller: subprocess.Popen[bytes],
    processor: subprocess.Popen[bytes],
    logs: Path,
    lake: Path,
    *,
    started: float,
    timeout: float,
) -> tuple[int, float, float]:
    """Wait until the lake counts every published row: (published, poller seconds, wall seconds)."""
    published: int | None = None
    poller_s = 0.0
    deadline = started + timeout
    while True:
        now = time.monotonic()
        if published is None and poller.poll() is not None:
            poller_s = now - started
            if poller.returncode != 0:
                raise RuntimeError(f"the poller failed ({poller.returncode}):\n{_tail(logs / 'poller.log')}")
            match = _POLL_DONE.search((logs / "poller.log").read_text(errors="replace"))
            if match is None:
                raise RuntimeError(f"the poller logged no 'poll done' line:\n{_tail(logs / 'poller.log')}")
            published = int(match.group(2))
        if processor.poll() is not None:
            raise RuntimeError(f"the processor exited ({processor.returncode}):\n{_tail(logs / 'processor.log')}")
        if published is not None and int(read_metadata(lake).get("rows", 0)) >= published:
            return published, poller_s, time.monotonic() - started
        if now > deadline:
            raise RuntimeError(f"the lake was not complete after {timeout:.0f}s")
        time.sleep(0.25)


def run(rows: int, page_limit: int, workdir: Path, timeout: float) -> EndToEnd:
    python = sys.executable
    port = free_port()
    emulator_url = f"http://127.0.0.1:{port}"
    topic = f"bench.e2e.{uuid.uuid4().hex[:8]}"
    data_dir = workdir / "data"
    logs = workdir / "logs"
    logs.mkdir(parents=True)
    lake = table_dir(data_dir / "lake")
    emulator_env = dict(
        os.environ, EMULATOR_SEED=str(DATA_SEED), EMULATOR_DAYS=str(DATA_DAYS), EMULATOR_CRASH_ROWS="0",
        LOG_LEVEL="WARNING", METRICS_PORT="0",
    )  # fmt: skip
    children: list[subprocess.Popen[bytes]] = []
    with LocalStack(workdir / "broker") as stack, PeakSampler() as peaks, contextlib.ExitStack() as logs_open:
        try:
            emulator = subprocess.Popen(
                [python, "-m", "emulator", "--port", str(port), "--rows", str(rows)],
                env=emulator_env,
                stdout=subprocess.DEVNULL,
                stderr=logs_open.enter_context(open(logs / "emulator.log", "wb")),
            )
            children.append(emulator)
            peaks.watch("emulator", emulator.pid)
            ready = wait_emulator(emulator_url, emulator, timeout)
            env = _pipeline_env(stack, emulator_url, data_dir, topic, page_limit)
            ensure_topics(
                PollerSettings(
                    kafka_bootstrap_servers=stack.kafka.bootstrap_servers,
                    schema_registry_url=stack.registry.url,
                    crimes_topic=topic,
                    data_dir=data_dir,
                )
            )
            print(f"emulator ready with {rows:,} rows in {ready:.1f}s; starting the pipeline", file=sys.stderr)
            started = time.monotonic()
            for name in ("poller", "processor"):
                command = ["poll", "--once"] if name == "poller" else ["process"]
                log = logs_open.enter_context(open(logs / f"{name}.log", "wb"))
                proc = subprocess.Popen(
                    [python, "-m", "crimestream.cli", *command], env=env, stdout=log, stderr=subprocess.STDOUT
                )
                children.append(proc)
                peaks.watch(name, proc.pid)
            published, poller_s, wall_s = _wait_complete(
                children[1], children[2], logs, lake, started=started, timeout=timeout
            )
            print(f"lake complete after {wall_s:.1f}s (poller done at {poller_s:.1f}s)", file=sys.stderr)
            peaks.sample()
            _stop(children[2])
            if children[2].returncode != 0:
                print(f"note: the processor exited {children[2].returncode} on SIGTERM", file=sys.stderr)
        finally:
            for child in reversed(children):
                _stop(child)
    lake_rows, distinct = _lake_check(lake)
    if not lake_rows == distinct == rows == published:
        raise RuntimeError(
            f"the lake holds {lake_rows:,} rows, {distinct:,} distinct ids; expected {rows:,} (published {published:,})"
        )
    files = list(lake.glob(f"*/*/{PARTITION_FILE}"))
    processor_log = (logs / "processor.log").read_text(errors="replace")
    return EndToEnd(
        rows=rows,
        wall_s=wall_s,
        poller_s=poller_s,
        emulator_ready_s=ready,
        poller_peak_mib=peaks.peak("poller"),
        processor_peak_mib=peaks.peak("processor"),
        emulator_peak_mib=peaks.peak("emulator"),
        lake_bytes=sum(f.stat().st_size for f in files),
        partitions=len(files),
        flushes=len(_FLUSH.findall(processor_log)),
        written_bytes=sum(int(m.group(1)) for m in _FLUSH.finditer(processor_log)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows served by the emulator")
    parser.add_argument("--page-limit", type=int, default=50_000, help="PAGE_LIMIT of the poller")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="give up after this many seconds")
    parser.add_argument("--json", type=Path, help="write the report (figures + markdown) here")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (logs, lake) instead of a temp one")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
        result = run(args.rows, args.page_limit, args.keep, args.timeout)
    else:
        with tempfile.TemporaryDirectory(prefix="crimestream-bench-e2e-") as tmp:
            result = run(args.rows, args.page_limit, Path(tmp), args.timeout)
    report = write_report(args.json, "end_to_end", result.figures(), result.markdown(args.page_limit))
    print(report.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
