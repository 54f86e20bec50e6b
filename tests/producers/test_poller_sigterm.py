"""SIGTERM in the middle of a large backfill: the poller exits 0 promptly, and nothing is lost or repeated.

The stop event is checked between pages; the page in flight is published,
confirmed and its watermark saved before the process exits.  So after the stop
the topic holds exactly whole pages, and a following ``poll --once`` publishes
exactly the rest: every source id once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from emulator.dataset import Dataset
from emulator.server import EmulatorServer
from tests.conftest import KafkaStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 40_000
PAGE = 1_000
STOP_WITHIN_SECONDS = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _topic_keys(stack: KafkaStack, topic: str) -> list[str]:
    """Every key on the topic, read to the end offsets taken now."""
    consumer = Consumer({"bootstrap.servers": stack.bootstrap_servers, "group.id": "sigterm-check"})
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    keys: list[str] = []
    position = dict.fromkeys(partitions, 0)
    deadline = time.monotonic() + 120
    while any(position[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None or msg.error() is not None:
            continue
        position[msg.partition()] = msg.offset() + 1
        keys.append(msg.key().decode())
    consumer.close()
    assert all(position[p] >= ends[p] for p in partitions), "could not read the topic to its end"
    return keys


def _rows_polled(metrics_url: str) -> float | None:
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    for line in text.splitlines():
        if line.startswith("crimestream_rows_polled_total "):
            return float(line.split()[1])
    return None


def test_sigterm_mid_backfill_exits_0_quickly_and_loses_nothing(
    kafka_stack: KafkaStack, topic_name: str, tmp_path: Path
) -> None:
    dataset = Dataset.generate(ROWS, seed=23, days=300, correction_share=0.0)
    port = _free_port()
    with EmulatorServer(dataset) as emulator:
        env = dict(
            os.environ,
            **kafka_stack.env(),
            CRIMES_TOPIC=topic_name,
            DATA_DIR=str(tmp_path),
            SODA_BASE_URL=emulator.url,
            START_DATE="2000-01-01",
            PAGE_LIMIT=str(PAGE),
            TOPIC_PARTITIONS="3",
            METRICS_PORT=str(port),
            LOG_LEVEL="INFO",
        )
        log_file = tmp_path / "poll.log"
        with log_file.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "crimestream.cli", "poll"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            # Mid-stream: a few pages confirmed (seen on /metrics), far from the end.
            deadline = time.monotonic() + 120
            polled = None
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"the poller exited early:\n{log_file.read_text()[-3000:]}"
                polled = _rows_polled(f"http://127.0.0.1:{port}/metrics")
                if polled is not None and polled >= 3 * PAGE:
                    break
                time.sleep(0.05)
            assert polled is not None and polled < ROWS / 2, f"not mid-stream when signalled: {polled}"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
                assert response.status == 200

            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            took = time.monotonic() - signalled
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        output = log_file.read_text()
        assert code == 0, output[-3000:]
        assert took < STOP_WITHIN_SECONDS, f"took {took:.1f}s to stop"
        assert "received SIGTERM" in output
        assert "poll stopped:" in output and "poller stopped; watermark at" in output
        assert "Traceback" not in output

        # What the stopped poller left: whole pages, each once, well short of the backfill.
        after_stop = _topic_keys(kafka_stack, topic_name)
        assert len(after_stop) % PAGE == 0, f"a page was cut short: {len(after_stop)} events"
        assert PAGE * 3 <= len(after_stop) < ROWS
        assert len(set(after_stop)) == len(after_stop)

        final = subprocess.run(
            [sys.executable, "-m", "crimestream.cli", "poll", "--once"],
            env=dict(env, METRICS_PORT="0"),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert final.returncode == 0, final.stderr[-3000:]

    keys = _topic_keys(kafka_stack, topic_name)
    # Nothing lost: every source id is on the topic.  Nothing repeated either: the watermark saved at the
    # stop was exactly the last confirmed row, so the resumed poll published only the rest.
    assert set(keys) == set(dataset.ids())
    duplicates = [k for k, n in Counter(keys).items() if n > 1]
    assert duplicates == []
    assert len(keys) == ROWS
