"""The benchmark suite's pure logic: reports, markdown, the summary's fractions, the portal CSV format."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks import run_all
from benchmarks._common import BenchReport, markdown_table, ratio, read_report, write_report
from benchmarks.lake_size import CSV_COLUMNS, portal_csv_row, portal_time

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "chicago_crimes_2024_sample.csv"


# --- reports ------------------------------------------------------------------------------


def test_a_report_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "out" / "limits.json"
    written = write_report(path, "limits", {"rows": 10, "produce_events_per_s": 1234.5}, "## Limits\n\n| a |\n")
    data = json.loads(path.read_text())
    assert data == {
        "name": "limits",
        "figures": {"rows": 10, "produce_events_per_s": 1234.5},
        "markdown": written.markdown,
    }
    assert read_report(path) == written


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "12", True, None])
def test_a_figure_must_be_a_finite_number(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        write_report(None, "x", {"rows": bad}, "")


def test_a_report_that_breaks_the_contract_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"name": "x", "figures": {"p50_s": "fast"}, "markdown": ""}))
    with pytest.raises(ValueError, match="p50_s"):
        read_report(path)
    path.write_text(json.dumps({"name": "x", "figures": {}}))
    with pytest.raises(ValueError, match="markdown"):
        read_report(path)


# --- markdown -----------------------------------------------------------------------------


def test_markdown_table_aligns_and_escapes() -> None:
    text = markdown_table(["name", "value"], [["a|b", 3], ["c", "4\n5"]])
    assert text.splitlines() == ["| name | value |", "|---|---:|", "| a\\|b | 3 |", "| c | 4 5 |"]
    assert markdown_table(["x", "y", "z"], [], align="lcr").splitlines()[1] == "|---|:---:|---:|"


def test_markdown_table_refuses_ragged_rows() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        markdown_table(["a", "b", "c"], [["1", "2"]])
    with pytest.raises(ValueError, match="align"):
        markdown_table(["a", "b"], [], align="l")


def test_ratio_is_none_without_a_positive_denominator() -> None:
    assert ratio(3.0, 4.0) == 0.75
    assert ratio(None, 4.0) is None
    assert ratio(3.0, None) is None
    assert ratio(3.0, 0.0) is None


# --- the summary --------------------------------------------------------------------------

LIMITS = {
    "produce_events_per_s": 20_000.0,
    "consume_events_per_s": 50_000.0,
    "pyarrow_write_rows_per_s": 10_000.0,
    "duckdb_write_rows_per_s": 90_000.0,
}


def _row(rows: list[list[str]], prefix: str) -> list[str]:
    (found,) = [r for r in rows if r[0].startswith(prefix)]
    return found


def test_fractions_divide_by_the_lowest_relevant_limit() -> None:
    figures = {
        "limits": LIMITS,
        "poller_backfill": {"rows_per_s": 5_000.0},
        "processor_backfill": {"events_per_s": 2_000.0},
        "end_to_end": {"rows_per_s": 1_000.0},
        "peer_dlt": {"rows_per_s": 4_000.0, "rows": 1_000_000},
        "freshness": {"samples": 40, "p50_s": 6.0, "p95_s": 12.0, "poll_interval_s": 5.0},
        "lake_size": {"lake_bytes_per_row": 60.0, "csv_bytes_per_row": 240.0},
        "chaos": {"lost": 0, "duplicated": 0, "stale": 0, "misplaced": 0, "undeleted": 0, "rows_compared": 5000},
    }
    rows = run_all.summary_rows(figures, {})
    assert _row(rows, "poller")[3] == "0.25"  # 5,000 / produce 20,000
    processor = _row(rows, "processor")
    assert processor[3] == "0.20"  # 2,000 / min(consume 50,000, write 10,000)
    assert processor[2] == "10,000 events/s (pyarrow write; consume + decode: 50,000)"
    assert _row(rows, "end-to-end rows/s ÷ min")[3] == "0.10"  # 1,000 / min(20,000, 50,000, 10,000)
    assert _row(rows, "end-to-end rows/s ÷ dlt")[1:] == [
        "1,000 rows/s",
        "4,000 rows/s (dlt, 1,000,000 rows)",
        "0.25×",
    ]
    assert _row(rows, "freshness p50")[3] == "1.20"
    assert _row(rows, "freshness p95")[3] == "2.40"
    assert _row(rows, "lake bytes")[3] == "0.25"
    assert _row(rows, "chaos")[3] == "exact"


def test_the_limit_is_the_produce_one_when_it_is_lowest() -> None:
    limits = dict(LIMITS, produce_events_per_s=4_000.0)
    rows = run_all.summary_rows({"limits": limits, "end_to_end": {"rows_per_s": 1_000.0}}, {})
    e2e = _row(rows, "end-to-end rows/s ÷ min")
    assert e2e[3] == "0.25"
    assert e2e[2] == "4,000 rows/s (produce; pyarrow write: 10,000; consume + decode: 50,000)"


def test_a_missing_benchmark_says_why_instead_of_a_number() -> None:
    rows = run_all.summary_rows(
        {"poller_backfill": {"rows_per_s": 5_000.0}, "chaos": {"lost": 2, "duplicated": 0, "stale": 1, "misplaced": 0}},
        {"limits": "FAILED", "peer_dlt": "not run"},
    )
    poller = _row(rows, "poller")
    assert poller[1] == "5,000 rows/s" and "limits FAILED" in poller[2] and poller[3] == "—"
    assert "peer_dlt not run" in _row(rows, "end-to-end rows/s ÷ dlt")[2]
    assert _row(rows, "chaos")[3] == "NOT exact"
    assert _row(rows, "lake bytes")[1] == "— (lake_size gave no figure)"


def test_results_name_the_benchmark_that_left_a_figure_out() -> None:
    benches = {b.name: b for b in run_all.plan(_options(), Path("/runs/1"))}
    renamed = BenchReport("freshness", {"median_s": 4.0, "poll_interval_s": 5.0}, "## Freshness")
    text = run_all.render_results(
        [run_all.Outcome(benches["freshness"], "ok", 1.0, renamed)], {}, "python benchmarks/run_all.py", {}
    )
    assert "— (freshness gave no figure)" in text
    assert "limits not run" not in text and "— (limits gave no figure)" in text


# --- running and RESULTS.md ---------------------------------------------------------------


def _options(**kw: Any) -> run_all.Options:
    return run_all.Options(**kw)


def test_only_selects_by_name_or_alias_in_run_order() -> None:
    benches = run_all.plan(_options(), Path("/runs/1"))
    assert [b.name for b in run_all.select(benches, ["chaos", "dashboard_bench", "limits"])] == [
        "limits",
        "dashboard",
        "chaos",
    ]
    assert [b.name for b in run_all.select(benches, [])] == [b.name for b in benches]
    with pytest.raises(ValueError, match="unknown benchmark"):
        run_all.select(benches, ["dashbord"])


def test_full_only_changes_the_end_to_end_size() -> None:
    small = {b.name: b.argv for b in run_all.plan(_options(rows=20_000), Path("/runs/1"))}
    full = {b.name: b.argv for b in run_all.plan(_options(rows=20_000, full=True), Path("/runs/1"))}
    assert full["end_to_end"][-1] == "8500000" and small["end_to_end"][-1] == "20000"
    assert full["limits"] == small["limits"] == ("benchmarks/limits.py", "--rows", "20000")
    assert full["chaos"] == ("-m", "chaos", "--duration", "120", "--work-dir", "/runs/1/chaos")


def test_a_missing_script_is_failed_not_skipped(tmp_path: Path) -> None:
    bench = run_all.Bench("ghost", ("benchmarks/no_such_benchmark.py",))
    outcome = run_all.run_one(bench, tmp_path, timeout=30)
    assert outcome.failed and "does not exist" in outcome.error


def test_a_failing_benchmark_keeps_its_log_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "broken.py"
    script.write_text("import sys\nprint('step 1')\nprint('boom: broker gone', file=sys.stderr)\nsys.exit(3)\n")
    monkeypatch.setattr(run_all, "REPO", tmp_path)
    outcome = run_all.run_one(run_all.Bench("broken", ("broken.py",)), tmp_path, timeout=60)
    assert outcome.failed
    assert "exit code 3" in outcome.error and "wrote no report" in outcome.error
    assert outcome.log_tail.splitlines()[-1] == "boom: broker gone"


def test_a_benchmark_that_reports_is_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "good.py"
    script.write_text(
        "import json, sys\n"
        "path = sys.argv[sys.argv.index('--json') + 1]\n"
        "json.dump({'name': 'good', 'figures': {'rows': 5}, 'markdown': '## Good'}, open(path, 'w'))\n"
    )
    monkeypatch.setattr(run_all, "REPO", tmp_path)
    outcome = run_all.run_one(run_all.Bench("good", ("good.py",)), tmp_path, timeout=60)
    assert outcome.status == "ok" and outcome.report == BenchReport("good", {"rows": 5}, "## Good")


def test_results_show_every_failure_and_skip_nothing_that_ran() -> None:
    benches = {b.name: b for b in run_all.plan(_options(), Path("/runs/1"))}
    ok = run_all.Outcome(benches["limits"], "ok", 12.0, BenchReport("limits", LIMITS, "## Limits section\n"))
    failed = run_all.Outcome(
        benches["peer_dlt"], "FAILED", 3.0, None, "exit code 1; wrote no report", "Traceback...\nImportError: dlt"
    )
    skipped = run_all.Outcome(benches["chaos"], "not run")
    text = run_all.render_results([ok, failed, skipped], {"CPU": "test cpu"}, "python benchmarks/run_all.py", {})
    assert "## Limits section" in text
    assert "## peer_dlt: FAILED" in text and "ImportError: dlt" in text
    assert "| chaos | not run |" in text and "## chaos" not in text
    assert "| CPU | test cpu |" in text
    assert run_all.exit_code([ok, failed, skipped]) == 1
    assert run_all.exit_code([ok, skipped]) == 0


# --- the portal's CSV format --------------------------------------------------------------


def _soda_row(cells: dict[str, str]) -> dict[str, Any]:
    """A CSV-export row turned back into the SODA JSON row it came from (nulls omitted)."""
    raw: dict[str, Any] = {}
    for header, field in CSV_COLUMNS:
        value = cells[header]
        if value == "" or field == "location":
            continue
        if field in ("date", "updated_on"):
            value = datetime.strptime(value, "%m/%d/%Y %I:%M:%S %p").isoformat(timespec="milliseconds")
        raw[field] = {"true": True, "false": False}.get(value, value) if field in ("arrest", "domestic") else value
    if "latitude" in raw:
        raw["location"] = {"type": "Point", "coordinates": [float(raw["longitude"]), float(raw["latitude"])]}
    return raw


def test_the_csv_format_reproduces_the_portal_export_byte_for_byte() -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    records = list(csv.DictReader(text.splitlines()))
    assert [h for h, _ in CSV_COLUMNS] == text.splitlines()[0].split(",")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([h for h, _ in CSV_COLUMNS])
    for cells in records:
        writer.writerow(portal_csv_row(_soda_row(cells)))
    assert out.getvalue() == text


def test_portal_time_is_twelve_hour_clock() -> None:
    assert portal_time("2024-02-10T00:44:00.000") == "02/10/2024 12:44:00 AM"
    assert portal_time("2025-05-17T15:40:52.000") == "05/17/2025 03:40:52 PM"
