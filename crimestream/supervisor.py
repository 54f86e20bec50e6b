"""``crimestream up``: the whole pipeline on this machine, stopped by one Ctrl-C.

Starts the local broker and registry, then (with ``--demo``) the SODA emulator
in live mode, the poller, the processor and the dashboard as child processes,
each logging to ``DATA_DIR/logs/<service>.log``.  A child that dies is restarted
with backoff.  Ctrl-C or SIGTERM stops the children in reverse order (each
gets SIGTERM and time to flush and commit), then the broker.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from localkafka.cluster import LocalStack
from localkafka.process import ChildProcess
from localkafka.settings import BrokerSettings

__all__ = ["run_pipeline"]

log = logging.getLogger(__name__)


class _Service:
    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.child = ChildProcess(
            name, [sys.executable, "-m", "crimestream.cli", *args], logs / f"{name}.log", Path.cwd(), env
        )
        self.restarts = 0
        self.next_start = 0.0

    def ensure_running(self) -> None:
        if self.child.alive() or time.monotonic() < self.next_start:
            return
        if self.child.pid is not None:
            code = self.child.returncode()
            self.restarts += 1
            delay = min(60.0, 2.0 ** min(self.restarts, 6))
            log.warning(
                "%s exited (code %s); restarting in %.0fs — see %s", self.name, code, delay, self.child.log_file
            )
            self.next_start = time.monotonic() + delay
            self.child = ChildProcess(self.name, self.child.argv, self.child.log_file, self.child.cwd, self.child.env)
            return
        self.child.start()


def run_pipeline(*, demo: bool) -> int:
    base = BrokerSettings()
    data_dir = base.data_dir.resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)

    stack = LocalStack(data_dir / "broker", kafka_port=base.broker_kafka_port, registry_port=base.broker_registry_port)
    log.info("starting Kafka and the schema registry (first run downloads them from Maven Central)...")
    stack.start()
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=stack.kafka.bootstrap_servers,
        SCHEMA_REGISTRY_URL=stack.registry.url,
        DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
    )
    services: list[_Service] = []
    if demo:
        port = os.environ.get("EMULATOR_PORT", "8000")
        env["SODA_BASE_URL"] = f"http://127.0.0.1:{port}"
        env.setdefault("POLL_INTERVAL_SECONDS", "5")
        env.setdefault("EMULATOR_LIVE_INTERVAL_SECONDS", "15")
        # About the real dataset's rate (~650 incidents a day), so history and live loads agree.
        env.setdefault("EMULATOR_ROWS", "60000")
        env.setdefault("EMULATOR_DAYS", "90")
        services.append(_Service("emulator", ["emulator", "--port", port], env, logs))
    services += [
        _Service("poller", ["poll"], env, logs),
        _Service("processor", ["process"], env, logs),
        _Service("dashboard", ["dashboard"], env, logs),
    ]
    host = os.environ.get("DASHBOARD_HOST", "127.0.0.1")
    port = os.environ.get("DASHBOARD_PORT", "5006")
    try:
        for service in services:
            service.ensure_running()
            if service.name == "emulator":
                time.sleep(2.0)  # let it bind before the poller's first request
        print(
            f"\n  crimestream is running{' (demo: fed by the SODA emulator)' if demo else ''}.\n"
            f"  Dashboard: http://{host}:{port}/\n"
            f"  Logs:      {logs}/\n  Lake:      {data_dir / 'lake'}\n  Press Ctrl-C to stop.\n",
            flush=True,
        )
        while not stop.wait(1.0):
            if not stack.kafka.alive():
                log.error("the Kafka broker exited; see %s", stack.kafka.workdir / "server.log")
                return 1
            for service in services:
                service.ensure_running()
        return 0
    finally:
        log.info("stopping...")
        for service in reversed(services):
            service.child.stop(timeout=30)
        stack.stop()
        log.info("stopped")
