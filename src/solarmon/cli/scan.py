"""``solarmon scan``: list supported devices advertising nearby."""

from __future__ import annotations

import argparse
import asyncio


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "scan",
        help="list nearby LiTime controllers and JBD batteries",
        description="Scan for BLE advertisements and list supported devices with address, kind, name "
        "and signal strength, ready to paste into the config file.",
    )
    p.add_argument("--seconds", type=float, default=10.0, help="scan time (default 10)")
    p.add_argument("--adapter", default="hci0", help="BlueZ adapter (default hci0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Scan and print a table; exit 1 when nothing supported was found."""
    from ..ble.scan import scan  # bleak only where needed

    found = asyncio.run(scan(args.seconds, args.adapter))
    for f in found:
        rssi = f"{f.rssi} dBm" if f.rssi is not None else "?"
        print(f"{f.address}  {f.kind:<12} {rssi:>8}  {f.name}")
    if not found:
        print(f"no supported device found in {args.seconds:.0f} s (are they powered, in range, and free?)")
        return 1
    return 0
