"""Guest test rig: the simulated devices, config files, waits with timeouts, small handles.

Imported by the guest conftest and tests (the guest directory is on sys.path under pytest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from solarmon.cli.simulate import send_command

OUT = Path(os.environ.get("BLEVM_OUT", "/mnt/out"))


@dataclass(frozen=True)
class SimDevice:
    """One simulated device as the config file names it."""

    id: str
    kind: str
    address: str
    name: str
    notify_uuid: str
    write_uuid: str
    live_field: str  # present in every live poll (absent from back-dated history samples)


MPPT = SimDevice("mppt", "litime-mppt", "C8:47:80:00:00:01", "BT-LTMPPT-BLEVM",
                 "0000ffe1-0000-1000-8000-00805f9b34fb", "0000ffe1-0000-1000-8000-00805f9b34fb", "battery_voltage")
BMS = SimDevice("bms", "jbd-bms", "A4:C1:38:00:00:02", "JBD-SP04S034-BLEVM",
                "0000ff01-0000-1000-8000-00805f9b34fb", "0000ff02-0000-1000-8000-00805f9b34fb", "pack_voltage")
DEVICES = (MPPT, BMS)
PASSWORD = "123456"  # the JBD adapter's BLE password in this rig (not a real secret)
# What `solarmon simulate --ble` serves (guest_init.sh starts it early with this file).
SIM_CONFIG = Path(__file__).with_name("sim.json")


def check_sim_config(path: Path) -> None:
    """The served config must name exactly ``DEVICES`` (the tests rely on these)."""
    served = json.loads(path.read_text())["devices"]
    assert [(d["id"], d["kind"], d["address"], d["name"]) for d in served] == [
        (d.id, d.kind, d.address, d.name) for d in DEVICES
    ], f"{path} and blevm_rig.DEVICES disagree"


def wait_for(what: str, check: Callable[[], Any], timeout: float, step: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(step)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def bluetoothd_path() -> str:
    for path in ("/usr/libexec/bluetooth/bluetoothd", "/usr/lib/bluetooth/bluetoothd", "/usr/sbin/bluetoothd"):
        if os.access(path, os.X_OK):
            return path
    return shutil.which("bluetoothd") or "bluetoothd"


def adapter_powered(adapter: str = "hci0") -> bool:
    """Is the adapter up and powered according to BlueZ (Adapter1.Powered over D-Bus)?"""
    out = subprocess.run(
        ["dbus-send", "--system", "--print-reply", "--dest=org.bluez", f"/org/bluez/{adapter}",
         "org.freedesktop.DBus.Properties.Get", "string:org.bluez.Adapter1", "string:Powered"],
        capture_output=True, text=True, timeout=10, check=False,
    )
    return out.returncode == 0 and "boolean true" in out.stdout


def out_log(name: str) -> Any:
    return (OUT / name).open("ab")


def write_config(path: Path, mqtt_port: int | None = None, **collector: Any) -> Path:
    """A solarmon config for the two simulated devices (JSON, as the NixOS module writes)."""
    secret = path.parent / "bms.password"
    secret.write_text(collector.pop("password", PASSWORD) + "\n")
    devices: list[dict[str, Any]] = [
        {"id": d.id, "kind": d.kind, "address": d.address, "name": d.name} for d in DEVICES
    ]
    devices[1].update(auth="password", password_file=str(secret))
    data: dict[str, Any] = {"devices": devices, "logging": {"level": "debug"}}
    if mqtt_port is not None:
        data["mqtt"] = {"host": "127.0.0.1", "port": mqtt_port}
    if collector:
        data["collector"] = collector
    path.write_text(json.dumps(data, indent=2))
    return path


@dataclass
class Radio:
    """The simulated peripherals (``solarmon simulate --ble``) and bluetoothd on top."""

    control: str
    config: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def command(self, line: str) -> dict[str, Any]:
        answer = send_command(self.control, line, timeout=10)
        assert answer["ok"], answer
        return answer

    def status(self, device_id: str) -> dict[str, Any]:
        return dict(self.command("status")["devices"][device_id])


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "solarmon", *args]


@dataclass
class Watcher:
    """Every MQTT message under ``solarmon/#`` with its arrival time."""

    messages: list[tuple[float, str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def states(self, device: SimDevice, since: float = 0.0) -> list[dict[str, Any]]:
        """Live polls of the device, oldest first.

        Its state topic also carries link-health samples and back-dated daily history; a
        live poll is the device's own kind with its main field.
        """
        with self.lock:
            found = [json.loads(p) for t, topic, p in self.messages if topic == f"solarmon/{device.id}/state" and t >= since]
        return [s for s in found if s.get("kind") == device.kind and device.live_field in s.get("fields", {})]

    def first_after(self, device: SimDevice, since: float) -> float:
        """Seconds from ``since`` to the first live poll of ``device`` after it (nan if none)."""
        with self.lock:
            times = [(t, p) for t, topic, p in self.messages if topic == f"solarmon/{device.id}/state" and t > since]
        for t, payload in times:
            sample = json.loads(payload)
            if sample.get("kind") == device.kind and device.live_field in sample.get("fields", {}):
                return t - since
        return float("nan")

    def dump(self, path: Path) -> None:
        """Every message, one per line, for the logs."""
        with self.lock, path.open("a") as fh:
            for t, topic, payload in self.messages:
                fh.write(f"{t:.3f} {topic} {payload.decode(errors='replace')}\n")

    def availability(self, device_id: str) -> str | None:
        with self.lock:
            found = [p.decode() for _t, topic, p in self.messages if topic == f"solarmon/{device_id}/availability"]
        return found[-1] if found else None


@dataclass
class Collector:
    """A running ``solarmon collect``; its log goes to the results share."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
