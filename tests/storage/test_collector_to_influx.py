"""The whole write path: simulated devices -> collector -> Publisher -> real mosquitto -> bridge -> stand-in."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from harness import RAW_BUCKET, assert_same_points, expected_points, wait_until
import pytest

from simrig import build, rig_config
from solarmon.collector import Sink
from solarmon.payload import Sample
from solarmon.publisher import Publisher

pytestmark = pytest.mark.mosquitto


@dataclass
class TeeSink(Sink):
    """Forwards to the real MQTT publisher and remembers every sample it was given."""

    publisher: Publisher
    samples: list[Sample] = field(default_factory=list)

    def publish(self, sample: Sample) -> None:
        self.samples.append(sample)
        self.publisher.publish(sample)

    def set_availability(self, device: str, online: bool) -> None:
        self.publisher.set_availability(device, online)


async def test_collector_samples_arrive_exactly(rig, tmp_path) -> None:
    cfg = rig_config(tmp_path, interval=0.5)
    cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"port": rig["broker"].port})})
    publisher = Publisher(cfg, client_id="collector-under-test")
    publisher.start()
    assert await asyncio.to_thread(publisher.connected.wait, 10)
    sink = TeeSink(publisher)
    coll, _sims, _air = build(cfg, sink)
    task = asyncio.ensure_future(coll.run())
    await asyncio.sleep(3.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    publisher.stop()  # waits for the broker's acks of what is queued
    assert {s.device for s in sink.samples} == {"mppt", "battery1", "battery2"}
    assert len(sink.samples) >= 9
    influx = rig["influx"]
    n = len(sink.samples)
    await asyncio.to_thread(wait_until, lambda: len(influx.bucket_points(RAW_BUCKET)) >= n, 15, "collector samples")
    assert_same_points(influx.bucket_points(RAW_BUCKET), expected_points(sink.samples))
