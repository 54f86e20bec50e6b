"""``crimestream broker``: run Kafka and the registry until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import threading
import time

from localkafka.cluster import LocalStack
from localkafka.settings import BrokerSettings

__all__ = ["run_broker"]

log = logging.getLogger(__name__)


def run_broker(settings: BrokerSettings, stop: threading.Event) -> int:
    workdir = settings.data_dir / "broker"
    stack = LocalStack(workdir, kafka_port=settings.broker_kafka_port, registry_port=settings.broker_registry_port)
    started = time.monotonic()
    stack.start()
    try:
        log.info("broker and registry ready in %.1fs (data in %s)", time.monotonic() - started, workdir)
        print(f"KAFKA_BOOTSTRAP_SERVERS={stack.kafka.bootstrap_servers}", flush=True)
        print(f"SCHEMA_REGISTRY_URL={stack.registry.url}", flush=True)
        while not stop.wait(1.0):
            if not stack.kafka.alive():
                log.error("the Kafka broker exited; see %s", workdir / "kafka" / "server.log")
                return 1
        return 0
    finally:
        stack.stop()
        log.info("broker and registry stopped")
