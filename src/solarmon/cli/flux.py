"""``solarmon flux --tier NAME [--config F]``: print the Flux task that fills one tier."""

from __future__ import annotations

import argparse
import sys

from .. import config
from ..influx import tasks
from ..tiers import DEFAULT_TIERS, Tier


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "flux",
        help="print a tier's downsampling task (Flux)",
        description="Print the Flux task generated from the metric catalog for one downsampled tier.",
    )
    p.add_argument("--tier", required=True, help="tier name, e.g. 2m")
    p.add_argument("--config", help="config file whose tiers to use (default: the built-in tiers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the task; 1 if there is no such downsampled tier."""
    tiers: tuple[Tier, ...] = config.load(args.config).tier_list if args.config else DEFAULT_TIERS
    tier = next((t for t in tiers if t.name == args.tier and not t.is_raw), None)
    if tier is None:
        names = ", ".join(t.name for t in tiers if not t.is_raw)
        print(f"solarmon flux: no downsampled tier {args.tier!r} (tiers: {names})", file=sys.stderr)
        return 1
    try:
        sys.stdout.write(tasks.generate(tier, tiers))
    except ValueError as err:
        print(f"solarmon flux: {err}", file=sys.stderr)
        return 1
    return 0
