"""Collector behaviour with real drivers and simulators: cadence, isolation, recovery."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from simrig import PASSWORD, ListSink, build, rig_config
from solarmon import collector as collector_mod
from solarmon.collector import next_slot


async def _run_for(coll: collector_mod.Collector, seconds: float) -> None:
    task = asyncio.ensure_future(coll.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_next_slot_skips_missed_slots() -> None:
    assert next_slot(100.0, 27.0, 100.0) == 127.0
    assert next_slot(100.0, 27.0, 126.9) == 127.0
    assert next_slot(100.0, 27.0, 200.0) == 208.0  # 127 and 154 and 181 were missed: no burst
    assert next_slot(100.0, 27.0, 99.0) == 127.0


async def test_fixed_rate_without_drift(tmp_path: Path) -> None:
    sink = ListSink()
    coll, sims, _ = build(rig_config(tmp_path, interval=0.5), sink)
    sims["mppt"].faults.delay = 0.15  # a slow device must not stretch its own period
    await _run_for(coll, 3.3)
    for dev in ("mppt", "battery1", "battery2"):
        ts = [s.ts_ms for s in sink.of(dev)]
        assert len(ts) >= 5, f"{dev}: only {len(ts)} samples"
        gaps = [(b - a) / 1000 for a, b in zip(ts, ts[1:], strict=False)]
        assert all(abs(g - 0.5) < 0.12 for g in gaps), f"{dev}: gaps {gaps}"
    # The sample time is when the reply completed: one injected delay after the slot.
    assert min(r.health.poll_seconds[-1] for r in coll.runners if r.cfg.id == "mppt") >= 0.15


async def test_silent_device_goes_offline_without_stalling_others(tmp_path: Path) -> None:
    sink = ListSink()
    coll, sims, _ = build(rig_config(tmp_path), sink)
    await _run_for(coll, 1.2)
    before = len(sink.of("battery2"))
    sims["mppt"].faults.silent = True
    await _run_for(coll, 3.0)
    assert ("mppt", False) in sink.availability
    assert len(sink.of("battery2")) - before >= 5  # kept its cadence meanwhile
    assert all(s.device != "mppt" for s in sink.samples[-3:])


async def test_wrong_password_is_reported_once_and_others_flow(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector_mod, "AUTH_RETRY", 0.3)
    sink = ListSink()
    coll, sims, _ = build(rig_config(tmp_path), sink)
    sims["battery1"].password = "000000"  # the configured one is now wrong
    await _run_for(coll, 4.0)
    assert not sink.of("battery1") and len(sink.of("mppt")) >= 5
    warnings = [r for r in caplog.records if "rejected the BLE password" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    assert PASSWORD not in caplog.text


async def test_dropped_link_reconnects(tmp_path: Path) -> None:
    sink = ListSink()
    coll, sims, _ = build(rig_config(tmp_path), sink)
    task = asyncio.ensure_future(coll.run())
    await asyncio.sleep(1.0)
    sims["battery2"].faults.drop_link = True  # the next request drops the link
    await asyncio.sleep(0.6)
    sims["battery2"].faults.drop_link = False
    n = len(sink.of("battery2"))
    await asyncio.sleep(4.5)  # reconnect backoff (2 s) + polls
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    runner = next(r for r in coll.runners if r.cfg.id == "battery2")
    assert runner.health.reconnects >= 1
    assert len(sink.of("battery2")) >= n + 3
    assert runner.health.last_error is not None and "password" not in runner.health.last_error


async def test_hung_adapter_is_power_cycled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector_mod, "BACKOFF_START", 0.2)
    sink = ListSink()
    coll, _sims, air = build(rig_config(tmp_path, adapter_reset_after=3), sink)
    task = asyncio.ensure_future(coll.run())
    await asyncio.sleep(1.0)
    air.wedged = True  # every link goes quiet, like bluez#947
    await asyncio.sleep(3.0)
    assert air.power_cycles == 1 and coll.adapter_resets == 1
    n = len(sink.samples)
    await asyncio.sleep(2.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert {s.device for s in sink.samples[n:]} == {"mppt", "battery1", "battery2"}
