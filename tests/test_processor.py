"""The processor with the collector and simulators (no broker): load rules, clock hold, health."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from simrig import ListSink, build, rig_config
from solarmon import config
from solarmon.clock import ClockCheck
from solarmon.processor import Processor


def cfg_for(tmp_path: Path, **sections: Any) -> config.Config:
    cfg = rig_config(tmp_path)
    return cfg.model_copy(update={
        "collector": cfg.collector.model_copy(update={"state_dir": str(tmp_path / "state")}),
        "clock": config.Clock(trust="always"),
        "energy": config.Energy(history_days=0),
        **sections,
    })


async def run_for(cfg: config.Config, seconds: float, *, clock: ClockCheck | None = None,
                  during: Any = None) -> tuple[ListSink, Processor, dict[str, Any]]:
    sink = ListSink()
    proc = Processor(cfg, sink, clock=clock)
    coll, sims, _ = build(cfg, proc)
    proc.attach(coll)
    task = asyncio.ensure_future(asyncio.gather(coll.run(), proc.run()))
    try:
        if during is not None:
            await during(sims, sink, proc)
        await asyncio.sleep(seconds)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return sink, proc, sims


async def test_load_rule_switches_off_on_low_soc_once_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rule = config.LoadRule(device="mppt", off_below_soc=30, on_above_soc=50, min_dwell=30)
    cfg = cfg_for(tmp_path, load_rules=[rule])

    async def low(sims: dict[str, Any], _sink: ListSink, _p: Processor) -> None:
        await asyncio.sleep(1.0)
        assert sims["mppt"].load_on
        for b in ("battery1", "battery2"):
            sims[b].soc = 20.0

    _sink, _proc, sims = await run_for(cfg, 2.5, during=low)
    assert sims["mppt"].load_on is False
    switches = [r for r in caplog.records if "load output switched" in r.getMessage() and "load rule" in r.getMessage()]
    assert len(switches) == 1 and "SOC 20% < 30%" in switches[0].getMessage()


async def test_untrusted_clock_holds_samples_then_releases_them_restamped(tmp_path: Path) -> None:
    synced = [False]
    clock = ClockCheck("auto", kernel=lambda: synced[0], flag=tmp_path / "no", rtc=tmp_path / "no")
    cfg = cfg_for(tmp_path)

    async def later(_sims: dict[str, Any], sink: ListSink, proc: Processor) -> None:
        await asyncio.sleep(1.6)
        assert not [s for s in sink.samples if s.kind in ("jbd-bms", "litime-mppt", "bank")]
        status = [s for s in sink.samples if s.kind == "collector"]
        assert status and status[-1].fields["clock_synced"] is False and status[-1].fields["held_samples"] > 0
        synced[0] = True

    sink, proc, _ = await run_for(cfg, 1.5, clock=clock, during=later)
    device = [s for s in sink.samples if s.kind == "jbd-bms"]
    assert len(device) >= 6 and proc.hold.restamped >= 6
    ts = [s.ts_ms for s in sink.of("battery1") if s.kind == "jbd-bms"]
    assert ts == sorted(ts)  # held ones first, in order, then live ones
    gaps = [(b - a) / 1000 for a, b in zip(ts, ts[1:], strict=False)]
    assert all(0.3 < g < 0.8 for g in gaps), gaps  # the 0.5 s cadence survived restamping


async def test_health_is_published_also_while_a_device_is_silent(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)

    async def silence(sims: dict[str, Any], _s: ListSink, _p: Processor) -> None:
        await asyncio.sleep(1.2)
        sims["mppt"].faults.silent = True

    sink, _proc, _ = await run_for(cfg, 2.5, during=silence)
    health = [s.fields for s in sink.of("mppt") if s.kind == "link-health"]
    assert health[-1]["online"] is False and health[-1]["last_ok_age"] > 1.0
    assert health[-1]["poll_success_rate"] < 100 and health[-1]["failures"] >= 2
    ok = [s.fields for s in sink.of("battery2") if s.kind == "link-health"][-1]
    assert ok["online"] is True and ok["poll_success_rate"] == 100.0 and ok["adapter_resets"] == 0


async def test_energy_state_is_saved_on_stop(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    _sink, proc, _ = await run_for(cfg, 2.0)
    saved = (tmp_path / "state" / "energy.json").read_text()
    assert proc.energy.day in saved and "bank" in saved


def test_midnight_publishes_the_finished_day_and_restarts_the_counters(tmp_path: Path) -> None:
    import datetime as dt

    from solarmon.energy import day_end
    from solarmon.payload import Sample

    cfg = cfg_for(tmp_path)
    t = [dt.datetime(2026, 6, 1, 23, 58).timestamp()]
    sink = ListSink()
    proc = Processor(cfg, sink, wall=lambda: t[0])
    pack = {"remaining_capacity": 150.0, "nominal_capacity": 300.0, "current": -7.6, "pack_voltage": 13.2,
            "power": -100.0, "charge_fet": True, "discharge_fet": True}
    end = dt.datetime(2026, 6, 2, 0, 1).timestamp()
    while t[0] <= end:
        for b in ("battery1", "battery2"):
            proc.publish(Sample(int(t[0] * 1000), b, "jbd-bms", dict(pack)))
        proc.tick()
        t[0] += 30
    energy = [s for s in sink.samples if s.kind == "energy"]
    finished = [s for s in energy if s.ts_ms == int(day_end("2026-06-01") * 1000)]
    assert len(finished) == 1
    assert finished[0].fields["battery_discharge_energy"] == pytest.approx(200 * 120 / 3600, abs=0.1)
    today = [s for s in energy if s.ts_ms > finished[0].ts_ms]
    assert today and today[-1].fields["battery_discharge_energy"] == pytest.approx(200 * 60 / 3600, abs=0.1)
    proc.stop()


def test_restored_alerts_keep_only_those_the_config_can_still_clear(tmp_path: Path) -> None:
    import json

    cfg = cfg_for(tmp_path, alerts=config.Alerts(rules=[
        config.AlertRule(name="low-soc", field="soc", device="bank", below=20)]))
    state = tmp_path / "state"
    state.mkdir()
    def alert(rule: str, device: str) -> dict[str, object]:
        return {"rule": rule, "device": device, "since": 1.0, "value": 1.0, "text": f"{device}: {rule}"}
    (state / "alerts.json").write_text(json.dumps([
        alert("low-soc", "bank"), alert("gone-rule", "bank"), alert("silent", "mppt"), alert("silent", "old-device"),
        {"damaged": True}]))
    proc = Processor(cfg, ListSink())
    assert proc.alerts is not None
    assert sorted(proc.alerts.active) == ["low-soc/bank", "silent/mppt"]
