"""Collector + processor + simulators + a real mosquitto: alerts, phone-app window, history fill."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass
import json
from pathlib import Path
import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from simrig import build, rig_config
from solarmon import config
from solarmon.collector import Collector
from solarmon.energy import day_end, local_day
from solarmon.link import SimLink
from solarmon.processor import Processor
from solarmon.publisher import Publisher
from solarmon.sim import SimDevice

pytestmark = pytest.mark.mosquitto


class Recorder:
    """A plain MQTT subscriber recording (topic, payload, retained) in arrival order."""

    def __init__(self, host: str, port: int, topic: str = "solarmon/#") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        ready = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="feature-test-sub")
        c.on_connect = lambda cl, *_: cl.subscribe(topic, qos=1)
        c.on_subscribe = lambda *_: ready.set()
        c.on_message = self._on_message
        c.connect(host, port)
        c.loop_start()
        assert ready.wait(5)
        self.client = c

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def payloads(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def states(self, device: str, kind: str | None = None) -> list[dict[str, Any]]:
        out = [json.loads(p) for p in self.payloads(f"solarmon/{device}/state")]
        return [m for m in out if kind is None or m["kind"] == kind]

    def send(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def until(cond: Callable[[], bool], timeout: float) -> bool:
    """Poll ``cond`` without blocking the loop the collector runs on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.05)
    return cond()


@dataclass
class Rig:
    cfg: config.Config
    processor: Processor
    collector: Collector
    sims: dict[str, SimDevice]
    sub: Recorder


def feature_config(tmp_path: Path, host: str, port: int, **sections: Any) -> config.Config:
    cfg = rig_config(tmp_path)
    return cfg.model_copy(update={
        "mqtt": config.Mqtt(host=host, port=port),
        "collector": cfg.collector.model_copy(update={"state_dir": str(tmp_path / "state")}),
        "clock": config.Clock(trust="always"),
        "energy": config.Energy(history_days=0),
        **sections,
    })


@contextlib.asynccontextmanager
async def running(cfg: config.Config, sub: Recorder, **sim_options: dict[str, Any]) -> AsyncIterator[Rig]:
    loop = asyncio.get_running_loop()
    publisher = Publisher(cfg, client_id="feature-test-collector")
    processor = Processor(cfg, publisher)
    collector, sims, _air = build(cfg, processor, **sim_options)
    processor.attach(collector)
    publisher.on_command = lambda device, payload: processor.command(loop, device, payload)
    publisher.start()
    assert await asyncio.to_thread(publisher.connected.wait, 5)
    task = asyncio.ensure_future(asyncio.gather(collector.run(), processor.run()))
    try:
        yield Rig(cfg, processor, collector, sims, sub)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        publisher.stop()


@pytest.fixture
def sub(mosquitto) -> Any:  # noqa: ANN001
    rec = Recorder(mosquitto.host, mosquitto.port)
    yield rec
    rec.close()


async def test_low_soc_raises_and_clears_exactly_once(tmp_path: Path, mosquitto, sub: Recorder) -> None:  # noqa: ANN001
    rule = config.AlertRule(name="low-soc", field="soc", device="bank", below=20, hysteresis=5, delay=0.6)
    nowhere = config.Push(url="http://127.0.0.1:9/solar", retry=60)  # no network path: pushes must queue
    cfg = feature_config(tmp_path, mosquitto.host, mosquitto.port, alerts=config.Alerts(rules=[rule], push=nowhere))
    async with running(cfg, sub) as rig:
        assert await until(lambda: len(sub.states("bank")) >= 2, 5)
        assert sub.payloads("solarmon/alerts") == [b"[]"]  # the start-up state: nothing active
        for b in ("battery1", "battery2"):
            rig.sims[b].soc = 12.0  # type: ignore[attr-defined]
        assert await until(lambda: len(sub.payloads("solarmon/alerts")) >= 2, 5)
        for b in ("battery1", "battery2"):
            rig.sims[b].soc = 22.0  # type: ignore[attr-defined]  # above 20 but inside the hysteresis
        await asyncio.sleep(1.5)
        assert len(sub.payloads("solarmon/alerts")) == 2
        for b in ("battery1", "battery2"):
            rig.sims[b].soc = 60.0  # type: ignore[attr-defined]
        assert await until(lambda: len(sub.payloads("solarmon/alerts")) >= 3, 5)
        await asyncio.sleep(1.5)  # nothing more may follow
    raised, cleared = (json.loads(p) for p in sub.payloads("solarmon/alerts")[1:])
    assert [(a["rule"], a["device"]) for a in raised] == [("low-soc", "bank")]
    assert 10 < raised[0]["value"] < 20
    assert cleared == []
    assert len(sub.payloads("solarmon/alerts")) == 3
    queued = [json.loads(line) for line in (tmp_path / "state" / "push-queue.jsonl").read_text().splitlines()]
    assert [(q["change"], q["rule"]) for q in queued] == [("raised", "low-soc"), ("cleared", "low-soc")]
    with sub.lock:
        retained = [r for t, _, r in sub.messages if t == "solarmon/alerts"]
    assert retained == [False, False, False]  # live deliveries; the broker keeps the last one retained
    summaries = [m["fields"]["summary"] for m in sub.states("alerts", "alerts")]
    assert any("low-soc" in s for s in summaries) and summaries[-1] == "OK"
    # the bank device itself is published like any device
    bank = sub.states("bank", "bank")[-1]["fields"]
    assert bank["packs_included"] == 2 and bank["soc"] > 50


async def test_app_window_releases_and_reacquires(tmp_path: Path, mosquitto, sub: Recorder) -> None:  # noqa: ANN001
    cfg = feature_config(tmp_path, mosquitto.host, mosquitto.port)
    async with running(cfg, sub) as rig:
        assert await until(lambda: len(sub.states("battery2", "jbd-bms")) >= 2, 5)
        link = next(r for r in rig.collector.runners if r.cfg.id == "battery2").device.link
        assert isinstance(link, SimLink)
        sub.send("solarmon/battery2/release", "0.04")  # 2.4 s
        assert await until(lambda: not link.is_connected, 3)
        n = len(sub.states("battery2", "jbd-bms"))
        others = len(sub.states("mppt", "litime-mppt"))
        await asyncio.sleep(1.8)
        assert len(sub.states("battery2", "jbd-bms")) == n  # nothing while the phone app has it
        assert len(sub.states("mppt", "litime-mppt")) >= others + 2  # the others carry on
        assert any(m["fields"]["released"] for m in sub.states("battery2", "link-health"))
        assert await until(lambda: len(sub.states("battery2", "jbd-bms")) >= n + 2, 5)  # back by itself
        assert link.is_connected
        runner = next(r for r in rig.collector.runners if r.cfg.id == "battery2")
        assert runner.health.reconnects == 0  # a release is not a failure
        # bad commands are refused and change nothing
        sub.send("solarmon/battery2/release", "forever")
        sub.send("solarmon/nosuch/release", "5")
        await asyncio.sleep(0.5)
        assert link.is_connected
    health = sub.states("battery2", "link-health")[-1]["fields"]
    assert health["online"] is True and health["released"] is False and health["poll_success_rate"] > 0


async def test_history_fills_missed_days_once(tmp_path: Path, mosquitto, sub: Recorder) -> None:  # noqa: ANN001
    cfg = feature_config(tmp_path, mosquitto.host, mosquitto.port, energy=config.Energy(history_days=3))
    async with running(cfg, sub) as rig:
        assert await until(lambda: len(rig.processor.filled_days) == 3, 8)
        sim = rig.sims["mppt"]
    filled = [m for m in sub.states("mppt", "litime-mppt") if "today_generated_energy" in m["fields"]
              and "battery_voltage" not in m["fields"]]
    by_day = {local_day(m["ts"] / 1000): m for m in filled}
    assert len(by_day) == 3
    for day, m in by_day.items():
        assert m["ts"] == int(day_end(day) * 1000)
        index = rig.processor.filled_days[::-1].index(day) + 1
        regs = sim.history_registers(index)  # type: ignore[attr-defined]
        assert m["fields"]["today_generated_energy"] == regs[0] and m["fields"]["today_load_energy"] == regs[1]
    energy = {local_day(m["ts"] / 1000): m["fields"] for m in sub.states("energy", "energy")}
    assert all(energy[d]["pv_energy"] == by_day[d]["fields"]["today_generated_energy"] for d in by_day)
    saved = json.loads((tmp_path / "state" / "energy.json").read_text())
    assert set(by_day) <= set(saved["days"])
    # A restart the same day asks again only for nothing: the days are known now.
    async with running(cfg, sub) as rig2:
        await asyncio.sleep(1.5)
        assert rig2.processor.filled_days == []
