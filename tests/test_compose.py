"""The compose file: parsed, and every service's command and settings match what the code reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from crimestream.cli import _parser
from dashboard.settings import DashboardSettings
from emulator.settings import EmulatorSettings
from producers.settings import PollerSettings
from stream_processors.settings import ProcessorSettings

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _known_env() -> set[str]:
    names: set[str] = set()
    for cls in (PollerSettings, ProcessorSettings, DashboardSettings, EmulatorSettings):
        names |= {name.upper() for name in cls.model_fields}
    return names


def test_every_app_service_runs_a_real_subcommand_with_known_settings() -> None:
    services = _compose()["services"]
    assert {"kafka", "registry", "poller", "processor", "dashboard", "emulator"} <= set(services)
    parser = _parser()
    known = _known_env()
    for name in ("poller", "processor", "dashboard", "emulator"):
        service = services[name]
        parser.parse_args(service["command"])  # exits (fails the test) on an unknown command/option
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name} sets env names the code never reads: {unknown}"


def test_kafka_matches_the_tested_version_and_services_have_healthchecks() -> None:
    services = _compose()["services"]
    from localkafka import KAFKA_VERSION, REGISTRY_VERSION

    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert services["registry"]["image"].endswith(f":{REGISTRY_VERSION}")
    assert "healthcheck" in services["kafka"] and "healthcheck" in services["registry"]
    assert services["dashboard"]["ports"] == ["127.0.0.1:5006:5006"]
    assert services["emulator"]["profiles"] == ["demo"]
