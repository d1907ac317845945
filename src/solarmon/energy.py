"""Daily energy counters: trapezoid integration, controller counters, midnight rollover (pure).

Power samples are integrated with the trapezoid rule; two samples further apart than
``max_gap`` are not bridged (the energy of an outage is unknown, not a straight line). A
segment that crosses local midnight is split there. PV energy comes from the controllers'
own lifetime counters, which keep counting while the appliance is off. The whole state is a
JSON-able dict so that totals survive restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import datetime as dt
import logging
from typing import Any, Final

from .payload import FieldValue, Sample

_LOGGER = logging.getLogger(__name__)

FIELDS: Final = ("pv_energy", "load_energy", "battery_charge_energy", "battery_discharge_energy")
KEEP_DAYS: Final = 400  # finished days remembered (to know which days the history must fill)
# A lifetime counter that jumps by more than this between two samples is a swap or a glitch.
MAX_COUNTER_STEP_WH: Final = 20000.0


def local_day(t: float) -> str:
    """The local calendar day of epoch ``t`` as YYYY-MM-DD."""
    return dt.datetime.fromtimestamp(t).date().isoformat()


def next_midnight(t: float) -> float:
    """Epoch s of the first local midnight after ``t``."""
    d = dt.datetime.fromtimestamp(t).date() + dt.timedelta(days=1)
    return dt.datetime.combine(d, dt.time()).timestamp()


def day_end(day: str) -> float:
    """Epoch s of the last second of a local day (where a day's total is stamped)."""
    d = dt.date.fromisoformat(day) + dt.timedelta(days=1)
    return dt.datetime.combine(d, dt.time()).timestamp() - 1


def trapezoid(t0: float, p0: float, t1: float, p1: float) -> tuple[float, float]:
    """(positive Wh, negative Wh as a positive number) between two power samples.

    A sign change is split at the zero crossing so charge and discharge stay apart.
    """
    h = (t1 - t0) / 3600
    if p0 * p1 >= 0:
        area = (p0 + p1) / 2 * h
        return (area, 0.0) if area >= 0 else (0.0, -area)
    tz = h * p0 / (p0 - p1)
    a, b = p0 / 2 * tz, p1 / 2 * (h - tz)
    # By the sign of p0, not of a: a may underflow to 0 for a tiny p0.
    return (a, -b) if p0 > 0 else (b, -a)


@dataclass
class EnergyCounters:
    """Today's totals and what is needed to continue them."""

    max_gap: float
    day: str = ""
    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0.0))
    last_power: dict[str, tuple[float, float]] = field(default_factory=dict)  # series -> (t, W)
    last_counter: dict[str, tuple[str, float]] = field(default_factory=dict)  # controller -> (day, Wh)
    days: dict[str, dict[str, float]] = field(default_factory=dict)  # finished days

    # --- persistence ------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The state file's content."""
        return {"day": self.day, "totals": self.totals, "last_power": self.last_power,
                "last_counter": self.last_counter, "days": self.days}

    @classmethod
    def from_json(cls, obj: dict[str, Any], max_gap: float) -> EnergyCounters:
        """Restore; a damaged file raises ``KeyError``/``TypeError``/``ValueError``."""
        c = cls(max_gap, str(obj["day"]))
        c.totals.update({k: float(v) for k, v in obj["totals"].items() if k in FIELDS})
        c.last_power = {k: (float(t), float(p)) for k, (t, p) in obj["last_power"].items()}
        c.last_counter = {k: (str(d), float(v)) for k, (d, v) in obj["last_counter"].items()}
        c.days = {str(d): {k: float(v) for k, v in t.items()} for d, t in obj["days"].items()}
        return c

    # --- day handling -----------------------------------------------------------------

    def roll(self, t: float) -> bool:
        """Start a new day if ``t`` is on a later local day; True if it did."""
        today = local_day(t)
        if today == self.day:
            return False
        if self.day and today < self.day:
            _LOGGER.warning("clock went back from %s to %s; keeping the counters of %s", self.day, today, self.day)
            return False
        if self.day:
            self.days[self.day] = {k: round(v, 1) for k, v in self.totals.items()}
            for old in sorted(self.days)[:-KEEP_DAYS]:
                del self.days[old]
            _LOGGER.info("energy of %s: %s", self.day, self.days[self.day])
        self.day = today
        self.totals = dict.fromkeys(FIELDS, 0.0)
        return True

    def fill_day(self, day: str, values: dict[str, float]) -> bool:
        """Record a finished day from another source unless we have at least as much of it."""
        have = self.days.get(day)
        if day >= self.day or (have and have.get("pv_energy", 0) >= values.get("pv_energy", 0)):
            return False
        self.days[day] = {**dict.fromkeys(FIELDS, 0.0), **(have or {}), **values}
        return True

    # --- integration ------------------------------------------------------------------

    def _integrate(self, series: str, t: float, watts: float, pos: str, neg: str | None) -> None:
        prev = self.last_power.get(series)
        self.last_power[series] = (t, watts)
        if prev is None or not 0 < t - prev[0] <= self.max_gap:
            self.roll(t)
            return  # first sample, a gap or a clock step: nothing to bridge
        t0, p0 = prev
        if local_day(t) != local_day(t0):
            m = next_midnight(t0)
            pm = p0 + (watts - p0) * (m - t0) / (t - t0)
            self._add(trapezoid(t0, p0, m, pm), pos, neg)
            self.roll(t)
            t0, p0 = m, pm
        self.roll(t)
        self._add(trapezoid(t0, p0, t, watts), pos, neg)

    def _add(self, area: tuple[float, float], pos: str, neg: str | None) -> None:
        self.totals[pos] += area[0]
        if neg is not None:
            self.totals[neg] += area[1]

    def _counter(self, device: str, t: float, total: float, today_wh: float | None) -> None:
        today = local_day(t)
        prev = self.last_counter.get(device)
        self.last_counter[device] = (today, total)
        self.roll(t)
        if prev is None or prev[0] != today:
            # First reading of this controller today: its own daily counter says what it made
            # before we saw it (after a reboot or at the first poll past midnight).
            if today_wh is not None:
                self.totals["pv_energy"] += today_wh
            return
        step = total - prev[1]
        if 0 <= step <= MAX_COUNTER_STEP_WH:
            self.totals["pv_energy"] += step
        else:
            _LOGGER.info("%s: lifetime counter jumped by %.0f Wh; not counted", device, step)

    def observe(self, sample: Sample, t: float) -> bool:
        """Take what a sample contributes; True if it touched the totals."""
        f = sample.fields
        if sample.kind == "litime-mppt":
            load = f.get("load_power")
            if isinstance(load, float):
                self._integrate(f"{sample.device}/load", t, load, "load_energy", None)
            total, today_wh = f.get("total_generated_energy"), f.get("today_generated_energy")
            if isinstance(total, float):
                self._counter(sample.device, t, total, today_wh if isinstance(today_wh, float) else None)
            return True
        if sample.kind == "bank":
            power = f.get("power")
            if isinstance(power, float):
                self._integrate("bank", t, power, "battery_charge_energy", "battery_discharge_energy")
                return True
        return False

    def fields(self) -> dict[str, FieldValue]:
        """Today's totals as an ``energy`` sample's fields (Wh, one decimal)."""
        return {k: round(v, 1) for k, v in self.totals.items()}
