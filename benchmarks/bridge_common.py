"""Shared rig for the bridge benchmarks: real mosquitto, the InfluxDB stand-in, the bridge as a process.

Run by hand, not in the test suite. ``python benchmarks/bridge_common.py publish ...`` is the
publisher child process (kept out of the measuring process so it does not share its GIL).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import contextlib
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import paho.mqtt.client as mqtt  # noqa: E402

from influx_standin import InfluxStandIn  # noqa: E402
from solarmon.sim.broker import Mosquitto  # noqa: E402

PREFIX = "solarmon"
TOKEN = "bench-token"
#: One LiTime MPPT and two 4-cell JBD packs, as on the reference system.
DEVICES = (("mppt1", "litime-mppt"), ("battery1", "jbd-bms"), ("battery2", "jbd-bms"))


def payload_templates() -> dict[str, bytes]:
    """A realistic state message per device with ``%d`` where the timestamp goes."""
    from solarmon import catalog

    out = {}
    for device, kind_name in DEVICES:
        kind = catalog.kind(kind_name)
        fields: dict[str, Any] = {}
        for i, f in enumerate(kind.fields):
            if f.name.startswith("cell_voltage_") and f.name[13:].isdigit() and int(f.name[13:]) > 4:
                continue
            if f.name.startswith("temperature_") and int(f.name[12:]) > 2:
                continue
            fields[f.name] = {"float": 3.0 + i * 1.37, "int": 100 + i, "bool": i % 2 == 0, "str": "v1.0"}[f.type.value]
        body = json.dumps({"ts": 1, "device": device, "kind": kind_name, "fields": fields}, separators=(",", ":"))
        out[device] = body.replace('"ts":1,', '"ts":%d,', 1).encode()
    return out


def publish(port: int, count: int, start_ts: int, rate: float | None = None) -> None:
    """Publish ``count`` messages QoS 1 (round-robin over DEVICES, distinct timestamps) and wait for acks."""
    templates = payload_templates()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.monotonic()
    infos = []
    for i in range(count):
        device = DEVICES[i % len(DEVICES)][0]
        infos.append(client.publish(f"{PREFIX}/{device}/state", templates[device] % (start_ts + i), qos=1))
        if len(infos) >= 5000:
            for info in infos:
                info.wait_for_publish(60)
            infos.clear()
        if rate:
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    for info in infos:
        info.wait_for_publish(60)
    elapsed = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"published": count, "seconds": elapsed, "cpu": time.process_time()}), flush=True)


def publish_c(port: int, count: int, start_ts: int, chunk: int = 30_000) -> None:
    """Like ``publish`` but through ``mosquitto_pub -l`` (C, one process per device topic), so the
    load generator does not eat the CPU the bridge is being measured on.

    A fresh set of processes per ``chunk`` messages: mosquitto_pub 2.0.11 given a few hundred
    thousand lines at once was seen to exit at end of input with most of them never sent.
    The benchmark counts what arrives, so a shortfall shows up as a timeout, not a result.
    """
    templates = payload_templates()
    started = time.monotonic()
    for first in range(0, count, chunk):
        procs = {
            device: subprocess.Popen(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-M", "1000", "-l",
                 "-i", f"bench-pub-{device}", "-t", f"{PREFIX}/{device}/state"],
                stdin=subprocess.PIPE, bufsize=1 << 20)
            for device, _kind in DEVICES
        }
        for i in range(first, min(first + chunk, count)):
            device = DEVICES[i % len(DEVICES)][0]
            procs[device].stdin.write(templates[device] % (start_ts + i) + b"\n")  # type: ignore[union-attr]
        for p in procs.values():
            p.stdin.close()  # type: ignore[union-attr]
        for p in procs.values():
            p.wait()
            assert p.returncode == 0, p.returncode
    children = os.times()
    cpu = time.process_time() + children.children_user + children.children_system
    print(json.dumps({"published": count, "seconds": time.monotonic() - started, "cpu": cpu}), flush=True)


def rss_kib(pid: int) -> int:
    """Resident set size of a process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Rig:
    """Broker + stand-in + bridge process, all on loopback."""

    def __init__(self, batch_size: int = 500, flush_interval: float = 2.0) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="solarmon-bench-"))
        self.broker = Mosquitto()
        self.influx = InfluxStandIn(token=TOKEN, keep_points=False)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.bridge: subprocess.Popen[bytes] | None = None
        self.status: dict[str, Any] = {}
        self._status_client: mqtt.Client | None = None

    def __enter__(self) -> Rig:
        self.broker.start()
        self.influx.start()
        self.influx.add_bucket("solar_raw", 0)
        (self.tmp / "token").write_text(TOKEN)
        self.config = self.tmp / "solarmon.json"
        self.config.write_text(json.dumps({
            "mqtt": {"host": "127.0.0.1", "port": self.broker.port, "topic_prefix": PREFIX},
            "influx": {"url": self.influx.url, "token_file": str(self.tmp / "token")},
            "bridge": {"state_dir": str(self.tmp / "state"), "batch_size": self.batch_size,
                       "flush_interval": self.flush_interval, "max_backoff": 2.0},
        }))
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-status")
        c.on_connect = lambda cl, *_: cl.subscribe(f"{PREFIX}/bridge/status", qos=1)
        c.on_message = lambda _c, _u, m: self.status.update(json.loads(m.payload))
        c.connect("127.0.0.1", self.broker.port)
        c.loop_start()
        self._status_client = c
        self.start_bridge()
        return self

    def start_bridge(self) -> None:
        self.bridge = subprocess.Popen(
            [sys.executable, "-m", "solarmon", "bridge", "--config", str(self.config)],
            stderr=open(self.tmp / "bridge.log", "ab"),  # noqa: SIM115
            env=os.environ | {"PYTHONPATH": str(ROOT / "src")},
        )
        self.wait(lambda: self.status.get("state") == "running", 30, "bridge subscribed")

    def wait(self, pred: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: timed out (status {self.status})")
            time.sleep(0.05)

    def publisher(self, count: int, start_ts: int, rate: float | None = None, paho: bool = False
                  ) -> subprocess.Popen[str]:
        mode = "publish" if paho or rate or not shutil.which("mosquitto_pub") else "publish-c"
        cmd = [sys.executable, str(Path(__file__)), mode, "--port", str(self.broker.port), "--count", str(count),
               "--start-ts", str(start_ts)] + (["--rate", str(rate)] if rate else [])
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    def __exit__(self, *exc: object) -> None:
        if self.bridge and self.bridge.poll() is None:
            self.bridge.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.bridge.wait(30)
        if self._status_client:
            self._status_client.disconnect()
            self._status_client.loop_stop()
        self.influx.close()
        self.broker.close()


class Sampler:
    """Samples a process's RSS and the stand-in's distinct point count every ``period`` s."""

    def __init__(self, rig: Rig, period: float = 1.0) -> None:
        self.rig = rig
        self.period = period
        self.samples: list[tuple[float, int, int]] = []  # (t, points, rss KiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(self.period):
            assert self.rig.bridge is not None
            with contextlib.suppress(OSError):
                self.samples.append((time.monotonic() - t0, len(self.rig.influx.distinct), rss_kib(self.rig.bridge.pid)))

    @contextlib.contextmanager
    def running(self) -> Iterator[Sampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["publish", "publish-c"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--start-ts", type=int, required=True)
    ap.add_argument("--rate", type=float)
    a = ap.parse_args()
    if a.mode == "publish-c":
        publish_c(a.port, a.count, a.start_ts)
    else:
        publish(a.port, a.count, a.start_ts, a.rate)
