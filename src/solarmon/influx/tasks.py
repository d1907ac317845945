"""Flux downsampling tasks generated from the catalog and the tiers, plus a Python mirror of their timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .. import catalog
from ..tiers import Tier, downsampled, raw_tier

#: Every task this project owns has a name starting with this (bootstrap leaves others alone).
TASK_PREFIX: Final = "solarmon-downsample-"
#: Seconds subtracted from the window-aligned stop: the last samples of a window are still on
#: their way (collector -> MQTT -> bridge flush) when the task fires at the window boundary.
SETTLE: Final = 30
#: Seconds re-aggregated before the last successful run, on top of the coarsest span: covers
#: the window cut short by SETTLE last time and points the bridge replays late (broker queue,
#: bridge restart). Rewriting a window is idempotent, so overlap costs only CPU. The bridge
#: aggregates points later than this itself (bridge.backfill); the coarsest span is part of
#: the allowance because the bridge decides per coarsest window, so that no window is
#: computed half by a task and half by the bridge.
LATE_DATA: Final = 3600
#: First run with a raw bucket that keeps data forever: aggregate from here.
EPOCH_START: Final = "2020-01-01T00:00:00Z"
_EPOCH_START_S: Final = 1_577_836_800


@dataclass(frozen=True, slots=True)
class Timing:
    """The constants one task's start/stop arithmetic uses (all seconds)."""

    span: int
    settle: int
    late: int
    raw_retention: int  # 0 = raw data kept forever
    coarsest: int  # the longest span of all tiers

    @property
    def allowance(self) -> int:
        """How far before the last successful run a run starts."""
        return self.coarsest + self.late

    def window(self, now: int, last_success: int | None) -> tuple[int, int]:
        """(start, stop) in epoch seconds for a run at ``now``: the same arithmetic as the Flux.

        stop  = truncate(now, span) - settle
        start = truncate(last_success - allowance, span), but no earlier than the first whole
                window still inside the raw retention (first run: that window)
        """
        stop = _truncate(now, self.span) - self.settle
        if self.raw_retention:
            earliest = _truncate(now - self.raw_retention + self.span, self.span)
            last = now - self.raw_retention if last_success is None else last_success
        else:
            earliest = _EPOCH_START_S
            last = _EPOCH_START_S if last_success is None else last_success
        return max(_truncate(last - self.allowance, self.span), earliest), stop


def _truncate(t: int, unit: int) -> int:
    # date.truncate on whole seconds since the epoch, UTC
    return t - t % unit


def timing(tier: Tier, tiers: tuple[Tier, ...] | list[Tier]) -> Timing:
    """The timing of ``tier``'s task; ``ValueError`` if the tiers make it impossible."""
    if tier.span is None:
        raise ValueError(f"tier {tier.name} is the raw tier: it has no task")
    raw = raw_tier(tiers)
    t = Timing(tier.span, SETTLE, LATE_DATA, raw.retention, max(d.span or 0 for d in downsampled(tiers)))
    if t.settle >= t.span:
        raise ValueError(f"tier {tier.name}: span {tier.span} s must be longer than the {SETTLE} s settle delay")
    if raw.retention and raw.retention < 2 * t.span + t.settle:
        raise ValueError(f"tier {tier.name}: raw retention {raw.retention} s is too short for a {tier.span} s span")
    return t


def duration(seconds: int) -> str:
    """A Flux duration literal: 7200 -> ``2h``, 3720 -> ``1h2m``, 30 -> ``30s``."""
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {seconds}")
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out += f"{n}{unit}"
    return out


def task_name(tier: Tier) -> str:
    """Name of the task that fills ``tier``."""
    return f"{TASK_PREFIX}{tier.name}"


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def _selector(agg: catalog.Aggregation) -> str:
    """A filter predicate matching exactly the catalog fields of one aggregation class."""
    clauses = []
    for kind in catalog.KINDS.values():
        names = [f.name for f in kind.by_aggregation(agg)]
        if not names:
            continue
        listed = ", ".join(_string(n) for n in names)
        clauses.append(f"(r._measurement == {_string(kind.name)} and contains(value: r._field, set: [{listed}]))")
    return "\n        or ".join(clauses)


#: Aggregation method -> the ``fn`` given to aggregateWindow.
_FNS: Final = {
    "mean": "mean",
    "min": "min",
    "max": "max",
    "last": "last",
    # Flags are integers: OR every value of the window together (bitwise.sor works on int).
    "bit_or": "(column, tables=<-) => tables\n"
    "            |> reduce(identity: {_value: 0}, fn: (r, accumulator) => "
    "({_value: bitwise.sor(a: accumulator._value, b: r._value)}))",
}


def generate(tier: Tier, tiers: tuple[Tier, ...] | list[Tier]) -> str:
    """The Flux source of the task that fills ``tier`` from the raw bucket."""
    t = timing(tier, tiers)
    raw = raw_tier(tiers)
    lines = [
        f"// Generated by solarmon from the metric catalog: raw -> {tier.name}. Do not edit; run `solarmon bootstrap`.",
        'import "date"',
        'import "experimental/bitwise"',
        'import "influxdata/influxdb/tasks"',
        "",
        f"option task = {{name: {_string(task_name(tier))}, every: {duration(t.span)}}}",
        "",
        f"span = {duration(t.span)}",
        f"settle = {duration(t.settle)}",
        f"allowance = {duration(t.allowance)}",
    ]
    if t.raw_retention:
        lines += [
            f"rawRetention = {duration(t.raw_retention)}",
            "horizon = date.sub(d: rawRetention, from: now())",
            "// The first whole window still inside the raw bucket's retention.",
            "earliest = date.truncate(t: date.add(d: span, to: horizon), unit: span)",
            "lastRun = tasks.lastSuccess(orTime: horizon)",
        ]
    else:
        lines += [
            f"earliest = {EPOCH_START}",
            "lastRun = tasks.lastSuccess(orTime: earliest)",
        ]
    lines += [
        "// No task.offset: each run recomputes from its last success, so missed windows are filled.",
        "stop = date.sub(d: settle, from: date.truncate(t: now(), unit: span))",
        "wanted = date.truncate(t: date.sub(d: allowance, from: lastRun), unit: span)",
        "start = if wanted < earliest then earliest else wanted",
        "",
        f"raw = from(bucket: {_string(raw.bucket)})",
        "    |> range(start: start, stop: stop)",
    ]
    for agg in catalog.Aggregation:
        lines += ["", f"{agg.value} = raw", f"    |> filter(fn: (r) => {_selector(agg)})"]
        for method in agg.methods:
            lines += [
                "",
                f"{agg.value}",
                f"    |> aggregateWindow(every: span, fn: {_FNS[method]}, timeSrc: \"_start\", createEmpty: false)",
                f"    |> set(key: \"_measurement\", value: {_string(method)})",
                f"    |> to(bucket: {_string(tier.bucket)})",
            ]
    return "\n".join(lines) + "\n"


def generate_all(tiers: tuple[Tier, ...] | list[Tier]) -> dict[str, str]:
    """Task name -> Flux, one per downsampled tier, finest first."""
    return {task_name(t): generate(t, tiers) for t in downsampled(tiers)}
