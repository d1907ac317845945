"""Bridge throughput: publisher -> real mosquitto -> `solarmon bridge` -> InfluxDB stand-in.

Reports sustained messages/s end to end (published and acknowledged by InfluxDB) and the
bridge's RSS over the run, to show memory stays flat. Target: >= 5,000 msg/s on 2 cores,
flat memory over 1M messages.

    /tmp/venv311/bin/python benchmarks/bridge_throughput.py --count 1000000
"""

from __future__ import annotations

import argparse
import json
import time

from bridge_common import Rig, Sampler, cpu_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200_000, help="messages to push through (default 200k)")
    ap.add_argument("--rate", type=float, help="publish at this rate instead of as fast as possible")
    ap.add_argument("--paho-publisher", action="store_true",
                    help="publish with paho in Python instead of mosquitto_pub (costs the bridge CPU)")
    ap.add_argument("--trace", action="store_true", help="print every 1 s sample")
    ap.add_argument("--batch-size", type=int, default=500, help="bridge.batch_size (default: the config default)")
    args = ap.parse_args()

    start_ts = int(time.time() * 1000) - args.count  # distinct, plausible timestamps
    with Rig(batch_size=args.batch_size) as rig:
        rss_start = Sampler(rig, 0.1)
        with rss_start.running():
            time.sleep(0.3)
        assert rig.bridge is not None and rig.broker.proc is not None
        cpu0 = cpu_seconds(rig.bridge.pid), cpu_seconds(rig.broker.proc.pid), time.process_time()
        sampler = Sampler(rig, 1.0)
        with sampler.running():
            t0 = time.monotonic()
            pub = rig.publisher(args.count, start_ts, args.rate, paho=args.paho_publisher)
            rig.wait(lambda: len(rig.influx.distinct) >= args.count, 3600, "all points written")
            elapsed = time.monotonic() - t0
            published = json.loads(pub.communicate(timeout=60)[0])
            cpu1 = cpu_seconds(rig.bridge.pid), cpu_seconds(rig.broker.proc.pid), time.process_time()
        assert len(rig.influx.distinct) == args.count, (len(rig.influx.distinct), args.count)
        rss0 = rss_start.samples[-1][2]
        print(f"messages:            {args.count:,} ({rig.influx.lines_received:,} lines received, "
              f"{len(rig.influx.distinct):,} distinct points)")
        print(f"publisher:           {published['published'] / published['seconds']:,.0f} msg/s acknowledged by broker")
        print(f"end to end:          {args.count / elapsed:,.0f} msg/s over {elapsed:.1f} s")
        # steady state: exclude the first and last 10 % of the run
        pts = [(t, n) for t, n, _r in sampler.samples if 0.1 * args.count <= n <= 0.9 * args.count]
        if len(pts) >= 2:
            (ta, na), (tb, nb) = pts[0], pts[-1]
            print(f"sustained (10-90 %): {(nb - na) / (tb - ta):,.0f} msg/s")
        per_msg = [(b - a) / args.count * 1e6 for a, b in zip(cpu0, cpu1, strict=True)]
        print(f"CPU per message:     bridge {per_msg[0]:.0f} us, mosquitto {per_msg[1]:.0f} us, "
              f"stand-in {per_msg[2]:.0f} us, publisher {published['cpu'] / args.count * 1e6:.0f} us")
        print(f"bridge RSS:          start {rss0 / 1024:.1f} MiB")
        marks = sorted({int(args.count * f) for f in (0.1, 0.25, 0.5, 0.75, 1.0)})
        for mark in marks:
            row = next(((t, n, r) for t, n, r in sampler.samples if n >= mark), sampler.samples[-1])
            print(f"                     at {row[1]:>9,} points: {row[2] / 1024:.1f} MiB")
        print(f"                     max {max(r for *_x, r in sampler.samples) / 1024:.1f} MiB")
        print(f"bridge status:       {rig.status}")
        if args.trace:
            print("t, points, rss KiB:", sampler.samples)


if __name__ == "__main__":
    main()
