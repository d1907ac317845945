"""Late points: what the downsampling tasks will not see, aggregated into the tiers in Python.

A Flux task re-reads only the last ``LATE_DATA`` seconds (plus the coarsest span) of the raw bucket, and
the raw bucket keeps only its retention (24 h by default). So points the bridge delivers
later than that (InfluxDB or the bridge was down for hours or days) would reach the raw
bucket, or be refused by it, but never the tiers. The bridge therefore routes them here:

- a point is *late* when the coarsest tier window holding it ended more than ``LATE_DATA``
  ago. Deciding per coarsest window keeps every tier window on one side of the line, so no
  window is computed half by a task and half here. A point that is not late is re-read by
  the next task runs (``tasks.Timing``: start <= last success - coarsest span - LATE_DATA);
- a late point still goes to the raw bucket when the raw retention holds its whole coarsest
  window (the raw panels show it; a task may then rewrite the window from raw, with the same
  values), and is kept in the queue's ``backfill`` table;
- once a window of a series is complete (a later window of that series arrived, or no
  late point is left in the queue) it is aggregated with the catalog's methods
  (``aggregate``) into every tier whose retention still holds it, written, and only then
  dropped from the table. A crash in between means one rewrite of the same values.

Limit: when the delivery path breaks in the middle of a window and stays broken longer than
``LATE_DATA``, that one window per tier is written from its late part only (the points that
came on time are aggregated by the task, and InfluxDB may already have expired them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import logging
from typing import Final

from .. import catalog
from ..influx.tasks import LATE_DATA
from ..tiers import Tier, downsampled, raw_tier
from .aggregate import Windows
from .points import BadLine, from_line, series_of, timestamp_of
from .queue import Group, PointQueue, Row

_LOGGER = logging.getLogger(__name__)

#: Raw points closer than this to the end of the raw retention are not sent to the raw bucket:
#: InfluxDB would refuse them (422) by the time the request arrives, or expire them at once.
RAW_MARGIN: Final = 600
#: Series windows (coarsest span) aggregated per step: bounds the memory and the request size.
GROUPS_PER_STEP: Final = 8


@dataclass(frozen=True, slots=True)
class Routing:
    """Which queued points are late, and which of them the raw bucket still accepts."""

    window: int  # s: the coarsest tier span, which every other span divides
    late_after: int  # s
    raw_retention: int  # s, 0 = forever

    @classmethod
    def for_tiers(cls, tiers: Sequence[Tier]) -> Routing:
        """The routing for a configured tier list (validated by the config)."""
        return cls(max(t.span or 0 for t in downsampled(tiers)), LATE_DATA, raw_tier(tiers).retention)

    def is_late(self, ts_ms: int, now: float) -> bool:
        """True when the tasks may not re-read this point's windows: its coarsest window
        ended more than ``late_after`` ago (the tasks re-read coarsest span + that)."""
        window_ms = self.window * 1000
        return ts_ms - ts_ms % window_ms + window_ms <= (now - self.late_after) * 1000

    def raw_accepts(self, ts_ms: int, now: float) -> bool:
        """True when the raw bucket still holds this point's whole coarsest window (with a
        margin). Whole windows: a task that reads the edge of the raw bucket finds a window
        complete or empty, never half of it (which it would write over the bridge's result)."""
        window_ms = self.window * 1000
        return not self.raw_retention or ts_ms - ts_ms % window_ms >= (now - self.raw_retention + RAW_MARGIN) * 1000


@dataclass(frozen=True, slots=True)
class Sorted:
    """One batch split by ``sort``."""

    send: list[Row]  # to the raw bucket
    held: list[Row]  # late rows the raw bucket no longer takes: only for the backfill table
    late: dict[int, tuple[Row, str, int]]  # row id -> (row, series, ts): to the backfill table
    unreadable: list[tuple[Row, str]]  # late rows whose series/time cannot be read


def sort(routing: Routing, rows: Sequence[Row], now: float) -> Sorted:
    """Split a batch: rows for the raw bucket, late rows for the backfill table."""
    out = Sorted([], [], {}, [])
    for row in rows:
        try:
            ts = timestamp_of(row.line)
        except BadLine:
            out.send.append(row)  # InfluxDB says what is wrong with it (400 -> dead letter)
            continue
        if routing.is_late(ts, now):
            try:
                out.late[row.id] = (row, series_of(row.line), ts)
            except BadLine as err:
                out.unreadable.append((row, str(err)))
                continue
            if not routing.raw_accepts(ts, now):
                out.held.append(row)
                continue
        out.send.append(row)
    return out


@dataclass
class BackfillStats:
    """Counters for the status topic."""

    windows: int = 0  # series windows aggregated and written
    tier_points: int = 0  # points written to tier buckets
    skipped: int = 0  # tier points already past that tier's retention
    rejected: int = 0  # tier points InfluxDB refused for good (logged)
    error: str | None = None  # why the last tier write failed; None once one works


class Backfill:
    """Aggregates complete windows of the backfill table into the tier buckets."""

    def __init__(self, queue: PointQueue, tiers: Sequence[Tier], routing: Routing) -> None:
        self.queue = queue
        self.tiers = downsampled(tiers)
        self.routing = routing
        self.stats = BackfillStats()

    def next_batch(self, now: float, everything: bool) -> Batch:
        """The tier lines of the next ready windows (empty when none is ready)."""
        window_ms = self.routing.window * 1000
        out: dict[str, list[str]] = {}
        groups: list[Group] = []
        bad: list[tuple[Row, str]] = []
        spans = [t.span or 0 for t in self.tiers]
        for series, start in self.queue.backfill_groups(window_ms, GROUPS_PER_STEP, everything):
            agg: Windows | None = None
            device = ""
            last_id = 0
            for row in self.queue.backfill_rows(series, start, start + window_ms):
                last_id = max(last_id, row.id)
                try:
                    sample = from_line(row.line)
                except BadLine as err:
                    bad.append((row, f"cannot aggregate a late point: {err}"))
                    continue
                if agg is None:
                    agg, device = Windows(catalog.KINDS[sample.kind], spans), sample.device
                agg.add(sample)
            groups.append(Group(series, start, start + window_ms, last_id))
            if agg is None:
                continue
            for tier in self.tiers:
                assert tier.span is not None
                lines = agg.lines(device, tier.span)
                if tier.retention:  # windows the tier has already expired would be refused (422)
                    oldest_ms = (now - tier.retention + RAW_MARGIN) * 1000
                    kept = [line for line in lines if timestamp_of(line) >= oldest_ms]
                    self.stats.skipped += len(lines) - len(kept)
                    lines = kept
                out.setdefault(tier.bucket, []).extend(lines)
        return Batch(out, groups, bad)


@dataclass(frozen=True, slots=True)
class Batch:
    """What ``Backfill.next_batch`` found."""

    lines: dict[str, list[str]]  # tier bucket -> line protocol
    groups: list[Group]  # the series windows aggregated into ``lines``
    bad: list[tuple[Row, str]]  # rows that cannot be aggregated, with the reason
