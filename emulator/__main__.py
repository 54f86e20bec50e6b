"""``python -m emulator [--port N] [--rows N] [--seed N] [--live SECONDS]``: run the SODA emulator."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from crimestream.logs import configure_logging
from emulator.server import serve
from emulator.settings import EmulatorSettings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Serve an emulated SODA API.")
    parser.add_argument("--host", help="interface to listen on (EMULATOR_HOST)")
    parser.add_argument("--port", type=int, help="port, 0 = any free port (EMULATOR_PORT)")
    parser.add_argument("--rows", type=int, help="rows generated at start (EMULATOR_ROWS)")
    parser.add_argument("--seed", type=int, help="seed of the generated data (EMULATOR_SEED)")
    parser.add_argument(
        "--live", type=float, help="seconds between simulated daily loads (EMULATOR_LIVE_INTERVAL_SECONDS)"
    )
    args = parser.parse_args(argv)
    overrides = {
        "emulator_host": args.host,
        "emulator_port": args.port,
        "emulator_rows": args.rows,
        "emulator_seed": args.seed,
        "emulator_live_interval_seconds": args.live,
    }
    settings = EmulatorSettings(**{k: v for k, v in overrides.items() if v is not None})
    configure_logging(settings.log_level, settings.log_json)
    serve(settings)


if __name__ == "__main__":
    main()
