"""Energy counters: trapezoid, gaps, sign changes, midnight, restarts, controller counters."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st
import pytest

from solarmon.energy import EnergyCounters, day_end, local_day, trapezoid
from solarmon.payload import Sample


def at(day: str, hh: int, mm: int = 0, ss: int = 0) -> float:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hh, mm, ss)).timestamp()


def bank(t: float, watts: float) -> Sample:
    return Sample(int(t * 1000), "bank", "bank", {"power": watts})


def mppt(t: float, total: float, today: float = 0.0, load: float = 0.0) -> Sample:
    return Sample(int(t * 1000), "mppt", "litime-mppt",
                  {"total_generated_energy": total, "today_generated_energy": today, "load_power": load})


def run(c: EnergyCounters, samples: list[Sample]) -> None:
    for s in samples:
        c.observe(s, s.ts_ms / 1000)


def test_trapezoid_splits_charge_and_discharge_at_the_zero_crossing() -> None:
    assert trapezoid(0, 100, 3600, 100) == (100.0, 0.0)
    assert trapezoid(0, -50, 1800, -150) == (0.0, 50.0)
    pos, neg = trapezoid(0, 100, 3600, -100)  # crosses zero half-way: 25 Wh each way
    assert pos == pytest.approx(25.0) and neg == pytest.approx(25.0)


def test_bank_power_integrates_and_gaps_are_not_bridged() -> None:
    c = EnergyCounters(max_gap=300)
    t0 = at("2026-06-01", 10)
    run(c, [bank(t0 + i * 30, 120.0) for i in range(121)])  # one hour of +120 W
    assert c.totals["battery_charge_energy"] == pytest.approx(120.0)
    run(c, [bank(t0 + 3600 + 1800, -60.0), bank(t0 + 3600 + 1830, -60.0)])  # after a 30-min gap
    assert c.totals["battery_charge_energy"] == pytest.approx(120.0)  # the gap adds nothing
    assert c.totals["battery_discharge_energy"] == pytest.approx(0.5)  # 60 W for 30 s only


def test_midnight_splits_the_segment_and_rolls_the_day() -> None:
    c = EnergyCounters(max_gap=300)
    before = at("2026-06-01", 23, 59, 0)
    run(c, [bank(before, -36.0), bank(before + 120, -36.0)])  # 60 s before and 60 s after midnight
    assert c.day == "2026-06-02"
    assert c.days["2026-06-01"]["battery_discharge_energy"] == pytest.approx(0.6)
    assert c.totals["battery_discharge_energy"] == pytest.approx(0.6)


def test_totals_survive_a_restart_and_the_gap_of_the_reboot_is_not_bridged() -> None:
    c = EnergyCounters(max_gap=300)
    t0 = at("2026-06-01", 12)
    run(c, [bank(t0, 100.0), bank(t0 + 36, 100.0), mppt(t0, 5000.0, 300.0), mppt(t0 + 36, 5010.0, 310.0)])
    restored = EnergyCounters.from_json(json.loads(json.dumps(c.to_json())), 300)
    assert restored.totals == c.totals and restored.day == "2026-06-01"
    # The appliance was off for 20 minutes; the controller counted meanwhile.
    run(restored, [bank(t0 + 1236, 100.0), mppt(t0 + 1236, 5100.0, 400.0)])
    assert restored.totals["battery_charge_energy"] == pytest.approx(1.0)
    assert restored.totals["pv_energy"] == pytest.approx(300.0 + 10.0 + 90.0)


def test_reboot_on_a_later_day_archives_the_old_day_and_starts_from_the_controllers_day_counter() -> None:
    c = EnergyCounters(max_gap=300)
    run(c, [mppt(at("2026-06-01", 18), 5000.0, 800.0), mppt(at("2026-06-01", 18, 1), 5002.0, 802.0)])
    assert c.totals["pv_energy"] == pytest.approx(802.0)
    run(c, [mppt(at("2026-06-03", 11), 7000.0, 450.0)])  # off for a day and a half
    assert c.days["2026-06-01"]["pv_energy"] == pytest.approx(802.0)
    assert "2026-06-02" not in c.days  # unknown here: the controller history fills it
    assert c.totals["pv_energy"] == pytest.approx(450.0)  # not the 2000 Wh counted across two days


def test_counter_reset_is_not_counted() -> None:
    c = EnergyCounters(max_gap=300)
    t0 = at("2026-06-01", 12)
    run(c, [mppt(t0, 5000.0, 100.0), mppt(t0 + 30, 12.0, 100.0), mppt(t0 + 60, 15.0, 103.0)])
    assert c.totals["pv_energy"] == pytest.approx(103.0)


def test_load_power_is_integrated() -> None:
    c = EnergyCounters(max_gap=300)
    t0 = at("2026-06-01", 20)
    run(c, [mppt(t0 + i * 60, 5000.0, 0.0, load=60.0) for i in range(31)])
    assert c.totals["load_energy"] == pytest.approx(30.0)


def test_clock_going_back_does_not_reset_the_day() -> None:
    c = EnergyCounters(max_gap=300)
    run(c, [bank(at("2026-06-02", 1), 10.0)])
    assert not c.roll(at("2026-06-01", 23))
    assert c.day == "2026-06-02"


def test_fill_day_takes_history_for_missing_or_partial_days_only() -> None:
    c = EnergyCounters(max_gap=300)
    c.roll(at("2026-06-05", 9))
    c.days["2026-06-03"] = {"pv_energy": 400.0, "load_energy": 0.0, "battery_charge_energy": 0.0,
                            "battery_discharge_energy": 0.0}
    assert c.fill_day("2026-06-02", {"pv_energy": 2100.0, "load_energy": 900.0})
    assert c.fill_day("2026-06-03", {"pv_energy": 1900.0, "load_energy": 800.0})  # partial day: history wins
    assert not c.fill_day("2026-06-03", {"pv_energy": 1000.0})
    assert not c.fill_day("2026-06-05", {"pv_energy": 1.0})  # today is ours
    assert c.days["2026-06-02"]["pv_energy"] == 2100.0 and c.days["2026-06-03"]["load_energy"] == 800.0


def test_day_helpers() -> None:
    assert local_day(day_end("2026-03-29")) == "2026-03-29"
    assert local_day(day_end("2026-03-29") + 1) == "2026-03-30"


_WATTS = st.floats(-5000, 5000, allow_nan=False)


@given(_WATTS, _WATTS, st.floats(0.001, 3600))
def test_trapezoid_conserves_the_signed_area(p0: float, p1: float, dt_s: float) -> None:
    pos, neg = trapezoid(0, p0, dt_s, p1)
    assert pos >= 0 and neg >= 0
    assert pos - neg == pytest.approx((p0 + p1) / 2 * dt_s / 3600, abs=1e-9)
