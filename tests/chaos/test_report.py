"""The soak's report: figures, JSON shape and markdown, from hand-made results (no pipeline)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chaos.checker import LakeRow, TruthRow, check
from chaos.dlq import parse_dead_letter
from chaos.injector import InjectedFault
from chaos.recovery import Recovery
from chaos.report import ServiceRecord, SoakReport
from chaos.settle import SettleReport
from chaos.workload import WorkloadStats

T = datetime(2025, 5, 17, tzinfo=UTC)


def _report(lake: list[LakeRow], *, recovered: bool = True) -> SoakReport:
    truth = [TruthRow("1", T, (2024, 1)), TruthRow("2", T, (2024, 2))]
    faults = [
        InjectedFault(1, "kill_processor", "kill_processor", 2.0, 2.1, "9", "2025-05-17T00:00:00.000Z"),
        InjectedFault(2, "source_throttle", "source_throttle x2 (Retry-After 1s)", 9.0, 9.0, "10", "..."),
    ]
    recoveries = [
        Recovery(1, "kill_processor", 100.0, T, recovered_at=112.5),
        Recovery(2, "source_throttle", 107.0, T, recovered_at=110.0 if recovered else None),
    ]
    letters = [
        parse_dead_letter(b"7", json.dumps({"reason": "not a timestamp: 'x'", "source": "soda:ijzp-q8t2"}).encode()),
        parse_dead_letter(b"8", json.dumps({"reason": "undecodable Avro value", "stage": "processor"}).encode()),
        parse_dead_letter(None, b"not json"),
    ]
    return SoakReport(
        seed=3,
        duration_s=60,
        rows_at_start=2,
        work_dir="/tmp/soak",
        check=check(truth, lake),
        faults=faults,
        planned_not_injected=0,
        recoveries=recoveries,
        recovery_clock=130.0,
        dead_letters=letters,
        workload=WorkloadStats(loads=3, inserted=30, corrected=6, deleted=2, moved=1),
        services=[ServiceRecord("processor", 2, 1, []), ServiceRecord("poller", 2, 0, [2])],
        broker_restarts=0,
        broker_crashes=0,
        source_faults_served={"throttle": 2},
        source_faults_unserved=0,
        settle=SettleReport(pipeline_caught_up_s=4.0, final_reconcile_exit=0, processor_caught_up_s=0.2),
        timings={"start": 10.0, "faults": 60.0},
        dashboard_page_status=200,
    )


def test_a_clean_run_passes_with_the_figures_the_benchmarks_read() -> None:
    report = _report([LakeRow("1", T, (2024, 1), (2024, 1)), LakeRow("2", T, (2024, 2), (2024, 2))])
    assert report.passed
    out = report.to_json()
    assert out["name"] == "chaos"
    assert set(out["figures"]) >= {
        "lost",
        "duplicated",
        "stale",
        "misplaced",
        "rows_compared",
        "dead_lettered",
        "longest_recovery_s",
        "faults_total",
    }
    assert out["figures"]["rows_compared"] == 2 and out["figures"]["faults_total"] == 2
    assert out["figures"]["dead_lettered"] == 3
    assert out["figures"]["longest_recovery_s"] == 12.5
    assert out["details"]["faults_by_kind"]["kill_processor"] == 1
    assert out["markdown"].startswith("## Chaos soak: PASS")
    json.dumps(out)  # serialisable as is


def test_the_markdown_names_the_damage_the_dead_letters_and_the_open_recoveries() -> None:
    report = _report([LakeRow("1", T, (2024, 3), (2024, 1))], recovered=False)
    assert not report.passed
    text = report.markdown()
    assert text.startswith("## Chaos soak: FAIL")
    assert "lost 1" in text and "misplaced 1" in text
    assert "| processor | undecodable Avro value | 1 | 8 |" in text
    assert "not a timestamp" in text and "(no key)" in text
    assert "(not recovered)" in text
    assert report.longest_recovery() == (23.0, False)  # the open one counts until the recovery clock
    assert "longest recovery >= 23.0s" in text
    assert "did not recover by itself" in text and not report.details()["recovered_by_itself"]
