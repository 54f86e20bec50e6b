"""The dashboard's login (Panel basic auth), its health/metrics port, and SIGTERM under load.

``serve()`` runs in its own process, as ``crimestream dashboard`` runs it.
"""

from __future__ import annotations

import http.cookiejar
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_lake_builder import SampleLake

from dashboard.app import APP_TITLE
from dashboard.server import auth_options
from dashboard.settings import DashboardSettings

PASSWORD = "s3cret-Dashboard-pw"
USER = "analyst"
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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _request(opener: urllib.request.OpenerDirector, url: str, data: bytes | None = None) -> tuple[int, str, Any]:
    try:
        with opener.open(url, data=data, timeout=30) as response:
            return int(response.status), response.read().decode(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), exc.headers


def _login(port: int, password: str) -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": USER, "password": password}).encode()
    _request(opener, f"http://127.0.0.1:{port}/login", form)
    return opener, jar


# --- settings ------------------------------------------------------------------------------------------


def test_no_password_no_login_and_the_password_is_never_shown() -> None:
    open_settings = DashboardSettings(_env_file=None)  # type: ignore[call-arg]
    assert not open_settings.login_required
    assert auth_options(open_settings) == {}

    settings = DashboardSettings(_env_file=None, dashboard_basic_auth_password=PASSWORD)  # type: ignore[call-arg]
    assert settings.login_required
    assert settings.dashboard_host == "127.0.0.1"  # localhost unless told otherwise
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
    options = auth_options(settings)
    assert options["basic_auth"] == {USER: PASSWORD}
    # Without a configured cookie secret each start signs logins with a fresh random one.
    assert len(options["cookie_secret"]) >= 32 and auth_options(settings)["cookie_secret"] != options["cookie_secret"]

    fixed = DashboardSettings(  # type: ignore[call-arg]
        _env_file=None, dashboard_basic_auth_password=PASSWORD, dashboard_cookie_secret="c" * 40
    )
    assert auth_options(fixed)["cookie_secret"] == "c" * 40


# --- served ------------------------------------------------------------------------------------------


@pytest.fixture
def served_with_login(
    sample_lake: SampleLake, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int, int, Path]]:
    port, metrics_port = _free_port(), _free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("DASHBOARD_", "METRICS_"))}
    env.update(
        {
            "DATA_DIR": str(sample_lake.data_dir),
            "DASHBOARD_PORT": str(port),
            "DASHBOARD_REFRESH_SECONDS": "1",
            "DASHBOARD_BASIC_AUTH_PASSWORD": PASSWORD,
            "METRICS_PORT": str(metrics_port),
            "LOG_LEVEL": "DEBUG",
        }
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVE], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + _STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/ready", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"not ready in {_STARTUP_SECONDS}s:\n{log.read_text()}")
            time.sleep(0.2)
        yield process, port, metrics_port, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.slow
def test_login_required_then_sigterm_under_load_exits_0(
    served_with_login: tuple[subprocess.Popen[bytes], int, int, Path],
) -> None:
    process, port, metrics_port, log = served_with_login
    root = f"http://127.0.0.1:{port}/"
    anonymous = urllib.request.build_opener(_NoRedirect())

    # Without credentials: no page, a redirect to the login form.
    status, _, headers = _request(anonymous, root)
    assert status == 302
    assert urllib.parse.urlsplit(headers["Location"]).path.lstrip("./") == "login"
    status, body, _ = _request(anonymous, f"http://127.0.0.1:{port}/login")
    assert status == 200 and 'name="password"' in body
    assert APP_TITLE not in body

    # A wrong password gets no session cookie, so still no page.
    opener, jar = _login(port, "wrong-password")
    assert "user" not in {c.name for c in jar}
    status, body, _ = _request(opener, root)
    assert f"<title>{APP_TITLE}</title>" not in body

    # The right one opens the page.
    opener, jar = _login(port, PASSWORD)
    assert "user" in {c.name for c in jar}
    status, body, _ = _request(opener, root)
    assert status == 200 and f"<title>{APP_TITLE}</title>" in body

    # The health port needs no login, and the lake's freshness is scraped from it.
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/health", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/ready", timeout=5) as response:
        assert response.read().decode() == f"ready: serving {root}\n"
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        assert "crimestream_lake_freshness_seconds" in response.read().decode()

    # Under load: logged-in clients keep opening pages (each builds a session) while SIGTERM arrives.
    stop_load = threading.Event()
    served: list[int] = []

    def load() -> None:
        client, _ = _login(port, PASSWORD)
        while not stop_load.is_set():
            try:
                served.append(_request(client, root)[0])
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                return  # the server went away: expected once it stops

    workers = [threading.Thread(target=load, daemon=True) for _ in range(6)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 60
    while served.count(200) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served.count(200) >= 12, f"the load did not get going: {served}"

    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    took = time.monotonic() - signalled
    stop_load.set()
    for worker in workers:
        worker.join(30)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert took < 20, f"took {took:.1f}s to stop"
    assert "received SIGTERM" in output and "dashboard stopped" in output and "serve returned" in output
    assert "Traceback" not in output
    assert "login required (user analyst)" in output
    assert PASSWORD not in output  # never logged, even at DEBUG
    with pytest.raises(urllib.error.URLError):  # the health port went with the process
        urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/health", timeout=5)
