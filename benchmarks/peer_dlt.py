"""Peer benchmark: dlt (dlthub) keeping a local Delta lake of the crimes dataset in sync.

    python benchmarks/peer_dlt.py                       # 1,000,000 rows
    python benchmarks/peer_dlt.py --rows 20000 --json peer.json

What a user would pick instead of crimestream to keep a local lake of
``ijzp-q8t2`` in sync: a dlt pipeline with one resource reading the same SODA
endpoint (``$select=:*,*``, keyset paging on ``(:updated_at, :id)``,
``$limit`` = the poller's ``PAGE_LIMIT``), incremental on ``:updated_at``
(``dlt.sources.incremental``) and ``write_disposition`` merge (upsert) on the
primary key ``id`` into dlt's filesystem destination as a Delta table (parquet
files + ``_delta_log``, written by the ``deltalake`` package).

Starts the SODA emulator in its own process (``python -m emulator --rows N``,
the data of the other benchmarks: seed 1, four years of incidents), then runs
the dlt pipeline in a subprocess (this script with ``--worker``) for the
initial load, applies one daily load of changes through
``POST /_emulator/load`` (new rows and corrections, no deletion: dlt's
incremental cursor cannot see deletions) and runs the pipeline again.  After
each run the Delta table is checked against ``GET /_emulator/truth``: same
row count, same ids, same ``:updated_at`` per id.  Wall times are the dlt
process's, start to exit; peak RSS is its ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    DATA_DAYS,
    DATA_SEED,
    fmt_mib,
    fmt_num,
    fmt_rate,
    markdown_table,
    wait_emulator,
    write_report,
)
from localkafka import free_port

__all__ = [
    "Config",
    "PeerResult",
    "RunResult",
    "keyset_params",
    "keyset_where",
    "main",
    "render_markdown",
    "soda_pages",
]

DATASET_ID = "ijzp-q8t2"
RESOURCE_PATH = f"/resource/{DATASET_ID}.json"
CURSOR = ":updated_at"
ROW_ID = ":id"
EPOCH = "1970-01-01T00:00:00.000Z"
PIPELINE = "crimes_peer"
DATASET_NAME = "chicago"
TABLE = "crimes"

Row = dict[str, Any]
Fetch = Callable[[dict[str, str]], list[Row]]


# ---------------------------------------------------------------------------
# SODA keyset paging (pure)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _soql_time(value: str) -> str:
    """':updated_at' as SODA prints it ('...000Z') -> a SoQL floating timestamp literal."""
    return value[:-1] if value.endswith("Z") else value


def keyset_where(start: str, after: tuple[str, str] | None) -> str:
    """SoQL ``$where``: rows at or after ``start`` (first page), else strictly after ``(updated_at, id)``.

    The first page uses ``>=`` on the incremental's start value: rows sharing the
    last run's newest stamp come again and dlt's incremental drops the ones it
    has already seen (it keeps their primary-key hashes in its state).
    """
    if after is None:
        return f"{CURSOR} >= {_quote(_soql_time(start))}"
    stamp, row_id = _quote(_soql_time(after[0])), _quote(after[1])
    return f"{CURSOR} > {stamp} OR ({CURSOR} = {stamp} AND {ROW_ID} > {row_id})"


def keyset_params(start: str, after: tuple[str, str] | None, limit: int) -> dict[str, str]:
    """The SoQL parameters of one page."""
    return {
        "$select": ":*,*",
        "$where": keyset_where(start, after),
        "$order": f"{CURSOR} ASC, {ROW_ID} ASC",
        "$limit": str(limit),
    }


def soda_pages(fetch: Fetch, start: str, limit: int) -> Iterator[list[Row]]:
    """Every row updated at or after ``start``, page by page, in ``(:updated_at, :id)`` order.

    A page shorter than ``limit`` is the last one, so an exact multiple costs
    one more (empty) request.
    """
    if limit < 1:
        raise ValueError("the page limit must be positive")
    after: tuple[str, str] | None = None
    while True:
        rows = fetch(keyset_params(start, after, limit))
        if rows:
            yield rows
        if len(rows) < limit:
            return
        after = (str(rows[-1][CURSOR]), str(rows[-1][ROW_ID]))


# ---------------------------------------------------------------------------
# The dlt side (runs in the worker subprocess)


def _maxrss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # KiB on Linux


def run_dlt(base_url: str, lake: Path, pipelines_dir: Path, page_limit: int) -> dict[str, Any]:
    """One pipeline run (extract, normalize, load); what it did, as JSON-able figures."""
    import dlt
    from dlt.sources.helpers import requests as dlt_requests

    url = base_url.rstrip("/") + RESOURCE_PATH
    fetched = 0

    def fetch(params: dict[str, str]) -> list[Row]:
        nonlocal fetched
        response = dlt_requests.get(url, params=params, timeout=120)
        response.raise_for_status()
        rows: list[Row] = response.json()
        fetched += len(rows)
        print(f"  dlt: fetched {fetched:,} rows", file=sys.stderr, flush=True)
        return rows

    @dlt.resource(
        name=TABLE,
        primary_key="id",
        write_disposition={"disposition": "merge", "strategy": "upsert"},
        table_format="delta",
        max_table_nesting=0,  # `location` stays one JSON column
    )
    def crimes(
        updated_at: Any = dlt.sources.incremental(f"'{CURSOR}'", initial_value=EPOCH),  # noqa: B008 (dlt's idiom)
    ) -> Iterator[list[Row]]:
        yield from soda_pages(fetch, str(updated_at.start_value), page_limit)

    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE,
        destination=dlt.destinations.filesystem(bucket_url=lake.resolve().as_uri()),
        dataset_name=DATASET_NAME,
        pipelines_dir=str(pipelines_dir),
    )
    phases: dict[str, float] = {}
    for phase, step in (("extract", lambda: pipeline.extract(crimes())), ("normalize", pipeline.normalize)):
        t0 = time.monotonic()
        step()
        phases[phase] = time.monotonic() - t0
        print(f"  dlt: {phase} done in {phases[phase]:.1f}s", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    pipeline.load()
    phases["load"] = time.monotonic() - t0
    print(f"  dlt: load done in {phases['load']:.1f}s", file=sys.stderr, flush=True)
    normalize_info = pipeline.last_trace.last_normalize_info
    rows = int(normalize_info.row_counts.get(TABLE, 0)) if normalize_info is not None else 0
    return {"rows": rows, "fetched": fetched, "phases": phases, "peak_mib": _maxrss_mib()}


def _worker_main(args: argparse.Namespace) -> int:
    result = run_dlt(args.worker, Path(args.lake), Path(args.pipelines_dir), args.page_limit)
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------
# The driver: emulator, the two runs, verification


@dataclass(frozen=True)
class Config:
    rows: int
    seed: int
    days: int
    page_limit: int
    load_rows: int
    load_corrections: int


@dataclass(frozen=True)
class RunResult:
    rows: int  # rows of the table in the run's load package (after dlt's dedup)
    fetched: int  # rows read from SODA
    wall_s: float  # the dlt process, start to exit
    phases: dict[str, float]
    peak_mib: float


@dataclass(frozen=True)
class PeerResult:
    rows: int
    initial: RunResult
    incremental: RunResult
    change_rows: int  # new rows + corrections applied between the runs
    lake_rows: int
    lake_mib: float
    emulator_ready_s: float
    config: Config


def _http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http URL we built)
        return json.load(response)


def _run_worker(url: str, workdir: Path, page_limit: int) -> RunResult:
    env = dict(os.environ, RUNTIME__DLTHUB_TELEMETRY="false", RUNTIME__LOG_LEVEL="WARNING")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        url,
        "--lake",
        str(workdir / "lake"),
        "--pipelines-dir",
        str(workdir / "pipelines"),
        "--page-limit",
        str(page_limit),
    ]
    t0 = time.monotonic()
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, check=False, cwd=workdir)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"the dlt pipeline failed with code {done.returncode}")
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return RunResult(int(out["rows"]), int(out["fetched"]), wall, dict(out["phases"]), float(out["peak_mib"]))


def _epoch_ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


def _truth(url: str) -> dict[str, int]:
    """Every live row's id -> :updated_at (epoch ms), from the emulator's truth."""
    out: dict[str, int] = {}
    with urllib.request.urlopen(f"{url}/_emulator/truth", timeout=600) as response:  # noqa: S310
        for line in response:
            if line.strip():
                row = json.loads(line)
                out[str(row["id"])] = _epoch_ms(str(row[CURSOR]))
    return out


def _lake_versions(lake: Path) -> tuple[int, dict[str, int]]:
    """(row count, id -> _updated_at epoch ms) of the Delta table."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    table = DeltaTable(str(lake / DATASET_NAME / TABLE)).to_pyarrow_table(columns=["id", "_updated_at"])
    stamps = pc.divide(table.column("_updated_at").cast(pa.int64()), 1000)
    return table.num_rows, dict(zip(table.column("id").to_pylist(), stamps.to_pylist(), strict=True))


def verify(url: str, lake: Path) -> int:
    """Raise unless the Delta table holds exactly the emulator's live rows at their versions; its row count."""
    truth = _truth(url)
    count, versions = _lake_versions(lake)
    if count != len(versions):
        raise RuntimeError(f"the Delta table holds {count - len(versions):,} duplicate id(s)")
    if set(versions) != set(truth):
        missing, extra = len(set(truth) - set(versions)), len(set(versions) - set(truth))
        raise RuntimeError(
            f"the Delta table has {count:,} rows, the truth {len(truth):,}: {missing} missing, {extra} extra"
        )
    stale = sum(1 for rid, stamp in truth.items() if versions[rid] != stamp)
    if stale:
        raise RuntimeError(f"{stale:,} row(s) of the Delta table are not at the source's :updated_at")
    return count


def _dir_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def run_peer(config: Config, workdir: Path) -> PeerResult:
    rows, seed, page_limit = config.rows, config.seed, config.page_limit
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"peer_dlt: starting the emulator ({rows:,} rows, seed {seed})", file=sys.stderr, flush=True)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", str(port), "--rows", str(rows), "--seed", str(seed)],
        env=dict(
            os.environ, EMULATOR_DAYS=str(config.days), EMULATOR_CRASH_ROWS="0", LOG_LEVEL="WARNING", METRICS_PORT="0"
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = wait_emulator(url, emulator, timeout=900)
        print(f"peer_dlt: initial load with dlt (emulator ready in {ready:.1f}s)", file=sys.stderr, flush=True)
        initial = _run_worker(url, workdir, page_limit)
        print("peer_dlt: verifying the Delta table against the truth", file=sys.stderr, flush=True)
        verify(url, workdir / "lake")
        report = _http_json(
            f"{url}/_emulator/load", {"rows": config.load_rows, "corrections": config.load_corrections, "deletions": 0}
        )
        change_rows = len(report["inserted"]) + len(set(report["corrected"]))
        print(f"peer_dlt: incremental run after a load of {change_rows} changes", file=sys.stderr, flush=True)
        incremental = _run_worker(url, workdir, page_limit)
        lake_rows = verify(url, workdir / "lake")
    finally:
        emulator.terminate()
        emulator.wait(timeout=60)
    lake_mib = _dir_mib(workdir / "lake")
    return PeerResult(rows, initial, incremental, change_rows, lake_rows, lake_mib, ready, config)


# ---------------------------------------------------------------------------
# Report


def figures(result: PeerResult) -> dict[str, float | int]:
    """Flat numbers for run_all.py: the initial load's rows, wall_s, rows_per_s, peak_mib, then the incremental run."""
    initial, incremental = result.initial, result.incremental
    return {
        "rows": initial.rows,
        "wall_s": round(initial.wall_s, 2),
        "rows_per_s": round(initial.rows / initial.wall_s, 1) if initial.wall_s > 0 else 0.0,
        "peak_mib": round(initial.peak_mib, 1),
        "incremental_wall_s": round(incremental.wall_s, 2),
        "incremental_rows": incremental.rows,
        "incremental_rows_read": incremental.fetched,
        "incremental_peak_mib": round(incremental.peak_mib, 1),
        "lake_rows": result.lake_rows,
        "lake_mib": round(result.lake_mib, 1),
        "seed": result.config.seed,
        "page_limit": result.config.page_limit,
        "emulator_ready_s": round(result.emulator_ready_s, 2),
    }


def _phases(run: RunResult) -> str:
    return " / ".join(f"{run.phases.get(p, 0.0):.1f}" for p in ("extract", "normalize", "load")) + " s"


def render_markdown(result: PeerResult, versions: str) -> str:
    initial, incremental, config = result.initial, result.incremental, result.config
    rate = initial.rows / initial.wall_s if initial.wall_s > 0 else 0.0
    table = markdown_table(
        ["run", "rows read", "rows loaded", "wall", "rows/s", "extract / normalize / load", "peak RSS"],
        [
            [
                "initial load",
                fmt_num(initial.fetched),
                fmt_num(initial.rows),
                f"{initial.wall_s:.1f} s",
                fmt_rate(rate),
                _phases(initial),
                fmt_mib(initial.peak_mib),
            ],
            [
                f"incremental ({fmt_num(result.change_rows)} changes)",
                fmt_num(incremental.fetched),
                fmt_num(incremental.rows),
                f"{incremental.wall_s:.1f} s",
                "–",
                _phases(incremental),
                fmt_mib(incremental.peak_mib),
            ],
        ],
    )
    return (
        "## Peer: dlt incremental merge into a Delta lake\n\n"
        f'{versions}: filesystem destination, `table_format="delta"`, merge (upsert) on `id`, incremental on '
        f"`:updated_at`, keyset pages of {fmt_num(config.page_limit)} rows from the same SODA emulator and data "
        f"(seed {config.seed}, {config.days / 365:g} years of incidents). Wall time and peak RSS of the dlt process, "
        "start to exit; extract / normalize / load are dlt's own steps. The incremental run reads again the rows "
        "sharing the last run's newest `:updated_at` (its start value, `>=`) and dlt drops those it has seen.\n\n"
        f"{table}\n\n"
        "After each run the Delta table held exactly the emulator's live rows "
        f"({fmt_num(result.lake_rows)} at the end) at their `:updated_at`; {result.lake_mib:,.1f} MiB on disk "
        "(old versions are kept until `VACUUM`). "
        f"The change between the runs was one daily load ({config.load_rows} new rows, {config.load_corrections} "
        "corrections) without its deletion: an incremental cursor never sees a deleted row (crimestream reconciles "
        "deletions against the source's id set). dlt infers the column types from the JSON: SODA's numbers stay "
        "text and the floating local `date` is read as UTC unless the resource declares column hints.\n"
    )


def _versions() -> str:
    from importlib.metadata import version

    return f"dlt {version('dlt')} + deltalake {version('deltalake')}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the emulated dataset")
    parser.add_argument("--seed", type=int, default=DATA_SEED, help="emulator seed (the benchmarks' data)")
    parser.add_argument("--days", type=int, default=DATA_DAYS, help="days of incidents generated (EMULATOR_DAYS)")
    parser.add_argument("--page-limit", type=int, default=50_000, help="rows per SODA request (our PAGE_LIMIT)")
    parser.add_argument("--load-rows", type=int, default=650, help="new rows in the load between the runs")
    parser.add_argument("--load-corrections", type=int, default=5, help="corrections in that load")
    parser.add_argument("--json", type=Path, help="write {name, figures, markdown} here")
    parser.add_argument("--workdir", type=Path, help="keep the lake and dlt state here (default: a temp dir)")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    parser.add_argument("--pipelines-dir", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        return _worker_main(args)
    with tempfile.TemporaryDirectory(prefix="crimestream-peer-dlt-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        config = Config(args.rows, args.seed, args.days, args.page_limit, args.load_rows, args.load_corrections)
        result = run_peer(config, workdir)
    report = write_report(args.json, "peer_dlt", figures(result), render_markdown(result, _versions()))
    print(report.markdown, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
