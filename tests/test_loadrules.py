"""Load output rules: hysteresis, schedule, dwell time, no flapping."""

from __future__ import annotations

import datetime as dt

from solarmon.config import LoadRule
from solarmon.loadrules import LoadController, decide, in_schedule


def at(hh: int, mm: int = 0) -> float:
    return dt.datetime(2026, 6, 1, hh, mm).timestamp()


SOC = LoadRule(device="mppt", off_below_soc=30, on_above_soc=50, min_dwell=600)


def test_soc_hysteresis() -> None:
    assert decide(SOC, at(12), 29.0, None).on is False
    assert decide(SOC, at(12), 40.0, None).on is None  # in the band: keep
    assert decide(SOC, at(12), 51.0, None).on is True
    assert decide(SOC, at(12), None, None).on is None  # no data: keep


def test_any_off_wins_and_on_needs_every_limit() -> None:
    both = LoadRule(device="mppt", off_below_soc=30, on_above_soc=50, off_below_voltage=12.0,
                    on_above_voltage=13.0)
    assert decide(both, at(12), 80.0, 11.9).on is False
    assert decide(both, at(12), 80.0, 12.5).on is None
    assert decide(both, at(12), 80.0, 13.1).on is True


def test_schedule_wraps_midnight() -> None:
    night = LoadRule(device="mppt", on_from="18:00", on_until="06:30")
    assert in_schedule(night, at(23)) and in_schedule(night, at(5, 59)) and in_schedule(night, at(18))
    assert not in_schedule(night, at(6, 30)) and not in_schedule(night, at(12))
    assert decide(night, at(12), None, None).on is False
    assert decide(night, at(20), None, None).on is True
    # SOC off wins inside the window
    both = LoadRule(device="mppt", off_below_soc=30, on_above_soc=50, on_from="18:00", on_until="23:00")
    assert decide(both, at(19), 20.0, None).on is False
    assert decide(both, at(19), 40.0, None).on is None


def test_controller_never_flaps() -> None:
    ctl = LoadController(SOC)
    assert ctl.want(at(12), 20.0, None) is None  # the present state is not known yet
    ctl.load_on = True
    d = ctl.want(at(12), 20.0, None)
    assert d is not None and d.on is False and "SOC 20%" in d.reason
    ctl.switched(at(12), False)
    # SOC jumps back up at once (load removed): a switch must wait for the dwell time
    assert ctl.want(at(12, 1), 60.0, None) is None
    assert ctl.want(at(12, 9), 60.0, None) is None
    d = ctl.want(at(12, 10), 60.0, None)
    assert d is not None and d.on is True
    # oscillating SOC around one mark never switches inside the band
    ctl.switched(at(12, 10), True)
    assert all(ctl.want(at(13, m), soc, None) is None for m, soc in enumerate([31.0, 49.0, 30.5, 45.0]))
