"""Recovery escalates: reconnect -> adapter power-cycle -> bluetoothd restart, each step timed in the log."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from simrig import ListSink, build, rig_config
from solarmon import collector as collector_mod
from solarmon.collector import Collector
from solarmon.link import SimAir


class StubbornAir(SimAir):
    """A radio whose hang survives a power-cycle; only restarting the stack clears it."""

    def __init__(self) -> None:
        super().__init__()
        self.restarts = 0

    @classmethod
    def wired_to(cls, coll: Collector) -> StubbornAir:
        """A new stubborn radio carrying every device link of ``coll``, and its adapter."""
        air = cls()
        for r in coll.runners:
            r.device.link.air = air  # type: ignore[attr-defined]
            air.links.append(r.device.link)  # type: ignore[arg-type]
        coll.adapter = air
        return air

    async def power_cycle(self) -> None:
        self.power_cycles += 1
        for link in self.links:
            link.drop()
        await asyncio.sleep(0)

    async def restart_stack(self) -> None:
        self.restarts += 1
        self.wedged = False
        for link in self.links:
            link.drop()
        await asyncio.sleep(0.05)


async def test_bluetoothd_restart_after_an_unhelpful_power_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(collector_mod, "BACKOFF_START", 0.2)
    monkeypatch.setattr(collector_mod, "ADAPTER_COOLDOWN", 1.0)
    sink = ListSink()
    cfg = rig_config(tmp_path, adapter_reset_after=3, restart_bluetoothd=True)
    coll, _sims, _ = build(cfg, sink)
    air = StubbornAir.wired_to(coll)
    task = asyncio.ensure_future(coll.run())
    await asyncio.sleep(1.0)
    air.wedged = True
    for _ in range(100):
        await asyncio.sleep(0.1)
        if air.restarts:
            break
    n = len(sink.samples)
    await asyncio.sleep(4.0)  # reconnect backoff grew while the radio hung
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert air.power_cycles == 1 and air.restarts == 1  # power-cycle first, then the daemon
    assert coll.adapter_resets == 1 and coll.stack_restarts == 1
    assert {s.device for s in sink.samples[n:]} == {"mppt", "battery1", "battery2"}
    text = caplog.text
    assert "adapter power-cycled in" in text and "bluetoothd restarted in" in text
    assert text.index("adapter power-cycled in") < text.index("bluetoothd restarted in")


async def test_no_restart_unless_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector_mod, "BACKOFF_START", 0.2)
    monkeypatch.setattr(collector_mod, "ADAPTER_COOLDOWN", 1.0)
    cfg = rig_config(tmp_path, adapter_reset_after=3)
    coll, _sims, _ = build(cfg, ListSink())
    air = StubbornAir.wired_to(coll)
    task = asyncio.ensure_future(coll.run())
    await asyncio.sleep(0.8)
    air.wedged = True
    await asyncio.sleep(4.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert air.restarts == 0 and air.power_cycles >= 2
