"""The short chaos soak: about 100 s of every kind of fault, then the lake must equal the source exactly.

It starts its own broker and registry (it stops, kills and restarts the broker, so it
cannot share the session's), the emulator and every service, through ``python -m
chaos`` as ``make chaos`` does.  If the broker cannot start, the soak exits 2 and the
test fails with the reason; it never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.faults import FAULT_KINDS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DURATION = os.environ.get("CHAOS_TEST_DURATION", "100")


@pytest.mark.timeout(540)
def test_a_short_soak_under_every_kind_of_fault_leaves_the_lake_exact(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    log = tmp_path / "chaos.out"
    argv = [sys.executable, "-m", "chaos", "--duration", DURATION, "--seed", "11", "--rows", "2000"]
    argv += ["--mean-fault-gap", "8", "--work-dir", str(tmp_path / "soak"), "--json", str(out)]
    # A healthy pipeline catches up within ~30 s; a stuck service gets the fallback after 60 s.
    env = dict(os.environ, CHAOS_SETTLE_TIMEOUT_SECONDS="60")
    with open(log, "wb") as output:
        proc = subprocess.run(argv, stdout=output, stderr=subprocess.STDOUT, env=env, timeout=500, check=False)
    text = log.read_text(errors="replace")
    assert proc.returncode != 2, f"the soak could not run:\n{text[-5000:]}"
    assert out.exists(), f"no report (exit {proc.returncode}):\n{text[-5000:]}"
    report = json.loads(out.read_text())
    figures, details = report["figures"], report["details"]

    damage = {k: figures[k] for k in ("lost", "duplicated", "stale", "misplaced", "undeleted")}
    assert damage == dict.fromkeys(damage, 0), report["markdown"]
    assert figures["rows_compared"] > 2000
    assert figures["faults_total"] >= len(FAULT_KINDS)
    missing = [kind for kind in FAULT_KINDS if details["faults_by_kind"].get(kind, 0) < 1]
    assert not missing, f"fault kinds never injected: {missing}\n{report['markdown']}"
    served = details["source_faults_served"]
    unmet = [kind for kind in ("throttle", "error", "truncate", "reset") if served.get(kind, 0) < 1]
    assert not unmet, f"source faults the poller never met: {unmet}\n{report['markdown']}"
    assert proc.returncode == 0, text[-5000:]
    assert report["name"] == "chaos" and report["markdown"].startswith("## Chaos soak: PASS")
