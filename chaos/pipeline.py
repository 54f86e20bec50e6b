"""The whole pipeline of one soak: its work dir, ports, environment and processes.

Layout of the work dir::

    broker/          Kafka's KRaft store and the registry's database (kept across broker restarts)
    data/            DATA_DIR of the services: lake/, state/
    logs/            one log per service (restarts and kills marked in it), chaos.log, faults.jsonl
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from chaos.processes import Broker, Service
from chaos.settings import ChaosSettings
from chaos.source import EmulatorAdmin
from crimestream.errors import CrimestreamError
from dashboard.settings import DashboardSettings
from emulator.settings import EmulatorSettings
from localkafka.cluster import LocalStack, free_port
from localkafka.settings import BrokerSettings
from producers.settings import PollerSettings
from stream_processors.settings import ProcessorSettings

__all__ = ["GROUP_ID", "Pipeline", "Ports", "SoakError", "prepare_work_dir"]

log = logging.getLogger(__name__)

GROUP_ID = "crimestream-chaos"
_MARKER = ".chaos-work-dir"


class SoakError(CrimestreamError):
    """The soak itself could not run (as opposed to the pipeline losing data)."""


@dataclass(frozen=True)
class Ports:
    kafka: int
    registry: int
    emulator: int
    dashboard: int
    dashboard_metrics: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())


def prepare_work_dir(path: Path) -> None:
    """Create the work dir; wipe it only if an earlier soak made it."""
    if path.exists() and any(path.iterdir()):
        if not (path / _MARKER).exists():
            raise SoakError(f"{path} is not empty and was not made by a soak; choose another --work-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / _MARKER).touch()


def _clean_environment() -> dict[str, str]:
    """This process's environment without any crimestream setting (the soak sets its own)."""
    names = set()
    for settings in (
        PollerSettings,
        ProcessorSettings,
        DashboardSettings,
        EmulatorSettings,
        BrokerSettings,
        ChaosSettings,
    ):
        names |= {name.upper() for name in settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in names}


class Pipeline:
    def __init__(self, settings: ChaosSettings) -> None:
        self.settings = settings
        self.work_dir = settings.work_dir
        self.data_dir = self.work_dir / "data"
        self.logs = self.work_dir / "logs"
        self.ports = Ports.pick()
        self.stack = LocalStack(
            self.work_dir / "broker", kafka_port=self.ports.kafka, registry_port=self.ports.registry
        )
        self.broker = Broker(self.stack.kafka)
        self.emulator_url = f"http://127.0.0.1:{self.ports.emulator}"
        self.admin = EmulatorAdmin(self.emulator_url)
        self.env = self._environment()
        delay = settings.chaos_restart_delay_seconds

        def service(name: str, args: list[str], **extra: str) -> Service:
            return Service(
                name, args, env={**self.env, **extra}, logs=self.logs, cwd=self.work_dir, restart_delay=delay
            )

        self.emulator = service("emulator", ["emulator", "--port", str(self.ports.emulator), "--live-interval", "0"])
        self.poller = service("poller", ["poll"])
        self.processor = service("processor", ["process"])
        self.dashboard = service("dashboard", ["dashboard"], METRICS_PORT=str(self.ports.dashboard_metrics))
        self._http = httpx.Client(timeout=1.0)

    @property
    def services(self) -> list[Service]:
        """The services the soak kills and restarts."""
        return [self.poller, self.processor, self.dashboard]

    def _environment(self) -> dict[str, str]:
        s = self.settings
        return _clean_environment() | {
            "PYTHONUNBUFFERED": "1",
            "DATA_DIR": str(self.data_dir),
            "LOG_LEVEL": s.log_level,
            "KAFKA_BOOTSTRAP_SERVERS": self.stack.kafka.bootstrap_servers,
            "SCHEMA_REGISTRY_URL": self.stack.registry.url,
            "TOPIC_PARTITIONS": "3",
            "SODA_BASE_URL": self.emulator_url,
            "START_DATE": "2000-01-01",
            "POLL_INTERVAL_SECONDS": "2",
            "PAGE_LIMIT": "1000",
            "SODA_TIMEOUT_SECONDS": "15",
            "SODA_MAX_RETRIES": "6",
            "SODA_BACKOFF_SECONDS": "0.5",
            "SODA_BACKOFF_MAX_SECONDS": "5",
            "RECONCILE_INTERVAL_SECONDS": str(s.chaos_reconcile_interval_seconds),
            "PROCESSOR_GROUP_ID": GROUP_ID,
            "BATCH_MAX_SECONDS": "1",
            "PROCESSOR_SESSION_TIMEOUT_SECONDS": "6",
            "PROCESSOR_STALL_SECONDS": "30",  # a worker stuck after broker faults exits and is restarted
            "METRICS_PORT": "0",
            "DASHBOARD_HOST": "127.0.0.1",
            "DASHBOARD_PORT": str(self.ports.dashboard),
            "EMULATOR_ROWS": str(s.chaos_rows),
            "EMULATOR_SEED": str(s.chaos_seed),
            "EMULATOR_CRASH_ROWS": "0",
        }

    def processor_settings(self) -> ProcessorSettings:
        """Settings to read the topic, the DLQ and the processor's committed offsets from here."""
        return ProcessorSettings(
            dataset="chicago_crimes",
            crimes_topic="chicago.crimes",
            kafka_bootstrap_servers=self.stack.kafka.bootstrap_servers,
            kafka_security_protocol="PLAINTEXT",
            schema_registry_url=self.stack.registry.url,
            processor_group_id=GROUP_ID,
        )

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    def watermark_file(self) -> Path:
        return self.data_dir / "state" / "poller-ijzp-q8t2.json"

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Broker and registry, the emulator (once it answers), then the services."""
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self.stack.start()
        except (CrimestreamError, OSError) as exc:
            raise SoakError(f"could not start the local Kafka broker and schema registry: {exc}") from exc
        now = time.monotonic()
        self.emulator.start(now)
        deadline = now + 120
        while not self.admin.healthy():
            if not self.emulator.alive() or time.monotonic() > deadline:
                raise SoakError(f"the SODA emulator did not start; see {self.emulator.log_file}")
            time.sleep(0.25)
        for service in self.services:
            service.start(time.monotonic())

    def supervise(self, now: float) -> None:
        """Restart what is down (the broker after its hold time); the emulator must never die."""
        if not self.emulator.alive():
            raise SoakError(f"the SODA emulator died (its data with it); see {self.emulator.log_file}")
        self.broker.supervise(now)
        for service in self.services:
            service.supervise(now)

    def dashboard_ready(self) -> bool:
        try:
            return self._http.get(f"http://127.0.0.1:{self.ports.dashboard_metrics}/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def dashboard_page_status(self) -> int | None:
        """The HTTP status of the dashboard's page (a full session render), None if it does not answer."""
        try:
            return self._http.get(f"http://127.0.0.1:{self.ports.dashboard}/", timeout=120.0).status_code
        except httpx.HTTPError:
            return None

    def all_up(self) -> bool:
        return self.broker.up and self.poller.alive() and self.processor.alive() and self.dashboard_ready()

    def close(self) -> None:
        for service in reversed(self.services):
            service.stop(timeout=30)
        self.emulator.stop(timeout=10)
        self.stack.stop()
        self.admin.close()
        self._http.close()
