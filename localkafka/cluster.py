"""Start, probe and stop a single-node KRaft broker and the schema registry."""

from __future__ import annotations

import base64
import logging
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx
from confluent_kafka.admin import AdminClient

from crimestream.errors import BrokerError
from localkafka.artifacts import ensure_kafka, ensure_registry
from localkafka.java import find_java
from localkafka.process import ChildProcess

__all__ = ["LocalKafka", "LocalRegistry", "LocalStack", "free_port", "new_cluster_id"]

log = logging.getLogger(__name__)

_LOG4J = """\
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64, like Kafka's ``Uuid.randomUuid``.

    Like Kafka, never one that starts with ``-``: the storage tool would read it as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(what: str, probe_ok: Callable[[], bool], child: ChildProcess, timeout: float) -> float:
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise BrokerError(
                f"{what} exited during start-up (code {child.returncode()}); see {child.log_file}:\n{child.log_tail()}"
            )
        if probe_ok():
            return time.monotonic() - start
        time.sleep(0.25)
    child.stop()
    raise BrokerError(f"{what} did not answer within {timeout:.0f}s; see {child.log_file}:\n{child.log_tail()}")


class LocalKafka:
    """Apache Kafka in KRaft mode (broker + controller in one JVM) on 127.0.0.1."""

    def __init__(self, workdir: Path, port: int = 9092, controller_port: int | None = None, heap: str = "768m") -> None:
        self.workdir = workdir
        self.port = port
        self.controller_port = controller_port or free_port()
        self.heap = heap
        self.startup_seconds: float | None = None
        self._child: ChildProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _config(self) -> Path:
        data = self.workdir / "kraft-data"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            # Topics are created by the project with explicit configs, never implicitly.
            "auto.create.topics.enable": "false",
            "log.cleaner.backoff.ms": "1000",
        }
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.workdir / "log4j.properties").write_text(_LOG4J.format(log=self.workdir / "server.log"))
        return path

    def _java_argv(self, java: str, lib: Path, main: str) -> list[str]:
        return [
            java,
            "-Xms256m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.workdir / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.workdir}",
            "-cp",
            f"{lib}/*",
            main,
        ]

    def start(self, timeout: float = 90.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Format the store if new and spawn the JVM (from the calling thread: see process.py)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        lib = ensure_kafka()
        java = find_java(11, "KAFKA_JAVA_HOME", "Apache Kafka")
        config = self._config()
        if not (self.workdir / "kraft-data" / "meta.properties").exists():
            cluster_id = new_cluster_id()
            fmt = self._java_argv(java, lib, "kafka.tools.StorageTool")
            fmt[fmt.index("-Xms256m")] = "-Xms64m"
            proc = subprocess.run(
                [*fmt, "format", "-t", cluster_id, "-c", str(config), "--ignore-formatted"],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise BrokerError(f"formatting the KRaft store failed: {proc.stderr.strip()[-500:]}")
        self._child = ChildProcess(
            "kafka",
            [*self._java_argv(java, lib, "kafka.Kafka"), str(config)],
            self.workdir / "kafka.out",
            self.workdir,
        )
        self._child.start()

    def wait_ready(self, timeout: float = 90.0) -> None:
        assert self._child is not None, "launch() first"
        admin = AdminClient(
            {"bootstrap.servers": self.bootstrap_servers, "socket.connection.setup.timeout.ms": 1000, "log_level": 0}
        )

        def ready() -> bool:
            try:
                md = admin.list_topics(timeout=1)
            except Exception:  # noqa: BLE001 - not up yet
                return False
            return bool(md.brokers)

        self.startup_seconds = _wait(f"Kafka on {self.bootstrap_servers}", ready, self._child, timeout)
        log.info("Kafka %s ready in %.1fs", self.bootstrap_servers, self.startup_seconds)

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()

    def kill(self) -> None:
        if self._child is not None:
            self._child.kill()

    def alive(self) -> bool:
        return self._child is not None and self._child.alive()


class LocalRegistry:
    """Apicurio Registry 3.x (H2 file storage in its workdir) with its Confluent-compatible API."""

    def __init__(self, workdir: Path, port: int = 8081, heap: str = "512m") -> None:
        self.workdir = workdir
        self.port = port
        self.heap = heap
        self.startup_seconds: float | None = None
        self._child: ChildProcess | None = None

    @property
    def url(self) -> str:
        """The Confluent-compatible base URL that SchemaRegistryClient takes."""
        return f"http://127.0.0.1:{self.port}/apis/ccompat/v7"

    def start(self, timeout: float = 120.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        home = ensure_registry()
        java = find_java(21, "REGISTRY_JAVA_HOME", "Apicurio Registry")
        argv = [
            java,
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.http.host=127.0.0.1",
            f"-Dquarkus.management.port={free_port()}",
            "-Dquarkus.management.host=127.0.0.1",
            "-Dquarkus.log.level=WARN",
            # Schemas persist beside the broker's data, so old events stay decodable after a restart.
            f"-Dapicurio.datasource.url=jdbc:h2:file:{self.workdir / 'registry-db'}",
            "-Dapicurio.datasource.jdbc.initial-size=2",
            "-Dapicurio.datasource.jdbc.min-size=2",
            "-Dapicurio.datasource.jdbc.max-size=10",
            "-Dapicurio.rest.deletion.artifact.enabled=true",
            "-Dapicurio.rest.deletion.artifact-version.enabled=true",
            "-jar",
            str(home / "quarkus-run.jar"),
        ]
        self._child = ChildProcess("registry", argv, self.workdir / "registry.out", self.workdir)
        self._child.start()

    def wait_ready(self, timeout: float = 120.0) -> None:
        assert self._child is not None, "launch() first"
        client = httpx.Client(timeout=2)

        def ready() -> bool:
            try:
                return client.get(f"{self.url}/subjects").status_code == 200
            except httpx.HTTPError:
                return False

        try:
            self.startup_seconds = _wait(f"Schema registry on {self.url}", ready, self._child, timeout)
        finally:
            client.close()
        log.info("Schema registry %s ready in %.1fs", self.url, self.startup_seconds)

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()


class LocalStack:
    """Broker and registry together; a context manager that always cleans up."""

    def __init__(
        self, workdir: Path | None = None, kafka_port: int | None = None, registry_port: int | None = None
    ) -> None:
        self._owns_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="crimestream-broker-"))
        self.kafka = LocalKafka(self.workdir / "kafka", port=kafka_port or free_port())
        self.registry = LocalRegistry(self.workdir / "registry", port=registry_port or free_port())

    def start(self) -> None:
        # Both JVMs are spawned from this thread (PDEATHSIG follows the spawning
        # thread) and boot side by side; then each is waited on.
        try:
            self.kafka.launch()
            self.registry.launch()
            self.kafka.wait_ready()
            self.registry.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.registry.stop()
        self.kafka.stop()
        if self._owns_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
