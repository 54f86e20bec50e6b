"""Prometheus metrics and the health/readiness endpoints every service serves.

One small HTTP server per process (a stdlib ``ThreadingHTTPServer`` on a daemon
thread), bound to ``METRICS_HOST`` (default ``127.0.0.1``) and ``METRICS_PORT``
(a default per service; ``0`` disables it):

* ``GET /metrics``: the Prometheus text format (the metrics below, plus the
  client library's process and Python collectors);
* ``GET /health``: 200 while the process is alive (the server thread answers);
* ``GET /ready``: 200 when the service's readiness callback says so, else 503,
  each with a one-line reason.

Metrics (prefix ``crimestream_``):

==========================================  =========  ==============================================
name                                        type       meaning
==========================================  =========  ==============================================
``rows_polled_total``                       counter    source rows read and handed on (published or
                                                       dead-lettered)
``events_produced_total``                   counter    events Kafka confirmed (upserts, tombstones)
``dead_letter_total{stage}``                counter    rows/events sent to the dead-letter topic
``poll_errors_total``                       counter    polls that failed
``consumer_lag``                            gauge      events on the topic not yet in the lake
``flush_total``                             counter    lake flushes
``flush_duration_seconds``                  histogram  duration of a lake flush
``flushed_records_total{operation}``        counter    upserts / deletes written by flushes
``lake_freshness_seconds{table}``           gauge      now minus the newest source update in the lake
                                                       (from ``DATA_DIR/lake/<table>/_metadata.json``)
==========================================  =========  ==============================================

The counters are process-wide (the default registry); services call the
``record_*`` / ``set_*`` functions and :func:`start_observability`.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from crimestream.errors import ConfigError

__all__ = [
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "EVENTS_PRODUCED",
    "FLUSHED_RECORDS",
    "FLUSHES",
    "FLUSH_DURATION",
    "POLL_ERRORS",
    "ROWS_POLLED",
    "MetricsAddress",
    "ObservabilityServer",
    "Readiness",
    "ReadyCheck",
    "lake_freshness",
    "record_dead_letters",
    "record_events_produced",
    "record_flush",
    "record_poll_error",
    "record_rows_polled",
    "set_consumer_lag",
    "start_observability",
]

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], tuple[bool, str]]
"""Says whether the service is ready, with a one-line reason either way."""

METADATA_FILE = "_metadata.json"  # written by sinks.metadata, one per lake table

disable_created_metrics()  # no *_created series: they double the output and nobody here reads them

ROWS_POLLED = Counter("crimestream_rows_polled", "Source rows read and handed on (published or dead-lettered).")
EVENTS_PRODUCED = Counter("crimestream_events_produced", "Events Kafka confirmed (upserts and tombstones).")
DEAD_LETTERS = Counter("crimestream_dead_letter", "Rows or events sent to the dead-letter topic.", ["stage"])
POLL_ERRORS = Counter("crimestream_poll_errors", "Polls of the source that failed.")
CONSUMER_LAG = Gauge("crimestream_consumer_lag", "Events on the topic the processor has not yet processed.")
FLUSHES = Counter("crimestream_flush", "Lake flushes.")
FLUSH_DURATION = Histogram(
    "crimestream_flush_duration_seconds",
    "Duration of a lake flush.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
FLUSHED_RECORDS = Counter("crimestream_flushed_records", "Records written by lake flushes.", ["operation"])
for _stage in ("poller", "processor"):  # present (at 0) before the first dead letter
    DEAD_LETTERS.labels(stage=_stage)
for _operation in ("upsert", "delete"):
    FLUSHED_RECORDS.labels(operation=_operation)


def record_rows_polled(rows: int) -> None:
    ROWS_POLLED.inc(rows)


def record_events_produced(events: int) -> None:
    EVENTS_PRODUCED.inc(events)


def record_dead_letters(stage: str, count: int = 1) -> None:
    DEAD_LETTERS.labels(stage=stage).inc(count)


def record_poll_error() -> None:
    POLL_ERRORS.inc()


def set_consumer_lag(events: int) -> None:
    CONSUMER_LAG.set(events)


def record_flush(seconds: float, upserts: int, deletes: int) -> None:
    """One lake flush that wrote ``upserts`` and ``deletes`` in ``seconds``."""
    FLUSHES.inc()
    FLUSH_DURATION.observe(seconds)
    FLUSHED_RECORDS.labels(operation="upsert").inc(upserts)
    FLUSHED_RECORDS.labels(operation="delete").inc(deletes)


def _parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def lake_freshness(lake_dir: Path, now: datetime | None = None) -> dict[str, float]:
    """Seconds since the newest source update of each lake table that has metadata."""
    now = now or datetime.now(UTC)
    ages: dict[str, float] = {}
    for meta_file in sorted(lake_dir.glob(f"*/{METADATA_FILE}")):
        try:
            newest = json.loads(meta_file.read_text(encoding="utf-8")).get("newest_source_update")
            if newest:
                ages[meta_file.parent.name] = (now - _parse_instant(str(newest))).total_seconds()
        except (OSError, ValueError, AttributeError) as exc:  # a file being replaced, or not ours
            log.debug("lake metadata %s unreadable: %s", meta_file, exc)
    return ages


class _LakeFreshnessCollector(Collector):
    """Computed at scrape time, so the figure grows while nothing new arrives."""

    def __init__(self) -> None:
        self.lake_dir: Path | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "crimestream_lake_freshness_seconds",
            "Seconds since the newest source update that reached the lake.",
            labels=["table"],
        )
        if self.lake_dir is not None:
            for table, age in lake_freshness(self.lake_dir).items():
                family.add_metric([table], age)
        yield family


_LAKE_FRESHNESS = _LakeFreshnessCollector()
REGISTRY.register(_LAKE_FRESHNESS)


class Readiness:
    """Ready while the last success is recent and no failure came after it.

    ``succeeded()`` after each unit of work (a confirmed page, a flush),
    ``failed(reason)`` when one fails; call the object itself as the
    :data:`ReadyCheck`.
    """

    def __init__(self, max_age_seconds: float, *, what: str = "work", clock: Callable[[], float] = time.monotonic):
        self.max_age_seconds = max_age_seconds
        self.what = what
        self._clock = clock
        self._lock = threading.Lock()
        self._last_success: float | None = None
        self._failure: str | None = None

    def succeeded(self) -> None:
        with self._lock:
            self._last_success = self._clock()
            self._failure = None

    def failed(self, reason: str) -> None:
        with self._lock:
            self._failure = reason

    def __call__(self) -> tuple[bool, str]:
        with self._lock:
            last, failure = self._last_success, self._failure
        if failure is not None:
            return False, f"last {self.what} failed: {failure}"
        if last is None:
            return False, f"no successful {self.what} yet"
        age = self._clock() - last
        if age > self.max_age_seconds:
            return False, f"last successful {self.what} {age:.0f}s ago (limit {self.max_age_seconds:.0f}s)"
        return True, f"last successful {self.what} {age:.0f}s ago"


class MetricsAddress(Protocol):
    """What :func:`start_observability` reads from a service's settings."""

    @property
    def metrics_host(self) -> str: ...

    @property
    def metrics_port(self) -> int: ...


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path == "/health":
            self._send(200, b"ok\n")
        elif path == "/ready":
            try:
                ready, reason = self.server.ready()
            except Exception as exc:  # noqa: BLE001 - a broken check means "not ready", never a crash
                ready, reason = False, f"readiness check failed: {exc}"
            line = " ".join(f"{'ready' if ready else 'not ready'}: {reason}".split())
            self._send(200 if ready else 503, (line + "\n").encode())
        else:
            self._send(404, b"not found; try /metrics, /health or /ready\n")

    do_HEAD = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], ready: ReadyCheck) -> None:
        self.ready = ready
        super().__init__(address, _Handler)


class ObservabilityServer:
    """``/metrics``, ``/health`` and ``/ready`` on a daemon thread; ``port=0`` picks a free port."""

    def __init__(self, host: str, port: int, ready: ReadyCheck) -> None:
        try:
            self._server = _Server((host, port), ready)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"metrics port {port} on {host} is already in use; set METRICS_PORT (0 disables it)"
                ) from None
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="observability", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> ObservabilityServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def start_observability(
    settings: MetricsAddress, ready: ReadyCheck, *, lake_dir: Path | None = None
) -> ObservabilityServer | None:
    """Serve the endpoints at the settings' address (None when ``METRICS_PORT=0``).

    With ``lake_dir``, ``lake_freshness_seconds`` reports every table in it.
    Raises ``ConfigError`` when the port cannot be bound.
    """
    if lake_dir is not None:
        _LAKE_FRESHNESS.lake_dir = lake_dir
    if settings.metrics_port == 0:
        log.info("metrics and health endpoints disabled (METRICS_PORT=0)")
        return None
    server = ObservabilityServer(settings.metrics_host, settings.metrics_port, ready)
    log.info("metrics at %s/metrics, health at /health, readiness at /ready", server.url)
    return server
