"""Collector benchmarks (run by hand): decode+publish cost, idle CPU, poll round trip.

    python benchmarks/collector_bench.py [--idle-seconds 60]

Targets (issue 3): idle CPU with 3 devices well under 1 % of a core; poll round trip at
most 1.2x the simulator's injected latency. Needs mosquitto for the publish and idle parts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from simrig import ListSink, build, rig_config  # noqa: E402
from solarmon import payload  # noqa: E402
from solarmon.clock import ClockCheck  # noqa: E402
from solarmon.processor import Processor  # noqa: E402
from solarmon.protocols import jbd, litime  # noqa: E402
from solarmon.publisher import Publisher  # noqa: E402
from solarmon.sim.broker import Mosquitto, mosquitto_binary  # noqa: E402

LITIME_FRAME = bytes.fromhex("0103260064008f05c900d31bff008f000200000321036804ba0000800400000003000017e000000000a884")
JBD_FRAME = bytes.fromhex("dd03001b1700000002d003e8000020780000000000001048030f020b760b82fbff77")


def bench_decode_publish(broker: Mosquitto | None, n: int = 20000) -> None:
    """CPU per sample: reassemble 20-byte chunks, decode, build the JSON, hand it to paho."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = rig_config(Path(tmp))
        if broker:
            cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"host": broker.host,
                                                                               "port": broker.port})})
        pub = Publisher(cfg, client_id="bench") if broker else None
        if pub:
            pub.start()
            pub.connected.wait(5)
        chunks = [LITIME_FRAME[i : i + 20] for i in range(0, len(LITIME_FRAME), 20)]
        t0 = time.process_time()
        for _ in range(n):
            asm = litime.FrameAssembler()
            frame = None
            for c in chunks:
                frame = asm.feed(c) or frame
            assert frame is not None
            sample = payload.Sample(int(time.time() * 1000), "mppt", "litime-mppt", dict(litime.decode_status(frame)))
            if pub:
                pub.publish(sample)
            else:
                payload.encode(sample)
        per = (time.process_time() - t0) / n
        if pub:
            pub.stop()
    t1 = time.process_time()
    for _ in range(n):
        jbd.decode_basic_info(JBD_FRAME)
    jbd_us = (time.process_time() - t1) / n * 1e6
    where = "incl. paho publish to mosquitto" if broker else "without broker"
    print(f"decode+publish: {per * 1e6:.1f} us CPU per LiTime sample ({where}); JBD basic-info decode {jbd_us:.1f} us")


async def _idle(seconds: float, interval: float, broker: Mosquitto | None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = rig_config(Path(tmp), interval=interval)
        sink: ListSink | Publisher = ListSink()
        if broker:
            cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"host": broker.host,
                                                                               "port": broker.port})})
            sink = Publisher(cfg, client_id="bench-idle")
            sink.start()
        # The production wiring: the processor (bank, alerts, energy, clock, health; a 1 s
        # housekeeping tick) sits between the collector and the publisher.
        cfg = cfg.model_copy(update={"collector": cfg.collector.model_copy(update={"state_dir": tmp})})
        processor = Processor(cfg, sink, clock=ClockCheck(trust="always"))
        coll, _sims, _ = build(cfg, processor)
        processor.attach(coll)
        task = asyncio.ensure_future(asyncio.gather(coll.run(), processor.run()))
        await asyncio.sleep(5)  # connect and authenticate first
        c0, w0 = time.process_time(), time.monotonic()
        polls0 = sum(r.health.polls for r in coll.runners)
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - c0, time.monotonic() - w0
        polls = sum(r.health.polls for r in coll.runners) - polls0
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if isinstance(sink, Publisher):
            sink.stop()
    return cpu / wall * 100, polls


async def _round_trip(delay: float, polls: int = 20) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = rig_config(Path(tmp), interval=0.5, timeout=2.0)
        sink = ListSink()
        coll, sims, _ = build(cfg, sink)
        for s in sims.values():
            s.faults.delay = delay
        task = asyncio.ensure_future(coll.run())
        while min(r.health.polls for r in coll.runners) < polls:  # noqa: ASYNC110 - polling a counter, once per 0.2 s
            await asyncio.sleep(0.2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return {r.cfg.id: statistics.median(r.health.poll_seconds) for r in coll.runners}


def main() -> None:
    """Run all three and print a report."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    args = ap.parse_args()
    broker = Mosquitto() if mosquitto_binary() else None
    if broker:
        broker.start()
    try:
        bench_decode_publish(broker)
        pct, polls = asyncio.run(_idle(args.idle_seconds, 27.0, broker))
        print(f"idle CPU, 3 devices at 27 s + processor, {args.idle_seconds:.0f} s: {pct:.3f} % of one core "
              f"({polls} polls; target well under 1 %)")
        delay = 0.1
        rtt = asyncio.run(_round_trip(delay))
        # A LiTime poll is one request; a JBD poll is two (basic info + cells).
        requests = {"mppt": 1, "battery1": 2, "battery2": 2}
        for dev, med in rtt.items():
            ratio = med / (delay * requests[dev])
            print(f"poll round trip {dev}: median {med * 1000:.1f} ms for {requests[dev]} x {delay * 1000:.0f} ms "
                  f"injected = {ratio:.2f}x (target <= 1.2x)")
    finally:
        if broker:
            broker.close()


if __name__ == "__main__":
    main()
