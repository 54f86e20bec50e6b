"""The served dashboard in a real browser: Playwright driving Debian's Chromium.

Loads the page, changes filters (through the URL and by clicking), sees the
numbers and charts change, downloads the CSV and checks it against DuckDB, and
fails on any browser console error.  Saves ``test-artifacts/dashboard.png``.

Needs the ``playwright`` Python package and ``/usr/bin/chromium`` (``make
install`` provides both); never ``playwright install``.  Missing either is a
failure with the reason, not a skip.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dashboard_lake_builder import BOUNDARY_ROWS, crime_row, sample_rows, write_lake

CHROMIUM = os.environ.get("CRIMESTREAM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
_STARTUP_SECONDS = 60

_SERVE = """
from crimestream.logs import configure_logging
from dashboard.server import serve
from dashboard.settings import DashboardSettings

settings = DashboardSettings()
configure_logging(settings.log_level)
serve(settings)
"""

pytestmark = pytest.mark.slow

# Bokeh renders into shadow roots: count canvases through them.
_COUNT_CANVASES = """() => {
  const walk = (root) => [...root.querySelectorAll('*')].reduce(
    (n, el) => n + (el.tagName === 'CANVAS' ? 1 : 0) + (el.shadowRoot ? walk(el.shadowRoot) : 0), 0);
  return walk(document);
}"""


# The page's render marker (dashboard.app.RENDER_MARKER_CLASS): "generation:outcome".
_RENDER_MARKER = """() => {
  const find = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList.contains('render-marker')) return el;
      if (el.shadowRoot) { const found = find(el.shadowRoot); if (found) return found; }
    }
    return null;
  };
  const el = find(document);
  return el ? `${el.dataset.renderGeneration}:${el.dataset.renderOutcome}` : null;
}"""


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the browser test needs the 'playwright' Python package (make install adds it; "
            "never run 'playwright install': the test drives Debian's chromium)",
            pytrace=False,
        )
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM} (apt-get install chromium)", pytrace=False)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lake_rows() -> list[dict[str, Any]]:
    rows = sample_rows(date(2023, 12, 10), 100) + BOUNDARY_ROWS
    for i, row in enumerate(rows):
        row["arrest"] = i % 4 == 0
        row["domestic"] = i % 7 == 0
        row["district"] = ["001", "002", "011"][i % 3]
        row["community_area"] = ["8", "25", "32"][i % 3]
        row["latitude"] = 41.80 + (i % 50) / 500
        row["longitude"] = -87.70 + (i % 37) / 400
    return rows


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The dashboard served by ``serve()`` over a small lake; yields (url, lake dir)."""
    root = tmp_path_factory.mktemp("browser")
    lake_dir = root / "data" / "lake"
    write_lake(
        lake_dir, [*_lake_rows(), crime_row("q1", __import__("datetime").datetime(2024, 3, 18, 21), "O'HARE; --")]
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DASHBOARD_")}
    env.update(
        DATA_DIR=str(root / "data"),
        DASHBOARD_PORT=str(port),
        DASHBOARD_REFRESH_SECONDS="1",
        DASHBOARD_MAP_TILES="none",  # offline: no tile requests, no console errors from them
        METRICS_PORT="0",  # not needed here; the default port may be taken by another run
        LOG_LEVEL="INFO",
    )
    log = root / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVE], env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + _STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"dashboard exited with {process.returncode}:\n{log.read_text()}")
            try:
                urllib.request.urlopen(url, timeout=60).close()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"dashboard did not answer in {_STARTUP_SECONDS}s:\n{log.read_text()}")
                time.sleep(0.2)
        yield url, lake_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        # Tornado may log a websocket closed by a navigating browser; our code must never raise.
        output = log.read_text()
        assert "dashboard/" not in "".join(line for line in output.splitlines() if 'File "' in line), output


def _count(lake_dir: Path, where: str = "true", params: list[Any] | None = None) -> int:
    files = sorted(str(p) for p in lake_dir.glob("crimes/year=*/month=*/data.parquet"))
    row = (
        duckdb.connect()
        .execute(
            f"SELECT count(*) FROM read_parquet($files) WHERE {where}",
            {"files": files, **{f"p{i}": v for i, v in enumerate(params or [])}},
        )
        .fetchone()
    )
    assert row is not None
    return int(row[0])


def test_dashboard_in_chromium(served: tuple[str, Path]) -> None:
    url, lake_dir = served
    sync_playwright = _playwright()
    window = "CAST(date_local AS DATE) BETWEEN DATE '2024-02-18' AND DATE '2024-03-18'"
    default_total = _count(lake_dir, window)
    arrests = _count(lake_dir, f"{window} AND arrest")
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(accept_downloads=True, viewport={"width": 1500, "height": 2600})
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            # 1. Load: the default window (last 30 days of the lake) and every view.
            page.goto(url)
            page.get_by_text(f"{default_total:,}", exact=True).first.wait_for(timeout=30_000)
            page.get_by_text("Every located incident").first.wait_for(timeout=10_000)
            # Series, top types, heatmap, arrest rate and map: Bokeh canvases (titles are drawn, not text).
            page.wait_for_function(f"() => ({_COUNT_CANVASES})() >= 5", timeout=20_000)
            # The server writes the view into the URL once the page has loaded (Panel's onload): it lands
            # a moment after the views, so wait for it rather than read it at once.
            page.wait_for_function(
                "() => location.search.includes('start=2024-02-18') && location.search.includes('end=2024-03-18')",
                timeout=10_000,
            )
            page.wait_for_function(f"() => ({_RENDER_MARKER})() === '1:views'", timeout=10_000)

            # 2. A filter by clicking: Arrest = Yes.  KPI and the URL follow.
            page.get_by_role("button", name="Yes").first.click()
            page.get_by_text(f"Rows 1–{min(arrests, 50)} of {arrests:,} (newest first)").first.wait_for(timeout=10_000)
            page.get_by_text("100.0%", exact=True).first.wait_for(timeout=10_000)
            page.wait_for_function("() => location.search.includes('arrest=yes')", timeout=10_000)
            # One click, one redraw: the marker goes to 2 (a second render would pass it by).
            page.wait_for_function(f"() => ({_RENDER_MARKER})() === '2:views'", timeout=10_000)

            # 3. A shared URL: reload with other filters, including a hostile type.
            shared = (
                f"{url}?start=2024-01-01&end=2024-01-31&types=%5B%22THEFT%22%5D&district=%5B%22011%22%5D&hours=6-20"
            )
            page.goto(shared)
            expected = _count(
                lake_dir,
                "CAST(date_local AS DATE) BETWEEN DATE '2024-01-01' AND DATE '2024-01-31' "
                "AND primary_type = 'THEFT' AND district = '011' AND hour(date_local) BETWEEN 6 AND 20",
            )
            page.get_by_text(f"Rows 1–{min(expected, 50)} of {expected:,} (newest first)").first.wait_for(
                timeout=30_000
            )
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # 4. The CSV download holds exactly the filtered rows.
            with page.expect_download(timeout=30_000) as info:
                page.get_by_text(f"Download CSV ({expected:,} rows)").first.click()
            download = info.value
            text = Path(download.path()).read_text(encoding="utf-8")
            rows = list(csv.DictReader(io.StringIO(text)))
            files = sorted(str(p) for p in lake_dir.glob("crimes/year=*/month=*/data.parquet"))
            ids = [
                r[0]
                for r in duckdb.connect()
                .execute(
                    "SELECT id FROM read_parquet($files) WHERE CAST(date_local AS DATE) BETWEEN DATE '2024-01-01' "
                    "AND DATE '2024-01-31' AND primary_type = 'THEFT' AND district = '011' "
                    "AND hour(date_local) BETWEEN 6 AND 20 ORDER BY date_local DESC, id",
                    {"files": files},
                )
                .fetchall()
            ]
            assert [r["id"] for r in rows] == ids
            assert {r["primary_type"] for r in rows} <= {"THEFT"}

            # 5. A hostile type in the URL selects nothing and breaks nothing.
            page.goto(f"{url}?types=%5B%22O%27HARE%3B%20--%22%5D&start=2024-03-18&end=2024-03-18")
            page.get_by_text("Rows 1–1 of 1 (newest first)").first.wait_for(timeout=30_000)
        finally:
            browser.close()
    assert not errors, f"browser console errors: {errors}"
