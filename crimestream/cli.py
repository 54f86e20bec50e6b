"""The one entry point: ``crimestream <service> [options]``.

Each subcommand builds its service's settings from the environment (and
``.env``), configures logging once, and runs the service.  Errors of ours end
the process with a one-line message and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from crimestream.errors import CrimestreamError
from crimestream.logs import configure_logging

__all__ = ["main"]

log = logging.getLogger("crimestream")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _cmd_poll(args: argparse.Namespace) -> int:
    from producers.service import run_poller
    from producers.settings import PollerSettings

    settings = PollerSettings()
    configure_logging(settings.log_level, settings.log_json)
    return run_poller(settings, once=args.once, stop=_stop_on_signals(), reconcile=args.reconcile)


def _cmd_process(args: argparse.Namespace) -> int:
    from stream_processors.app import run
    from stream_processors.settings import ProcessorSettings

    settings = ProcessorSettings()
    configure_logging(settings.log_level, settings.log_json)
    return run(settings, until_caught_up=args.until_caught_up)


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboard.server import serve
    from dashboard.settings import DashboardSettings

    overrides = {k: v for k, v in {"dashboard_port": args.port, "dashboard_host": args.host}.items() if v}
    settings = DashboardSettings(**overrides)
    configure_logging(settings.log_level, settings.log_json)
    serve(settings)
    return 0


def _cmd_emulator(args: argparse.Namespace) -> int:
    from emulator.server import serve
    from emulator.settings import EmulatorSettings

    overrides = {
        k: v
        for k, v in {
            "emulator_port": args.port,
            "emulator_rows": args.rows,
            "emulator_live_interval_seconds": args.live_interval,
        }.items()
        if v is not None
    }
    settings = EmulatorSettings(**overrides)
    configure_logging(settings.log_level, settings.log_json)
    serve(settings)
    return 0


def _cmd_broker(args: argparse.Namespace) -> int:
    from localkafka.service import run_broker
    from localkafka.settings import BrokerSettings

    settings = BrokerSettings()
    configure_logging(settings.log_level, settings.log_json)
    if args.fetch_only:
        from localkafka import ensure_kafka, ensure_registry

        ensure_kafka()
        ensure_registry()
        return 0
    return run_broker(settings, _stop_on_signals())


def _cmd_up(args: argparse.Namespace) -> int:
    from crimestream.supervisor import run_pipeline

    configure_logging()
    return run_pipeline(demo=args.demo)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crimestream",
        description="Keep a live, queryable copy of Chicago's crime data: SODA -> Kafka -> parquet lake -> dashboard. "
        "Settings come from the environment and .env (see the README's settings table).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    p = add("poll", _cmd_poll, "Poll the SODA portal and publish new and corrected rows to Kafka.")
    p.add_argument("--once", action="store_true", help="publish everything new since the watermark, then exit")
    p.add_argument(
        "--reconcile",
        action="store_true",
        help="also reconcile deletions now (tombstone ids gone from the source); otherwise daily",
    )
    p = add("process", _cmd_process, "Run the Faust processor: last-write-wins dedupe into the parquet lake.")
    p.add_argument(
        "--until-caught-up",
        action="store_true",
        help="exit once the lake holds every event that was on the topic at start-up",
    )
    p = add("dashboard", _cmd_dashboard, "Serve the analyst dashboard (Panel) over the lake.")
    p.add_argument("--port", type=int, default=None, help="port (default DASHBOARD_PORT or 5006)")
    p.add_argument("--host", default=None, help="address to bind (default DASHBOARD_HOST or 127.0.0.1)")
    p = add("emulator", _cmd_emulator, "Serve a SODA emulator of the crimes dataset (offline testing and demo).")
    p.add_argument("--port", type=int, default=None, help="port (default EMULATOR_PORT)")
    p.add_argument("--rows", type=int, default=None, help="rows generated at start (default EMULATOR_ROWS)")
    p.add_argument(
        "--live-interval", type=float, default=None, help="seconds per simulated daily load (0: no live changes)"
    )
    p = add("broker", _cmd_broker, "Run a local Apache Kafka broker and schema registry (fetched from Maven Central).")
    p.add_argument("--fetch-only", action="store_true", help="only download the broker and registry into the cache")
    p = add("up", _cmd_up, "Run the whole pipeline (broker, registry, poller, processor, dashboard); Ctrl-C stops it.")
    p.add_argument("--demo", action="store_true", help="feed it from the bundled SODA emulator, fully offline")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except CrimestreamError as exc:
        print(f"crimestream {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
