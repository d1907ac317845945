"""Which retention tier a dashboard query reads: the rule in Python and as Flux text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..tiers import Tier, downsampled, raw_tier

_NS: Final = 1_000_000_000
#: Raw data has no window; aggregate it to whole seconds at least.
_RAW_STEP_NS: Final = _NS
#: Grafana computes the range start before the query runs, so "last 24 hours" arrives a little
#: older than 24 h; it must still read the 24 h raw bucket. InfluxDB drops whole shard groups
#: (1 h for a 1-day bucket) only after they are past the retention, so the edge is still there.
GRACE: Final = 600  # s


def ordered(tiers: Sequence[Tier]) -> list[Tier]:
    """Raw tier first, then the downsampled tiers finest first."""
    return [raw_tier(tiers), *downsampled(tiers)]


def covers(tier: Tier, age: float) -> bool:
    """True if ``tier`` still holds data ``age`` seconds old (retention 0 keeps forever)."""
    return tier.retention == 0 or age <= tier.retention + GRACE


def choose_tier(tiers: Sequence[Tier], age: float) -> Tier:
    """The finest tier whose retention covers a range starting ``age`` seconds ago.

    Past every retention the coarsest tier is used: it holds the oldest data there is.
    """
    chain = ordered(tiers)
    return next((t for t in chain if covers(t, age)), chain[-1])


def _record(tier: Tier) -> str:
    step = tier.span * _NS if tier.span else _RAW_STEP_NS
    raw = "true" if tier.is_raw else "false"
    return f'{{bucket: "{tier.bucket}", raw: {raw}, step: {step}}}'


def tier_function(tiers: Sequence[Tier]) -> str:
    """Flux ``_tierFor(start)``: the same rule as :func:`choose_tier`, thresholds in ns
    (retention + grace).

    It returns ``{bucket, raw, step}``; ``step`` is the tier's window (1 s for raw data).
    """
    chain = ordered(tiers)
    lines = ["_tierFor = (start) => {", "    age = int(v: now()) - int(v: start)", "    return"]
    for tier in chain:
        if tier is chain[-1] or tier.retention == 0:
            lines.append(f"        {_record(tier)}")
            break
        lines.append(f"        if age <= {(tier.retention + GRACE) * _NS} then {_record(tier)} else")
    lines.append("}")
    return "\n".join(lines)


def tier_prelude(tiers: Sequence[Tier]) -> str:
    """Flux that picks ``_tier`` for the dashboard range and an ``_every`` that suits it.

    ``_every`` is Grafana's ``v.windowPeriod`` rounded up to a whole number of tier windows:
    finer windows than the tier's would only produce gaps.
    """
    return "\n".join([
        tier_function(tiers),
        "_tier = _tierFor(start: v.timeRangeStart)",
        "_wp = int(v: v.windowPeriod)",
        "_every = duration(v: (_wp + _tier.step - 1) / _tier.step * _tier.step)",
    ])
