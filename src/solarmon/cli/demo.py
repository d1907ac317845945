"""``solarmon demo``: simulated devices -> collector -> a real mosquitto -> live view in the terminal.

Everything but the radio is the production code path: the collector polls the simulators
over in-process links that carry the same bytes as BLE, publishes through a real broker,
and the table is drawn from what a subscriber receives there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from pathlib import Path
import tempfile
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .. import catalog, config
from ..collector import Collector
from ..devices import create
from ..link import SimAir, SimLink
from ..publisher import Publisher
from ..sim import make_simulator
from ..sim.broker import Mosquitto

_LOGGER = logging.getLogger(__name__)

DEMO_PASSWORD = "123456"  # the simulated battery1's BLE password (a demo value, not a secret)
DEMO_DEVICES = (
    {"id": "mppt", "kind": "litime-mppt", "address": "C8:47:80:00:00:01", "name": "LiTime 60A"},
    {"id": "battery1", "kind": "jbd-bms", "address": "A4:C1:38:00:00:11", "name": "Battery 1", "auth": "password"},
    {"id": "battery2", "kind": "jbd-bms", "address": "A4:C1:38:00:00:12", "name": "Battery 2", "auth": "none"},
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "demo",
        help="run simulated devices through the collector and a real MQTT broker",
        description="Start a private mosquitto on a free port (unless --mqtt is given), simulate one LiTime "
        "controller and two JBD batteries (one with a password), run the real collector against them and "
        "show what arrives over MQTT.",
    )
    p.add_argument("--seconds", type=float, default=None, help="stop after N seconds and print a summary")
    p.add_argument("--interval", type=float, default=3.0, help="poll interval in s (default 3, min 2)")
    p.add_argument("--speed", type=float, default=60.0, help="simulated time runs this much faster (default 60)")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="use this broker instead of a private one")
    p.set_defaults(func=run)


class Watcher:
    """Subscribes to ``solarmon/#`` and keeps the latest message per device."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.prefix = prefix
        self.latest: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = {}
        self.availability: dict[str, str] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="solarmon-demo-watch")
        self.client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if len(parts) != 3:
            return
        with self.lock:
            if parts[2] == "state":
                self.latest[parts[1]] = json.loads(msg.payload)
                self.counts[parts[1]] = self.counts.get(parts[1], 0) + 1
            elif parts[2] == "availability":
                self.availability[parts[1]] = msg.payload.decode()

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def _fmt(kind: str, name: str, value: object) -> str:
    if value is None:
        return "-"
    f = catalog.kind(kind).field(name)
    if f.labels and isinstance(value, int):
        return f.labels.get(value, str(value))
    if isinstance(value, float):
        return f"{value:.3f} {f.unit}" if f.unit == "V" and "cell" in name else f"{value:.1f} {f.unit}".strip()
    return f"{value} {f.unit}".strip()


_SHOWN = {
    "litime-mppt": ("pv_voltage", "charge_power", "battery_voltage", "charge_current", "load_power",
                    "charging_state", "today_generated_energy"),
    "jbd-bms": ("soc", "pack_voltage", "current", "cell_voltage_min", "cell_voltage_max", "cell_voltage_delta",
                "temperature_1"),
}


def render(w: Watcher, started: float) -> Table:
    """The live table: one row per device from the latest MQTT message."""
    t = Table(title=f"solarmon demo - what arrives over MQTT ({time.monotonic() - started:.0f} s)", expand=False)
    for col in ("device", "status", "msgs", "age", "values"):
        t.add_column(col)
    now_ms = time.time() * 1000
    with w.lock:
        for dev in sorted(set(w.latest) | set(w.availability) - {"collector"}):
            msg = w.latest.get(dev)
            values = ""
            age = "-"
            if msg:
                kind = msg["kind"]
                values = "  ".join(
                    f"{n}={_fmt(kind, n, msg['fields'].get(n))}" for n in _SHOWN[kind] if n in msg["fields"]
                )
                age = f"{(now_ms - msg['ts']) / 1000:.0f} s"
            status = w.availability.get(dev, "?")
            t.add_row(dev, f"[green]{status}[/]" if status == "online" else f"[red]{status}[/]",
                      str(w.counts.get(dev, 0)), age, values)
    return t


async def _run_collector(cfg: config.Config, speed: float, stop_after: float | None, on_tick: Any) -> Collector:
    start = time.time()

    def sim_clock() -> float:
        return start + (time.time() - start) * speed

    air = SimAir()
    devices = []
    for d in cfg.devices:
        sim = make_simulator(d.kind, d.address, d.display_name, password=DEMO_PASSWORD,
                             auth=d.auth.value if d.kind == "jbd-bms" else "none")
        devices.append((d, create(d, SimLink(sim, air=air, clock=sim_clock), cfg)))
    publisher = Publisher(cfg, client_id="solarmon-demo-collector")
    publisher.start()
    collector = Collector(cfg, devices, publisher, air)
    task = asyncio.ensure_future(collector.run())
    try:
        deadline = None if stop_after is None else time.monotonic() + stop_after
        while deadline is None or time.monotonic() < deadline:
            on_tick()
            await asyncio.sleep(0.5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        publisher.stop()
    return collector


def run(args: argparse.Namespace) -> int:
    """Run the demo; with --seconds, print a summary and exit 0 only if every device delivered."""
    logging.getLogger().setLevel(logging.WARNING)  # keep the screen for the table
    broker = None
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":")
        host, port_n = host or "127.0.0.1", int(port)
    else:
        broker = Mosquitto()
        broker.start()
        host, port_n = broker.host, broker.port
    console = Console()
    with tempfile.TemporaryDirectory(prefix="solarmon-demo-") as tmp:
        pw = Path(tmp) / "battery1.password"
        pw.write_text(DEMO_PASSWORD + "\n")
        devices = [dict(d, password_file=str(pw)) if d.get("auth") == "password" else d for d in DEMO_DEVICES]
        cfg = config.parse({"devices": devices, "mqtt": {"host": host, "port": port_n},
                            "collector": {"interval": max(2.0, args.interval), "timeout": 2.0}}, "demo")
        console.print(f"[bold]solarmon demo[/]: broker {host}:{port_n}"
                      f"{' (private mosquitto)' if broker else ''}; simulated time x{args.speed:g}; "
                      f"subscribe with: mosquitto_sub -h {host} -p {port_n} -t 'solarmon/#' -v")
        watcher = Watcher(host, port_n, cfg.mqtt.topic_prefix)
        started = time.monotonic()
        collector = None
        try:
            if console.is_terminal:
                with Live(render(watcher, started), console=console, refresh_per_second=2) as live:
                    collector = asyncio.run(_run_collector(cfg, args.speed, args.seconds,
                                                           lambda: live.update(render(watcher, started))))
            else:
                collector = asyncio.run(_run_collector(cfg, args.speed, args.seconds, lambda: None))
        except KeyboardInterrupt:
            pass
        finally:
            time.sleep(0.5)  # let the last messages arrive
            watcher.stop()
            if broker:
                broker.close()
    console.print(render(watcher, started))
    if collector:
        for r in collector.runners:
            rtt = sorted(r.health.poll_seconds)
            med = f"{rtt[len(rtt) // 2] * 1000:.1f} ms" if rtt else "-"
            console.print(f"{r.cfg.id}: {r.health.polls} polls ok, {r.health.failures} failed, median poll {med}")
    missing = [d["id"] for d in DEMO_DEVICES if not watcher.counts.get(d["id"])]
    if missing:
        console.print(f"[red]no data over MQTT from: {', '.join(missing)}[/]")
        return 1
    console.print(f"[green]all {len(DEMO_DEVICES)} devices delivered over MQTT[/]")
    return 0
