"""/metrics, /health and /ready: the shared server, the metrics, and the poller's figures moving as data flows."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from crimestream.errors import ConfigError
from crimestream.observability import (
    ObservabilityServer,
    Readiness,
    record_flush,
    set_consumer_lag,
    start_observability,
)
from emulator.dataset import Dataset
from emulator.server import EmulatorServer
from producers.service import run_poller
from producers.settings import PollerSettings
from producers.soda import SodaClient
from sinks.metadata import update_metadata
from tests.conftest import KafkaStack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _samples(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    status, text = _get(f"{base_url}/metrics")
    assert status == 200
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Address:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.metrics_host = host
        self.metrics_port = port


# --- the server ----------------------------------------------------------------------------------------


def test_health_is_200_and_ready_follows_the_readiness_callback() -> None:
    clock = _Clock()
    readiness = Readiness(60, what="poll", clock=clock)
    with ObservabilityServer("127.0.0.1", 0, readiness) as server:
        url = server.url
        assert _get(f"{url}/health") == (200, "ok\n")
        assert _get(f"{url}/ready") == (503, "not ready: no successful poll yet\n")

        readiness.succeeded()
        clock.now += 5
        assert _get(f"{url}/ready") == (200, "ready: last successful poll 5s ago\n")

        clock.now += 120  # nothing succeeded for longer than the limit
        status, body = _get(f"{url}/ready")
        assert status == 503 and body == "not ready: last successful poll 125s ago (limit 60s)\n"

        readiness.succeeded()
        readiness.failed("Kafka did not confirm 3 message(s)\nwithin 120s")
        status, body = _get(f"{url}/ready")
        assert status == 503
        assert body == "not ready: last poll failed: Kafka did not confirm 3 message(s) within 120s\n"  # one line

        assert _get(f"{url}/nothing-here")[0] == 404
    with pytest.raises(urllib.error.URLError):  # closed: nothing listens any more
        urllib.request.urlopen(f"{url}/health", timeout=5)


def test_a_readiness_callback_that_raises_means_not_ready_not_a_crash() -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("state file unreadable")

    with ObservabilityServer("127.0.0.1", 0, broken) as server:
        assert _get(f"{server.url}/ready") == (503, "not ready: readiness check failed: state file unreadable\n")
        assert _get(f"{server.url}/health")[0] == 200


def test_metrics_port_zero_disables_and_a_busy_port_is_a_clear_config_error() -> None:
    assert start_observability(_Address(0), lambda: (True, "ok")) is None
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"metrics port {port} on 127.0.0.1 is already in use; set METRICS_PORT"):
            start_observability(_Address(port), lambda: (True, "ok"))


def test_start_observability_serves_on_the_settings_port() -> None:
    port = _free_port()
    settings = PollerSettings(_env_file=None, metrics_port=port)  # type: ignore[call-arg]
    server = start_observability(settings, lambda: (True, "fine"))
    assert server is not None
    try:
        assert server.url == f"http://127.0.0.1:{port}"
        assert _get(f"http://127.0.0.1:{port}/ready") == (200, "ready: fine\n")
    finally:
        server.close()


def test_every_metric_of_the_issue_is_exposed_with_its_type() -> None:
    with ObservabilityServer("127.0.0.1", 0, lambda: (True, "ok")) as server:
        _, text = _get(f"{server.url}/metrics")
    types = {line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE crimestream_")}
    assert types == {
        "crimestream_rows_polled_total": "counter",
        "crimestream_events_produced_total": "counter",
        "crimestream_dead_letter_total": "counter",
        "crimestream_poll_errors_total": "counter",
        "crimestream_consumer_lag": "gauge",
        "crimestream_flush_total": "counter",
        "crimestream_flush_duration_seconds": "histogram",
        "crimestream_flushed_records_total": "counter",
        "crimestream_lake_freshness_seconds": "gauge",
    }
    assert 'crimestream_dead_letter_total{stage="poller"}' in text  # at 0 before the first dead letter
    assert "_created" not in text


def test_record_flush_and_consumer_lag_move_the_scraped_figures() -> None:
    with ObservabilityServer("127.0.0.1", 0, lambda: (True, "ok")) as server:
        before = _samples(server.url)
        record_flush(0.3, upserts=120, deletes=2)
        record_flush(1.7, upserts=5, deletes=0)
        set_consumer_lag(4321)
        after = _samples(server.url)
    assert _value(after, "crimestream_flush_total") - _value(before, "crimestream_flush_total") == 2
    assert (
        _value(after, "crimestream_flush_duration_seconds_count")
        - _value(before, "crimestream_flush_duration_seconds_count")
        == 2
    )
    assert _value(after, "crimestream_flush_duration_seconds_sum") - _value(
        before, "crimestream_flush_duration_seconds_sum"
    ) == pytest.approx(2.0)
    # 0.3 s falls in the 0.5 s bucket, 1.7 s does not.
    assert (
        _value(after, "crimestream_flush_duration_seconds_bucket", le="0.5")
        - _value(before, "crimestream_flush_duration_seconds_bucket", le="0.5")
        == 1
    )
    upserts = _value(after, "crimestream_flushed_records_total", operation="upsert")
    assert upserts - _value(before, "crimestream_flushed_records_total", operation="upsert") == 125
    deletes = _value(after, "crimestream_flushed_records_total", operation="delete")
    assert deletes - _value(before, "crimestream_flushed_records_total", operation="delete") == 2
    assert _value(after, "crimestream_consumer_lag") == 4321


def test_lake_freshness_is_now_minus_the_newest_source_update_in_the_lake_metadata(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    newest = datetime.now(UTC) - timedelta(minutes=10)
    update_metadata(
        lake / "crimes",
        {
            "2024-01": {"rows": 3, "bytes": 10, "newest_source_update": (newest - timedelta(days=3)).isoformat()},
            "2024-02": {"rows": 2, "bytes": 10, "newest_source_update": newest.isoformat()},
        },
    )
    update_metadata(lake / "traffic_crashes", {})  # a table with no rows yet: no figure, no error
    server = start_observability(_Address(_free_port()), lambda: (True, "ok"), lake_dir=lake)
    assert server is not None
    try:
        first = _value(_samples(server.url), "crimestream_lake_freshness_seconds", table="crimes")
        assert 600 <= first < 660
        assert ("crimestream_lake_freshness_seconds", (("table", "traffic_crashes"),)) not in _samples(server.url)
        time.sleep(1.1)  # computed at scrape time: it grows while nothing new arrives
        assert _value(_samples(server.url), "crimestream_lake_freshness_seconds", table="crimes") > first + 1
        # New data reaches the lake: the figure drops.
        update_metadata(
            lake / "crimes", {"2024-03": {"rows": 1, "bytes": 5, "newest_source_update": datetime.now(UTC).isoformat()}}
        )
        assert _value(_samples(server.url), "crimestream_lake_freshness_seconds", table="crimes") < 60
    finally:
        server.close()


# --- the poller, against Kafka -------------------------------------------------------------------------


@pytest.mark.integration
def test_poller_metrics_move_page_by_page_and_ready_turns_200(
    kafka_stack: KafkaStack, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 12_000
    page = 500
    dataset = Dataset.generate(rows, seed=17, days=120, correction_share=0.0)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # One row of the first page lacks its date: it must be counted as polled and dead-lettered.
    real_get = SodaClient.get
    broken: list[str] = []

    def get_with_one_broken_row(self: SodaClient, params: dict[str, str]) -> list[dict[str, Any]]:
        got = real_get(self, params)
        if got and not broken and params.get("$select") == ":*,*":
            broken.append(str(got[0]["id"]))
            got[0] = {k: v for k, v in got[0].items() if k != "date"}
        return got

    monkeypatch.setattr(SodaClient, "get", get_with_one_broken_row)
    with EmulatorServer(dataset) as emulator:
        settings = PollerSettings(
            _env_file=None,  # type: ignore[call-arg]
            kafka_bootstrap_servers=kafka_stack.bootstrap_servers,
            schema_registry_url=kafka_stack.registry_url,
            crimes_topic=topic_name,
            data_dir=tmp_path,
            soda_base_url=emulator.url,
            start_date="2000-01-01",
            page_limit=page,
            topic_partitions=3,
            poll_interval_seconds=300,
            reconcile_interval_seconds=0,
            metrics_port=port,
        )
        stop = threading.Event()
        result: list[int] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                result.append(run_poller(settings, once=False, stop=stop))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        deadline = time.monotonic() + 60
        base: dict[tuple[str, tuple[tuple[str, str], ...]], float] | None = None
        thread.start()
        while base is None and time.monotonic() < deadline:
            try:
                base = _samples(url)
            except urllib.error.URLError:
                time.sleep(0.02)
        assert base is not None, "the poller never served /metrics"
        polled_base = _value(base, "crimestream_rows_polled_total")
        produced_base = _value(base, "crimestream_events_produced_total")
        dead_base = _value(base, "crimestream_dead_letter_total", stage="poller")

        seen: list[float] = []
        ready_while_running: list[int] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            polled = _value(_samples(url), "crimestream_rows_polled_total") - polled_base
            if not seen or polled != seen[-1]:
                seen.append(polled)
            ready_while_running.append(_get(f"{url}/ready")[0])
            if polled >= rows:
                break
            assert not errors, errors
            time.sleep(0.05)
        final = _samples(url)
        status, body = _get(f"{url}/ready")
        stop.set()
        thread.join(60)
    assert not errors, errors
    assert result == [0]

    # The figures moved as the backfill went, a whole page at a time (counted when Kafka confirmed it).
    assert len(seen) >= 4, seen
    assert all(v % page == 0 for v in seen), seen
    assert seen == sorted(seen) and seen[-1] == rows
    assert _value(final, "crimestream_rows_polled_total") - polled_base == rows
    assert _value(final, "crimestream_events_produced_total") - produced_base == rows - 1
    assert _value(final, "crimestream_dead_letter_total", stage="poller") - dead_base == 1
    assert len(broken) == 1
    # Ready once pages were confirmed, and still ready after the poll, while waiting for the next one.
    assert 200 in ready_while_running
    assert status == 200 and body.startswith("ready: last successful poll"), body
    # Stopped: the endpoints are gone with the service.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/health", timeout=5)
