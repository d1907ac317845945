"""A multi-day InfluxDB outage: late points reach the tiers (aggregated by the bridge), nothing is lost.

Against the write-API stand-in (tests/influx_standin.py), which refuses points older than a
bucket's retention with 422 as InfluxDB does.
"""

from __future__ import annotations

from pathlib import Path
import time

from harness import assert_same_points, assert_same_tiers, expected_points, expected_tiers, history
import pytest

from influx_standin import InfluxStandIn
from solarmon.bridge.backfill import RAW_MARGIN, Backfill, Routing
from solarmon.bridge.points import series_of, timestamp_of, to_line
from solarmon.bridge.queue import PointQueue
from solarmon.bridge.writer import InfluxWriter, QueueWriter
from solarmon.tiers import DEFAULT_TIERS, raw_tier

TOKEN = "w-token"
RAW = raw_tier(DEFAULT_TIERS).bucket


@pytest.fixture
def influx():
    with InfluxStandIn(token=TOKEN, max_body=400_000) as s:
        for t in DEFAULT_TIERS:
            s.add_bucket(t.bucket, t.retention)
        yield s


def _writer(influx: InfluxStandIn, path: Path, now: float) -> QueueWriter:
    """A writer whose clock stands still at ``now`` (the stand-in's retention uses the real one:
    they differ by the seconds a test takes, far less than the margins)."""
    q = PointQueue(path)
    return QueueWriter(q, InfluxWriter(influx.url, "solarmon", RAW, TOKEN, 5), 500, 0.05, 0.2,
                       backfill=Backfill(q, DEFAULT_TIERS, Routing.for_tiers(DEFAULT_TIERS)), clock=lambda: now)


def _drain(w: QueueWriter, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while w.queue.depth() or w.queue.backfill_depth():
        assert time.monotonic() < deadline, f"stuck: queue {w.queue.depth()}, backfill {w.queue.backfill_depth()}"
        w.step()


def _tiers(influx: InfluxStandIn) -> dict:
    return {k: v for t in DEFAULT_TIERS if t.span for k, v in influx.bucket_points(t.bucket).items()}


def _raw_expected(samples, now_s: float) -> dict:
    """Raw keeps late points whose whole 2-hour window is inside its retention (less the margin)."""
    return expected_points([s for s in samples
                            if s.ts_ms - s.ts_ms % 7_200_000 >= (now_s - 86400 + RAW_MARGIN) * 1000])


def test_three_day_outage_reaches_every_tier(influx: InfluxStandIn, tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    samples = history(days=3, step_s=60, end_ms=now_ms)  # 4,320 samples, 3 devices
    w = _writer(influx, tmp_path / "q.sqlite", now_ms / 1000)
    w.queue.put(line for s in samples if (line := to_line(s)))
    influx.fail_next(503, 3, retry_after="0")  # and it is still flaky when it comes back
    _drain(w)

    # raw: what its 24 h retention can hold; nothing older was even sent (no 422 storm)
    assert 422 not in influx.statuses and w.queue.dead_letter_count() == 0
    assert_same_points(influx.bucket_points(RAW), _raw_expected(samples, now_ms / 1000))

    # tiers: every late window, exact values and types, for the tiers whose retention holds it
    got = _tiers(influx)
    assert_same_tiers(got, expected_tiers(samples, now_ms / 1000))
    buckets = {key[0] for key in got}
    assert buckets == {"solar_2m", "solar_5m", "solar_30m", "solar_2h"}
    # 2-hour windows that ended less than an hour ago are left to the Flux tasks
    newest = max(key[3] for key in got) // 1_000_000
    newest_end = newest - newest % 7_200_000 + 7_200_000
    assert newest_end <= now_ms - 3600_000 < newest_end + 7_200_000
    assert w.backfill is not None and w.backfill.stats.windows > 0 and w.stats.late > 0


def test_outage_longer_than_a_tier_keeps_what_the_tier_can_hold(influx: InfluxStandIn, tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    samples = history(days=9, step_s=600, end_ms=now_ms)  # past the 7-day 2m tier
    w = _writer(influx, tmp_path / "q.sqlite", now_ms / 1000)
    w.queue.put(line for s in samples if (line := to_line(s)))
    _drain(w)
    got = influx.bucket_points("solar_2m")
    assert got and min(k[3] for k in got) >= (now_ms / 1000 - 7 * 86400) * 1e9
    assert len({k[3] for k in influx.bucket_points("solar_2h")}) > 9 * 12 - 2  # all 9 days
    assert w.backfill is not None and w.backfill.stats.skipped > 0 and w.queue.dead_letter_count() == 0


def test_points_an_older_bridge_dead_lettered_are_requeued(influx: InfluxStandIn, tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    samples = history(days=2, step_s=300, end_ms=now_ms - 26 * 3600_000)
    q = PointQueue(tmp_path / "q.sqlite")
    q.put(to_line(s) for s in samples)
    rows = q.peek(10_000)
    q.settle([], [(r, "HTTP 422: partial write: points beyond retention policy dropped=1", 422) for r in rows])
    assert q.dead_letter_count() == len(samples)
    assert q.requeue_expired() == len(samples) and q.dead_letter_count() == 0
    w = _writer(influx, tmp_path / "q.sqlite", now_ms / 1000)
    _drain(w)
    assert _tiers(influx).keys() == expected_tiers(samples, now_ms / 1000).keys()


def test_tier_write_failures_do_not_hold_back_raw_points(influx: InfluxStandIn, tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    w = _writer(influx, tmp_path / "q.sqlite", now_ms / 1000)
    old = history(days=0.5, step_s=60, end_ms=now_ms - 30 * 3600_000)
    w.queue.put(to_line(s) for s in old)
    two_min = influx.bucket_by_name("solar_2m")
    assert two_min is not None
    del influx.buckets[two_min.id]  # one tier bucket missing (404): the backfill must wait, not drop
    fresh = history(days=0.01, step_s=10, end_ms=now_ms, seed=9)
    w.queue.put(to_line(s) for s in fresh)
    deadline = time.monotonic() + 30
    while w.queue.depth():
        assert time.monotonic() < deadline
        w.step()
    assert_same_points(influx.bucket_points(RAW), expected_points(fresh))  # raw kept flowing
    # kept, not dropped (the fresh points are late too when their 2-hour window began over an hour ago)
    assert w.queue.backfill_depth() >= len(old)
    influx.buckets[two_min.id] = two_min
    _drain(w)
    assert _tiers(influx).keys() == expected_tiers(old + fresh, now_ms / 1000).keys()


def test_a_window_half_moved_before_a_restart_is_aggregated_whole(influx: InfluxStandIn, tmp_path: Path) -> None:
    """The bridge stopped after moving half of a late window to the backfill table; the other
    half is still queued. The restarted writer must wait for it, not write the half it has."""
    now_ms = int(time.time() * 1000)
    start = now_ms - 30 * 3600_000
    start -= start % 7_200_000
    samples = [s for s in history(days=2 / 24, step_s=20, end_ms=start + 7_200_000) if s.device == "battery1"]
    q = PointQueue(tmp_path / "q.sqlite")
    q.put(to_line(s) for s in samples)
    first = q.peek(len(samples) // 2)
    q.settle(first, late=[(r, series_of(r.line), timestamp_of(r.line)) for r in first])
    assert q.depth() == len(samples) - len(first) and q.backfill_depth() == len(first)
    w = _writer(influx, tmp_path / "q.sqlite", now_ms / 1000)
    w.step()  # the queue holds fewer rows than a batch and they are not due: the backfill's turn
    assert _tiers(influx) == {} and q.backfill_depth() == len(first)
    _drain(w)
    assert_same_tiers(_tiers(influx), expected_tiers(samples, now_ms / 1000))
