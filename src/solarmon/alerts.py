"""Alert rules: thresholds with hysteresis and delay, and silent devices (pure, no I/O).

Each alert is keyed by (rule, device). It is *pending* from the first sample beyond the
threshold, *raised* once the condition has held for the rule's delay, and *cleared* once a
sample is back past the threshold by the hysteresis. Every raise and every clear is
reported exactly once; a sample without the field changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import fnmatch
import logging
from typing import Final

from . import catalog
from .config import AlertRule
from .payload import Sample

_LOGGER = logging.getLogger(__name__)

SILENT: Final = "silent"  # the built-in rule name of a device that stopped answering


@dataclass(frozen=True, slots=True)
class Alert:
    """One active alert."""

    rule: str
    device: str
    since: float  # epoch s of the raise
    value: float | None  # the value that raised it (the silence in s for 'silent')
    text: str

    @property
    def key(self) -> str:
        """Stable identity: one alert per rule and device."""
        return f"{self.rule}/{self.device}"

    def to_json(self) -> dict[str, object]:
        """The form published on the alerts topic and stored in the state file."""
        return {"rule": self.rule, "device": self.device, "since": self.since, "value": self.value, "text": self.text}

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> Alert:
        """Inverse of ``to_json``; ``KeyError``/``TypeError``/``ValueError`` on a damaged record."""
        value = obj["value"]
        return cls(str(obj["rule"]), str(obj["device"]), float(obj["since"]),  # type: ignore[arg-type]
                   None if value is None else float(value), str(obj["text"]))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Event:
    """A change: ``raised`` or ``cleared``."""

    change: str
    alert: Alert


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


class AlertEngine:
    """Evaluates the rules on every sample; ``tick`` handles delays and silence."""

    def __init__(self, rules: Iterable[AlertRule], silent_after: float, devices: Mapping[str, str],
                 active: Iterable[Alert] = (), now: float = 0.0) -> None:
        self.rules = list(rules)
        self.silent_after = silent_after
        self.devices = dict(devices)  # configured id -> kind: these can fall silent
        self.active: dict[str, Alert] = {a.key: a for a in active}
        self._pending: dict[str, tuple[float, float]] = {}  # key -> (since, value)
        self._last_seen: dict[str, float] = dict.fromkeys(self.devices, now)
        # rule index -> kind -> matching field names (resolved once; the catalog is fixed)
        self._fields = [
            {k.name: [f.name for f in k.fields if fnmatch.fnmatchcase(f.name, r.field)] for k in catalog.KINDS.values()}
            for r in self.rules
        ]

    def observe(self, sample: Sample, now: float) -> list[Event]:
        """Evaluate every rule that applies to ``sample``; events for changes."""
        events = []
        if sample.device in self._last_seen:
            self._last_seen[sample.device] = now
            events += self._clear(f"{SILENT}/{sample.device}", now)
        for rule, fields in zip(self.rules, self._fields, strict=True):
            if rule.device not in ("*", sample.device):
                continue
            names = fields.get(sample.kind) or []
            values = [v for n in names if isinstance(v := sample.fields.get(n), int | float) and not isinstance(v, bool)]
            if not values:
                continue  # no reading: neither raise nor clear
            events += self._evaluate(rule, sample.device, values, now)
        return events

    def tick(self, now: float) -> list[Event]:
        """Raise 'silent' for configured devices without a sample for ``silent_after`` s."""
        events = []
        for device, seen in self._last_seen.items():
            key = f"{SILENT}/{device}"
            if now - seen >= self.silent_after and key not in self.active:
                minutes = (now - seen) / 60
                events.append(self._raise(Alert(SILENT, device, now, round(now - seen, 1),
                                                f"{device}: silent for {minutes:.0f} min")))
        return events

    def touch(self, device: str, now: float) -> None:
        """Count ``device`` as heard from (while it is released for the phone app)."""
        if device in self._last_seen:
            self._last_seen[device] = now

    def _evaluate(self, rule: AlertRule, device: str, values: list[float], now: float) -> list[Event]:
        key = f"{rule.name}/{device}"
        if rule.below is not None:
            worst = min(values)
            beyond, back = worst < rule.below, worst >= rule.below + rule.hysteresis
            what = f"{rule.field} {_fmt(worst)} < {_fmt(rule.below)}"
        elif rule.above is not None:
            worst = max(values)
            beyond, back = worst > rule.above, worst <= rule.above - rule.hysteresis
            what = f"{rule.field} {_fmt(worst)} > {_fmt(rule.above)}"
        else:
            worst = float(next((v for v in values if v), 0))
            beyond, back = worst != 0, worst == 0
            what = f"{rule.field} = {int(worst)}"
            if rule.field == "protection_flags":
                bits = [n for b, n in catalog.JBD_PROTECTION_BITS.items() if int(worst) >> b & 1]
                what = ", ".join(bits) or what
        if key in self.active:
            return self._clear(key, now) if back else []
        if not beyond:
            self._pending.pop(key, None)  # the condition did not hold for the delay
            return []
        since, _ = self._pending.setdefault(key, (now, worst))
        if now - since < rule.delay:
            return []
        self._pending.pop(key, None)
        return [self._raise(Alert(rule.name, device, now, worst, f"{device}: {rule.name}: {what}"))]

    def _raise(self, alert: Alert) -> Event:
        self.active[alert.key] = alert
        _LOGGER.warning("alert raised: %s", alert.text)
        return Event("raised", alert)

    def _clear(self, key: str, now: float) -> list[Event]:
        alert = self.active.pop(key, None)
        if alert is None:
            return []
        _LOGGER.warning("alert cleared after %.0f s: %s", now - alert.since, alert.text)
        return [Event("cleared", alert)]

    def summary(self) -> str:
        """One line per active alert, oldest first; 'OK' when none (the kiosk shows it)."""
        if not self.active:
            return "OK"
        return "\n".join(a.text for a in sorted(self.active.values(), key=lambda a: a.since))
