"""Storage estimate from the catalog, the devices and their cadence: points per day, 10-year totals, disk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .. import catalog
from ..tiers import DAY, Tier

TEN_YEARS: Final = 3653 * DAY
#: Assumed on-disk cost of one stored field value in TSM (compressed value + timestamp +
#: amortised series index). An assumption, not a measurement: InfluxDB is not available
#: here. Slowly varying solar data compresses well; 5 bytes is a middle-of-the-road figure.
BYTES_PER_VALUE: Final = 5.0
#: The seed system: one LiTime MPPT and two JBD BMS polled every 27 s.
SEED_DEVICES: Final = (("litime-mppt", 27.0), ("jbd-bms", 27.0), ("jbd-bms", 27.0))
SEED_SAMPLES: Final = 78_000  # per device, kept across all tiers
SEED_MB: Final = 128
#: The collector's processor publishes alerts, energy and its own status this often (processor.SUMMARY_EVERY).
SUMMARY_EVERY: Final = 60.0


@dataclass(frozen=True, slots=True)
class TierEstimate:
    """One tier's figures for all devices together."""

    tier: Tier
    samples_per_day: float  # timestamps per day, all devices (one per window per device in tiers)
    values_per_day: float  # field values per day, all devices
    kept_samples: float  # at steady state (retention, capped at 10 years)
    kept_values: float
    written_values_10y: float  # written over 10 years (what the disk sees, before expiry)

    @property
    def bytes(self) -> float:
        """Assumed size on disk at steady state."""
        return self.kept_values * BYTES_PER_VALUE


def fields_per_sample(kind: catalog.DeviceKind, cells: int | None = None, temperatures: int | None = None) -> int:
    """Field values in one raw sample; JBD cells/temperatures limited to what the pack has."""
    return sum(1 for f in kind.fields if _present(f, cells, temperatures))


def values_per_window(kind: catalog.DeviceKind, cells: int | None = None, temperatures: int | None = None) -> int:
    """Field values one device writes into a tier per window (gauge x3, state x1, flags x1)."""
    return sum(len(f.aggregation.methods) for f in kind.fields if _present(f, cells, temperatures))


def _present(f: catalog.Field, cells: int | None, temperatures: int | None) -> bool:
    for prefix, limit in (("cell_voltage_", cells), ("temperature_", temperatures)):
        if limit is not None and f.name.startswith(prefix) and f.name[len(prefix):].isdigit():
            return int(f.name[len(prefix):]) <= limit
    return True


def derived_series(devices: list[tuple[str, float]] | tuple[tuple[str, float], ...]) -> list[tuple[str, float]]:
    """The series the collector derives from ``devices``, as (kind, interval): one link-health
    series per device at its poll interval, the bank after every pack sample, and alerts,
    energy and collector status every minute (upper bounds: energy is sent only on change)."""
    out = [("link-health", interval) for _kind, interval in devices]
    pack_rate = sum(1 / interval for kind, interval in devices if kind == catalog.JBD_BMS.name)
    if pack_rate:
        out.append(("bank", 1 / pack_rate))
    out += [(kind, SUMMARY_EVERY) for kind in ("alerts", "energy", "collector")]
    return out


def estimate(
    devices: list[tuple[str, float]] | tuple[tuple[str, float], ...],
    tiers: tuple[Tier, ...] | list[Tier],
    cells: int | None = None,
    temperatures: int | None = None,
) -> list[TierEstimate]:
    """Per tier: ``devices`` is a list of (kind name, poll interval in s)."""
    out = []
    for tier in tiers:
        samples = values = 0.0
        for kind_name, interval in devices:
            kind = catalog.kind(kind_name)
            if tier.is_raw:
                per_day = DAY / interval
                samples += per_day
                values += per_day * fields_per_sample(kind, cells, temperatures)
            else:
                per_day = DAY / (tier.span or DAY)
                samples += per_day
                values += per_day * values_per_window(kind, cells, temperatures)
        kept_days = min(tier.retention or TEN_YEARS, TEN_YEARS) / DAY
        out.append(TierEstimate(tier, samples, values, samples * kept_days, values * kept_days,
                                values * TEN_YEARS / DAY))
    return out


def render(
    devices: list[tuple[str, float]] | tuple[tuple[str, float], ...],
    tiers: tuple[Tier, ...] | list[Tier],
    cells: int | None = None,
    temperatures: int | None = None,
) -> str:
    """The report ``solarmon estimate`` prints: every series, devices and derived."""
    derived = derived_series(devices)
    device_rows = estimate(devices, tiers, cells, temperatures)
    rows = estimate(list(devices) + derived, tiers, cells, temperatures)
    n = len(devices)
    head = f"{'tier':<6} {'bucket':<12} {'window':>7} {'keep':>7} {'samples/d':>10} {'values/d':>11} " \
           f"{'kept samples':>13} {'kept values':>13} {'written 10 y':>14} {'disk':>9}"
    lines = [
        f"{n} device(s): " + ", ".join(f"{k} every {i:g} s" for k, i in devices),
        "JBD fields: " + ("all catalog cells/temperatures" if cells is None and temperatures is None
                          else f"{cells or catalog.JBD_MAX_CELLS} cells, "
                               f"{temperatures or catalog.JBD_MAX_TEMPERATURES} temperatures"),
        f"plus {len(derived)} derived series: " + ", ".join(sorted({k for k, _i in derived})),
        "",
        head,
        "-" * len(head),
    ]
    for r in rows:
        window = "raw" if r.tier.is_raw else _span(r.tier.span or 0)
        keep = "forever" if not r.tier.retention else _span(r.tier.retention)
        lines.append(
            f"{r.tier.name:<6} {r.tier.bucket:<12} {window:>7} {keep:>7} {r.samples_per_day:>10,.0f} "
            f"{r.values_per_day:>11,.0f} {r.kept_samples:>13,.0f} {r.kept_values:>13,.0f} "
            f"{r.written_values_10y:>14,.0f} {r.bytes / 1e6:>7.1f} MB"
        )
    total_samples = sum(r.kept_samples for r in rows)
    total_values = sum(r.kept_values for r in rows)
    total_bytes = sum(r.bytes for r in rows)
    device_samples = sum(r.kept_samples for r in device_rows)
    device_bytes = sum(r.bytes for r in device_rows)
    lines += [
        "-" * len(head),
        f"{'total':<44} {'':>11} {total_samples:>13,.0f} {total_values:>13,.0f} "
        f"{sum(r.written_values_10y for r in rows):>14,.0f} {total_bytes / 1e6:>7.1f} MB",
        "",
        f"kept samples per device: {device_samples / max(n, 1):,.0f} (seed: ~{SEED_SAMPLES:,})",
        f"disk after 10 years, devices only: {device_bytes / 1e6:,.0f} MB (seed: ~{SEED_MB} MB for 3 devices at 27 s)",
        f"disk after 10 years, with the derived series: {total_bytes / 1e6:,.0f} MB "
        f"(all at an assumed {BYTES_PER_VALUE:g} bytes per stored value)",
    ]
    return "\n".join(lines) + "\n"


def _span(seconds: int) -> str:
    for unit, size in (("d", DAY), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
