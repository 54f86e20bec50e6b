"""Run every benchmark in one go and write ``benchmarks/RESULTS.md`` (``make bench``).

    python benchmarks/run_all.py                        # every benchmark, 1,000,000 rows
    python benchmarks/run_all.py --full                 # the end-to-end backfill on 8,500,000 rows
    python benchmarks/run_all.py --only dashboard       # a subset (written to the run folder, not RESULTS.md)

Each benchmark runs as its own subprocess (so its memory figures are its own)
with ``--json``; its log and report go to ``.cache/bench-runs/<time>/``.  Then
RESULTS.md gets the machine, a summary of our figures against the limits and
the peer measured in the same run, and every benchmark's own section.  A
benchmark that is missing, fails, times out or writes no report is recorded as
FAILED with the last lines of its log, and the exit code is then 1.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    REPO,
    BenchReport,
    fmt_num,
    fmt_rate,
    machine,
    markdown_table,
    ratio,
    read_report,
    stop_on_sigterm,
)

__all__ = [
    "Bench",
    "Outcome",
    "main",
    "plan",
    "render_results",
    "run_one",
    "select",
    "summary_rows",
]

FULL_ROWS = 8_500_000
DASHBOARD_ROWS = 8_500_000
TAIL_LINES = 25

Figures = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class Bench:
    """One benchmark: its name, the arguments after ``python`` (without ``--json``), other names it answers to."""

    name: str
    argv: tuple[str, ...]
    aliases: tuple[str, ...] = ()

    @property
    def entry(self) -> Path:
        """The file that must exist for the benchmark to run."""
        if self.argv[0] == "-m":
            return REPO / self.argv[1].replace(".", "/") / "__main__.py"
        return REPO / self.argv[0]

    def command(self, json_path: Path | None = None) -> list[str]:
        tail = ["--json", str(json_path)] if json_path is not None else []
        return [sys.executable, *self.argv, *tail]

    def shown(self) -> str:
        return "python " + shlex.join(self.argv)


@dataclass
class Outcome:
    bench: Bench
    status: str  # "ok", "FAILED" or "not run"
    seconds: float = 0.0
    report: BenchReport | None = None
    error: str = ""
    log_tail: str = ""
    log: Path | None = None

    @property
    def failed(self) -> bool:
        return self.status == "FAILED"


@dataclass(frozen=True)
class Options:
    rows: int = 1_000_000
    full: bool = False
    dashboard_rows: int = DASHBOARD_ROWS
    chaos_duration: float = 120.0
    only: tuple[str, ...] = ()
    timeout: float = 6 * 3600
    out: Path | None = None


def plan(options: Options, run_dir: Path) -> list[Bench]:
    """Every benchmark, in the order they run (``run_dir``: where this run keeps its files)."""
    rows = str(options.rows)
    e2e_rows = str(FULL_ROWS if options.full else options.rows)
    return [
        Bench("limits", ("benchmarks/limits.py", "--rows", rows)),
        Bench("poller_backfill", ("benchmarks/poller_backfill.py", "--rows", rows)),
        Bench("processor_backfill", ("benchmarks/processor_backfill.py", "--rows", rows)),
        Bench("end_to_end", ("benchmarks/end_to_end.py", "--rows", e2e_rows)),
        Bench("peer_dlt", ("benchmarks/peer_dlt.py", "--rows", rows)),
        Bench("freshness", ("benchmarks/freshness.py",)),
        Bench("lake_size", ("benchmarks/lake_size.py", "--rows", rows)),
        Bench(
            "dashboard",
            ("benchmarks/dashboard_bench.py", "--rows", str(options.dashboard_rows)),
            aliases=("dashboard_bench",),
        ),
        Bench("dashboard_browser", ("benchmarks/dashboard_browser_bench.py",), aliases=("dashboard_browser_bench",)),
        Bench(
            "chaos",
            ("-m", "chaos", "--duration", f"{options.chaos_duration:g}", "--work-dir", str(run_dir / "chaos")),
        ),
    ]


def select(benches: Sequence[Bench], only: Sequence[str]) -> list[Bench]:
    """The benchmarks named in ``only`` (names or aliases), in run order; all of them when empty."""
    if not only:
        return list(benches)
    known = {name: b.name for b in benches for name in (b.name, *b.aliases)}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(b.name for b in benches)}")
    wanted = {known[name] for name in only}
    return [b for b in benches if b.name in wanted]


# --- running --------------------------------------------------------------------------


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the benchmark we started and everything it started (its own session), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 60.0), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _execute(bench: Bench, json_path: Path, log: Path, timeout: float) -> int | None:
    """Run the benchmark; its exit code, or None when it timed out."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            bench.command(json_path), cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            return None
        except BaseException:  # Ctrl-C: the benchmark is in its own session, stop it too
            _stop_group(proc)
            raise


def run_one(bench: Bench, run_dir: Path, timeout: float) -> Outcome:
    """Run one benchmark in a subprocess and read its report; never raises for a benchmark's failure."""
    if not bench.entry.exists():
        return Outcome(bench, "FAILED", error=f"{bench.entry.relative_to(REPO)} does not exist")
    json_path = run_dir / f"{bench.name}.json"
    log = run_dir / f"{bench.name}.log"
    json_path.unlink(missing_ok=True)
    started = time.monotonic()
    code = _execute(bench, json_path, log, timeout)
    seconds = time.monotonic() - started
    report: BenchReport | None = None
    problems: list[str] = []
    if code is None:
        problems.append(f"timed out after {timeout:.0f} s")
    elif code != 0:
        problems.append(f"exit code {code}")
    if json_path.exists():
        try:
            report = read_report(json_path)
        except ValueError as exc:
            problems.append(f"unreadable report: {exc}")
    else:
        problems.append("wrote no report")
    if problems:
        return Outcome(bench, "FAILED", seconds, report, "; ".join(problems), _tail(log), log)
    return Outcome(bench, "ok", seconds, report, log=log)


# --- the summary ----------------------------------------------------------------------


def _get(figures: Figures, bench: str, key: str) -> float | None:
    value = figures.get(bench, {}).get(key)
    return float(value) if value is not None else None


def _limits(figures: Figures, keys: Sequence[tuple[str, str]]) -> list[tuple[float, str]] | None:
    """The named limits (value, label), lowest first; None if any is missing."""
    found = [(_get(figures, "limits", key), label) for key, label in keys]
    present = [(value, label) for value, label in found if value is not None]
    if len(present) != len(found) or not present:
        return None
    return sorted(present)


def _frac(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "—"


def _missing(reasons: Mapping[str, str], *benches: str) -> str:
    why = [f"{b} {reasons.get(b, 'gave no figure')}" for b in benches]
    return "— (" + ", ".join(why) + ")"


_PRODUCE = ("produce_events_per_s", "produce")
_CONSUME = ("consume_events_per_s", "consume + decode")
_WRITE = ("pyarrow_write_rows_per_s", "pyarrow write")


def _vs_limit(
    figures: Figures,
    reasons: Mapping[str, str],
    measure: str,
    ours: tuple[str, str, str],
    limits: Sequence[tuple[str, str]],
) -> list[str]:
    """A row comparing ``ours`` (benchmark, figure, unit) with the lowest of ``limits`` (figure, label)."""
    bench, key, unit = ours
    mine = _get(figures, bench, key)
    mine_text = f"{fmt_rate(mine)} {unit}" if mine is not None else _missing(reasons, bench)
    found = _limits(figures, limits)
    if found is None:
        return [measure, mine_text, _missing(reasons, "limits"), "—"]
    (lowest, label), others = found[0], found[1:]
    limit_text = f"{fmt_rate(lowest)} {unit} ({label}"
    limit_text += "".join(f"; {other}: {fmt_rate(value)}" for value, other in others) + ")"
    return [measure, mine_text, limit_text, _frac(ratio(mine, lowest))]


def summary_rows(figures: Figures, reasons: Mapping[str, str]) -> list[list[str]]:
    """The summary table's rows: measure, ours, limit or baseline, fraction.

    ``figures`` maps a benchmark's name to its figures; ``reasons`` says why a
    benchmark has none (``"FAILED"``, ``"not run"``); a benchmark that ran but
    lacks a figure is shown as having given none.
    """
    rows = [
        _vs_limit(figures, reasons, "poller backfill rows/s ÷ Kafka produce limit",
                  ("poller_backfill", "rows_per_s", "rows/s"), [_PRODUCE]),
        _vs_limit(figures, reasons, "processor events/s ÷ min(consume, write) limit",
                  ("processor_backfill", "events_per_s", "events/s"), [_CONSUME, _WRITE]),
        _vs_limit(figures, reasons, "end-to-end rows/s ÷ min(produce, consume, write) limit",
                  ("end_to_end", "rows_per_s", "rows/s"), [_PRODUCE, _CONSUME, _WRITE]),
    ]  # fmt: skip
    rows.append(_vs_peer(figures, reasons))
    rows.extend(_freshness(figures, reasons))
    rows.append(_lake_size(figures, reasons))
    rows.append(_chaos(figures, reasons))
    return rows


def _rate_of(figures: Figures, bench: str, label: str) -> str | None:
    """'1,234 rows/s (label, 20,000 rows)' from a benchmark's rows_per_s and rows; None without a rate."""
    rate, rows = _get(figures, bench, "rows_per_s"), _get(figures, bench, "rows")
    if rate is None:
        return None
    notes = [n for n in (label, f"{fmt_num(rows)} rows" if rows is not None else "") if n]
    return f"{fmt_rate(rate)} rows/s" + (f" ({', '.join(notes)})" if notes else "")


def _vs_peer(figures: Figures, reasons: Mapping[str, str]) -> list[str]:
    value = ratio(_get(figures, "end_to_end", "rows_per_s"), _get(figures, "peer_dlt", "rows_per_s"))
    return [
        "end-to-end rows/s ÷ dlt peer rows/s",
        _rate_of(figures, "end_to_end", "") or _missing(reasons, "end_to_end"),
        _rate_of(figures, "peer_dlt", "dlt") or _missing(reasons, "peer_dlt"),
        f"{value:.2f}×" if value is not None else "—",
    ]


def _freshness(figures: Figures, reasons: Mapping[str, str]) -> list[list[str]]:
    interval = _get(figures, "freshness", "poll_interval_s")
    samples = _get(figures, "freshness", "samples")
    rows = []
    for key, label in (("p50_s", "p50"), ("p95_s", "p95")):
        value = _get(figures, "freshness", key)
        measure = f"freshness {label} (source change → lake) ÷ poll interval"
        if value is None or interval is None:
            rows.append([measure, _missing(reasons, "freshness"), _missing(reasons, "freshness"), "—"])
            continue
        shown = f"{value:.1f} s" + (f" ({fmt_num(samples)} samples)" if samples is not None else "")
        rows.append([measure, shown, f"{interval:g} s poll interval", _frac(ratio(value, interval))])
    return rows


def _lake_size(figures: Figures, reasons: Mapping[str, str]) -> list[str]:
    lake, csv = _get(figures, "lake_size", "lake_bytes_per_row"), _get(figures, "lake_size", "csv_bytes_per_row")
    measure = "lake bytes/row ÷ portal CSV bytes/row"
    if lake is None or csv is None:
        return [measure, _missing(reasons, "lake_size"), _missing(reasons, "lake_size"), "—"]
    return [measure, f"{lake:.1f} B/row", f"{csv:.1f} B/row (CSV export)", _frac(ratio(lake, csv))]


_CHAOS = "chaos soak: lost / duplicated / stale / misplaced / undeleted rows"


def _chaos(figures: Figures, reasons: Mapping[str, str]) -> list[str]:
    if "chaos" not in figures:
        return [_CHAOS, _missing(reasons, "chaos"), "0 / 0 / 0 / 0 / 0", "—"]
    keys = ("lost", "duplicated", "stale", "misplaced", "undeleted")
    values = [_get(figures, "chaos", k) for k in keys]
    shown = " / ".join(fmt_num(v) if v is not None else "?" for v in values)
    compared = _get(figures, "chaos", "rows_compared")
    recovery = _get(figures, "chaos", "longest_recovery_s")
    extra = []
    if compared is not None:
        extra.append(f"of {fmt_num(compared)} rows")
    if recovery is not None:
        extra.append(f"longest recovery {recovery:.1f} s")
    return [
        _CHAOS,
        shown + (f" ({', '.join(extra)})" if extra else ""),
        "0 / 0 / 0 / 0 / 0",
        "exact" if all(v == 0 for v in values) else "NOT exact",
    ]


# --- RESULTS.md -----------------------------------------------------------------------


def _code_block(text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}\n{text}\n{fence}"


def _section(outcome: Outcome) -> str:
    if outcome.status == "ok" and outcome.report is not None:
        return outcome.report.markdown.strip()
    parts = [f"## {outcome.bench.name}: FAILED", "", f"`{outcome.bench.shown()}`: {outcome.error}."]
    if outcome.log_tail:
        parts += ["", "Last lines of its log:", "", _code_block(outcome.log_tail)]
    if outcome.report is not None:
        parts += ["", "What it reported before failing:", "", outcome.report.markdown.strip()]
    return "\n".join(parts)


def _status_table(outcomes: Sequence[Outcome]) -> str:
    rows = [
        [o.bench.name, o.status if o.status != "FAILED" else f"**FAILED** ({o.error})",
         f"{o.seconds:.0f}" if o.status != "not run" else "—", f"`{o.bench.shown()}`"]
        for o in outcomes
    ]  # fmt: skip
    return markdown_table(["benchmark", "status", "seconds", "command"], rows, align="llrl")


def render_results(
    outcomes: Sequence[Outcome], machine_info: Mapping[str, str], invocation: str, finished: Mapping[str, str]
) -> str:
    """The whole RESULTS.md."""
    figures = {o.bench.name: o.report.figures for o in outcomes if o.status == "ok" and o.report is not None}
    reasons = {o.bench.name: o.status for o in outcomes if o.status != "ok"}
    info = {**machine_info, **finished}
    parts = [
        "# Benchmark results",
        "",
        f"Generated by `{invocation}`. Every figure below was measured in this one run, each beside its "
        "limit or baseline from the same run: the machine is shared and noisy, so compare within this file, "
        "not across runs.",
        "",
        "## Machine",
        "",
        markdown_table(["", ""], [[k, v] for k, v in info.items()], align="ll"),
        "",
        "## Summary: ours vs the limit",
        "",
        "Limits come from `limits.py` on the same data (Kafka produce/consume of pre-serialised events, "
        "parquet writes), so a fraction of 1.00 would mean our code adds no cost over the libraries it uses.",
        "",
        markdown_table(["measure", "ours", "limit / baseline", "fraction"], summary_rows(figures, reasons), "lrrr"),
        "",
        "## Runs",
        "",
        _status_table(outcomes),
    ]
    for outcome in outcomes:
        if outcome.status != "not run":
            parts += ["", _section(outcome)]
    return "\n".join(parts).rstrip() + "\n"


def exit_code(outcomes: Sequence[Outcome]) -> int:
    return 1 if any(o.failed for o in outcomes) else 0


# --- command line ---------------------------------------------------------------------


def _options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the volume benchmarks (1,000,000)")
    parser.add_argument("--full", action="store_true", help=f"the end-to-end backfill on {FULL_ROWS:,} rows")
    parser.add_argument("--only", default="", help="comma-separated benchmarks to run (default: all)")
    parser.add_argument("--out", type=Path, help="where to write RESULTS.md")
    parser.add_argument("--dashboard-rows", type=int, default=DASHBOARD_ROWS, help="rows of the dashboard bench's lake")
    parser.add_argument("--chaos-duration", type=float, default=120.0, help="seconds of the chaos soak")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds before a benchmark is stopped")
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    return Options(args.rows, args.full, args.dashboard_rows, args.chaos_duration, only, args.timeout, args.out)


def _progress(text: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    options = _options(args)
    run_dir = REPO / ".cache" / "bench-runs" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    benches = plan(options, run_dir)
    try:
        chosen = select(benches, options.only)
    except ValueError as exc:
        print(f"run_all: {exc}", file=sys.stderr)
        return 2
    stop_on_sigterm()
    run_dir.mkdir(parents=True, exist_ok=True)
    out = options.out or (run_dir / "RESULTS.md" if options.only else REPO / "benchmarks" / "RESULTS.md")
    info = machine()
    outcomes: list[Outcome] = []
    started = time.monotonic()
    for number, bench in enumerate(benches, 1):
        if bench not in chosen:
            outcomes.append(Outcome(bench, "not run"))
            continue
        _progress(f"{number}/{len(benches)} {bench.name}: started: {bench.shown()}")
        outcome = run_one(bench, run_dir, options.timeout)
        outcomes.append(outcome)
        detail = f"FAILED ({outcome.error})" if outcome.failed else "done"
        if outcome.failed and outcome.log is not None:
            detail += f"; log: {outcome.log}"
        _progress(f"{number}/{len(benches)} {bench.name}: {detail} in {outcome.seconds:.0f} s")
    load = os.getloadavg()
    finished = {
        "load average at end": f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)",
        "total run time": f"{(time.monotonic() - started) / 60:.1f} min",
        "logs and reports": str(run_dir.relative_to(REPO)),
    }
    invocation = "python benchmarks/run_all.py" + (" " + shlex.join(args) if args else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_results(outcomes, info, invocation, finished), encoding="utf-8")
    failed = [o.bench.name for o in outcomes if o.failed]
    _progress(f"wrote {out}" + (f"; FAILED: {', '.join(failed)}" if failed else "; every benchmark ran"))
    return exit_code(outcomes)


if __name__ == "__main__":
    sys.exit(main())
