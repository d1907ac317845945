"""Bridge catch-up rates: replay of the SQLite queue after an InfluxDB outage, and the drain of a
backlog the broker queued while the bridge was stopped.

    /tmp/venv311/bin/python benchmarks/bridge_replay.py --count 200000
"""

from __future__ import annotations

import argparse
import time

from bridge_common import Rig, cpu_seconds, rss_kib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100_000, help="messages per phase (default 100k)")
    ap.add_argument("--batch-size", type=int, default=500, help="bridge.batch_size (default: the config default)")
    args = ap.parse_args()
    n = args.count

    with Rig(batch_size=args.batch_size) as rig:
        assert rig.bridge is not None
        # Phase 1: InfluxDB down, every message goes to the on-disk queue.
        rig.influx.down()
        t0 = time.monotonic()
        pub = rig.publisher(n, int(time.time() * 1000) - 3 * n)
        rig.wait(lambda: rig.status.get("queue_depth") == n, 3600, "all messages queued on disk")
        queued_s = time.monotonic() - t0
        pub.communicate(timeout=60)
        queue_file = rig.tmp / "state" / "bridge-queue.sqlite"
        size = sum(p.stat().st_size for p in queue_file.parent.glob("bridge-queue.sqlite*"))
        rss_outage = rss_kib(rig.bridge.pid)

        # Phase 2: InfluxDB back; time the replay.
        cpu0 = cpu_seconds(rig.bridge.pid)
        t1 = time.monotonic()
        rig.influx.up()
        rig.wait(lambda: len(rig.influx.distinct) >= n, 3600, "replay")
        replay_s = time.monotonic() - t1
        replay_cpu = cpu_seconds(rig.bridge.pid) - cpu0
        assert len(rig.influx.distinct) == n

        # Phase 3: bridge stopped, the broker queues for its persistent session; then drain.
        rig.bridge.terminate()
        rig.bridge.wait(30)
        rig.status.clear()
        rig.publisher(n, int(time.time() * 1000) - 2 * n).communicate(timeout=3600)
        t2 = time.monotonic()
        rig.start_bridge()
        rig.wait(lambda: len(rig.influx.distinct) >= 2 * n, 3600, "backlog drained")
        drain_s = time.monotonic() - t2
        assert len(rig.influx.distinct) == 2 * n

        print(f"messages per phase:        {n:,}")
        print(f"outage intake to SQLite:   {n / queued_s:,.0f} msg/s (queue file {size / 1e6:.0f} MB, "
              f"{size / n:.0f} B/point, bridge RSS {rss_outage / 1024:.1f} MiB)")
        print(f"replay after the outage:   {n / replay_s:,.0f} points/s ({replay_s:.1f} s, "
              f"{replay_cpu / n * 1e6:.0f} us CPU per point)")
        print(f"broker backlog drain:      {n / drain_s:,.0f} msg/s end to end ({drain_s:.1f} s incl. bridge start)")
        print(f"write requests:            {len(rig.influx.statuses):,} (all answered {set(rig.influx.statuses)})")


if __name__ == "__main__":
    main()
