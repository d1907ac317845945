"""``solarmon estimate [--config F]``: points per day, 10-year totals and disk use per tier."""

from __future__ import annotations

import argparse
import sys

from .. import config
from ..influx import estimate
from ..tiers import DEFAULT_TIERS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "estimate",
        help="estimate InfluxDB storage per tier from the catalog, devices and cadence",
        description="Samples and field values per day, kept at steady state and written over 10 years, per "
        "tier, with a disk estimate. Without a config (or devices), the seed system: one LiTime MPPT and "
        "two JBD BMS every 27 s.",
    )
    p.add_argument("--config", help="config file (devices, intervals, tiers)")
    p.add_argument("--cells", type=int, help="JBD cells in series (default: every cell field of the catalog)")
    p.add_argument("--temperatures", type=int, help="JBD temperature sensors (default: all of the catalog)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table."""
    tiers = DEFAULT_TIERS
    devices: list[tuple[str, float]] = list(estimate.SEED_DEVICES)
    if args.config:
        cfg = config.load(args.config)
        tiers = cfg.tier_list
        if cfg.devices:
            devices = [(d.kind, cfg.interval_of(d)) for d in cfg.devices]
    sys.stdout.write(estimate.render(devices, tiers, args.cells, args.temperatures))
    return 0
