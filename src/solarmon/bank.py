"""The battery bank from its parallel packs: capacity-weighted SOC, remaining Ah, times (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .payload import FieldValue, Sample

# Below this current (A) the bank is resting: no time to empty or full is meaningful.
IDLE_CURRENT = 0.2


@dataclass(frozen=True, slots=True)
class PackState:
    """The last sample of one pack and when it arrived (epoch s)."""

    fields: Mapping[str, FieldValue]
    seen: float


def _num(fields: Mapping[str, FieldValue], name: str) -> float | None:
    v = fields.get(name)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def usable(pack: PackState | None, now: float, stale_after: float) -> bool:
    """A pack counts while its data is fresh, complete and both FETs are on.

    A pack whose BMS opened a FET is cut off from the bus: its charge is not available to
    the loads (discharge FET) or it takes no charge (charge FET), so adding it would lie.
    """
    if pack is None or now - pack.seen > stale_after:
        return False
    f = pack.fields
    if f.get("charge_fet") is False or f.get("discharge_fet") is False:
        return False
    return all(_num(f, n) is not None for n in ("remaining_capacity", "nominal_capacity", "current", "pack_voltage"))


def combine(packs: Sequence[str], latest: Mapping[str, PackState], now: float,
            stale_after: float) -> dict[str, FieldValue]:
    """Bank fields from the newest state of each pack (in configured order; bit i = packs[i])."""
    excluded = 0
    remaining = nominal = current = power = 0.0
    included = 0
    for i, pack_id in enumerate(packs):
        state = latest.get(pack_id)
        if state is None or not usable(state, now, stale_after):
            excluded |= 1 << i
            continue
        f = state.fields
        remaining += _num(f, "remaining_capacity") or 0.0
        nominal += _num(f, "nominal_capacity") or 0.0
        amps = _num(f, "current") or 0.0
        current += amps
        p = _num(f, "power")
        power += p if p is not None else amps * (_num(f, "pack_voltage") or 0.0)
        included += 1
    out: dict[str, FieldValue] = {"packs_included": included, "packs_excluded_flags": excluded}
    if not included or nominal <= 0:
        return out
    # Capacity-weighted SOC is remaining over nominal of the included packs: a 100 Ah pack
    # at 50 % and a 300 Ah pack at 90 % hold 320 of 400 Ah, i.e. 80 %, not the mean 70 %.
    soc = min(100.0, max(0.0, 100.0 * remaining / nominal))
    out.update({
        "soc": round(soc, 2),
        "remaining_capacity": round(remaining, 2),
        "nominal_capacity": round(nominal, 2),
        "current": round(current, 3),
        "power": round(power, 1),
        "time_to_empty": round(remaining / -current, 2) if current < -IDLE_CURRENT else None,
        "time_to_full": round(max(0.0, nominal - remaining) / current, 2) if current > IDLE_CURRENT else None,
    })
    return out


class BankTracker:
    """Keeps the newest sample per pack and derives a bank sample when one of them changes."""

    def __init__(self, packs: Sequence[str], stale_after: float) -> None:
        self.packs = list(packs)
        self.stale_after = stale_after
        self.latest: dict[str, PackState] = {}

    def observe(self, sample: Sample, now: float) -> Sample | None:
        """The new bank sample after a pack's sample; None for other devices or no packs."""
        if sample.device not in self.packs:
            return None
        self.latest[sample.device] = PackState(sample.fields, now)
        return Sample(sample.ts_ms, "bank", "bank", combine(self.packs, self.latest, now, self.stale_after))
