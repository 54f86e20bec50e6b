"""Server lifecycle, live mode, settings, and the blocking entry point as a separate process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from emulator_support import RESOURCE, make_dataset

from emulator import EmulatorServer, EmulatorSettings
from emulator.live import LiveLoader
from emulator.server import build_dataset

ROOT = Path(__file__).parents[2]


def test_start_stop_and_free_port() -> None:
    dataset = make_dataset(30, seed=1)
    server = EmulatorServer(dataset, port=0)
    server.start()
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
        assert server.resource_url.endswith("/resource/ijzp-q8t2.json")
        assert len(httpx.get(server.resource_url).json()) == 30
    finally:
        server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.resource_url, timeout=2)
    server.stop()  # idempotent


def test_custom_dataset_id() -> None:
    with EmulatorServer(make_dataset(5, seed=1), dataset_id="abcd-1234") as server:
        assert httpx.get(f"{server.url}/resource/abcd-1234.json").status_code == 200
        assert httpx.get(f"{server.url}{RESOURCE}").status_code == 404


def test_live_mode_performs_daily_loads() -> None:
    dataset = make_dataset(100, seed=2)
    with EmulatorServer(dataset, live_interval=0.05, live_rows=10, live_corrections=1, live_deletions=1) as server:
        deadline = time.monotonic() + 5
        while server.live is not None and server.live.loads < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.live is not None and server.live.loads >= 3
    assert len(dataset) >= 100 + 3 * (10 - 1)
    last = server.live.last
    assert last is not None
    stamps = {r[":updated_at"] for r in dataset.current_rows() if r["id"] in last.inserted}
    assert stamps == {last.at}


def test_live_loader_rejects_a_zero_interval() -> None:
    with pytest.raises(ValueError):
        LiveLoader(make_dataset(5, seed=1), 0)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMULATOR_PORT", "8123")
    monkeypatch.setenv("EMULATOR_ROWS", "250")
    monkeypatch.setenv("EMULATOR_DAYS", "20")
    monkeypatch.setenv("EMULATOR_END_DATE", "2024-05-31")
    monkeypatch.setenv("EMULATOR_FAULTS", "throttle:2")
    monkeypatch.setenv("SODA_DATASET_ID", "ijzp-q8t2")
    settings = EmulatorSettings()
    assert (settings.emulator_port, settings.emulator_rows, settings.emulator_page_cap) == (8123, 250, 50_000)
    dataset = build_dataset(settings)
    dates = [str(r["date"]) for r in dataset.current_rows()]
    assert len(dates) == 250 and min(dates) >= "2024-05-12" and max(dates) < "2024-06-01"


def test_serve_runs_as_a_process_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "EMULATOR_ROWS": "500",
        "EMULATOR_FAULTS": "throttle",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--seed", "5"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = ""
        deadline = time.monotonic() + 30
        while "serving" not in line and time.monotonic() < deadline:
            line = process.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/resource/ijzp-q8t2\.json", line)
        assert match, line
        url = match.group(1)
        assert httpx.get(url + RESOURCE).status_code == 429  # the configured first fault
        assert len(httpx.get(url + RESOURCE).json()) == 500
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
