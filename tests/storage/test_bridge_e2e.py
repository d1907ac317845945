"""Publisher -> real mosquitto -> `solarmon bridge` subprocess -> InfluxDB stand-in: nothing lost."""

from __future__ import annotations

from harness import RAW_BUCKET, StatusWatcher, assert_same_points, expected_points, make_samples, wait_until
import pytest

pytestmark = pytest.mark.mosquitto


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
