"""``solarmon simulate --ble``: serve the configured devices as simulated BLE peripherals."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import socket
from typing import Any

from .. import config
from ..errors import SolarmonError

_LOGGER = logging.getLogger(__name__)

# Advertised names when the config gives none: what the real adapters call themselves.
_DEFAULT_NAME_PREFIX = {"litime-mppt": "BT-LTMPPT", "jbd-bms": "JBD-BMS"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "simulate",
        help="serve simulated LiTime/JBD devices as real BLE peripherals (Bumble, extra 'sim')",
        description="Serve every device of a config file as a simulated BLE GATT peripheral with its "
        "configured MAC and name, attached to the kernel as a virtual controller (vhci), so BlueZ "
        "and the collector see real devices. With --command, send one control command to a "
        "running simulator instead.",
    )
    p.add_argument("--ble", action="store_true", help="serve over BLE (the only mode so far)")
    p.add_argument("--config", help="config file naming the devices (.toml or .json)")
    p.add_argument(
        "--transport",
        default="vhci",
        help="Bumble transport of the kernel-facing controller (default: vhci = /dev/vhci)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="DEVICE_ID:MODE",
        help="start with a fault: silent, drop-link, wrong-password, slow[=SECONDS], bad-crc, split, "
        "drop-chunk, passkey[=N] (jbd-bms: the pairing generation, echoes until paired); "
        "'adapter:hang' stalls the adapter until BlueZ power-cycles it (repeatable)",
    )
    p.add_argument("--mtu", type=int, default=23, help="largest ATT MTU to accept (default 23: 20-byte notifications)")
    p.add_argument("--control", metavar="SOCKET", help="unix socket taking run-time commands (fault/clear/status)")
    p.add_argument("--command", metavar="LINE", help="send LINE to the --control socket of a running simulator")
    p.set_defaults(func=run)


def send_command(path: str, line: str, timeout: float = 5.0) -> dict[str, Any]:
    """Send one command to a running simulator's control socket and return its JSON answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(line.strip().encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return dict(json.loads(answer))


def device_specs(cfg: config.Config) -> list[dict[str, Any]]:
    """What each simulated device needs from the config (secrets read here, never logged)."""
    specs = []
    for d in cfg.devices:
        password = config.read_secret(d.password_file) if d.password_file else None
        default_name = f"{_DEFAULT_NAME_PREFIX[d.kind]}-{d.address[-5:].replace(':', '')}"
        specs.append(
            {
                "id": d.id,
                "kind": d.kind,
                "address": d.address,
                "name": d.name or default_name,
                "password": password,
                "auth": "password" if password else "none",
            }
        )
    return specs


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM, or send one control command."""
    if args.command:
        if not args.control:
            raise SolarmonError("--command needs --control SOCKET")
        answer = send_command(args.control, args.command)
        print(json.dumps(answer, indent=2))
        return 0 if answer.get("ok") else 1
    if not args.ble:
        raise SolarmonError("only --ble is implemented: pass --ble")
    if not args.config:
        raise SolarmonError("--config FILE is required")
    try:
        from ..sim import ble, make_simulator
    except ImportError as err:
        raise SolarmonError(f"simulate --ble needs the 'sim' extra (pip install 'solarmon[sim]'): {err}") from None
    faults = []
    for spec in args.fault:
        try:
            faults.append(ble.parse_fault(spec))
        except ValueError as err:
            raise SolarmonError(str(err)) from None
    specs = device_specs(config.load(args.config))
    if not specs:
        raise SolarmonError(f"{args.config}: no devices to simulate")
    return asyncio.run(_serve(ble, make_simulator, specs, faults, args))


async def _serve(ble: Any, factory: Any, specs: list[dict[str, Any]], faults: list[Any], args: argparse.Namespace) -> int:
    simulation = ble.Simulation(factory, specs, mtu=args.mtu)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await simulation.start(args.transport)
    except OSError as err:
        raise SolarmonError(f"cannot open transport {args.transport!r}: {err} (is hci_vhci loaded?)") from None
    for target, mode, value in faults:
        simulation.set_fault(target, mode, value)
    server = await ble.serve_control(simulation, args.control) if args.control else None
    # One line on stdout when every device advertises: what scripts and tests wait for.
    print("READY " + " ".join(f"{s['id']}={s['address']}" for s in specs), flush=True)
    closed = asyncio.ensure_future(simulation.wait_closed())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([closed, stopping], return_when=asyncio.FIRST_COMPLETED)
    if closed.done():
        _LOGGER.error("transport %s closed underneath us", args.transport)
    for task in (closed, stopping):
        task.cancel()
    if server is not None:
        server.close()
    with contextlib.suppress(Exception):
        await simulation.close()
    return 1 if closed.done() and not stopping.done() else 0
