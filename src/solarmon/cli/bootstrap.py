"""``solarmon bootstrap --config F``: create/fix the tier buckets and the downsampling tasks."""

from __future__ import annotations

import argparse

from .. import config
from ..errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "bootstrap",
        help="idempotently create buckets (with retention) and Flux tasks in InfluxDB",
        description="Create missing tier buckets, fix their retention, create missing downsampling tasks and "
        "update tasks whose Flux changed. Other buckets and tasks are left alone. Safe to run at every boot.",
    )
    p.add_argument("--config", required=True, help="config file (.toml or .json)")
    p.add_argument("--wait", type=float, default=60.0, metavar="S",
                   help="seconds to wait for InfluxDB to answer /ping (default 60)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print what was found and done; errors (unreachable, 401, missing permission) exit 2."""
    from ..influx.bootstrap import Bootstrap

    cfg = config.load(args.config)
    if cfg.influx.token_file is None:
        raise ConfigError("influx.token_file", ["bootstrap needs a token (bucket and task read/write)"])
    boot = Bootstrap(cfg.influx.url, cfg.influx.org, config.read_secret(cfg.influx.token_file), cfg.influx.timeout)
    try:
        boot.wait_ready(args.wait)
        actions = boot.run(cfg.tier_list)
    finally:
        boot.close()
    for a in actions:
        print(a)
    return 0
