"""The soak's pure parts: the seeded fault schedule and the recovery tracker."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from chaos.faults import FAULT_KINDS, plan_faults
from chaos.recovery import Recovery, RecoveryTracker, isolated
from chaos.workload import shift_months


def test_the_schedule_is_repeatable_and_opens_with_every_kind() -> None:
    plan = plan_faults(110, seed=7, mean_gap=9)
    assert plan == plan_faults(110, seed=7, mean_gap=9)
    assert plan != plan_faults(110, seed=8, mean_gap=9)
    assert {f.kind for f in plan[: len(FAULT_KINDS)]} == set(FAULT_KINDS)
    assert all(0 < f.at < 110 for f in plan)
    assert [f.at for f in plan] == sorted(f.at for f in plan)
    gaps = [b.at - a.at for a, b in itertools.pairwise(plan)]
    assert all(4.49 <= g <= 13.51 for g in gaps)


def test_each_fault_carries_its_strength() -> None:
    for fault in plan_faults(3000, seed=3, mean_gap=10):
        if fault.kind.startswith("broker") or fault.kind == "source_drift":
            assert fault.hold > 0
        elif fault.kind in ("source_throttle", "source_error", "source_truncate", "source_reset"):
            assert fault.count >= 1
        if fault.kind == "source_throttle":
            assert fault.retry_after >= 1


def test_no_window_no_faults() -> None:
    assert plan_faults(0, seed=1, mean_gap=5) == []


def test_recovery_needs_the_probe_in_the_lake_and_every_service_up() -> None:
    tracker = RecoveryTracker()
    stamp = datetime(2025, 1, 1, tzinfo=UTC)
    tracker.open(1, "kill_processor", injected_at=100.0, probe_stamp=stamp)
    tracker.open(2, "kill_dashboard", injected_at=101.0, probe_stamp=stamp + timedelta(seconds=5))
    assert tracker.observe(105.0, stamp, services_up=False) == []  # probe in, but a service is down
    assert [r.index for r in tracker.observe(106.0, stamp, services_up=True)] == [1]
    assert tracker.longest(110.0) == (9.0, False)  # the open one counts up to now
    assert [r.index for r in tracker.observe(112.0, stamp + timedelta(seconds=9), services_up=True)] == [2]
    assert tracker.longest(200.0) == (11.0, True)
    assert tracker.pending == []


def test_isolated_recoveries_are_those_no_other_fault_interrupted() -> None:
    stamp = datetime(2025, 1, 1, tzinfo=UTC)
    first = Recovery(1, "broker_kill", 10.0, stamp, recovered_at=40.0)  # fault 2 hit meanwhile
    second = Recovery(2, "kill_poller", 20.0, stamp, recovered_at=41.0)
    third = Recovery(3, "source_error", 50.0, stamp, recovered_at=55.0)
    fourth = Recovery(4, "kill_dashboard", 60.0, stamp)  # still open at 100: nothing after it
    assert [r.index for r in isolated([first, second, third, fourth], now=100.0)] == [2, 3, 4]


def test_month_shifts_cross_years_and_cap_the_day() -> None:
    moment = datetime(2024, 1, 31, 13, 5)
    assert shift_months(moment, -1) == datetime(2023, 12, 28, 13, 5)
    assert shift_months(moment, 3) == datetime(2024, 4, 28, 13, 5)
    assert shift_months(datetime(2024, 11, 3, 1, 30), 2) == datetime(2025, 1, 3, 1, 30)
