"""The collector's one hook for derived data: bank, alerts, energy, load rules, clock, health.

The processor is the collector's ``Sink``: it sees every sample, derives samples of the
catalog's derived kinds (``bank``, ``energy``, ``alerts``, ``link-health``, ``collector``),
applies the load rules, holds samples while the clock is untrusted, and passes everything
on to the real sink (MQTT). The rule engines it drives are pure modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
from pathlib import Path
import time
from typing import TYPE_CHECKING, Any, Final

from . import appwindow
from .alerts import SILENT, Alert, AlertEngine, Event
from .bank import BankTracker
from .clock import ClockCheck, SampleHold
from .collector import Sink
from .config import Config
from .energy import EnergyCounters, day_end, local_day
from .errors import ConfigError, SolarmonError
from .loadrules import LoadController
from .payload import FieldValue, Sample
from .push import PushQueue

if TYPE_CHECKING:
    from .collector import Collector, DeviceRunner

_LOGGER = logging.getLogger(__name__)

TICK: Final = 1.0  # s between housekeeping passes (clock, silence, periodic samples)
SUMMARY_EVERY: Final = 60.0  # s: alerts/energy/collector samples, so 'latest' queries find them
SAVE_EVERY: Final = 300.0  # s between energy state writes (SD-card wear vs. loss at power cut)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a power cut leaves the old file or the new one


async def _until(condition: Any) -> None:
    """Return once ``condition()`` is true (checked every TICK: these waits are rare and long)."""
    while True:
        if condition():
            return
        await asyncio.sleep(TICK)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        _LOGGER.warning("%s is damaged (%s); starting afresh", path, err)
        return None


class Processor(Sink):
    """Wraps the real sink; see the module docstring."""

    def __init__(self, cfg: Config, sink: Sink, *, clock: ClockCheck | None = None,
                 wall: Any = time.time) -> None:
        self.cfg = cfg
        self.sink = sink
        self.wall = wall
        self.state_dir = Path(cfg.collector.state_dir)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(str(self.state_dir), [f"collector.state_dir cannot be created: {err.strerror}"]) from None
        self.collector: Collector | None = None
        self.kinds = {d.id: d.kind for d in cfg.devices}
        packs = cfg.bank.packs if cfg.bank.packs is not None else [i for i, k in self.kinds.items() if k == "jbd-bms"]
        self.bank = BankTracker(packs, cfg.bank.stale_after) if packs else None
        self.bank_soc: float | None = None
        now = wall()
        self.alerts: AlertEngine | None = None
        if cfg.alerts.enabled:
            saved = _read_json(self.state_dir / "alerts.json") or []
            rules = {r.name for r in cfg.alerts.rules}
            active = []
            for obj in saved:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    alert = Alert.from_json(obj)
                    # An alert whose rule or device left the config could never clear: drop it.
                    if alert.rule in rules or (alert.rule == SILENT and alert.device in self.kinds):
                        active.append(alert)
            self.alerts = AlertEngine(cfg.alerts.rules, cfg.alerts.silent_after, self.kinds, active, now)
        self.push = PushQueue(cfg.alerts.push, self.state_dir) if cfg.alerts.push else None
        self.energy = self._load_energy()
        self._resumed_day = self.energy.day
        self._energy_day = self.energy.day  # the day whose totals the last energy sample carried
        self.hold = SampleHold(clock or ClockCheck(cfg.clock.trust, wall=wall), cfg.clock.hold_max)
        self.loads = {r.device: LoadController(r) for r in cfg.load_rules}
        self._switching: set[str] = set()
        self._voltage: dict[str, float] = {}  # controller -> newest battery voltage
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[str, float] = {}
        self._energy_changed = False
        self.filled_days: list[str] = []

    def attach(self, collector: Collector) -> None:
        """The collector whose runners give health, drivers and the release switch."""
        self.collector = collector

    # --- Sink ------------------------------------------------------------------------

    def publish(self, sample: Sample) -> None:
        """A device sample: derive, evaluate, apply rules, then store (or hold)."""
        now = self.wall()
        out = [sample]
        if self.bank is not None and (b := self.bank.observe(sample, now)) is not None:
            out.append(b)
            soc = b.fields.get("soc")
            self.bank_soc = soc if isinstance(soc, float) else None
        if self.alerts is not None:
            events = [e for s in out for e in self.alerts.observe(s, now)]
            self._alert_events(events)
        self._load_rules(sample, now)
        for s in out:
            self._emit(s)

    def set_availability(self, device: str, online: bool) -> None:
        """Passed through unchanged."""
        self.sink.set_availability(device, online)

    # --- storing -----------------------------------------------------------------------

    def _emit(self, sample: Sample) -> None:
        admitted = self.hold.admit(sample)
        if admitted is not None:
            self._store(admitted)

    def _store(self, sample: Sample) -> None:
        if self.energy.observe(sample, sample.ts_ms / 1000):
            self._energy_changed = True
        self.sink.publish(sample)

    def _derived(self, device: str, kind: str, fields: dict[str, FieldValue], now: float) -> Sample:
        return Sample(int(now * 1000), device, kind, fields)

    # --- alerts ------------------------------------------------------------------------

    def _alert_events(self, events: list[Event]) -> None:
        if not events or self.alerts is None:
            return
        active = self._active_json()
        _write_json(self.state_dir / "alerts.json", active)
        self.sink.publish_alerts(active)
        for e in events:
            if self.push is not None:
                self.push.put(e)
        self._emit(self._alerts_sample(self.wall()))
        self._last["alerts"] = self.wall()

    def _active_json(self) -> list[dict[str, object]]:
        assert self.alerts is not None
        return [a.to_json() for a in sorted(self.alerts.active.values(), key=lambda a: a.since)]

    def _alerts_sample(self, now: float) -> Sample:
        assert self.alerts is not None
        return self._derived("alerts", "alerts", {"active": len(self.alerts.active), "summary": self.alerts.summary()},
                             now)

    # --- load rules -------------------------------------------------------------------

    def _load_rules(self, sample: Sample, now: float) -> None:
        if not self.loads or self.collector is None:
            return
        for device, ctl in self.loads.items():
            if sample.device == device and isinstance(sample.fields.get("load_on"), bool):
                ctl.load_on = bool(sample.fields["load_on"])
            if device in self._switching:
                continue
            if ctl.rule.on_from is not None and not self.hold.trusted:
                continue  # a schedule read off an unset clock would switch at random hours
            runner = self._runner(device)
            if runner is None or runner.released or not runner.device.link.is_connected:
                continue
            if sample.device == device and isinstance(v := sample.fields.get("battery_voltage"), float):
                self._voltage[device] = v
            decision = ctl.want(now, self.bank_soc, self._voltage.get(device))
            if decision is not None and decision.on is not None:
                self._switching.add(device)
                self._spawn(self._switch(runner, ctl, decision.on, decision.reason))

    async def _switch(self, runner: DeviceRunner, ctl: LoadController, on: bool, reason: str) -> None:
        device = runner.cfg.id
        try:
            set_load = getattr(runner.device, "set_load", None)
            if set_load is None:
                raise SolarmonError(f"{device} has no load output")
            await set_load(on)
            ctl.switched(self.wall(), on)
            _LOGGER.warning("load rule: %s load output switched %s (%s)", device, "on" if on else "off", reason)
        except (SolarmonError, TimeoutError) as err:
            _LOGGER.warning("load rule: switching %s %s failed: %s", device, "on" if on else "off", err)
        finally:
            self._switching.discard(device)

    # --- release (phone-app window) ------------------------------------------------------

    def _runner(self, device: str) -> DeviceRunner | None:
        if self.collector is None:
            return None
        return next((r for r in self.collector.runners if r.cfg.id == device), None)

    def release(self, device: str, minutes: float) -> list[str]:
        """Release ``device`` (or ``appwindow.ALL``) for ``minutes``; 0 takes it back. Loop thread only."""
        if self.collector is None:
            raise appwindow.BadCommand("the collector is not running")
        names = appwindow.targets(device, [r.cfg.id for r in self.collector.runners])
        for name in names:
            runner = self._runner(name)
            assert runner is not None
            runner.release(minutes * 60)
            self._last.pop(f"health/{name}", None)  # show "released" at the next tick, not an interval later
            if self.alerts is not None:
                self.alerts.touch(name, self.wall())
        _LOGGER.warning("phone-app window: %s %s", ", ".join(names),
                        f"released for {minutes:g} min" if minutes else "taken back")
        return names

    def command(self, loop: asyncio.AbstractEventLoop, topic_device: str, payload: bytes) -> None:
        """An MQTT release command, from paho's thread: parse there, act on the loop."""
        try:
            minutes = appwindow.parse_minutes(payload, self.cfg.app_window.max_minutes)
        except appwindow.BadCommand as err:
            _LOGGER.warning("ignored release command for %s: %s", topic_device, err)
            return

        def act() -> None:
            try:
                self.release(topic_device, minutes)
            except appwindow.BadCommand as err:
                _LOGGER.warning("ignored release command: %s", err)

        loop.call_soon_threadsafe(act)

    # --- periodic ----------------------------------------------------------------------

    async def run(self) -> None:
        """Housekeeping until cancelled: clock, silence, health and summary samples, saving."""
        if self.push is not None:
            self.push.start()
        server = None
        if self.cfg.app_window.http_port is not None:
            server = await appwindow.serve_http(self.cfg.app_window.http_port, self.release,
                                                self.cfg.app_window.max_minutes, self.cfg.app_window.default_minutes)
        if self.cfg.energy.history_days:
            self._spawn(self.fill_history())
        if self.alerts is not None:
            # The retained list may be older than our state (a broker that lost it, a new config).
            self.sink.publish_alerts(self._active_json())
        try:
            while True:
                self.tick()
                await asyncio.sleep(TICK)
        finally:
            for task in list(self._tasks):
                task.cancel()
            if server is not None:
                server.close()
            self.stop()

    def stop(self) -> None:
        """Save the counters and stop the push sender (also on cancellation)."""
        self.save_energy()
        if self.push is not None:
            self.push.stop()

    def _due(self, what: str, every: float, now: float) -> bool:
        if now - self._last.get(what, -float("inf")) < every:
            return False
        self._last[what] = now
        return True

    def tick(self) -> None:
        """One housekeeping pass."""
        now = self.wall()
        for s in self.hold.refresh():
            self._store(s)
        if self.alerts is not None:
            if self.collector is not None:
                for r in self.collector.runners:
                    if r.released:
                        self.alerts.touch(r.cfg.id, now)  # a released device is not silent
            self._alert_events(self.alerts.tick(now))
            if self._due("alerts", SUMMARY_EVERY, now):
                self._emit(self._alerts_sample(now))
        if self.collector is not None:
            for r in self.collector.runners:
                if self._due(f"health/{r.cfg.id}", r.interval, now):
                    self._emit(self._derived(r.cfg.id, "link-health", self.health_fields(r, now), now))
        self.energy.roll(now)
        if self.hold.trusted and self._energy_day != self.energy.day:
            # A new day: the finished day's final totals, stamped at its last second.
            done = self.energy.days.get(self._energy_day)
            if done is not None:
                self._emit(Sample(int(day_end(self._energy_day) * 1000), "energy", "energy", dict(done)))
            self._energy_day = self.energy.day
            self._energy_changed = True
            self._last.pop("energy", None)
        if self._energy_changed and self.hold.trusted and self._due("energy", SUMMARY_EVERY, now):
            self._energy_changed = False
            self._emit(self._derived("energy", "energy", self.energy.fields(), now))
        if self._due("collector", SUMMARY_EVERY, now):
            # The one sample sent while the clock is untrusted: it carries the kiosk's clock
            # badge, and the kiosk's browser shares this clock, so it is shown as 'now'.
            self.sink.publish(self._derived("collector", "collector", {
                "clock_synced": self.hold.trusted, "held_samples": len(self.hold.held),
                "dropped_samples": self.hold.dropped}, now))
        if self._due("save", SAVE_EVERY, now):
            self.save_energy()

    def health_fields(self, runner: DeviceRunner, now: float) -> dict[str, FieldValue]:
        """The ``link-health`` fields of one device."""
        h = runner.health
        rssi = runner.device.link.rssi
        rate = h.success_rate
        return {
            "online": h.last_ok is not None and not runner.failing and not runner.released,
            "released": runner.released,
            "rssi": float(rssi) if rssi is not None else None,
            "poll_success_rate": round(rate, 1) if rate is not None else None,
            "last_ok_age": round(now - h.last_ok, 1) if h.last_ok is not None else None,
            "polls": h.polls,
            "failures": h.failures,
            "reconnects": h.reconnects,
            "adapter_resets": runner.c.adapter_resets,
        }

    # --- energy ----------------------------------------------------------------------------

    def _load_energy(self) -> EnergyCounters:
        saved = _read_json(self.state_dir / "energy.json")
        if saved is not None:
            try:
                return EnergyCounters.from_json(saved, self.cfg.energy.max_gap)
            except (KeyError, TypeError, ValueError) as err:
                _LOGGER.warning("energy state unreadable (%s); counting from zero", err)
        return EnergyCounters(self.cfg.energy.max_gap)

    def save_energy(self) -> None:
        """Write the counters to the state directory."""
        _write_json(self.state_dir / "energy.json", self.energy.to_json())

    async def fill_history(self) -> None:
        """Read the LiTime controllers' stored days the appliance missed and publish them.

        Waits until the clock is trusted (the days are placed by the calendar) and each
        controller has answered a poll.
        """
        await _until(lambda: self.hold.trusted and self.collector is not None)
        assert self.collector is not None
        self.energy.roll(self.wall())
        today = dt.date.fromisoformat(local_day(self.wall()))
        wanted = [(today - dt.timedelta(days=n)).isoformat() for n in range(1, self.cfg.energy.history_days + 1)]
        # Missing days, and the day the last run ended on (it may have stopped part-way).
        missing = [d for d in wanted if d not in self.energy.days or d == self._resumed_day]
        if not missing:
            return
        totals: dict[str, dict[str, float]] = {}
        for runner in [r for r in self.collector.runners if r.cfg.kind == "litime-mppt"]:
            history = getattr(runner.device, "history", None)
            if history is None:
                continue
            await _until(lambda r=runner: r.health.polls > 0 and not r.released)  # type: ignore[misc]
            for day in missing:
                index = (today - dt.date.fromisoformat(day)).days
                try:
                    rec = await history(index)
                except (SolarmonError, TimeoutError) as err:
                    _LOGGER.info("%s: history of %s not read: %s", runner.cfg.id, day, err)
                    continue
                t = totals.setdefault(day, {"pv_energy": 0.0, "load_energy": 0.0})
                t["pv_energy"] += rec["generated_energy"]
                t["load_energy"] += rec["load_energy"]
                self._store(Sample(int(day_end(day) * 1000), runner.cfg.id, "litime-mppt", {
                    "today_generated_energy": rec["generated_energy"],
                    "today_load_energy": rec["load_energy"],
                    "today_max_charge_power": rec["max_charge_power"],
                }))
        for day, values in sorted(totals.items()):
            if self.energy.fill_day(day, values):
                self.filled_days.append(day)
                self._store(Sample(int(day_end(day) * 1000), "energy", "energy", dict(values)))
        if self.filled_days:
            _LOGGER.info("filled %d missed day(s) from the controller history: %s", len(self.filled_days),
                         ", ".join(self.filled_days))
            self.save_energy()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # keep a reference until done (RUF006)
        task.add_done_callback(self._tasks.discard)
