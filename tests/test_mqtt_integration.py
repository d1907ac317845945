"""Collector + simulators -> a real mosquitto -> a subscriber: exact messages, availability, recovery."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from simrig import ListSink, build, rig_config
from solarmon import collector as collector_mod
from solarmon import payload
from solarmon.publisher import Publisher

pytestmark = pytest.mark.mosquitto


class Tee(Publisher):
    """The real publisher, also remembering what it was asked to publish."""

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.sent = ListSink()

    def publish(self, sample: payload.Sample) -> None:
        self.sent.publish(sample)
        super().publish(sample)


class Subscriber:
    """A persistent-session subscriber recording (topic, payload, retained) in arrival order."""

    def __init__(self, broker, client_id: str = "test-sub", topic: str = "solarmon/#") -> None:  # noqa: ANN001
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        c.on_connect = lambda cl, *_: cl.subscribe(topic, qos=1)
        c.on_subscribe = lambda *_: self.ready.set()
        c.on_message = self._on_message
        c.reconnect_delay_set(0.2, 1)
        c.connect(broker.host, broker.port)
        c.loop_start()
        assert self.ready.wait(5)
        self.client = c

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def states(self, device: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _ in self.messages if t == f"solarmon/{device}/state"]

    def last(self, topic: str) -> bytes | None:
        with self.lock:
            found = [p for t, p, _ in self.messages if t == topic]
        return found[-1] if found else None

    def wait_for(self, cond, timeout: float = 10.0) -> bool:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(0.05)
        return cond()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _cfg(tmp_path: Path, broker) -> object:  # noqa: ANN001
    cfg = rig_config(tmp_path)
    return cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"host": broker.host, "port": broker.port})})


async def _run(coll, seconds: float) -> None:  # noqa: ANN001
    task = asyncio.ensure_future(coll.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_exact_messages_in_order(tmp_path: Path, mosquitto) -> None:  # noqa: ANN001
    sub = Subscriber(mosquitto)
    cfg = _cfg(tmp_path, mosquitto)
    pub = Tee(cfg, client_id="test-collector")
    pub.start()
    coll, _sims, _ = build(cfg, pub)
    await _run(coll, 2.6)
    await asyncio.to_thread(sub.wait_for, lambda: sum(len(sub.states(d)) for d in ("mppt", "battery1", "battery2"))
                            >= len(pub.sent.samples))
    pub.stop()
    for dev in ("mppt", "battery1", "battery2"):
        sent = [payload.encode(s) for s in pub.sent.of(dev)]
        assert len(sent) >= 4
        assert sub.states(dev) == sent  # byte for byte, in order, nothing lost or added
        decoded = payload.decode(sub.states(dev)[0], dev)  # and the bridge's validator accepts them
        assert decoded.device == dev
    assert sub.last("solarmon/collector/availability") == b"offline"  # clean stop
    assert sub.last("solarmon/mppt/availability") == b"offline"
    sub.close()


async def test_availability_follows_a_device_that_dies_and_returns(
    tmp_path: Path, mosquitto, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    monkeypatch.setattr(collector_mod, "BACKOFF_START", 0.2)  # reconnect attempts within the test's wait
    sub = Subscriber(mosquitto)
    cfg = _cfg(tmp_path, mosquitto)
    pub = Publisher(cfg, client_id="test-collector")
    pub.start()
    coll, sims, _ = build(cfg, pub)
    task = asyncio.ensure_future(coll.run())
    await asyncio.sleep(1.0)
    assert sub.last("solarmon/battery2/availability") == b"online"
    sims["battery2"].faults.unreachable = True
    sims["battery2"].faults.silent = True
    assert await asyncio.to_thread(sub.wait_for, lambda: sub.last("solarmon/battery2/availability") == b"offline")
    # retained: a client arriving now learns it too
    late = Subscriber(mosquitto, "late", "solarmon/battery2/availability")
    assert late.wait_for(lambda: late.last("solarmon/battery2/availability") == b"offline", 3)
    late.close()
    n_mppt = len(sub.states("mppt"))
    sims["battery2"].faults.unreachable = sims["battery2"].faults.silent = False
    assert await asyncio.to_thread(sub.wait_for, lambda: sub.last("solarmon/battery2/availability") == b"online", 8)
    # the others never stopped
    assert await asyncio.to_thread(sub.wait_for, lambda: len(sub.states("mppt")) > n_mppt, 3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    pub.stop()
    sub.close()


def test_killed_collector_is_marked_offline_by_its_last_will(mosquitto) -> None:  # noqa: ANN001
    sub = Subscriber(mosquitto)
    proc = subprocess.Popen(
        [sys.executable, "-m", "solarmon", "demo", "--mqtt", f"{mosquitto.host}:{mosquitto.port}", "--seconds", "60",
         "--interval", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert sub.wait_for(lambda: sub.last("solarmon/collector/availability") == b"online", 20)
        assert sub.wait_for(lambda: len(sub.states("mppt")) >= 1, 20)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert sub.wait_for(lambda: sub.last("solarmon/collector/availability") == b"offline", 10)
    finally:
        proc.kill()
        sub.close()


async def test_nothing_lost_across_a_broker_restart(tmp_path: Path, mosquitto) -> None:  # noqa: ANN001
    sub = Subscriber(mosquitto)
    cfg = _cfg(tmp_path, mosquitto)
    pub = Tee(cfg, client_id="test-collector")
    pub.start()
    coll, _sims, _ = build(cfg, pub)
    task = asyncio.ensure_future(coll.run())
    await asyncio.sleep(1.2)
    await asyncio.to_thread(mosquitto.stop)
    await asyncio.sleep(2.0)  # samples keep coming while the broker is away
    during = len(pub.sent.samples)
    await asyncio.to_thread(mosquitto.start)
    await asyncio.sleep(3.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    sent = {payload.encode(s) for s in pub.sent.samples}
    assert during > 6
    got_all = await asyncio.to_thread(
        sub.wait_for, lambda: sent <= {p for d in ("mppt", "battery1", "battery2") for p in sub.states(d)}, 15
    )
    received = {p for d in ("mppt", "battery1", "battery2") for p in sub.states(d)}
    assert got_all, f"{len(sent - received)} of {len(sent)} samples lost"
    pub.stop()
    sub.close()
