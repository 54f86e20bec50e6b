"""How fresh the lake is and whether the services feeding it look alive.

Read-only signals, all optional, each reported honestly when missing:

* the lake: newest ``source_updated_at`` in it (from the fact table) and the
  last partition write (file modification times);
* the poller: its watermark ``DATA_DIR/state/poller-<dataset>.json`` (the source
  update time of the last row Kafka confirmed) and when that file last changed;
* the services' logs ``DATA_DIR/logs/<service>.log`` (written by ``crimestream
  up``): a recent line means the process is running;
* ``DATA_DIR/lake/crimes/_metadata.json``, if a sink writes one: shown, never
  required.

"Caught up" means the lake holds a row at least as new as the poller's
watermark: everything the poller published has reached the lake.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dashboard.facts import FactSnapshot
from sinks.lake_schema import CRIMES_TABLE, table_dir

__all__ = ["Health", "ServiceState", "read_health", "render_health"]

log = logging.getLogger(__name__)

METADATA_FILE = "_metadata.json"


@dataclass(frozen=True)
class ServiceState:
    name: str
    last_activity: datetime | None  # UTC
    alive: bool | None  # None: no signal at all
    detail: str


@dataclass(frozen=True)
class Health:
    now: datetime
    rows: int
    partitions: int
    newest_source_update: datetime | None
    last_write: datetime | None
    watermark: datetime | None
    caught_up: bool | None
    services: tuple[ServiceState, ...]
    problems: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError:
        return None


def _parse_time(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _watermark(state_dir: Path) -> tuple[datetime | None, datetime | None]:
    """(watermark time, file mtime) of the newest poller state file."""
    files = sorted(state_dir.glob("poller-*.json"), key=lambda p: _mtime(p) or datetime.min.replace(tzinfo=UTC))
    if not files:
        return None, None
    newest = files[-1]
    try:
        data = json.loads(newest.read_text(encoding="utf-8"))
        mark = _parse_time(str(data.get("updated_at", "")))
    except (OSError, ValueError, AttributeError):
        log.warning("unreadable poller state %s", newest)
        mark = None
    return mark, _mtime(newest)


def _metadata(lake_dir: Path) -> dict[str, Any] | None:
    path = table_dir(lake_dir, CRIMES_TABLE) / METADATA_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("unreadable lake metadata %s", path)
        return None
    return data if isinstance(data, dict) else None


def _service(name: str, signals: list[datetime | None], now: datetime, stale_after: float, what: str) -> ServiceState:
    known = [s for s in signals if s is not None]
    if not known:
        return ServiceState(name, None, None, f"no {what} found")
    last = max(known)
    age = (now - last).total_seconds()
    return ServiceState(name, last, age <= stale_after, f"last activity {_ago(age)}")


def read_health(data_dir: Path, snapshot: FactSnapshot, *, poll_interval: float, now: datetime | None = None) -> Health:
    """Gather every signal; never raises for a missing or unreadable file."""
    now = now or datetime.now(tz=UTC)
    lake_dir = data_dir / "lake"
    mark, mark_written = _watermark(data_dir / "state")
    logs = data_dir / "logs"
    newest = snapshot.newest_source_update
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    last_write = snapshot.version.newest_write
    last_write_utc = last_write.astimezone(UTC) if last_write is not None else None
    caught_up = None if mark is None or newest is None else newest >= mark
    # The poller writes its watermark only when it publishes; its log shows it polling.
    poller = _service(
        "poller", [mark_written, _mtime(logs / "poller.log")], now, 3 * poll_interval + 60, "watermark or log"
    )
    processor = _service(
        "processor", [_mtime(logs / "processor.log"), last_write_utc], now, 3 * poll_interval + 60, "log or lake write"
    )
    return Health(
        now=now,
        rows=snapshot.rows,
        partitions=len(snapshot.partitions),
        newest_source_update=newest,
        last_write=last_write_utc,
        watermark=mark,
        caught_up=caught_up,
        services=(poller, processor),
        problems=dict(snapshot.problems),
        metadata=_metadata(lake_dir),
    )


def _ago(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "unknown"
    return f"{value:%Y-%m-%d %H:%M} UTC ({_ago((now - value).total_seconds())})"


def render_health(health: Health) -> str:
    """Markdown for the freshness panel."""
    now = health.now
    lines = [
        f"**Newest source update in the lake:** {_when(health.newest_source_update, now)}",
        f"**Last lake write:** {_when(health.last_write, now)}",
        f"**Lake:** {health.rows:,} incidents in {health.partitions:,} partitions",
    ]
    if health.watermark is not None:
        state = {True: "caught up", False: "**behind** (published rows not yet in the lake)", None: "unknown"}
        lines.append(f"**Poller watermark:** {_when(health.watermark, now)} · processor {state[health.caught_up]}")
    for service in health.services:
        icon = {True: "🟢 running", False: "🟠 idle or stopped", None: "⚪ no signal"}[service.alive]
        lines.append(f"**{service.name.capitalize()}:** {icon} ({service.detail})")
    if health.metadata:
        shown = ", ".join(f"{k}: {v}" for k, v in list(health.metadata.items())[:6] if not isinstance(v, dict | list))
        if shown:
            lines.append(f"**Lake metadata:** {shown}")
    for path, problem in health.problems.items():
        lines.append(f"⚠️ Unreadable partition `{os.path.relpath(path, start=os.getcwd())}`: {problem} (left out)")
    return "  \n".join(lines)
