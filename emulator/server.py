"""An HTTP server that answers like the Chicago Data Portal's SODA API for its datasets.

Data API (what the pipeline calls)::

    GET /resource/{dataset_id}.json?$select=&$where=&$order=&$limit=&$offset=&<field>=<value>

The primary dataset (crimes, ``ijzp-q8t2``) and any extra ones (traffic
crashes, ``85ca-t3if``) are each served at their own resource.

The body is streamed with chunked transfer encoding, one JSON object per row
(``[{...}\\n,{...}]`` as the portal writes it), with ``X-SODA2-Fields`` and
``X-SODA2-Types`` headers.  ``X-App-Token`` (or ``$$app_token``) is accepted.
Errors: unknown dataset -> 404 ``{"code":"not_found","error":true,"message","data"}``;
a query the portal refuses -> 400 ``{"message","errorCode","data"}``
(``error_style`` forces either shape for every error); ``$limit`` above the
page cap -> 400 ``req.row-limit-exceeded``; throttled -> 429 with ``Retry-After``.

Admin API (JSON in and out; never faulted, never throttled).  Mutations and the
truth act on the primary dataset unless the body (or, for ``truth``, the query
string) names another with ``"dataset": "85ca-t3if"``::

    POST /_emulator/insert   {"count": 10} or {"rows": [{field: value, ...}]}, "at"?   -> {"ids": [...]}
    POST /_emulator/correct  {"id": "13364090", "changes": {"primary_type": "ROBBERY"}, "at"?}
                                                                                     -> {"row": {...}}
    POST /_emulator/delete   {"ids": ["13364090", ...]}                               -> {"deleted": n}
    POST /_emulator/restamp  {"ids": [...]} or {"where": "<SoQL>"} or {} (every row), "at"?
                                                                                     -> {"restamped": n, "at": ...}
    POST /_emulator/load     {"rows"?: 650, "corrections"?: 5, "deletions"?: 1, "at"?}  -> the load's report
    POST /_emulator/faults   {"kind": "throttle|error|processing|slow|truncate|reset", "count"?: 1,
                              "retry_after"?: 1, "delay"?: 2.0}
                             or {"rate": 0.1, "kinds"?: [...]} or {"clear": true}     -> {"pending": [...]}
    POST /_emulator/config   {"require_app_token"?, "app_token"?, "page_cap"?, "error_style"?,
                              "extra_fields"?: {"new_field": "x"}}   (schema drift: added to every row; {} = off)
                                                                                     -> the configuration
    GET  /_emulator/truth    every live row as ``$select=:*,*`` JSON, one per line (NDJSON); ?dataset=<id>
    GET  /_emulator/stats    row and request counters
    GET  /_emulator/health   {"ok": true}

``at`` is an ISO instant (``2025-05-17T20:40:52.000Z``); without it mutations
use the dataset's monotonic clock.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import re
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlsplit

from emulator.crashes import CRASHES_DATASET_ID, generate_crashes
from emulator.dataset import Dataset, Page
from emulator.errors import RowNotFoundError, SoqlError
from emulator.faults import FAULT_KINDS, Fault, FaultKind, FaultPlan
from emulator.live import LiveLoader
from emulator.served import ServedDataset
from emulator.settings import EmulatorSettings
from emulator.soql import parse_query
from emulator.timeutil import parse_fixed_literal

__all__ = ["EmulatorServer", "ErrorStyle", "build_dataset", "error_body", "parse_fault_list", "serve"]

log = logging.getLogger(__name__)

ErrorStyle = Literal["auto", "code", "errorCode"]

_RESOURCE = re.compile(r"^/resource/([^/]+?)\.([a-z]+)$")
_ROWS_PER_CHUNK = 2000
_JSON = "application/json;charset=utf-8"


def error_body(status: int, code: str, message: str, data: dict[str, Any], style: ErrorStyle) -> dict[str, Any]:
    """An error object in one of the portal's two shapes.

    ``auto``: 400s as ``{"message","errorCode","data"}``, other statuses as
    ``{"code","error":true,"message","data"}``.
    """
    if style == "code" or (style == "auto" and status != 400):
        return {"code": code, "error": True, "message": message, "data": data}
    return {"message": message, "errorCode": code, "data": data}


def parse_fault_list(text: str) -> list[tuple[Fault, int]]:
    """``"throttle:2,error,reset"`` -> faults with counts."""
    out: list[tuple[Fault, int]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, _, count = part.partition(":")
        out.append((Fault.parse(kind.strip()), int(count) if count else 1))
    return out


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: EmulatorServer) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Reset(Exception):
    """Raised to abandon a response after resetting the connection."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SODA-emulator/1.0"
    timeout = 60
    server: _HTTPServer

    # -- plumbing ------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None, *, pretty: bool = False) -> None:
        text = json.dumps(obj, indent=2, separators=(",", " : ")) if pretty else json.dumps(obj)
        body = (text + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_error(
        self,
        status: int,
        code: str,
        message: str,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        style = self.server.app.error_style
        self._send_json(status, error_body(status, code, message, data or {}, style), headers, pretty=True)

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _reset(self) -> None:
        """Abort the connection with a TCP RST."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for stream in (self.wfile, self.rfile):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
        with contextlib.suppress(OSError):
            self.connection.close()
        raise _Reset

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        parsed = json.loads(raw)
        if not isinstance(parsed, dict):
            raise ValueError("the request body must be a JSON object")
        return parsed

    # -- dispatch ------------------------------------------------------------

    def do_GET(self) -> None:
        with contextlib.suppress(_Reset):
            self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        app.count_request()
        if url.path.startswith("/_emulator/"):
            self._admin(method, url.path.removeprefix("/_emulator/"), url.query)
            return
        match = _RESOURCE.match(url.path)
        if method != "GET" or match is None:
            self._send_error(404, "not_found", f"No route for {method} {url.path}", {"path": url.path})
            return
        dataset_id, extension = match.groups()
        target = app.datasets.get(dataset_id)
        if target is None:
            self._send_error(404, "not_found", f"Cannot find view with id {dataset_id}", {"id": dataset_id})
            return
        if extension != "json":
            self._send_error(
                404, "not_found", f"The emulator serves only .json, not .{extension}", {"format": extension}
            )
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        self._resource(target, params)

    # -- data API ------------------------------------------------------------

    def _resource(self, dataset: ServedDataset, params: dict[str, str]) -> None:
        app = self.server.app
        token = self.headers.get("X-App-Token") or params.get("$$app_token")
        if token and app.app_token and token != app.app_token:
            self._send_error(403, "permission_denied", "Invalid app_token specified", {})
            return
        retry = str(app.faults.retry_after)
        if app.require_app_token and not token:
            app.count_missing_token()
            self._send_error(
                429,
                "too_many_requests",
                "Too many requests: use an app token (X-App-Token)",
                {},
                {"Retry-After": retry},
            )
            return
        fault = app.faults.next()
        if fault is not None:
            log.debug("injecting fault %s", fault.kind)
        if fault is not None and fault.kind == "throttle":
            self._send_error(
                429,
                "too_many_requests",
                "Too many requests, please retry later",
                {},
                {"Retry-After": str(fault.retry_after)},
            )
            return
        if fault is not None and fault.kind == "error":
            self._send_error(500, "internal_error", "Internal error", {})
            return
        if fault is not None and fault.kind == "processing":
            self._send_json(
                202,
                {"message": "Your request is being prepared; retry in a moment", "status": "processing"},
                {"Retry-After": str(fault.retry_after)},
                pretty=True,
            )
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        if params.get("$$exclude_system_fields", "").lower() == "false" and "$select" not in params:
            params = {**params, "$select": ":*,*"}  # as the portal does: system fields on request
        try:
            query = parse_query(params, page_cap=app.page_cap or None, schema=dataset.schema)
        except SoqlError as exc:
            self._send_error(400, exc.code, exc.message, exc.data)
            return
        page = dataset.execute(query)
        extra = app.extra_fields if not query.is_aggregate else {}
        self._stream(page, fault.kind if fault is not None else None, extra)

    def _stream(self, page: Page, fault: FaultKind | None, extra: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", _JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-SODA2-Fields", json.dumps(list(page.fields) + list(extra or {})))
        self.send_header("X-SODA2-Types", json.dumps(list(page.types)))
        self.send_header("Access-Control-Allow-Origin", "*")
        modified = self.server.app.last_modified()
        if modified:
            self.send_header("Last-Modified", modified)
        self.end_headers()
        cut = page.count // 2 if fault in ("truncate", "reset") else -1
        rows = page.json_rows() if not extra else _with_fields(page.json_rows(), extra)
        buffer: list[str] = ["["]
        for n, text in enumerate(rows):
            if n == cut:
                buffer.append(("" if n == 0 else "\n,") + text[: len(text) // 2])
                break
            buffer.append(text if n == 0 else "\n," + text)
            if len(buffer) >= _ROWS_PER_CHUNK:
                self._chunk("".join(buffer).encode("utf-8"))
                buffer = []
        else:
            if cut < 0:
                buffer.append("]\n")
        self._chunk("".join(buffer).encode("utf-8"))
        if fault == "reset":
            self._reset()
        self._end_chunks()

    # -- admin API -------------------------------------------------------------

    def _admin(self, method: str, action: str, query: str) -> None:
        app = self.server.app
        try:
            if method == "GET" and action == "health":
                self._send_json(200, {"ok": True})
            elif method == "GET" and action == "stats":
                self._send_json(200, app.stats())
            elif method == "GET" and action == "truth":
                self._truth(query)
            elif method == "POST":
                self._send_json(200, app.admin(action, self._body()))
            else:
                self._send_json(404, {"error": f"no admin route {method} {action}"})
        except RowNotFoundError as exc:
            self._send_json(404, {"error": str(exc)})
        except SoqlError as exc:
            self._send_json(400, {"error": exc.message, "errorCode": exc.code})
        except (ValueError, TypeError, KeyError) as exc:
            self._send_json(400, {"error": str(exc)})

    def _truth(self, query: str) -> None:
        wanted = dict(parse_qsl(query)).get("dataset")
        dataset = self.server.app.dataset_for(wanted)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        buffer: list[str] = []
        for text in dataset.iter_truth_lines():
            buffer.append(text + "\n")
            if len(buffer) >= _ROWS_PER_CHUNK:
                self._chunk("".join(buffer).encode("utf-8"))
                buffer = []
        self._chunk("".join(buffer).encode("utf-8"))
        self._end_chunks()


class EmulatorServer:
    """The SODA emulator on a background thread.  ``port=0`` picks a free port.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        dataset_id: str = "ijzp-q8t2",
        page_cap: int = 50_000,
        error_style: ErrorStyle = "auto",
        require_app_token: bool = False,
        app_token: str | None = None,
        faults: FaultPlan | None = None,
        live_interval: float = 0.0,
        live_rows: int = 650,
        live_corrections: int = 5,
        live_deletions: int = 1,
        extra_datasets: dict[str, ServedDataset] | None = None,
        extra_fields: dict[str, str] | None = None,
    ) -> None:
        self.dataset = dataset
        self.host = host
        self.port = port
        self.dataset_id = dataset_id
        self.page_cap = page_cap
        self.error_style: ErrorStyle = error_style
        self.require_app_token = require_app_token
        self.app_token = app_token
        self.datasets: dict[str, ServedDataset] = {dataset_id: dataset, **(extra_datasets or {})}
        self.extra_fields: dict[str, str] = dict(extra_fields or {})
        self.faults = faults or FaultPlan(seed=dataset.seed)
        self.live: LiveLoader | None = (
            LiveLoader(
                dataset, live_interval, new_rows=live_rows, corrections=live_corrections, deletions=live_deletions
            )
            if live_interval > 0
            else None
        )
        self.extra_live = [
            LiveLoader(extra, live_interval, new_rows=live_rows, corrections=live_corrections, deletions=live_deletions)
            for extra in (extra_datasets or {}).values()
            if live_interval > 0
        ]
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter_lock = threading.Lock()
        self.requests = 0
        self.throttled_without_token = 0

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> EmulatorServer:
        """Listen and serve on a background thread; returns once the socket is bound."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator-http", daemon=True
        )
        self._thread.start()
        if self.live is not None:
            self.live.start()
        for loader in self.extra_live:
            loader.start()
        log.debug("emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections, stop live mode."""
        if self.live is not None:
            self.live.stop()
        for loader in self.extra_live:
            loader.stop()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (the port is known once started)."""
        return f"http://{self.host}:{self.port}"

    @property
    def resource_url(self) -> str:
        """The primary dataset's JSON endpoint."""
        return f"{self.url}/resource/{self.dataset_id}.json"

    def dataset_for(self, dataset_id: str | None) -> ServedDataset:
        """The dataset an admin request names (the primary one when None); ValueError if unknown."""
        if dataset_id is None:
            return self.dataset
        found = self.datasets.get(str(dataset_id))
        if found is None:
            raise ValueError(f"unknown dataset {dataset_id!r}; served: {', '.join(self.datasets)}")
        return found

    # -- bookkeeping -------------------------------------------------------------

    def count_request(self) -> None:
        with self._counter_lock:
            self.requests += 1

    def count_missing_token(self) -> None:
        with self._counter_lock:
            self.throttled_without_token += 1

    def last_modified(self) -> str | None:
        stamp = self.dataset.last_updated_at
        ms = parse_fixed_literal(stamp) if stamp is not None else None
        return email.utils.formatdate(ms / 1000, usegmt=True) if ms is not None else None

    def config(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "page_cap": self.page_cap,
            "error_style": self.error_style,
            "require_app_token": self.require_app_token,
            "app_token_set": self.app_token is not None,
            "fault_rate": self.faults.rate,
            "fault_kinds": list(self.faults.kinds),
            "datasets": list(self.datasets),
            "extra_fields": dict(self.extra_fields),
        }

    def stats(self) -> dict[str, Any]:
        return {
            **self.dataset.stats(),
            "url": self.url,
            "requests": self.requests,
            "faults_served": dict(self.faults.served),
            "throttled_without_token": self.throttled_without_token,
            "faults_pending": self.faults.pending(),
            "live_loads": self.live.loads if self.live is not None else 0,
            "config": self.config(),
            "datasets": {i: d.stats() for i, d in self.datasets.items() if d is not self.dataset},
        }

    # -- admin actions -------------------------------------------------------------

    def admin(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """Perform one admin action (see the module docstring); raises ValueError on bad input."""
        handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "insert": self._admin_insert,
            "correct": self._admin_correct,
            "delete": self._admin_delete,
            "restamp": self._admin_restamp,
            "load": self._admin_load,
            "faults": self._admin_faults,
            "config": self._admin_config,
        }
        handler = handlers.get(action)
        if handler is None:
            raise ValueError(f"unknown admin action {action!r}")
        return handler(body)

    def _admin_insert(self, body: dict[str, Any]) -> dict[str, Any]:
        rows = body.get("rows")
        dataset = self.dataset_for(body.get("dataset"))
        ids = dataset.insert(rows if rows is not None else int(body.get("count", 1)), at=body.get("at"))
        return {"ids": ids, "updated_at": dataset.last_updated_at}

    def _admin_correct(self, body: dict[str, Any]) -> dict[str, Any]:
        changes = body.get("changes") or {}
        if not isinstance(changes, dict):
            raise ValueError("changes must be an object")
        dataset = self.dataset_for(body.get("dataset"))
        return {"row": dataset.correct(body["id"], at=body.get("at"), **changes)}

    def _admin_delete(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("ids", [body["id"]] if "id" in body else None)
        if not isinstance(ids, list):
            raise ValueError("ids must be a list")
        return {"deleted": self.dataset_for(body.get("dataset")).delete(*ids)}

    def _admin_restamp(self, body: dict[str, Any]) -> dict[str, Any]:
        dataset = self.dataset_for(body.get("dataset"))
        count = dataset.restamp(body.get("ids"), where=body.get("where"), at=body.get("at"))
        return {"restamped": count, "at": dataset.last_updated_at}

    def _admin_load(self, body: dict[str, Any]) -> dict[str, Any]:
        report = self.dataset_for(body.get("dataset")).daily_load(
            int(body.get("rows", 650)),
            int(body.get("corrections", 5)),
            int(body.get("deletions", 1)),
            at=body.get("at"),
        )
        return {"at": report.at, "inserted": report.inserted, "corrected": report.corrected, "deleted": report.deleted}

    def _admin_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("clear"):
            self.faults.clear()
        if "kind" in body:
            fault = Fault.parse(
                str(body["kind"]),
                retry_after=body.get("retry_after", self.faults.retry_after),
                delay=body.get("delay", self.faults.delay),
            )
            self.faults.add(fault, int(body.get("count", 1)))
        if "rate" in body:
            rate = float(body["rate"])
            if not 0.0 <= rate <= 1.0:
                raise ValueError("rate must be between 0 and 1")
            self.faults.rate = rate
        if "kinds" in body:
            kinds = [str(k) for k in body["kinds"]]
            for kind in kinds:
                Fault.parse(kind)
            self.faults.kinds = tuple(cast(FaultKind, k) for k in kinds)
        return {"pending": self.faults.pending(), "rate": self.faults.rate, "kinds": list(self.faults.kinds)}

    def _admin_config(self, body: dict[str, Any]) -> dict[str, Any]:
        if "require_app_token" in body:
            self.require_app_token = bool(body["require_app_token"])
        if "app_token" in body:
            self.app_token = body["app_token"] or None
        if "page_cap" in body:
            self.page_cap = int(body["page_cap"])
        if "error_style" in body:
            style = str(body["error_style"])
            if style not in ("auto", "code", "errorCode"):
                raise ValueError("error_style must be auto, code or errorCode")
            self.error_style = cast(ErrorStyle, style)
        if "extra_fields" in body:
            self.extra_fields = _extra_fields(body["extra_fields"])
        return self.config()


def _extra_fields(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise ValueError('extra_fields must be an object of field names to values, e.g. {"new_field": "x"}')
    return {k: str(v) for k, v in value.items()}


def _with_fields(rows: Iterator[str], extra: dict[str, str]) -> Iterator[str]:
    """Each JSON row text with ``extra`` fields appended (schema drift at the source)."""
    suffix = "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in extra.items())
    for text in rows:
        yield "{" + suffix[1:] + "}" if text == "{}" else text[:-1] + suffix + "}"


def build_extra_datasets(settings: EmulatorSettings) -> dict[str, ServedDataset]:
    """The datasets served beside the primary one (traffic crashes, unless EMULATOR_CRASH_ROWS is 0)."""
    if settings.emulator_crash_rows <= 0:
        return {}
    end = settings.emulator_end_date + timedelta(days=1) if settings.emulator_end_date else None
    crashes = generate_crashes(
        settings.emulator_crash_rows, settings.emulator_seed, days=settings.emulator_days, end=end
    )
    return {CRASHES_DATASET_ID: crashes}


def build_dataset(settings: EmulatorSettings) -> Dataset:
    """The initial dataset described by the settings."""
    end = settings.emulator_end_date + timedelta(days=1) if settings.emulator_end_date else None
    return Dataset.generate(
        settings.emulator_rows,
        settings.emulator_seed,
        end=end,
        days=settings.emulator_days,
        restamp_share=settings.emulator_restamp_share,
        location_style=settings.emulator_location_style,
    )


def _fault_plan(settings: EmulatorSettings) -> FaultPlan:
    kinds = tuple(k.strip() for k in settings.emulator_fault_kinds.split(",") if k.strip())
    for kind in kinds:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} in EMULATOR_FAULT_KINDS")
    plan = FaultPlan(
        seed=settings.emulator_seed,
        rate=settings.emulator_fault_rate,
        kinds=tuple(cast(FaultKind, k) for k in kinds),
        retry_after=settings.emulator_retry_after_seconds,
        delay=settings.emulator_slow_seconds,
    )
    for fault, count in parse_fault_list(settings.emulator_faults):
        plan.add(Fault(fault.kind, settings.emulator_retry_after_seconds, settings.emulator_slow_seconds), count)
    return plan


def _server_from(settings: EmulatorSettings, dataset: Dataset) -> EmulatorServer:
    return EmulatorServer(
        dataset,
        host=settings.emulator_host,
        port=settings.emulator_port,
        dataset_id=settings.soda_dataset_id,
        page_cap=settings.emulator_page_cap,
        error_style=settings.emulator_error_style,
        require_app_token=settings.emulator_require_app_token,
        app_token=settings.emulator_app_token,
        faults=_fault_plan(settings),
        live_interval=settings.emulator_live_interval_seconds,
        live_rows=settings.emulator_live_rows,
        live_corrections=settings.emulator_live_corrections,
        live_deletions=settings.emulator_live_deletions,
        extra_datasets=build_extra_datasets(settings),
        extra_fields=_extra_fields(settings.emulator_extra_fields),
    )


def serve(settings: EmulatorSettings) -> None:
    """Run the emulator until SIGINT or SIGTERM (blocking; for the CLI).

    The signal handlers are installed first, so a signal while the initial
    rows are generated ends the run cleanly too.
    """
    started = time.monotonic()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: the caller handles signals
            previous[signum] = signal.signal(signum, on_signal)
    try:
        dataset = build_dataset(settings)
        if stop.is_set():
            log.info("SODA emulator stopped before serving")
            return
        server = _server_from(settings, dataset)
        server.start()
        try:
            log.info(
                "SODA emulator serving %s (%d rows, seed %d, ready in %.1fs)",
                server.resource_url,
                len(dataset),
                settings.emulator_seed,
                time.monotonic() - started,
            )
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
            log.info("SODA emulator stopped")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
