"""The ``solarmon`` command: one sub-command per module in this package.

Each module ``solarmon.cli.<name>`` defines ``register(subparsers)``, which adds its parser
and sets ``func`` to a ``run(args) -> int``. Add a command by adding its module name to
``COMMANDS``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import importlib
import logging
import sys

from ..errors import SolarmonError

COMMANDS: tuple[str, ...] = (
    "decode",
    "scan",
    "collect",
    "demo",
    "check_config",
    "dashboards",
    "simulate",
    "bridge",
    "flux",
    "bootstrap",
    "estimate",
    "pair",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all sub-commands)."""
    parser = argparse.ArgumentParser(
        prog="solarmon",
        description="Off-grid solar monitor: LiTime MPPT and JBD BMS over BLE -> MQTT -> InfluxDB -> Grafana.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def setup_logging(level: str | int) -> None:
    """Configure the root logger once (only the CLI configures handlers)."""
    logging.basicConfig(
        level=level if isinstance(level, int) else level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return int(args.func(args) or 0)
    except SolarmonError as err:
        print(f"solarmon {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
