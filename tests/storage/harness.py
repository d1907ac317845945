"""Test harness for the bridge: config files, a bridge subprocess, a QoS 1 publisher, expected points."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from solarmon import catalog
from solarmon.payload import Sample, encode, state_topic

PREFIX = "solarmon"
TOKEN = "test-token"
RAW_BUCKET = "solar_raw"


def write_config(tmp: Path, mqtt_port: int, influx_url: str, **bridge: Any) -> Path:
    """A JSON config (as the NixOS module writes it) driving the bridge from files alone."""
    (tmp / "creds").mkdir(exist_ok=True)
    (tmp / "creds" / "influx-token").write_text(TOKEN + "\n")
    cfg = {
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "topic_prefix": PREFIX, "keepalive": 5},
        "influx": {"url": influx_url, "org": "solarmon", "token_file": "$CREDENTIALS_DIRECTORY/influx-token",
                   "timeout": 5},
        "bridge": {"client_id": "test-bridge", "state_dir": str(tmp / "state"), "batch_size": 200,
                   "flush_interval": 0.2, "max_backoff": 1.0} | bridge,
    }
    path = tmp / "solarmon.json"
    path.write_text(json.dumps(cfg))
    return path


def make_samples(n: int, start_ms: int | None = None, seed: int = 1) -> list[Sample]:
    """``n`` distinct samples from three devices, touching every value type of the catalog."""
    rng = random.Random(seed)
    start_ms = start_ms if start_ms is not None else int(time.time() * 1000) - n * 10
    devices = [("mppt1", catalog.LITIME_MPPT), ("battery1", catalog.JBD_BMS), ("battery 2,x=y", catalog.JBD_BMS)]
    out = []
    for i in range(n):
        device, kind = devices[i % len(devices)]
        fields: dict[str, Any] = {}
        for f in kind.fields[:: 1 + i % 3]:
            if f.type is catalog.ValueType.FLOAT:
                fields[f.name] = rng.choice([round(rng.uniform(-50, 500), 3), float(rng.randint(0, 9))])
            elif f.type is catalog.ValueType.INT:
                fields[f.name] = rng.randint(0, 65535)
            elif f.type is catalog.ValueType.BOOL:
                fields[f.name] = rng.random() < 0.5
            else:
                fields[f.name] = rng.choice(['v1.2', 'say "hi"', "back\\slash", "ünïcode, x=1"])
        fields.setdefault(kind.fields[0].name, 1.5)
        if kind is catalog.LITIME_MPPT:
            fields["battery_temperature"] = None  # "no sensor" must simply be absent in Influx
        out.append(Sample(start_ms + i, device, kind.name, fields))
    return out


def expected_points(samples: list[Sample]) -> dict[tuple, dict[str, Any]]:
    """What InfluxDB must hold for ``samples``: key as the stand-in stores it, typed fields."""
    exp = {}
    for s in samples:
        kind = catalog.kind(s.kind)
        fields = {k: kind.field(k).coerce(v) for k, v in s.fields.items() if v is not None}
        key = (RAW_BUCKET, s.kind, (("device", s.device), ("kind", s.kind)), s.ts_ms * 1_000_000)
        exp[key] = fields
    return exp


def assert_same_points(got: dict[tuple, dict[str, Any]], exp: dict[tuple, dict[str, Any]]) -> None:
    """Exact count, exact content, exact types (a float stored as int would be a bug)."""
    missing = exp.keys() - got.keys()
    extra = got.keys() - exp.keys()
    assert not missing, f"{len(missing)} point(s) lost, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} unexpected point(s), e.g. {sorted(extra)[:3]}"
    for key, fields in exp.items():
        assert got[key] == fields, key
        assert {k: type(v) for k, v in got[key].items()} == {k: type(v) for k, v in fields.items()}, key


class Publisher:
    """The collector's side: paho, QoS 1, waits for every PUBACK."""

    def __init__(self, host: str, port: int) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{os.getpid()}")
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect(host, port)
        self.client.loop_start()

    def publish(self, samples: list[Sample], timeout: float = 30) -> None:
        infos = [self.client.publish(state_topic(PREFIX, s.device), encode(s), qos=1) for s in samples]
        for info in infos:
            info.wait_for_publish(timeout)
            assert info.is_published()

    def raw(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class StatusWatcher:
    """Follows the bridge's retained status topic."""

    def __init__(self, host: str, port: int) -> None:
        self.latest: dict[str, Any] = {}
        self._cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-status-{os.getpid()}")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(f"{PREFIX}/bridge/status", qos=1)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.latest = json.loads(msg.payload)
            self.latest["retained"] = msg.retain
            self._cond.notify_all()

    def wait_for(self, pred: Any, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self.latest and pred(self.latest)):
                left = deadline - time.monotonic()
                assert left > 0, f"status never matched; last: {self.latest}"
                self._cond.wait(left)
            return dict(self.latest)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class BridgeProcess:
    """``python -m solarmon bridge --config F`` as a real child process."""

    def __init__(self, config: Path, tmp: Path) -> None:
        self.config = config
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        env = os.environ | {"CREDENTIALS_DIRECTORY": str(self.tmp / "creds")}
        self.runs += 1
        self.log = open(self.tmp / f"bridge-{self.runs}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "solarmon", "bridge", "--config", str(self.config)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self) -> str:
        return "".join((self.tmp / f"bridge-{i}.log").read_text() for i in range(1, self.runs + 1))


def wait_until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def history(days: float, step_s: int, end_ms: int, seed: int = 7) -> list[Sample]:
    """Samples of the three test devices, one every ``step_s`` (round robin), ending at ``end_ms``."""
    n = int(days * 86400 / step_s)
    return [Sample(end_ms - (n - i) * step_s * 1000, s.device, s.kind, s.fields)
            for i, s in enumerate(make_samples(n, seed=seed))]


def expected_tiers(samples: list[Sample], now_s: float) -> dict[tuple, dict[str, Any]]:
    """The tier points the bridge must write for ``samples`` delivered late at ``now_s``.

    Written out from the rules, independently of solarmon.bridge: a point is late when its
    2-hour window ended more than an hour ago; each tier gets mean/min/max of gauges,
    last of states, bitwise OR of flags, per window start, for windows its retention keeps.
    """
    from solarmon.tiers import DEFAULT_TIERS

    late = [s for s in samples if (s.ts_ms // 7_200_000 + 1) * 7_200_000 <= (now_s - 3600) * 1000]
    out: dict[tuple, dict[str, Any]] = {}
    for tier in DEFAULT_TIERS:
        if tier.span is None:
            continue
        span_ms = tier.span * 1000
        groups: dict[tuple, list[Sample]] = {}
        for s in late:
            start = s.ts_ms - s.ts_ms % span_ms
            if start >= (now_s - tier.retention + 600) * 1000:
                groups.setdefault((s.device, s.kind, start), []).append(s)
        for (device, kind_name, start), group in groups.items():
            kind = catalog.kind(kind_name)
            group.sort(key=lambda s: s.ts_ms)
            tags = (("device", device), ("kind", kind_name))
            for f in kind.fields:
                values = [kind.field(f.name).coerce(s.fields[f.name]) for s in group
                          if s.fields.get(f.name) is not None]
                if not values:
                    continue
                if f.aggregation is catalog.Aggregation.GAUGE:
                    results = {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}
                elif f.aggregation is catalog.Aggregation.STATE:
                    results = {"last": values[-1]}
                else:
                    acc = 0
                    for v in values:
                        acc |= v
                    results = {"bit_or": acc}
                for method, value in results.items():
                    out.setdefault((tier.bucket, method, tags, start * 1_000_000), {})[f.name] = value
    return out


def assert_same_tiers(got: dict[tuple, dict[str, Any]], exp: dict[tuple, dict[str, Any]]) -> None:
    """Same tier points, same fields and types; floats equal to the last few bits (Python 3.12+
    ``sum`` compensates rounding, a running total does not; InfluxDB's own mean differs again)."""
    assert got.keys() == exp.keys(), (sorted(exp.keys() - got.keys())[:3], sorted(got.keys() - exp.keys())[:3])
    for key, fields in exp.items():
        assert got[key].keys() == fields.keys(), key
        for name, value in fields.items():
            assert type(got[key][name]) is type(value), (key, name)
            if isinstance(value, float):
                assert math.isclose(got[key][name], value, rel_tol=1e-12, abs_tol=1e-12), (key, name)
            else:
                assert got[key][name] == value, (key, name)
