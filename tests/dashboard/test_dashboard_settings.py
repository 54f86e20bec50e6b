"""Dashboard settings from the environment, and the websocket origins they allow."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.server import websocket_origins
from dashboard.settings import DashboardSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("DATA_DIR", "DASHBOARD_HOST", "DASHBOARD_PORT", "DASHBOARD_REFRESH_SECONDS",
                 "DASHBOARD_DEFAULT_DAYS", "DASHBOARD_EXTRA_ORIGINS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_defaults_bind_to_localhost() -> None:
    settings = DashboardSettings()
    assert settings.dashboard_host == "127.0.0.1"
    assert settings.dashboard_port == 5006
    assert settings.dashboard_refresh_seconds == 10
    assert settings.dashboard_default_days == 30
    assert settings.lake_dir == Path("data") / "lake"
    assert settings.dashboard_url == "http://127.0.0.1:5006/"
    assert websocket_origins(settings) == ["127.0.0.1:5006", "localhost:5006"]


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", "/srv/crimes")
    monkeypatch.setenv("DASHBOARD_HOST", "0.0.0.0")
    monkeypatch.setenv("DASHBOARD_PORT", "8080")
    monkeypatch.setenv("DASHBOARD_REFRESH_SECONDS", "2.5")
    monkeypatch.setenv("DASHBOARD_DEFAULT_DAYS", "7")
    monkeypatch.setenv("DASHBOARD_EXTRA_ORIGINS", '["crimes.example.org", "localhost:8080"]')
    settings = DashboardSettings()
    assert settings.lake_dir == Path("/srv/crimes/lake")
    assert settings.dashboard_refresh_seconds == 2.5
    assert settings.dashboard_default_days == 7
    assert settings.dashboard_url == "http://127.0.0.1:8080/"
    assert websocket_origins(settings) == ["127.0.0.1:8080", "localhost:8080", "crimes.example.org"]


def test_a_named_host_is_an_allowed_origin() -> None:
    settings = DashboardSettings(dashboard_host="dash.internal", dashboard_port=7000)
    assert websocket_origins(settings) == ["127.0.0.1:7000", "localhost:7000", "dash.internal:7000"]
    assert settings.dashboard_url == "http://dash.internal:7000/"


@pytest.mark.parametrize(
    ("field", "value"),
    [("dashboard_port", 0), ("dashboard_port", 70000), ("dashboard_refresh_seconds", -1),
     ("dashboard_default_days", 0)],
)  # fmt: skip
def test_invalid_values_are_rejected(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        DashboardSettings(**{field: value})  # type: ignore[arg-type]
