"""Serving over HTTP: ``serve()`` in a subprocess, and the app file as ``panel serve`` runs it."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
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

import panel as pn
import panel.models.tabulator
import pytest
from bokeh.client import pull_session
from dashboard_lake_builder import BOUNDARY_ROWS, SampleLake, sample_rows, write_lake
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

import dashboard.app
from dashboard.app import APP_TITLE
from dashboard.queries import EMPTY_LAKE_MESSAGE
from dashboard.server import first_visit
from dashboard.settings import DashboardSettings

EMPTY_LAKE_FIRST_SENTENCE = EMPTY_LAKE_MESSAGE.split(" Start")[0]

_STARTUP_SECONDS = 90

_SERVE = """
from crimestream.logs import configure_logging
from dashboard.server import serve
from dashboard.settings import DashboardSettings

settings = DashboardSettings()
configure_logging(settings.log_level)
serve(settings)
print("serve returned", flush=True)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.status), response.read().decode("utf-8")


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> tuple[int, str]:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            return _get(url)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"server did not answer {url} in {_STARTUP_SECONDS}s:\n{log.read_text()}")


def _page_models(url: str) -> list[Any]:
    """Every model in a fresh session's document, pulled over the websocket."""
    session = pull_session(url=url)
    try:
        return list(session.document.models)
    finally:
        session.close()


def _page_texts(url: str) -> str:
    """The text of every model in a fresh session's document."""
    return "\n".join(str(getattr(model, "text", "")) for model in _page_models(url))


def _websocket_status(port: int, origin: str, page: str) -> int:
    """101 if the server accepts a websocket from ``origin``, else the HTTP error code."""
    match = re.search(r'"token":"([^"]+)"', page)
    assert match, "no session token in the page"
    token = match.group(1)

    async def attempt() -> int:
        request = HTTPRequest(f"ws://127.0.0.1:{port}/ws", headers={"Origin": origin})
        try:
            connection = await websocket_connect(request, subprotocols=["bokeh", token])
        except HTTPClientError as exc:
            return int(exc.code)
        connection.close()
        return 101

    return asyncio.run(attempt())


def _start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """``serve()`` in its own process, as ``crimestream dashboard`` runs it."""
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DASHBOARD_")}
    env.update(
        {
            "DATA_DIR": str(tmp_path / "data"),
            "DASHBOARD_PORT": str(port),
            "DASHBOARD_REFRESH_SECONDS": "1",
            "METRICS_PORT": "0",  # not needed here; the default port may be taken by another run
            "LOG_LEVEL": "INFO",
        }
    )
    process = _start([sys.executable, "-c", _SERVE], env, tmp_path, log)
    try:
        yield process, port, log
    finally:
        _stop(process)


def test_serve_answers_over_http_and_stops_on_sigterm(
    serve_process: tuple[subprocess.Popen[bytes], int, Path], tmp_path: Path
) -> None:
    process, port, log = serve_process

    # The lake is empty at first: the page says so.
    url = f"http://127.0.0.1:{port}/"
    status, page = _wait_for(url, process, log)
    assert status == 200
    assert f"<title>{APP_TITLE}</title>" in page
    assert EMPTY_LAKE_FIRST_SENTENCE in _page_texts(url)
    # Panel's BrowserInfo would send seven messages back as each page loads; the page never reads them.
    assert "BrowserInfo" not in {type(model).__name__ for model in _page_models(url)}

    # The websocket is open to the localhost names on this port, and only to them.
    assert _websocket_status(port, f"http://127.0.0.1:{port}", page) == 101
    assert _websocket_status(port, f"http://localhost:{port}", page) == 101
    assert _websocket_status(port, "http://evil.example", page) == 403

    # Data arrives while the server runs: a new page shows it.
    write_lake(tmp_path / "data" / "lake", sample_rows(date(2023, 12, 10), 100) + BOUNDARY_ROWS)
    status, _ = _get(f"http://localhost:{port}/")
    assert status == 200
    texts = _page_texts(url)
    assert "30 days" in texts
    assert EMPTY_LAKE_FIRST_SENTENCE not in texts

    # SIGTERM stops serve() cleanly: it returns, the process exits 0.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    output = log.read_text()
    assert f"dashboard at http://127.0.0.1:{port}/" in output
    assert "first page rendered in" in output  # before /ready: its one-off costs are not a visitor's
    assert "received SIGTERM" in output
    assert "dashboard stopped" in output
    assert "serve returned" in output
    assert "Traceback" not in output


def test_app_file_serves_like_panel_serve(sample_lake: SampleLake, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``panel serve dashboard/app.py`` does: run the file per session, at ``/app``."""
    monkeypatch.setenv("DATA_DIR", str(sample_lake.data_dir))
    monkeypatch.setenv("DASHBOARD_REFRESH_SECONDS", "0")
    port = _free_port()
    thread = pn.serve(
        {"app": str(Path(dashboard.app.__file__))},
        port=port,
        address="127.0.0.1",
        websocket_origin=[f"127.0.0.1:{port}"],
        show=False,
        threaded=True,
        verbose=False,
    )
    try:
        url = f"http://127.0.0.1:{port}/app"
        deadline = time.monotonic() + _STARTUP_SECONDS
        while True:
            try:
                status, page = _get(url)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert status == 200
        assert f"<title>{APP_TITLE}</title>" in page
        assert "30 days" in _page_texts(url)
    finally:
        thread.stop()


def test_a_failed_first_visit_is_logged_and_the_server_still_gets_ready(
    sample_lake: SampleLake, caplog: pytest.LogCaptureFixture
) -> None:
    settings = DashboardSettings(data_dir=sample_lake.data_dir, dashboard_port=_free_port())  # nothing listens
    ready: list[bool] = []
    with caplog.at_level(logging.WARNING):
        first_visit(settings, lambda: ready.append(True))
    assert ready == [True]
    assert "the warm-up visit of http://127.0.0.1:" in caplog.text
