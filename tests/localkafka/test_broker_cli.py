"""`crimestream broker`: starts a real Kafka + registry, stops cleanly, leaves no orphan JVM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from localkafka import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(tmp_path: Path, path_env: str) -> tuple[subprocess.Popen[str], str, str]:
    env = dict(
        os.environ,
        DATA_DIR=str(tmp_path),
        BROKER_KAFKA_PORT=str(free_port()),
        BROKER_REGISTRY_PORT=str(free_port()),
        PATH=path_env,
    )
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "crimestream.cli", "broker"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    lines = {}
    deadline = time.monotonic() + 180
    while len(lines) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"crimestream broker exited early with {proc.wait()}")
        key, _, value = line.strip().partition("=")
        lines[key] = value
    return proc, lines["KAFKA_BOOTSTRAP_SERVERS"], lines["SCHEMA_REGISTRY_URL"]


def _produce(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("roundtrip", 1, 1)])["roundtrip"].result(30)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("roundtrip", key=b"k", value=b"hello")
    assert producer.flush(30) == 0


def _consume(bootstrap: str, group: str) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe(["roundtrip"])
    msg = None
    deadline = time.monotonic() + 30
    while msg is None and time.monotonic() < deadline:
        msg = consumer.poll(1)
    consumer.close()
    assert msg is not None and msg.value() == b"hello"


def test_broker_serves_stops_on_sigterm_and_restarts_from_cache_without_maven(tmp_path: Path) -> None:
    import httpx

    proc, bootstrap, registry = _start(tmp_path, os.environ["PATH"])
    jvms = _children(proc.pid)
    try:
        assert len(jvms) == 2
        _produce(bootstrap)
        _consume(bootstrap, "first")
        assert httpx.get(f"{registry}/subjects").json() == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    assert not any(_alive(pid) for pid in jvms), "a JVM outlived `crimestream broker`"

    # Second start: the cache is reused, so Maven is not even needed (hide it from PATH).
    no_mvn = ":".join(p for p in os.environ["PATH"].split(":") if not (Path(p) / "mvn").exists())
    proc, bootstrap, _ = _start(tmp_path, no_mvn)
    try:
        _consume(bootstrap, "second")  # the first run's message is still there: the KRaft store is reused
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0


def test_sigkill_of_the_runner_takes_the_jvms_down(tmp_path: Path) -> None:
    proc, _, _ = _start(tmp_path, os.environ["PATH"])
    jvms = _children(proc.pid)
    assert len(jvms) == 2
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in jvms) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(_alive(pid) for pid in jvms), "orphan JVM left behind after SIGKILL"
