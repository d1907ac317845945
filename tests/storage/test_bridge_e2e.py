"""Publisher -> real mosquitto -> `solarmon bridge` subprocess -> InfluxDB stand-in: nothing lost."""

from __future__ import annotations

import os
import threading
import time

from harness import (
    RAW_BUCKET,
    StatusWatcher,
    assert_same_points,
    assert_same_tiers,
    expected_points,
    expected_tiers,
    history,
    make_samples,
    wait_until,
)
import pytest

from influx_standin import wait_port_closed
from solarmon.bridge.queue import PointQueue
from solarmon.bridge.service import QUEUE_FILE
from solarmon.tiers import DEFAULT_TIERS

pytestmark = pytest.mark.mosquitto

#: Length of the "database down" period. The issue asks for 10 minutes; the suite uses a few
#: seconds (the code path is the same: connection refused, backoff capped at max_backoff).
OUTAGE_S = float(os.environ.get("SOLARMON_OUTAGE_S", "3"))


def test_every_point_arrives_with_catalog_types(rig) -> None:
    samples = make_samples(600)
    rig["pub"].publish(samples)
    influx = rig["influx"]
    wait_until(lambda: len(influx.bucket_points(RAW_BUCKET)) >= 600, 20, "600 points")
    assert_same_points(influx.bucket_points(RAW_BUCKET), expected_points(samples))
    st = rig["status"].wait_for(lambda s: s["written"] >= 600 and s["queue_depth"] == 0)
    assert st["malformed"] == {} and st["dead_lettered"] == 0
    assert st["write_latency_ms"] is not None and st["influx_error"] is None
    late = StatusWatcher(rig["broker"].host, rig["broker"].port)  # a new subscriber gets the retained copy
    try:
        assert late.wait_for(lambda s: s["written"] >= 600)["retained"]
    finally:
        late.close()


def test_sigkill_mid_batch_loses_nothing(rig) -> None:
    influx, bridge, pub = rig["influx"], rig["bridge"], rig["pub"]
    influx.write_delay = 0.15  # keep a write request in flight when the kill lands
    samples = make_samples(2000, seed=2)
    sender = threading.Thread(target=pub.publish, args=(samples,))
    sender.start()
    wait_until(lambda: influx.lines_received > 0, 20, "the first batch to reach InfluxDB")
    bridge.kill()  # SIGKILL: no clean shutdown, no final commit, unacked messages stay with the broker
    written_before = len(influx.bucket_points(RAW_BUCKET))
    sender.join(30)
    assert written_before < len(samples), "the kill came too late to prove anything"
    influx.write_delay = 0
    bridge.start()
    wait_until(lambda: len(influx.bucket_points(RAW_BUCKET)) >= len(samples), 30, "all points after restart")
    assert_same_points(influx.bucket_points(RAW_BUCKET), expected_points(samples))
    rig["status"].wait_for(lambda s: s["queue_depth"] == 0 and s["state"] == "running")


def test_broker_restart_loses_nothing(rig) -> None:
    influx, pub, broker = rig["influx"], rig["pub"], rig["broker"]
    first, second = make_samples(500, seed=3)[:250], make_samples(500, seed=3)[250:]
    pub.publish(first)
    broker.restart()  # clean restart with persistence; the bridge's session must survive it
    pub.client.reconnect()
    pub.publish(second)
    wait_until(lambda: len(influx.bucket_points(RAW_BUCKET)) >= 500, 30, "all points after broker restart")
    assert_same_points(influx.bucket_points(RAW_BUCKET), expected_points(first + second))


def test_messages_queued_by_broker_while_bridge_is_down(rig) -> None:
    influx, bridge, pub = rig["influx"], rig["bridge"], rig["pub"]
    assert bridge.stop() == 0
    samples = make_samples(400, seed=4)
    pub.publish(samples)  # only the broker's persistent session holds these now
    bridge.start()
    wait_until(lambda: len(influx.bucket_points(RAW_BUCKET)) >= 400, 20, "points queued by the broker")
    assert_same_points(influx.bucket_points(RAW_BUCKET), expected_points(samples))


def test_database_down_period_loses_nothing(rig) -> None:
    """InfluxDB unreachable for OUTAGE_S seconds (the issue's 10 minutes: SOLARMON_OUTAGE_S=600)."""
    influx, pub, status = rig["influx"], rig["pub"], rig["status"]
    influx.down()
    wait_port_closed(influx.port)
    samples = make_samples(1200, seed=5)
    started = time.monotonic()
    pub.publish(samples[:600])
    st = status.wait_for(lambda s: s["queue_depth"] == 600 and s["influx_error"])
    assert "Connection refused" in st["influx_error"]
    assert influx.bucket_points(RAW_BUCKET) == {}
    time.sleep(max(0.0, OUTAGE_S / 2 - (time.monotonic() - started)))
    pub.publish(samples[600:])
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))
    assert status.wait_for(lambda s: s["queue_depth"] == 1200)["written"] == 0
    influx.up()
    wait_until(lambda: len(influx.bucket_points(RAW_BUCKET)) >= 1200, 20, "replay after the outage")
    assert_same_points(influx.bucket_points(RAW_BUCKET), expected_points(samples))
    st = status.wait_for(lambda s: s["queue_depth"] == 0 and s["influx_error"] is None)
    assert st["written"] == 1200


def test_three_days_without_database_reach_raw_and_every_tier(rig) -> None:
    """InfluxDB down for three days (samples stamped over the last 72 h, as the collector made
    them), the bridge SIGKILLed meanwhile: afterwards the raw bucket holds what its 24 h keep,
    and every tier holds exact windows for the rest; nothing is dead-lettered."""
    influx, pub, status, bridge = rig["influx"], rig["pub"], rig["status"], rig["bridge"]
    for tier in DEFAULT_TIERS:
        if tier.span is None:
            influx.bucket_by_name(RAW_BUCKET).retention = tier.retention
        else:
            influx.add_bucket(tier.bucket, tier.retention)
    influx.down()
    wait_port_closed(influx.port)
    now = time.time()
    # Leave out the few minutes around the two time lines the bridge draws (raw retention,
    # and the hour after which a 2-hour window is late): which side those points fall on
    # depends on when during the test they are sent.
    def ambiguous(ts_ms: int) -> bool:
        window_start = (ts_ms - ts_ms % 7_200_000) / 1000
        return abs(window_start + 7200 - (now - 3600)) <= 300 or abs(window_start - (now - 86400 + 600)) <= 300

    samples = [s for s in history(days=3, step_s=90, end_ms=int(now * 1000)) if not ambiguous(s.ts_ms)]
    half = len(samples) // 2
    pub.publish(samples[:half])
    # the oldest points need no raw write (past its retention): they wait for the tiers
    st = status.wait_for(lambda s: s["queue_depth"] + s["backfill_depth"] == half and s["backfill_error"])
    assert "Connection refused" in st["backfill_error"] and st["backfill_depth"] > 0
    bridge.kill()
    bridge.start()
    pub.publish(samples[half:])
    st = status.wait_for(lambda s: s["state"] == "running" and s["received"] == len(samples) - half
                         and s["queue_depth"] + s["backfill_depth"] == len(samples) and s["influx_error"])
    assert st["queue_depth"] > 0  # the last day's points wait for the raw bucket
    influx.up()
    st = status.wait_for(lambda s: s["queue_depth"] == 0 and s["backfill_depth"] == 0 and s["written"] > 0, 60)
    assert st["dead_lettered"] == 0 and st["backfilled_windows"] > 0 and st["late"] > 0
    assert 422 not in influx.statuses
    assert_same_points(influx.bucket_points(RAW_BUCKET), expected_points(
        [s for s in samples if s.ts_ms - s.ts_ms % 7_200_000 >= (now - 86400 + 600) * 1000]))
    got = {k: v for t in DEFAULT_TIERS if t.span for k, v in influx.bucket_points(t.bucket).items()}
    assert_same_tiers(got, expected_tiers(samples, now))


def test_throttling_and_unavailable_are_retried(rig) -> None:
    influx, pub = rig["influx"], rig["pub"]
    influx.fail_next(429, 1, retry_after="1")
    influx.fail_next(503, 1)
    samples = make_samples(300, seed=6)
    pub.publish(samples)
    wait_until(lambda: len(influx.bucket_points(RAW_BUCKET)) >= 300, 20, "points after 429/503")
    assert_same_points(influx.bucket_points(RAW_BUCKET), expected_points(samples))
    assert influx.statuses[:2] == [429, 503] and set(influx.statuses[2:]) == {204}


def test_malformed_messages_are_counted_and_never_crash(rig) -> None:
    influx, pub, bridge = rig["influx"], rig["pub"], rig["bridge"]
    good = make_samples(90, seed=7)
    bad = [
        ("solarmon/battery1/state", b"\xff\xfe not json"),
        ("solarmon/battery1/state", b"[1, 2]"),
        ("solarmon/battery1/state", b'{"ts": 1700000000000, "device": "battery1", "kind": "jbd-bms"}'),
        ("solarmon/battery1/state",
         b'{"ts": 1700000000000, "device": "battery1", "kind": "jbd-bms", "fields": {"bogus": 1}}'),
        ("solarmon/battery1/state",
         b'{"ts": 1700000000000, "device": "battery1", "kind": "jbd-bms", "fields": {"cycles": 1.5}}'),
        ("solarmon/battery1/state",
         b'{"ts": 1700000000000, "device": "other", "kind": "jbd-bms", "fields": {"cycles": 1}}'),
        ("solarmon/battery1/state", b'{"ts": 1700000000000, "device": "battery1", "kind": "toaster", "fields": {}}'),
        ("solarmon/battery1/state",
         b'{"ts": 1700000000000, "device": "battery1", "kind": "jbd-bms", "fields": {"soc": null}}'),
    ]
    for i, s in enumerate(good):
        pub.publish([s])
        if i % 10 == 0:
            for topic, payload in bad:
                pub.raw(topic, payload)
    wait_until(lambda: len(influx.bucket_points(RAW_BUCKET)) >= 90, 20, "the good points")
    assert_same_points(influx.bucket_points(RAW_BUCKET), expected_points(good))
    st = rig["status"].wait_for(lambda s: sum(s["malformed"].values()) == 9 * len(bad))
    assert st["malformed"] == {"not-json": 9, "not-object": 9, "missing-key": 9, "unknown-field": 9,
                               "bad-value": 9, "bad-device": 9, "unknown-kind": 9, "all-null": 9}
    assert bridge.proc.poll() is None
    assert bridge.stop() == 0
    out = bridge.output()
    assert out.count("dropping malformed message") == 8, out  # once per reason, not per message
    assert "Traceback" not in out


def test_field_type_conflict_is_dead_lettered_not_blocking(rig) -> None:
    influx, pub = rig["influx"], rig["pub"]
    # Someone wrote soc as an integer before (e.g. an old tool): our float soc conflicts forever.
    samples = make_samples(300, seed=8)
    victim = next(s for s in samples if s.kind == "jbd-bms" and "soc" in s.fields)
    with influx.lock:
        influx.field_types[(RAW_BUCKET, "jbd-bms", "soc")] = "integer"
    pub.publish(samples)
    st = rig["status"].wait_for(lambda s: s["queue_depth"] == 0 and s["written"] > 0 and s["dead_lettered"] > 0)
    with_soc = [s for s in samples if s.kind == "jbd-bms" and "soc" in s.fields]
    assert victim in with_soc
    assert st["dead_lettered"] == len(with_soc)
    assert_same_points(influx.bucket_points(RAW_BUCKET),
                       expected_points([s for s in samples if s not in with_soc]))
    rig["bridge"].stop()
    queue = PointQueue(rig["tmp"] / "state" / QUEUE_FILE)
    dead = queue.dead_letters()
    assert len(dead) == len(with_soc)
    assert all(status == 400 and "field type conflict" in reason for _line, reason, status in dead)
    assert queue.depth() == 0


def test_acked_messages_are_not_redelivered(rig) -> None:
    """The batched PUBACKs reach the broker: a restarted bridge gets nothing twice."""
    influx, bridge, pub = rig["influx"], rig["bridge"], rig["pub"]
    samples = make_samples(900, seed=9)
    pub.publish(samples)
    wait_until(lambda: len(influx.bucket_points(RAW_BUCKET)) >= 900, 20, "all points")
    assert bridge.stop() == 0
    received = influx.lines_received
    assert received == 900  # and nothing was written twice the first time either
    bridge.start()
    rig["status"].wait_for(lambda s: s["state"] == "running" and s["received"] == 0)
    more = make_samples(30, seed=10, start_ms=samples[-1].ts_ms + 1)
    pub.publish(more)
    wait_until(lambda: len(influx.bucket_points(RAW_BUCKET)) >= 930, 20, "the new points")
    time.sleep(0.5)
    assert influx.lines_received == 930
