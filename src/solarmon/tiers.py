"""Retention tiers: raw data plus downsampled buckets, as data (configurable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MINUTE: Final = 60
HOUR: Final = 3600
DAY: Final = 86400


@dataclass(frozen=True, slots=True)
class Tier:
    """One InfluxDB bucket. ``span`` is the aggregation window in seconds (None = raw)."""

    name: str
    bucket: str
    span: int | None
    retention: int  # seconds; 0 = keep forever

    @property
    def is_raw(self) -> bool:
        """True for the bucket the bridge writes samples into."""
        return self.span is None


#: The seed system's tiers: 27-second raw data for a day, then coarser windows kept longer.
DEFAULT_TIERS: Final[tuple[Tier, ...]] = (
    Tier("raw", "solar_raw", None, 1 * DAY),
    Tier("2m", "solar_2m", 2 * MINUTE, 7 * DAY),
    Tier("5m", "solar_5m", 5 * MINUTE, 31 * DAY),
    Tier("30m", "solar_30m", 30 * MINUTE, 366 * DAY),
    Tier("2h", "solar_2h", 2 * HOUR, 3653 * DAY),
)


def raw_tier(tiers: tuple[Tier, ...] | list[Tier]) -> Tier:
    """The single raw tier of a tier list."""
    return next(t for t in tiers if t.is_raw)


def downsampled(tiers: tuple[Tier, ...] | list[Tier]) -> list[Tier]:
    """The aggregated tiers, finest first."""
    return sorted((t for t in tiers if not t.is_raw), key=lambda t: t.span or 0)
