"""``solarmon pair DEVICE --config FILE [--passkey N]``: pair a passkey-protected JBD BMS once."""

from __future__ import annotations

import argparse
import asyncio
import logging

from .. import config

_LOGGER = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "pair",
        help="pair a JBD BMS of the passkey generation through BlueZ (once, at setup)",
        description="Pair and trust one configured jbd-bms device with its BLE passkey through BlueZ, then "
        "disconnect so the collector can use it. Stop solarmon-collector and close the phone app first: a "
        "BMS holds one connection at a time.",
    )
    p.add_argument("device", help="device id from the config (or its MAC address)")
    p.add_argument("--config", required=True, help="config file (.toml or .json)")
    p.add_argument("--passkey", help="six-digit passkey (default: the device's passkey_file, else 123456)")
    p.add_argument("--timeout", type=float, default=20.0, help="s to look for the device (default 20)")
    p.set_defaults(func=run)


def pick(cfg: config.Config, name: str) -> config.Device:
    """The configured device called ``name`` (id or MAC); ``ConfigError`` explains a miss."""
    mac = name.strip().upper().replace("-", ":")
    for d in cfg.devices:
        if name in (d.id, d.address) or mac == d.address:
            if d.kind != "jbd-bms":
                raise config.ConfigError(name, [f"{d.id} is a {d.kind}: only jbd-bms devices use passkey pairing"])
            return d
    known = ", ".join(d.id for d in cfg.devices) or "none"
    raise config.ConfigError(name, [f"no device {name!r} in the config (configured: {known})"])


def passkey_of(args: argparse.Namespace, device: config.Device) -> tuple[int, str]:
    """The passkey to use and where it came from (never the value itself, for the log)."""
    from ..ble.pairing import DEFAULT_PASSKEY, parse_passkey

    if args.passkey is not None:
        return parse_passkey(args.passkey), "--passkey"
    if device.passkey_file:
        return parse_passkey(config.read_secret(device.passkey_file)), device.passkey_file
    return DEFAULT_PASSKEY, "the factory default"


def run(args: argparse.Namespace) -> int:
    """Pair; exit 0 when paired (or already paired), 2 with a diagnosis otherwise."""
    from ..ble.pairing import pair

    cfg = config.load(args.config)
    device = pick(cfg, args.device)
    passkey, source = passkey_of(args, device)
    _LOGGER.info("pairing %s (%s) on %s with the passkey from %s", device.id, device.address,
                 cfg.collector.adapter, source)
    result = asyncio.run(pair(device.address, passkey, cfg.collector.adapter, args.timeout))
    if result.already:
        print(f"{device.id}: already paired; nothing to do")
    else:
        print(f"{device.id}: paired and trusted in {result.seconds:.1f} s; set auth = 'none' for it")
    return 0
