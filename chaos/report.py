"""The soak's report: a markdown section, the headline figures, and the JSON written by ``--json``."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chaos.checker import CheckResult
from chaos.dlq import DeadLetter
from chaos.faults import FAULT_KINDS
from chaos.injector import InjectedFault
from chaos.recovery import Recovery, isolated
from chaos.settle import SettleReport
from chaos.workload import WorkloadStats

__all__ = ["RECOVERY_DEFINITION", "ServiceRecord", "SoakReport"]

RECOVERY_DEFINITION = (
    "time from the fault's injection until (1) a row inserted at the source right after the injection "
    "is in the lake (the lake's newest source update time reaches the probe's `:updated_at`) and "
    "(2) every service is up again (poller and processor running, dashboard answering `/ready`, "
    "broker answering metadata requests)"
)


@dataclass(frozen=True)
class ServiceRecord:
    name: str
    starts: int
    kills: int  # SIGKILLs by the soak
    own_exits: list[int | None]  # deaths the soak did not cause, by exit code


@dataclass
class SoakReport:
    seed: int
    duration_s: float  # the fault window as planned
    rows_at_start: int
    work_dir: str
    check: CheckResult
    faults: list[InjectedFault]
    planned_not_injected: int
    recoveries: list[Recovery]
    recovery_clock: float  # monotonic time the open recoveries are measured up to
    dead_letters: list[DeadLetter]
    workload: WorkloadStats
    services: list[ServiceRecord]
    broker_restarts: int
    broker_crashes: int
    source_faults_served: dict[str, int]  # SODA requests answered with a fault, by emulator kind
    source_faults_unserved: int  # still queued when the faults stopped (cleared)
    settle: SettleReport
    timings: dict[str, float]  # phase -> seconds
    dashboard_page_status: int | None
    source_clock: str = "wall"
    notes: list[str] = field(default_factory=list)

    # -- figures ---------------------------------------------------------------

    @property
    def passed(self) -> bool:
        return self.check.ok

    def longest_recovery(self) -> tuple[float, bool]:
        if not self.recoveries:
            return 0.0, True
        worst = max(r.seconds(self.recovery_clock) for r in self.recoveries)
        return worst, all(r.recovered_at is not None for r in self.recoveries)

    def figures(self) -> dict[str, Any]:
        longest, _ = self.longest_recovery()
        return {
            "lost": self.check.lost,
            "duplicated": self.check.duplicated,
            "stale": self.check.stale,
            "misplaced": self.check.misplaced,
            "undeleted": self.check.undeleted,
            "rows_compared": self.check.rows_compared,
            "dead_lettered": len(self.dead_letters),
            "longest_recovery_s": round(longest, 1),
            "faults_total": len(self.faults),
        }

    def recovered_by_itself(self) -> bool:
        """Did the running pipeline recover from every fault and catch up without the fallback?"""
        s = self.settle
        return self.longest_recovery()[1] and s.pipeline_caught_up_s is not None and s.processor_caught_up_s is not None

    def details(self) -> dict[str, Any]:
        by_kind = Counter(f.kind for f in self.faults)
        return {
            "passed": self.passed,
            "seed": self.seed,
            "duration_s": self.duration_s,
            "faults_by_kind": {kind: by_kind.get(kind, 0) for kind in FAULT_KINDS},
            "planned_not_injected": self.planned_not_injected,
            "source_faults_served": dict(self.source_faults_served),
            "source_faults_unserved": self.source_faults_unserved,
            "source_clock": self.source_clock,
            "all_recovered": self.longest_recovery()[1],
            "recovered_by_itself": self.recovered_by_itself(),
            "timings_s": {k: round(v, 1) for k, v in self.timings.items()},
            "work_dir": self.work_dir,
        }

    def to_json(self) -> dict[str, Any]:
        return {"name": "chaos", "figures": self.figures(), "markdown": self.markdown(), "details": self.details()}

    # -- markdown ----------------------------------------------------------------

    def markdown(self) -> str:
        parts = [
            self._summary(),
            self._comparison(),
            self._faults(),
            self._dead_letters(),
            self._processes(),
            self._settling(),
        ]
        return "\n\n".join(p for p in parts if p) + "\n"

    def _summary(self) -> str:
        c = self.check
        longest, all_recovered = self.longest_recovery()
        verdict = "PASS" if self.passed else "FAIL"
        timings = ", ".join(f"{k} {v:.0f}s" for k, v in self.timings.items())
        w = self.workload
        clock = (
            ""
            if self.source_clock == "wall"
            else "; loads stamped by the emulator's live-mode clock, a simulated day each (into the future)"
        )
        return (
            f"## Chaos soak: {verdict}\n\n"
            f"{self.duration_s:.0f}s of faults (seed {self.seed}) on the whole pipeline (SODA emulator -> poller -> "
            f"Kafka -> processor -> lake, dashboard), starting from {self.rows_at_start} rows; the source changed all "
            f"along: {w.loads} loads, {w.inserted} new rows, {w.corrected} corrections ({w.moved} moved a row to "
            f"another month), {w.deleted} deletions, plus one probe row per fault{clock}.  Phases: {timings}.\n\n"
            f"**{len(self.faults)} faults; {c.rows_compared} rows compared: lost {c.lost}, duplicated "
            f"{c.duplicated}, stale {c.stale}, misplaced {c.misplaced}, undeleted {c.undeleted}; "
            f"{len(self.dead_letters)} dead-lettered; longest recovery "
            f"{'' if all_recovered else '>= '}{longest:.1f}s.**\n\n"
            f"{self._self_recovery()}"
            f"Recovery time: {RECOVERY_DEFINITION}."
        )

    def _self_recovery(self) -> str:
        if self.recovered_by_itself():
            return "The running pipeline recovered from every fault by itself.\n\n"
        return (
            "**The running pipeline did not recover by itself** (see the notes at the end: a service alive but "
            "stuck is not restarted by any supervisor); the catch-up step finished the job so the lake could "
            "still be checked.\n\n"
        )

    def _comparison(self) -> str:
        c = self.check
        rows = [
            ("rows compared (live at the source)", c.rows_compared),
            ("rows in the lake", c.lake_rows),
            ("lost (at the source, not in the lake)", c.lost),
            ("duplicated (id more than once in the lake)", c.duplicated),
            ("stale (older version in the lake)", c.stale),
            ("misplaced (partition is not the month of the date)", c.misplaced),
            ("undeleted (deleted at the source, still in the lake)", c.undeleted),
        ]
        lines = ["### Lake against the source's truth", "", "| | rows |", "|---|---:|"]
        lines += [f"| {label} | {value} |" for label, value in rows]
        for what, examples in sorted(c.examples.items()):
            lines.append("")
            lines.append(f"{what}, e.g.: " + "; ".join(f"`{e}`" for e in examples))
        return "\n".join(lines)

    def _faults(self) -> str:
        by_kind: dict[str, list[Recovery]] = {kind: [] for kind in FAULT_KINDS}
        for recovery in self.recoveries:
            by_kind.setdefault(recovery.kind, []).append(recovery)
        alone = {r.index for r in isolated(self.recoveries, self.recovery_clock)}
        lines = [
            "### Faults and recovery",
            "",
            "| fault | injected | median recovery (s) | longest recovery (s) | longest, no other fault meanwhile (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for kind, recoveries in by_kind.items():
            if not recoveries:
                lines.append(f"| {kind} | 0 | - | - | - |")
                continue
            times = [r.seconds(self.recovery_clock) for r in recoveries]
            own = [r.seconds(self.recovery_clock) for r in recoveries if r.index in alone]
            open_mark = "" if all(r.recovered_at is not None for r in recoveries) else " (not recovered)"
            lines.append(
                f"| {kind} | {len(recoveries)} | {statistics.median(times):.1f} | {max(times):.1f}{open_mark} "
                f"| {f'{max(own):.1f}' if own else '-'} |"
            )
        served = ", ".join(f"{k} {v}" for k, v in sorted(self.source_faults_served.items())) or "none"
        lines += ["", f"SODA requests answered with a fault: {served}."]
        if self.source_faults_unserved:
            lines[-1] += f"  {self.source_faults_unserved} queued at the end were never served (cleared)."
        if self.planned_not_injected:
            lines.append(
                f"{self.planned_not_injected} planned fault(s) were not injected (their target never came up)."
            )
        lines.append(
            f"{len(alone)} of {len(self.recoveries)} faults recovered before the next one hit; the others' times "
            "include the faults that followed them."
        )
        slowest = sorted(self.recoveries, key=lambda r: -r.seconds(self.recovery_clock))[:3]
        if slowest:
            detail = {f.index: f for f in self.faults}
            lines.append(
                "Slowest: "
                + "; ".join(
                    f"#{r.index} {detail[r.index].detail} at +{detail[r.index].injected_at:.0f}s: "
                    f"{r.seconds(self.recovery_clock):.1f}s"
                    for r in slowest
                    if r.index in detail
                )
                + "."
            )
        return "\n".join(lines)

    def _dead_letters(self) -> str:
        if not self.dead_letters:
            return "### Dead letters\n\nNone."
        groups: dict[tuple[str, str], list[str]] = {}
        for letter in self.dead_letters:
            groups.setdefault((letter.stage, letter.reason), []).append(letter.key or "(no key)")
        lines = ["### Dead letters", "", "| stage | reason | count | keys |", "|---|---|---:|---|"]
        for (stage, reason), keys in sorted(groups.items(), key=lambda g: -len(g[1])):
            shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
            lines.append(f"| {stage} | {reason.replace('|', '/')} | {len(keys)} | {shown} |")
        return "\n".join(lines)

    def _processes(self) -> str:
        lines = ["### Processes", "", "| service | starts | killed by the soak | exited on its own (codes) |"]
        lines.append("|---|---:|---:|---|")
        for s in self.services:
            exits = ", ".join(str(c) for c in s.own_exits) or "-"
            lines.append(f"| {s.name} | {s.starts} | {s.kills} | {len(s.own_exits)} ({exits}) |")
        taken_down = sum(1 for f in self.faults if f.kind in ("broker_stop", "broker_kill"))
        lines.append(f"| kafka broker | {self.broker_restarts + 1} | {taken_down} | {self.broker_crashes} |")
        dashboard = "not checked" if self.dashboard_page_status is None else f"HTTP {self.dashboard_page_status}"
        lines += ["", f"The dashboard's page after the soak: {dashboard}.  Logs: `{self.work_dir}/logs/`."]
        return "\n".join(lines)

    def _settling(self) -> str:
        s = self.settle

        def secs(value: float | None) -> str:
            return "not within the limit" if value is None else f"{value:.1f}s"

        lines = [
            "### Catching up after the faults",
            "",
            f"- running pipeline caught up with the frozen source: {secs(s.pipeline_caught_up_s)}",
            f"- final `poll --once --reconcile`: exit {s.final_reconcile_exit}",
            f"- running processor reached the end of the topic: {secs(s.processor_caught_up_s)}",
        ]
        if s.fallback_exit is not None:
            lines.append(f"- fallback `process --until-caught-up`: exit {s.fallback_exit}")
        lines += [f"- note: {n}" for n in (*s.notes, *self.notes)]
        return "\n".join(lines)
