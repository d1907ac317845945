"""Load output rules: switch by SOC / battery voltage with hysteresis and a schedule (pure).

The decision is 'off' if any configured limit says off (SOC or voltage below its low mark,
or outside the schedule), 'on' only if every configured limit allows it (above its high
mark, inside the schedule); between the marks the present state is kept. A switch is
never made sooner than ``min_dwell`` after the previous one, so the output cannot flap.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime as dt
import logging

from .config import LoadRule

_LOGGER = logging.getLogger(__name__)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def in_schedule(rule: LoadRule, t: float) -> bool | None:
    """Whether local time ``t`` is inside the on-window (None without a schedule)."""
    if rule.on_from is None or rule.on_until is None:
        return None
    lt = dt.datetime.fromtimestamp(t)
    now, start, end = lt.hour * 60 + lt.minute, _minutes(rule.on_from), _minutes(rule.on_until)
    return start <= now < end if start < end else now >= start or now < end  # wraps midnight


@dataclass(frozen=True, slots=True)
class Decision:
    """What the rule wants and why (the reason is logged with every switch)."""

    on: bool | None  # None: keep the present state
    reason: str


def decide(rule: LoadRule, t: float, soc: float | None, voltage: float | None) -> Decision:
    """The wanted state from the newest bank SOC and controller battery voltage."""
    offs, ons, holds = [], [], []
    if rule.off_below_soc is not None and rule.on_above_soc is not None:
        if soc is None:
            holds.append("no SOC")
        elif soc < rule.off_below_soc:
            offs.append(f"SOC {soc:.0f}% < {rule.off_below_soc:g}%")
        elif soc > rule.on_above_soc:
            ons.append(f"SOC {soc:.0f}% > {rule.on_above_soc:g}%")
        else:
            holds.append(f"SOC {soc:.0f}% in the hysteresis band")
    if rule.off_below_voltage is not None and rule.on_above_voltage is not None:
        if voltage is None:
            holds.append("no battery voltage")
        elif voltage < rule.off_below_voltage:
            offs.append(f"battery {voltage:.2f} V < {rule.off_below_voltage:g} V")
        elif voltage > rule.on_above_voltage:
            ons.append(f"battery {voltage:.2f} V > {rule.on_above_voltage:g} V")
        else:
            holds.append(f"battery {voltage:.2f} V in the hysteresis band")
    window = in_schedule(rule, t)
    if window is False:
        offs.append(f"outside {rule.on_from}-{rule.on_until}")
    elif window:
        ons.append(f"inside {rule.on_from}-{rule.on_until}")
    if offs:
        return Decision(False, "; ".join(offs))
    if holds or not ons:
        return Decision(None, "; ".join(holds) or "no limit decides")
    return Decision(True, "; ".join(ons))


class LoadController:
    """Applies one rule to one controller: remembers the state and the last switch time."""

    def __init__(self, rule: LoadRule) -> None:
        self.rule = rule
        self.load_on: bool | None = None  # as the controller last reported it
        self.last_switch = -float("inf")

    def want(self, t: float, soc: float | None, voltage: float | None) -> Decision | None:
        """A switch to make now, or None (no change wanted, state unknown, or dwelling)."""
        d = decide(self.rule, t, soc, voltage)
        if d.on is None or self.load_on is None or d.on == self.load_on:
            return None
        if t - self.last_switch < self.rule.min_dwell:
            return None  # too soon after the last switch: wait, never flap
        return d

    def switched(self, t: float, on: bool) -> None:
        """The controller confirmed a switch at ``t``."""
        self.load_on = on
        self.last_switch = t
