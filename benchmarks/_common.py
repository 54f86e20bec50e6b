"""Shared helpers of the benchmark scripts: the JSON report, peak memory, the machine, markdown, the data.

Every benchmark script takes ``--json PATH`` and writes there::

    {"name": str, "figures": {str: number}, "markdown": str}

``figures`` is flat (what ``run_all.py`` computes the cross-benchmark fractions
from); ``markdown`` is the benchmark's section of ``RESULTS.md`` (a heading and
a table).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

__all__ = [
    "DATA_DAYS",
    "DATA_SEED",
    "REPO",
    "BenchReport",
    "PeakSampler",
    "fmt_mib",
    "fmt_num",
    "fmt_rate",
    "machine",
    "markdown_table",
    "peak_rss_mib",
    "ratio",
    "read_report",
    "source_rows",
    "stop_on_sigterm",
    "wait_emulator",
    "write_report",
]

# The benchmarks' data: the emulator's calibrated generator, seed 1, four years of incidents.
DATA_SEED = 1
DATA_DAYS = 4 * 365

Number = int | float


# --- the JSON report ------------------------------------------------------------------


@dataclass(frozen=True)
class BenchReport:
    name: str
    figures: dict[str, Number]
    markdown: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "figures": self.figures, "markdown": self.markdown}


def write_report(path: Path | None, name: str, figures: Mapping[str, Number], markdown: str) -> BenchReport:
    """Validate and write a benchmark's report (when ``path`` is given); returns it."""
    clean: dict[str, Number] = {}
    for key, value in figures.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"figure {key!r} is not a number: {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"figure {key!r} is not finite: {value!r}")
        clean[key] = value
    report = BenchReport(name, clean, markdown.strip() + "\n")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(report.to_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return report


def read_report(path: Path) -> BenchReport:
    """A report written by ``write_report`` (or by any script that follows the contract)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ValueError(f"{path}: not a benchmark report (no name)")
    figures = data.get("figures")
    if not isinstance(figures, dict):
        raise ValueError(f"{path}: figures is not an object")
    numbers: dict[str, Number] = {}
    for key, value in figures.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{path}: figure {key!r} is not a number: {value!r}")
        numbers[str(key)] = value
    markdown = data.get("markdown")
    if not isinstance(markdown, str):
        raise ValueError(f"{path}: markdown is not a string")
    return BenchReport(data["name"], numbers, markdown)


def stop_on_sigterm() -> None:
    """Make SIGTERM raise SystemExit, so a stopped benchmark still runs its cleanups.

    (Brokers and child processes stopped, temporary folders removed; by default
    SIGTERM ends Python without running ``finally`` blocks.)
    """

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


# --- peak memory ----------------------------------------------------------------------

_VMHWM = re.compile(r"^VmHWM:\s+(\d+) kB", re.MULTILINE)


def peak_rss_mib(pid: int) -> float | None:
    """The process's peak resident set so far (``VmHWM``) in MiB; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = _VMHWM.search(text)
    return int(match.group(1)) / 1024 if match else None


@dataclass
class PeakSampler:
    """Samples ``VmHWM`` of named processes in a background thread until stopped.

    ``VmHWM`` is the kernel's own high-water mark, so sampling only has to catch
    the last value before a process exits.
    """

    interval: float = 0.2
    peaks: dict[str, float] = field(default_factory=dict)
    _pids: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self._pids[name] = pid
        self.sample()

    def sample(self) -> None:
        with self._lock:
            for name, pid in self._pids.items():
                peak = peak_rss_mib(pid)
                if peak is not None:
                    self.peaks[name] = max(self.peaks.get(name, 0.0), peak)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> PeakSampler:
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def peak(self, name: str) -> float:
        """The highest ``VmHWM`` seen for ``name`` in MiB (0 if it was never seen alive)."""
        with self._lock:
            return self.peaks.get(name, 0.0)


# --- the machine ----------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _cpu_model(cpuinfo: str) -> str:
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def _ram_gib(meminfo: str) -> float:
    match = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)
    return int(match.group(1)) / 2**20 if match else 0.0


def _java_version(minimum: int, override_env: str, purpose: str) -> str:
    """The first line of ``java -version`` of the Java that ``localkafka`` picks for ``purpose``."""
    try:
        from localkafka.java import find_java

        java = find_java(minimum, override_env, purpose)
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except Exception as exc:  # noqa: BLE001 - a description, never a failure
        return f"unknown ({type(exc).__name__})"
    first = (out.stderr or out.stdout).strip().splitlines()
    return first[0] if first else "unknown"


def machine() -> dict[str, str]:
    """What the figures were measured on, as label -> text."""
    import confluent_kafka
    import duckdb
    import pyarrow

    from localkafka import KAFKA_VERSION, REGISTRY_VERSION

    load = os.getloadavg()
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    debian = _read("/etc/debian_version").strip()
    return {
        "CPU": _cpu_model(_read("/proc/cpuinfo")),
        "cores": f"{cores} ({usable} usable by this process)",
        "RAM": f"{_ram_gib(_read('/proc/meminfo')):.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "Debian": debian or "not Debian",
        "Python": platform.python_version(),
        "Kafka": f"Apache Kafka {KAFKA_VERSION} (KRaft, one broker, localkafka) on "
        f"{_java_version(11, 'KAFKA_JAVA_HOME', 'Apache Kafka')}",
        "schema registry": f"Apicurio Registry {REGISTRY_VERSION} on "
        f"{_java_version(21, 'REGISTRY_JAVA_HOME', 'Apicurio Registry')}",
        "clients": f"librdkafka {confluent_kafka.libversion()[0]}, pyarrow {pyarrow.__version__}, "
        f"duckdb {duckdb.__version__}",
        "load average at start": f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- markdown -------------------------------------------------------------------------


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> str:
    """A GitHub markdown table; ``align`` has one letter per column: l, r or c (default: first l, rest r)."""
    width = len(header)
    spec = align if align is not None else "l" + "r" * (width - 1)
    if len(spec) != width:
        raise ValueError(f"align {spec!r} has {len(spec)} letters for {width} columns")
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|" + "|".join(marks[a] for a in spec) + "|",
    ]
    for row in rows:
        if len(row) != width:
            raise ValueError(f"row {row!r} has {len(row)} cells for {width} columns")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)


def fmt_num(value: float, digits: int = 0) -> str:
    """Thousands separators, ``digits`` decimals."""
    return f"{value:,.{digits}f}"


def fmt_rate(value: float) -> str:
    """A rate: no decimals from 100 up, three significant digits below."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_mib(value: float) -> str:
    return f"{value:,.0f} MiB"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


# --- the data -------------------------------------------------------------------------


def source_rows(rows: int, seed: int = DATA_SEED, days: int = DATA_DAYS) -> Iterator[dict[str, Any]]:
    """``rows`` generated rows as the SODA API serves them (``$select=:*,*``, parsed JSON), streamed.

    The same generator, seed and span as the emulator started with ``EMULATOR_SEED``/``EMULATOR_DAYS``
    set to these, so every benchmark works on the same data.
    """
    from emulator.dataset import Dataset

    dataset = Dataset.generate(rows, seed=seed, days=days)
    for line in dataset.iter_truth_lines():
        yield json.loads(line)


# --- the emulator ---------------------------------------------------------------------


def wait_emulator(url: str, proc: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait until the emulator at ``url`` answers healthy; returns the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the emulator exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_emulator/health", timeout=2) as response:  # noqa: S310 (our URL)
                if json.load(response).get("ok"):
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the emulator did not answer within {timeout:.0f}s")
