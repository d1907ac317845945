"""``solarmon check-config FILE``: explain every mistake in a configuration file."""

from __future__ import annotations

import argparse
import sys

from .. import config
from ..errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "check-config",
        help="validate a config file and explain every mistake",
        description="Validate a TOML or JSON config file: unknown keys, bad MAC addresses, duplicate "
        "devices, missing or empty secret files. Exit 0 when it is fine.",
    )
    p.add_argument("file", help="config file (.toml or .json)")
    p.add_argument("--no-files", action="store_true", help="do not check that secret files exist")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print every problem; exit 1 if there is any."""
    try:
        cfg = config.load(args.file)
    except ConfigError as err:
        print(f"{err.source}: {len(err.problems)} problem(s):", file=sys.stderr)
        for p in err.problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    problems = [] if args.no_files else config.check_files(cfg)
    if problems:
        print(f"{args.file}: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"{args.file}: OK, {len(cfg.devices)} device(s): "
          + ", ".join(f"{d.id} ({d.kind} {d.address})" for d in cfg.devices))
    return 0
