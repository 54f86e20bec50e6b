"""Session-wide fixtures: one real Kafka broker + schema registry for the whole run.

Which broker, in order:
1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``SCHEMA_REGISTRY_URL`` both set -> those.
2. ``CRIMESTREAM_TEST_BROKER=docker`` and a Docker daemon -> testcontainers.
3. Otherwise the project's own local broker (``localkafka``), on free ports in
   a temporary folder.

If none can start, every test that needs it FAILS with the reason; it never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

# Services started by tests serve no metrics port unless a test asks for one, so tests
# never collide with each other (two workers at once) or with a pipeline running here.
os.environ.setdefault("METRICS_PORT", "0")


@dataclass(frozen=True)
class KafkaStack:
    bootstrap_servers: str
    registry_url: str
    kind: str

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers, "SCHEMA_REGISTRY_URL": self.registry_url}


def _docker_stack() -> Iterator[KafkaStack]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft() as kafka:
        registry = DockerContainer("apicurio/apicurio-registry:3.3.3").with_exposed_ports(8080)
        with registry:
            wait_for_logs(registry, "Listening on", timeout=120)
            url = f"http://{registry.get_container_host_ip()}:{registry.get_exposed_port(8080)}/apis/ccompat/v7"
            yield KafkaStack(kafka.get_bootstrap_server(), url, "docker")


@pytest.fixture(scope="session")
def kafka_stack() -> Iterator[KafkaStack]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    registry = os.environ.get("SCHEMA_REGISTRY_URL")
    if bootstrap and registry:
        yield KafkaStack(bootstrap, registry, "external")
        return
    if os.environ.get("CRIMESTREAM_TEST_BROKER") == "docker":
        yield from _docker_stack()
        return
    from localkafka import LocalStack

    stack = LocalStack()
    try:
        stack.start()
    except Exception as exc:
        pytest.fail(f"could not start the local Kafka broker and schema registry: {exc}", pytrace=False)
    try:
        yield KafkaStack(stack.kafka.bootstrap_servers, stack.registry.url, "local")
    finally:
        stack.stop()


@pytest.fixture
def topic_name() -> str:
    """A fresh topic name per test, so tests never see each other's events."""
    return f"test.crimes.{uuid.uuid4().hex[:10]}"
