"""Dashboard browser benchmark: first render and filter-change redraw, measured in Chromium.

    python benchmarks/dashboard_browser_bench.py                    # 8.5M rows (lake cached in .cache/bench-lake/)
    python benchmarks/dashboard_browser_bench.py --rows 300000 --repeat 1 --loads 2 --cold-loads 1   # quick
    python benchmarks/dashboard_browser_bench.py --json out.json    # also write the figures as JSON

Serves the dashboard (``dashboard.server.serve``, as ``crimestream dashboard``
does) on the benchmark lake of ``benchmarks/dashboard_bench.py`` and drives
Debian's Chromium headless with Playwright (``/usr/bin/chromium``, never a
browser download).  Two measures, both taken inside the page on its own clock:

* **First render**: navigation start until every view (KPI cards, series, top
  types, heatmap, arrest rate, map, table) holds its data and BokehJS has
  painted it.  "Cold" is the first page after a fresh server start: each cold
  sample (``--cold-loads``) starts a new server and opens the page as soon as
  its ``/ready`` answers (the server's start-up time, which includes building
  the fact table, is reported beside it).  "Warm" are ``--loads`` further fresh
  page loads (new browser contexts, nothing cached) on the last server.
* **Filter change → redrawn**: from the moment a filter widget's value changes
  in the page (set on its BokehJS model, exactly what the widget itself does)
  until every view is redrawn: typical changes (date range narrowed and widened,
  a type added and removed, a district chosen and cleared, arrest toggled, hour
  range changed), ``--repeat`` cycles, each anchored on a different end day so
  that every selection is new to the server's result cache.  One more pass over
  the first cycle's selections measures revisits (result cache warm).

"Redrawn" is detected without sleeps: the page's render marker (an element
with ``data-render-generation``, advanced by the server after it has updated
every view for a selection) must have advanced, and then every BokehJS view
must be idle (its pending work, including the next paint, done) over an
animation frame.  The marker also carries the server's share of the time.

Runs with live refresh off and map tiles off (no internet).  On a shared,
busy machine the figures move a lot from run to run: compare runs made back
to back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["Change", "cycle", "main"]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CRIMESTREAM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1500, "height": 2600}
GOAL_FIRST_RENDER_MS = 2000.0
GOAL_REDRAW_P95_MS = 500.0
STARTUP_SECONDS = 900.0  # building the fact table of 8.5M rows on a busy machine
STEP_TIMEOUT_MS = 120_000

_SERVE = """
from crimestream.logs import configure_logging
from dashboard.server import serve
from dashboard.settings import DashboardSettings

settings = DashboardSettings()
configure_logging(settings.log_level)
serve(settings)
"""

# The first-render baseline: the same template, server and trimmed bundles, holding one line of
# text: what any Panel page costs before it shows anything of its own.
_SERVE_EMPTY = """
import sys

import panel as pn

from dashboard.bundles import install

install()
pn.config.browser_info = False


def page():
    template = pn.template.BootstrapTemplate(
        title="crimestream", sidebar_width=340, header_background="#1f3a5f", busy_indicator=None
    )
    template.main.append(pn.pane.Markdown("Nothing to see: the baseline page."))
    return template


port = int(sys.argv[1])
pn.serve({"/": page}, port=port, address="127.0.0.1", websocket_origin=[f"127.0.0.1:{port}"], show=False)
"""

# Runs in the page before its own scripts: helpers the benchmark calls with page.evaluate.
_PAGE_JS = r"""
window.__bench = (() => {
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  // A first render's phases: when BokehJS was defined (its main script run) and when the page's
  // document had arrived (pulled over the websocket and built in the page), polled every frame.
  const phases = {bokeh: 0, doc: 0};
  (function poll() {
    const now = performance.now();
    if (window.Bokeh && !phases.bokeh) phases.bokeh = now;
    if (window.Bokeh && Bokeh.documents && Bokeh.documents.length && !phases.doc) phases.doc = now;
    if (!phases.doc) requestAnimationFrame(poll);
  })();
  const timeline = () => {
    const navigation = performance.getEntriesByType('navigation')[0];
    const scripts = performance.getEntriesByType('resource').filter((e) => e.initiatorType === 'script');
    return {htmlMs: navigation ? navigation.responseEnd : 0,
            scriptsMs: scripts.length ? Math.max(...scripts.map((e) => e.responseEnd)) : 0,
            bokehMs: phases.bokeh, docMs: phases.doc};
  };
  const findMarker = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('render-marker')) return el;
      if (el.shadowRoot) { const found = findMarker(el.shadowRoot); if (found) return found; }
    }
    return null;
  };
  let markerRoot = null;  // the (shadow) root holding the marker: a full walk only when it is gone
  const marker = () => {
    const cached = markerRoot && markerRoot.host && markerRoot.host.isConnected
      ? markerRoot.querySelector('.render-marker') : null;
    if (cached) return cached;
    const found = findMarker(document);
    markerRoot = found ? found.getRootNode() : null;
    return found;
  };
  const generation = () => { const el = marker(); return el ? Number(el.dataset.renderGeneration) : 0; };
  const bokehReady = () => Boolean(window.Bokeh && Bokeh.index && Bokeh.documents && Bokeh.documents.length);
  const views = () => [...Bokeh.index.query((v) => v.model.type === 'Figure')];
  // The incident table: rows in an HTML table inside a pane's shadow root.
  const tableRows = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('incident-table')) return el.querySelectorAll('tbody tr').length;
      if (el.shadowRoot) { const found = tableRows(el.shadowRoot); if (found !== null) return found; }
    }
    return null;
  };
  const unfinished = () => views().filter((v) => !v.has_finished()).map((v) => v.model.type);
  let waitingOn = [];  // views whose pending work the page is waiting for (for the timeout message)
  const deadline = (ms) => { const end = performance.now() + ms; return () => {
    if (performance.now() > end) {
      throw new Error(`timed out waiting for the page to render (marker at ${generation()}, `
        + `unfinished views: ${unfinished().join(', ') || 'none'}; `
        + `pending: ${waitingOn.map((v) => v.model.type).join(', ') || 'none'})`);
    } }; };
  // Frames since the page started, and the frame of each figure's last paint.
  let frameNo = 0;
  const tick = () => { frameNo += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  let lastPaint = 0;
  let paintHooked = false;
  const hookPaints = () => {
    if (paintHooked) return;
    const figure = [...Bokeh.index.all_views()].find((v) => v.model.type === 'Figure');
    if (!figure) return;
    let proto = Object.getPrototypeOf(figure);
    while (proto && !Object.prototype.hasOwnProperty.call(proto, 'repaint')) proto = Object.getPrototypeOf(proto);
    if (!proto) return;
    const repaint = proto.repaint;
    proto.repaint = function (...args) { lastPaint = frameNo; return repaint.apply(this, args); };
    paintHooked = true;
  };
  // Figures (and the layouts holding them) whose `ready` is still pending while no figure has painted
  // over the last QUIET frames have no paint left to do.  BokehJS' paint throttle can drop a
  // scheduled paint's promise when a newer request replaces it during a long task (the newer paint
  // runs; the dropped promise never settles, nor does every `ready` chained to it), so `ready` alone
  // could wait forever.  A paint that is really due runs within a frame or two (an animation frame,
  // or a timer of at most 1/60 s).
  const QUIET = 3;
  const paintHolder = (v) => v.model.type === 'Figure' || /(^|\.)(Row|Column)$/.test(v.model.type);
  const quiet = (v) => paintHolder(v) && v.has_finished() && frameNo - lastPaint >= QUIET;
  // Every live BokehJS view's pending work (its builds, updates and next paint: the view's own
  // `ready`) done and nothing new queued over one animation frame; every figure view
  // finished.  Not the root views' `ready`: it also waits on views already removed, and a figure
  // removed while a paint was scheduled leaves that promise pending forever.
  async function idle(check) {
    hookPaints();
    for (;;) {
      check();
      const live = [...Bokeh.index.all_views()];
      const pending = live.map((v) => v.ready);
      const done = new Set();
      let failure = null;
      pending.forEach((p, i) => p.then(() => done.add(i), (e) => { failure = e; done.add(i); }));
      while (done.size < pending.length) {
        waitingOn = live.filter((_v, i) => !done.has(i));
        if (waitingOn.every(quiet)) break;
        check();
        await frame();
      }
      waitingOn = [];
      if (failure) throw failure;
      await frame();
      const now = [...Bokeh.index.all_views()];
      // Nothing new queued: the same views, each with the work awaited above (or quiet, see QUIET).
      const stable = now.length === live.length
          && now.every((v, i) => v === live[i] && (v.ready === pending[i] || quiet(v)));
      if (stable && unfinished().length === 0) return;
    }
  }
  async function settled(minGeneration, timeoutMs) {
    const check = deadline(timeoutMs);
    while (!bokehReady() || generation() < minGeneration) { check(); await frame(); }
    await idle(check);
    const el = marker();
    const figures = views().filter((v) => v.model.type === 'Figure' && v.el.isConnected
        && v.el.getBoundingClientRect().height > 0).length;
    const tables = (tableRows(document) ?? 0) > 0 ? 1 : 0;
    return {t: performance.now(), generation: generation(), outcome: el.dataset.renderOutcome,
            serverMs: Number(el.dataset.renderMs), figures, tables, ...timeline()};
  }
  function widget(name) {
    for (const model of Bokeh.documents[0]._all_models.values()) {
      if (model.css_classes && model.css_classes.includes('filter-' + name)) return model;
    }
    throw new Error('no filter widget ' + name);
  }
  async function change(name, value, timeoutMs) {
    const model = widget(name);
    await idle(deadline(timeoutMs));
    const before = generation();
    const t0 = performance.now();
    if ('active' in model.properties) model.active = value;        // radio button groups
    else if ('value_throttled' in model.properties) model.setv({value, value_throttled: value});  // sliders
    else model.value = value;
    const done = await settled(before + 1, timeoutMs);
    return {...done, ms: done.t - t0};
  }
  // The baseline page: BokehJS has built its document and every view is idle.
  async function loaded(timeoutMs) {
    const check = deadline(timeoutMs);
    while (!bokehReady()) { check(); await frame(); }
    await idle(check);
    return {t: performance.now(), ...timeline()};
  }
  return {settled, change, loaded};
})();
"""


@dataclass(frozen=True)
class Change:
    """One filter change: its kind (a row of the report), the widget (``filter-<widget>``) and its new value."""

    kind: str
    widget: str
    value: Any


@dataclass(frozen=True)
class Phases:
    """Milliseconds from navigation start: HTML in, scripts in, BokehJS up, document built, drawn."""

    html: float
    scripts: float
    bokeh: float
    document: float
    drawn: float

    @classmethod
    def of(cls, result: dict[str, Any]) -> Phases:
        return cls(
            float(result["htmlMs"]),
            float(result["scriptsMs"]),
            float(result["bokehMs"]),
            float(result["docMs"]),
            float(result["t"]),
        )


@dataclass
class Results:
    cold_ms: list[float] = field(default_factory=list)
    cold_html_ms: list[float] = field(default_factory=list)
    cold_server_start_s: list[float] = field(default_factory=list)
    warm_ms: list[float] = field(default_factory=list)
    warm_html_ms: list[float] = field(default_factory=list)
    empty_ms: list[float] = field(default_factory=list)  # the baseline page, loaded between warm loads
    empty_html_ms: list[float] = field(default_factory=list)
    phases: dict[str, list[Phases]] = field(default_factory=dict)  # "warm" / "baseline": each load's phases
    redraw: dict[str, list[float]] = field(default_factory=dict)
    redraw_server: dict[str, list[float]] = field(default_factory=dict)
    revisit_ms: list[float] = field(default_factory=list)
    revisit_server_ms: list[float] = field(default_factory=list)


def cycle(end: date) -> list[Change]:
    """A typical sequence of filter changes from a 30-day (or any) selection, anchored on ``end``."""

    def days(n: int) -> list[str]:
        return [(end - timedelta(days=n - 1)).isoformat(), end.isoformat()]

    return [
        Change("date range narrowed", "dates", days(7)),
        Change("type added", "types", ["THEFT"]),
        Change("arrest toggled", "arrest", 1),
        Change("arrest toggled", "arrest", 0),
        Change("type removed", "types", []),
        Change("district chosen/cleared", "districts", ["011"]),
        Change("hour range changed", "hours", [18, 23]),
        Change("hour range changed", "hours", [0, 23]),
        Change("district chosen/cleared", "districts", []),
        Change("date range widened", "dates", days(90)),
        Change("date range widened", "dates", days(365)),
    ]


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the lake and the server --------------------------------------------------------------


def ensure_lake(cache_dir: Path, rows: int) -> Path:
    """The benchmark lake of ``rows`` rows (``dashboard_bench``'s, generated once and cached)."""
    lake_dir = cache_dir / f"rows-{rows}" / "lake"
    if not (lake_dir / ".complete").exists():
        from dashboard_bench import generate_lake

        print(f"generating a lake of {rows:,} rows in {lake_dir} ...", flush=True)
        started = time.perf_counter()
        generate_lake(lake_dir, rows)
        (lake_dir / ".complete").write_text("ok\n")
        print(f"  done in {time.perf_counter() - started:.1f}s", flush=True)
    return lake_dir


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    start_seconds: float

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _wait_ready(process: subprocess.Popen[bytes], ready_url: str, log_path: Path) -> None:
    """Until ``/ready`` answers 200 (it never opens a page, so the server's caches stay cold)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(ready_url, timeout=10) as response:  # noqa: S310 - our http:// URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the dashboard was not ready within {STARTUP_SECONDS:.0f}s:\n{log_path.read_text()}")


@contextmanager
def _serving(args: list[str], env: dict[str, str] | None, url: str, ready_url: str, log_path: Path) -> Iterator[Server]:
    """``python args`` serving ``url`` in its own process once ``ready_url`` answers; stopped on exit."""
    started = time.perf_counter()
    with log_path.open("wb") as out:
        process = subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        _wait_ready(process, ready_url, log_path)
        yield Server(process, url, log_path, time.perf_counter() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def served(lake_dir: Path, work: Path) -> Iterator[Server]:
    """The dashboard served over ``lake_dir`` in a fresh process (cold caches), stopped on exit."""
    port, metrics_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("DASHBOARD_", "METRICS_"))}
    env.update(
        DATA_DIR=str(lake_dir.parent.resolve()),
        DASHBOARD_PORT=str(port),
        DASHBOARD_REFRESH_SECONDS="0",  # no periodic checks competing with the measured work
        DASHBOARD_MAP_TILES="none",  # offline: no tile requests
        METRICS_PORT=str(metrics_port),
        LOG_LEVEL="WARNING",
    )
    url, ready_url = f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{metrics_port}/ready"
    with _serving(["-c", _SERVE], env, url, ready_url, work / f"serve-{port}.log") as server:
        yield server


@contextmanager
def served_empty_page(work: Path) -> Iterator[Server]:
    """The first-render baseline page (``_SERVE_EMPTY``) in its own process, stopped on exit."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    with _serving(["-c", _SERVE_EMPTY, str(port)], None, url, url, work / f"empty-{port}.log") as server:
        yield server


# --- the browser ----------------------------------------------------------------------------


def _check(result: dict[str, Any], server: Server, what: str) -> dict[str, Any]:
    """The page drew every view (5 figures: series, top types, heatmap, arrest rate, map; the table)."""
    if result["outcome"] != "views" or result["figures"] < 5 or result["tables"] < 1:
        raise RuntimeError(
            f"{what}: the page did not draw every view ({result}); on a small lake a selection may match "
            f"nothing:\n{server.log_tail()}"
        )
    return result


def first_render(browser: Any, server: Server) -> Phases:
    """Milliseconds from navigation start until each phase of the page's first render; ``drawn``: every
    view drawn.

    On a fresh page (new browser context: nothing cached).  The HTML arrives once the server has
    built the session's page.
    """
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.add_init_script(_PAGE_JS)
        page.goto(server.url, wait_until="commit", timeout=STEP_TIMEOUT_MS)
        result = page.evaluate("([g, t]) => window.__bench.settled(g, t)", [1, STEP_TIMEOUT_MS])
        _check(result, server, "first render")
        return Phases.of(result)
    finally:
        context.close()


def empty_render(browser: Any, server: Server) -> Phases:
    """The baseline page's first render, phase by phase (``drawn``: built and idle)."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.add_init_script(_PAGE_JS)
        page.goto(server.url, wait_until="commit", timeout=STEP_TIMEOUT_MS)
        result = page.evaluate("(t) => window.__bench.loaded(t)", STEP_TIMEOUT_MS)
        return Phases.of(result)
    finally:
        context.close()


def redraws(browser: Any, server: Server, changes: Sequence[Change]) -> list[tuple[Change, float, float]]:
    """``(change, browser ms, server ms)`` of each change, applied in order on one page."""
    context = browser.new_context(viewport=VIEWPORT)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" or "mismatch" in m.text else None)
        page.add_init_script(_PAGE_JS)
        page.goto(server.url, wait_until="commit", timeout=STEP_TIMEOUT_MS)
        _check(page.evaluate("([g, t]) => window.__bench.settled(g, t)", [1, STEP_TIMEOUT_MS]), server, "load")
        out = []
        for change in changes:
            result = page.evaluate(
                "([w, v, t]) => window.__bench.change(w, v, t)", [change.widget, change.value, STEP_TIMEOUT_MS]
            )
            _check(result, server, f"{change.kind} ({change.widget}={change.value})")
            out.append((change, float(result["ms"]), float(result["serverMs"])))
    finally:
        context.close()
    if errors:
        raise RuntimeError(f"browser errors while redrawing: {errors[:10]}")
    return out


# --- the report -----------------------------------------------------------------------------


def _verdict(value: float, goal: float) -> str:
    return "✅" if value <= goal else "❌"


def report(results: Results, rows: int, repeat: int) -> tuple[str, dict[str, float]]:
    """The markdown table and the headline figures."""
    every = [ms for values in results.redraw.values() for ms in values]
    every_server = [ms for values in results.redraw_server.values() for ms in values]
    figures = {
        "first_render_p50_ms": round(_pct(results.warm_ms, 0.5), 1),
        "first_render_cold_ms": round(_pct(results.cold_ms, 0.5), 1),
        "empty_page_p50_ms": round(_pct(results.empty_ms, 0.5), 1),
        "filter_redraw_p50_ms": round(_pct(every, 0.5), 1),
        "filter_redraw_p95_ms": round(_pct(every, 0.95), 1),
    }
    lines = [
        f"Dashboard in Chromium (headless) on a {rows:,}-row lake: {len(every)} filter changes "
        f"({repeat} cycles, every selection new to the server's result cache), "
        f"{len(results.warm_ms)} warm and {len(results.cold_ms)} cold page loads. "
        "Times in ms, measured in the page. Server column: for a redraw, the server's share (queries and "
        "model updates); for a first render, when the page's HTML was in (the server had built the page). "
        f"Cold server start (process start to ready, fact table built): "
        f"{', '.join(f'{s:.1f}s' for s in results.cold_server_start_s)}. "
        "Baseline: the same template, server and bundles with one line of text, loaded between the warm "
        "loads (what any Panel page costs before it shows anything). "
        "Noisy: 2 CPU cores shared with other work.",
        "",
        "| measure | n | p50 | p95 | server p50 | goal | met |",
        "|---|---:|---:|---:|---:|---|:---:|",
    ]

    def row(name: str, values: list[float], server: list[float], goal: str, met: str) -> None:
        server_p50 = f"{_pct(server, 0.5):.0f}" if server else "–"
        lines.append(
            f"| {name} | {len(values)} | {_pct(values, 0.5):.0f} | {_pct(values, 0.95):.0f} | {server_p50} "
            f"| {goal} | {met} |"
        )

    cold, warm = _pct(results.cold_ms, 0.5), _pct(results.warm_ms, 0.5)
    row(
        "first render, cold server",
        results.cold_ms,
        results.cold_html_ms,
        "p50 < 2000",
        _verdict(cold, GOAL_FIRST_RENDER_MS),
    )
    row(
        "first render, warm caches",
        results.warm_ms,
        results.warm_html_ms,
        "p50 < 2000",
        _verdict(warm, GOAL_FIRST_RENDER_MS),
    )
    if results.empty_ms:
        row("baseline: empty Panel page, same template", results.empty_ms, results.empty_html_ms, "–", "")
    for kind, values in results.redraw.items():
        p95 = _pct(values, 0.95)
        row(f"redraw: {kind}", values, results.redraw_server[kind], "p95 < 500", _verdict(p95, GOAL_REDRAW_P95_MS))
    p95 = _pct(every, 0.95)
    row("**redraw: all changes**", every, every_server, "p95 < 500", _verdict(p95, GOAL_REDRAW_P95_MS))
    if results.revisit_ms:
        p95 = _pct(results.revisit_ms, 0.95)
        row(
            "redraw: revisited selections (cache warm)",
            results.revisit_ms,
            results.revisit_server_ms,
            "p95 < 500",
            _verdict(p95, GOAL_REDRAW_P95_MS),
        )
    if results.phases:
        lines += [
            "",
            "First render, phase by phase (p50, ms from navigation start): HTML in; every script in; "
            "BokehJS up (its main script run); the page's document pulled over the websocket and built; "
            "every view drawn.",
            "",
            "| page | HTML in | scripts in | BokehJS up | document built | drawn |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, loads in results.phases.items():
            cells = [
                _pct([getattr(load, phase) for load in loads], 0.5)
                for phase in ("html", "scripts", "bokeh", "document", "drawn")
            ]
            lines.append(f"| {name} | " + " | ".join(f"{cell:.0f}" for cell in cells) + " |")
    return "\n".join(lines), figures


# --- main -----------------------------------------------------------------------------------


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise SystemExit("needs the 'playwright' package (make install); never 'playwright install'") from exc
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        raise SystemExit(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    return sync_playwright


def _last_day(lake_dir: Path) -> date:
    """The lake's newest local day (from its newest partition file)."""
    newest = max(lake_dir.glob("crimes/year=*/month=*/*.parquet"))  # year=YYYY/month=MM sorts by time
    row = duckdb.execute("SELECT max(CAST(date_local AS DATE)) FROM read_parquet($path)", {"path": str(newest)})
    day = row.fetchone()
    if day is None or day[0] is None:
        raise SystemExit(f"the lake {lake_dir} holds no rows")
    return date.fromisoformat(str(day[0]))


def run(args: argparse.Namespace) -> Results:
    lake_dir = ensure_lake(args.cache_dir, args.rows)
    last = _last_day(lake_dir)
    changes = [c for r in range(args.repeat) for c in cycle(last - timedelta(days=7 * r))]
    results = Results()
    with tempfile.TemporaryDirectory() as tmp, _playwright()() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for i in range(args.cold_loads):
                with served(lake_dir, Path(tmp)) as server:
                    results.cold_server_start_s.append(server.start_seconds)
                    cold = first_render(browser, server)
                    results.cold_ms.append(cold.drawn)
                    results.cold_html_ms.append(cold.html)
                    print(f"cold load {i + 1}: {cold.drawn:.0f} ms (HTML in at {cold.html:.0f} ms)", flush=True)
                    if i < args.cold_loads - 1:
                        continue
                    with served_empty_page(Path(tmp)) as empty:
                        empty_render(browser, empty)  # its server's first page: not a sample
                        for _ in range(args.loads):  # alternating, so both see the machine alike
                            warm = first_render(browser, server)
                            results.warm_ms.append(warm.drawn)
                            results.warm_html_ms.append(warm.html)
                            results.phases.setdefault("dashboard, warm", []).append(warm)
                            base = empty_render(browser, empty)
                            results.empty_ms.append(base.drawn)
                            results.empty_html_ms.append(base.html)
                            results.phases.setdefault("baseline page", []).append(base)
                    print(f"warm loads: {', '.join(f'{ms:.0f}' for ms in results.warm_ms)} ms", flush=True)
                    print(f"baseline page: {', '.join(f'{ms:.0f}' for ms in results.empty_ms)} ms", flush=True)
                    for change, ms, server_ms in redraws(browser, server, changes):
                        results.redraw.setdefault(change.kind, []).append(ms)
                        results.redraw_server.setdefault(change.kind, []).append(server_ms)
                        print(f"  {change.kind:<26} {ms:7.0f} ms (server {server_ms:.0f})", flush=True)
                    for _change, ms, server_ms in redraws(browser, server, cycle(last)):
                        results.revisit_ms.append(ms)
                        results.revisit_server_ms.append(server_ms)
        finally:
            browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=8_500_000)
    parser.add_argument("--repeat", type=int, default=2, help="cycles of typical filter changes")
    parser.add_argument("--loads", type=int, default=6, help="warm fresh page loads")
    parser.add_argument("--cold-loads", type=int, default=2, help="cold page loads (one server start each)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "bench-lake")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.cold_loads < 1 or args.repeat < 1:
        parser.error("--cold-loads and --repeat must be at least 1")
    # Stopped (e.g. by benchmarks/run_all.py on a timeout): still stop the server and the browser.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))

    results = run(args)
    markdown, figures = report(results, args.rows, args.repeat)
    print()
    print(markdown)
    if args.json is not None:
        payload = {"name": "dashboard_browser", "figures": figures, "markdown": markdown}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
