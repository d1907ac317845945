"""``solarmon bridge --config F``: move MQTT samples into InfluxDB without losing any."""

from __future__ import annotations

import argparse
import logging

from .. import config


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "bridge",
        help="MQTT -> InfluxDB bridge with a durable on-disk queue",
        description="Subscribe to <prefix>/+/state (persistent QoS 1 session), queue every point in SQLite "
        "and write it to the raw bucket; status on the retained topic <prefix>/bridge/status.",
    )
    p.add_argument("--config", required=True, help="config file (.toml or .json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT."""
    from ..bridge.service import serve  # heavy imports only for this command

    cfg = config.load(args.config)
    if not args.verbose:
        logging.getLogger().setLevel(cfg.logging.level.upper())
    return serve(cfg)
