"""``python -m chaos [--duration S] [--seed N] [--json OUT.json]``: the chaos soak (``make chaos``).

Exit codes: 0 the lake matched the source exactly; 1 it did not (lost, duplicated, stale,
misplaced or undeleted rows); 2 the soak could not run (e.g. the broker did not start).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import httpx

from chaos.runner import run_soak
from chaos.settings import ChaosSettings
from crimestream.errors import CrimestreamError
from crimestream.logs import configure_logging

__all__ = ["main"]

log = logging.getLogger("chaos")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chaos",
        description="Run the whole pipeline against the SODA emulator under random faults, let it catch up, "
        "and compare the lake with the source row by row.  Settings: CHAOS_* environment variables.",
    )
    parser.add_argument("--duration", type=float, help="seconds of fault injection (CHAOS_DURATION_SECONDS, 600)")
    parser.add_argument("--seed", type=int, help="seed of the faults, the workload and the data (CHAOS_SEED, 1)")
    parser.add_argument("--rows", type=int, help="rows the emulator starts with (CHAOS_ROWS, 5000)")
    parser.add_argument("--mean-fault-gap", type=float, help="mean seconds between faults (12)")
    parser.add_argument(
        "--source-clock",
        choices=("wall", "simulated"),
        help="stamps of the source's loads: wall clock (default) or the emulator's live-mode clock (a day per load)",
    )
    parser.add_argument("--work-dir", type=Path, help="where the run keeps everything (default DATA_DIR/chaos; wiped)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write the figures and report as JSON")
    return parser


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the soak like Ctrl-C: every child is stopped on the way out


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    overrides = {
        "chaos_duration_seconds": args.duration,
        "chaos_seed": args.seed,
        "chaos_rows": args.rows,
        "chaos_mean_fault_gap_seconds": args.mean_fault_gap,
        "chaos_work_dir": args.work_dir,
        "chaos_source_clock": args.source_clock,
    }
    settings = ChaosSettings(**{k: v for k, v in overrides.items() if v is not None})
    configure_logging(settings.log_level, settings.log_json)
    try:
        report = run_soak(settings)
    except (CrimestreamError, httpx.HTTPError, OSError) as exc:  # SoakError is a CrimestreamError
        print(f"chaos: error: the soak could not run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chaos: interrupted; every process of the soak was stopped", file=sys.stderr)
        return 130
    markdown = report.markdown()
    print(markdown, flush=True)
    (settings.work_dir / "report.md").write_text(markdown, encoding="utf-8")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        log.info("wrote %s", args.json)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
