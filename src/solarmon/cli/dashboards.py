"""``solarmon dashboards``: write the Grafana dashboards generated from the catalog."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
import sys

from .. import config
from ..dashboards import build_all, render
from ..tiers import DEFAULT_TIERS

_LOGGER = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "dashboards",
        help="write the Grafana dashboard JSON files",
        description="Generate the kiosk and history dashboards from the metric catalog and the "
        "retention tiers (the defaults, or those of --config).",
    )
    p.add_argument("--out", default="grafana/dashboards", help="directory to write into (default: %(default)s)")
    p.add_argument("--config", help="take the retention tiers from this config file")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file is missing or differs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write (or check) every dashboard file."""
    tiers = config.load(args.config).tier_list if args.config else DEFAULT_TIERS
    out = Path(args.out)
    stale = []
    for name, board in build_all(tiers).items():
        path = out / name
        text = render(board)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            _LOGGER.debug("%s is up to date", path)
            continue
        if args.check:
            stale.append(str(path))
            continue
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        _LOGGER.info("wrote %s", path)
    if stale:
        print("out of date (run `solarmon dashboards`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0
