"""Catch-up after an InfluxDB outage longer than the late-data allowance: how fast the bridge
aggregates late points into the tiers (bridge/backfill.py), in-process, into the stand-in.

    /tmp/venv311/bin/python benchmarks/bridge_backfill.py --days 3

Three devices (one LiTime MPPT, two JBD packs with every catalog field) at 27 s, stamped over
the last ``--days`` days, all queued as if InfluxDB had been down that long.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import resource
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from influx_standin import InfluxStandIn  # noqa: E402
from solarmon import catalog  # noqa: E402
from solarmon.bridge.backfill import Backfill, Routing  # noqa: E402
from solarmon.bridge.points import to_line  # noqa: E402
from solarmon.bridge.queue import PointQueue  # noqa: E402
from solarmon.bridge.writer import InfluxWriter, QueueWriter  # noqa: E402
from solarmon.payload import Sample  # noqa: E402
from solarmon.tiers import DEFAULT_TIERS, raw_tier  # noqa: E402

_VALUES = {catalog.ValueType.FLOAT: 12.345, catalog.ValueType.INT: 3, catalog.ValueType.BOOL: True,
           catalog.ValueType.STR: "v1.2"}


def lines(days: float, now_ms: int) -> list[str]:
    devices = [("mppt1", catalog.LITIME_MPPT), ("pack1", catalog.JBD_BMS), ("pack2", catalog.JBD_BMS)]
    n = int(days * 86400 / 27)
    out = []
    for i in range(n):
        for j, (device, kind) in enumerate(devices):
            fields = {f.name: (_VALUES[f.type] + i % 7 if f.type is catalog.ValueType.FLOAT else _VALUES[f.type])
                      for f in kind.fields}
            line = to_line(Sample(now_ms - (n - i) * 27_000 + j * 100, device, kind.name, fields))
            assert line is not None
            out.append(line)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=float, default=3.0)
    args = ap.parse_args()
    now = time.time()
    queued = lines(args.days, int(now * 1000))
    with InfluxStandIn(token="t", keep_points=False) as influx, tempfile.TemporaryDirectory() as tmp:
        for t in DEFAULT_TIERS:
            influx.add_bucket(t.bucket, t.retention)
        q = PointQueue(Path(tmp) / "q.sqlite")
        q.put(queued)
        w = QueueWriter(q, InfluxWriter(influx.url, "solarmon", raw_tier(DEFAULT_TIERS).bucket, "t", 30),
                        500, 0.05, 1.0, backfill=Backfill(q, DEFAULT_TIERS, Routing.for_tiers(DEFAULT_TIERS)))
        cpu0, t0 = time.process_time(), time.monotonic()
        while q.depth() or q.backfill_depth():
            w.step()
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        assert w.backfill is not None
        print(f"{len(queued):,} queued points ({args.days:g} days, 3 devices at 27 s): "
              f"{w.stats.late:,} late, {w.stats.written:,} written to raw, "
              f"{w.backfill.stats.windows:,} series windows -> {w.backfill.stats.tier_points:,} tier points")
        print(f"drained in {wall:.1f} s wall, {cpu:.1f} s CPU in the bridge: "
              f"{len(queued) / wall:,.0f} points/s, {cpu / len(queued) * 1e6:.0f} us CPU per point "
              "(the stand-in shares the process: it only counts lines here)")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
              f"requests {w.stats.requests}, dead-lettered {q.dead_letter_count()}")


if __name__ == "__main__":
    main()
