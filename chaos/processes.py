"""The soak's child processes: pipeline services that are killed and restarted, and the broker.

Every child is a ``localkafka.process.ChildProcess``: its own process group, output
appended to ``<work dir>/logs/<name>.log``, and SIGTERM from the kernel if the soak
itself dies.  Spawn them from the main thread only (see that module).
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from localkafka.cluster import LocalKafka
from localkafka.process import ChildProcess

__all__ = ["Broker", "Service", "run_to_end"]

log = logging.getLogger(__name__)

_QUICK_EXIT = 20.0  # a service that dies sooner after its start is restarted with a growing backoff


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "crimestream.cli", *args]


def _mark(log_file: Path, text: str) -> None:
    """A line in a child's log, so restarts and kills are visible where its output is."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8") as out:
        out.write(f"===== chaos {datetime.now(UTC).isoformat(timespec='seconds')}: {text}\n")


class Service:
    """A ``crimestream`` service, restarted whenever it is not running (unless stopped)."""

    def __init__(
        self, name: str, args: list[str], *, env: dict[str, str], logs: Path, cwd: Path, restart_delay: float
    ) -> None:
        self.name = name
        self.argv = _cli(args)
        self.env = env
        self.log_file = logs / f"{name}.log"
        self.cwd = cwd
        self.restart_delay = restart_delay
        self.child: ChildProcess | None = None
        self.starts = 0
        self.kills = 0
        self.exits: list[int | None] = []  # exit codes of deaths the soak did not cause
        self._started_at = 0.0
        self._restart_at: float | None = None
        self._backoff = restart_delay
        self._stopped = False

    def start(self, now: float) -> None:
        self.starts += 1
        _mark(self.log_file, f"start #{self.starts}")
        self.child = ChildProcess(self.name, self.argv, self.log_file, self.cwd, self.env)
        self.child.start()
        self._started_at = now
        self._restart_at = None
        self._stopped = False

    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def kill(self, now: float) -> None:
        """SIGKILL (the whole process group); it restarts after ``restart_delay``."""
        if self.child is not None:
            _mark(self.log_file, "SIGKILL")
            self.child.kill()
        self.kills += 1
        self._restart_at = now + self.restart_delay

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); no restart after this.  Returns the exit code."""
        self._stopped = True
        if self.child is None:
            return None
        self.child.stop(timeout)
        return self.child.returncode()

    def supervise(self, now: float) -> None:
        """Restart the service if it is down: at once after our kill, with backoff after a crash."""
        if self._stopped or self.alive():
            return
        if self._restart_at is None:  # it died on its own
            code = self.child.returncode() if self.child is not None else None
            self.exits.append(code)
            quick = now - self._started_at < _QUICK_EXIT
            self._backoff = min(10.0, self._backoff * 2) if quick else self.restart_delay
            log.warning("%s exited on its own (code %s); restarting in %.1fs", self.name, code, self._backoff)
            _mark(self.log_file, f"exited with code {code}")
            self._restart_at = now + self._backoff
        if now >= self._restart_at:
            self.start(now)


def run_to_end(name: str, args: list[str], *, env: dict[str, str], logs: Path, cwd: Path, timeout: float) -> int | None:
    """Run a one-shot ``crimestream`` command to its end; its exit code (None: killed at ``timeout``)."""
    log_file = logs / f"{name}.log"
    _mark(log_file, f"run {' '.join(args)}")
    child = ChildProcess(name, _cli(args), log_file, cwd, env)
    child.start()
    deadline = time.monotonic() + timeout
    while child.alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    if child.alive():
        log.error("%s did not finish within %.0fs; see %s", name, timeout, log_file)
        child.kill()
        return None
    return child.returncode()


BrokerState = Literal["up", "down", "starting"]


class Broker:
    """Kafka under fault: stopped (SIGTERM) or killed, held down, restarted on the same port and data dir."""

    def __init__(self, kafka: LocalKafka) -> None:
        self.kafka = kafka
        self.state: BrokerState = "up"
        self.restarts = 0
        self.crashes = 0  # exits the soak did not cause
        self._restart_at = 0.0
        self._launched_at = 0.0
        self._admin = AdminClient(
            {
                "bootstrap.servers": kafka.bootstrap_servers,
                "socket.connection.setup.timeout.ms": 1000,
                "log_level": 0,
            }
        )

    @property
    def up(self) -> bool:
        return self.state == "up"

    def take_down(self, now: float, hold: float, *, kill: bool) -> None:
        if kill:
            self.kafka.kill()
        else:
            self.kafka.stop()
        self.state = "down"
        self._restart_at = now + hold

    def answers(self) -> bool:
        """Does the broker answer a metadata request (within a second)?"""
        try:
            return bool(self._admin.list_topics(timeout=1.0).brokers)
        except KafkaException:
            return False

    def supervise(self, now: float) -> None:
        if self.state == "up" and not self.kafka.alive():
            self.crashes += 1
            log.error("the Kafka broker exited on its own; restarting it (see %s)", self.kafka.workdir / "server.log")
            self.state, self._restart_at = "down", now
        if self.state == "down" and now >= self._restart_at:
            self._launch(now)
        elif self.state == "starting":
            if not self.kafka.alive():
                log.error("the Kafka broker died while starting; launching it again")
                self._launch(now)
            elif self.answers():
                self.state = "up"
                log.info("Kafka is back after a %.1fs start", now - self._launched_at)

    def _launch(self, now: float) -> None:
        self.kafka.launch()
        self.restarts += 1
        self.state = "starting"
        self._launched_at = now

    def restart_now(self, now: float) -> None:
        """End the hold time of a fault that keeps the broker down: it starts at the next ``supervise``."""
        if self.state == "down":
            self._restart_at = now
