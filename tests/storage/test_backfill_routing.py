"""Which points are late: exactly those the Flux tasks would never re-read (checked against tasks.Timing)."""

from __future__ import annotations

from solarmon.bridge.backfill import RAW_MARGIN, Routing
from solarmon.influx.tasks import LATE_DATA, timing
from solarmon.tiers import DAY, DEFAULT_TIERS, downsampled

ROUTING = Routing.for_tiers(DEFAULT_TIERS)
NOW = 1_790_000_000  # s


def test_routing_for_the_default_tiers() -> None:
    assert Routing(window=7200, late_after=LATE_DATA, raw_retention=DAY) == ROUTING


def _covered(routing: Routing, tier, write_at: int, ts: int) -> bool:
    """Whether the task runs after ``write_at`` re-read the window of ``ts`` (task on schedule,
    its last success the run just before the write)."""
    t = timing(tier, DEFAULT_TIERS)
    window_start = ts - ts % tier.span
    last = write_at - write_at % tier.span
    run = last + tier.span
    while True:
        start, stop = t.window(run, last)
        if window_start + tier.span <= stop:  # the first run that sees the whole window
            return start <= window_start
        last, run = run, run + tier.span


def _sweep(routing: Routing) -> list[tuple[str, int, int]]:
    """(tier, write time, age) of every point routed as 'not late' that no task run re-reads."""
    missed = []
    for tier in downsampled(DEFAULT_TIERS):
        for offset in range(0, 7200, 419):  # write times across a whole coarsest window
            write_at = NOW + offset
            for age in range(0, 6 * 3600, 37):
                ts = write_at - age
                if not routing.is_late(ts * 1000, write_at) and not _covered(routing, tier, write_at, ts):
                    missed.append((tier.name, write_at, age))
    return missed


def test_a_point_that_is_not_late_is_aggregated_by_the_next_task_runs() -> None:
    assert _sweep(ROUTING) == []
    # the check can fail: two hours of allowance would be more than the tasks re-read
    assert _sweep(Routing(7200, 2 * 3600, DAY))


def test_late_is_decided_per_coarsest_window() -> None:
    # Every point of one 2-hour window gets the same answer, so no tier window is split.
    start = NOW - NOW % 7200
    for now in (start + 7200 + 3599, start + 7200 + 3600):
        answers = {ROUTING.is_late((start + s) * 1000, now) for s in range(0, 7200, 27)}
        assert answers == {now - 3600 >= start + 7200}
    # on time: never late, whatever the moment in the window
    assert not any(ROUTING.is_late((start + s) * 1000, start + s + 5) for s in range(0, 7200, 27))


def test_raw_bucket_takes_late_points_only_when_it_holds_their_whole_window() -> None:
    start = NOW - NOW % 7200
    now = start + 3000  # the raw bucket holds [now - DAY, ...)
    for s in range(0, 7200, 27):
        assert not ROUTING.raw_accepts((start - DAY + s) * 1000, now)  # partly expired window
        assert ROUTING.raw_accepts((start - DAY + 7200 + s) * 1000, now)
        assert ROUTING.raw_accepts((start + s) * 1000, now)
    # within RAW_MARGIN of expiring, the window is no longer sent
    assert ROUTING.raw_accepts((start - DAY + 7200) * 1000, start + 7200 - RAW_MARGIN)
    assert not ROUTING.raw_accepts((start - DAY + 7200) * 1000, start + 7200 - RAW_MARGIN + 1)
    assert Routing(7200, LATE_DATA, 0).raw_accepts(0, NOW)  # kept forever
