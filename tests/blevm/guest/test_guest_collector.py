"""Inside the VM: ``solarmon collect`` over bleak + bluetoothd against the simulated devices.

One collector (interval 2 s, timeout 2 s, offline after 2 failures, adapter reset when both
devices fail) publishes to a real mosquitto in the guest for all scenarios of this module,
which run in file order; each leaves both devices flowing for the next, except the last.
"""

from __future__ import annotations

import time
from typing import Any

from blevm_rig import BMS, DEVICES, MPPT, OUT, Collector, Radio, SimDevice, Watcher, wait_for
import pytest

from solarmon.protocols import jbd, litime
from solarmon.sim import make_simulator

pytestmark = pytest.mark.blevm

INTERVAL = 2.0


def _flowing(watcher: Watcher, since: float, n: int = 2, timeout: float = 60, devices: tuple[SimDevice, ...] = DEVICES) -> None:
    for d in devices:
        wait_for(f"{n} live samples from {d.id}", lambda d=d: len(watcher.states(d, since)) >= n, timeout)


def _expected_litime(now: float) -> dict[str, Any]:
    sim = make_simulator(MPPT.kind, MPPT.address, MPPT.name)
    return dict(litime.decode_status(sim.handle(litime.status_request(), now)[0]))


def _expected_jbd(now: float) -> dict[str, Any]:
    sim = make_simulator(BMS.kind, BMS.address, BMS.name, auth="none")
    fields: dict[str, Any] = dict(jbd.decode_basic_info(sim.handle(jbd.read_request(jbd.Register.BASIC_INFO), now)[0]))
    fields.update(jbd.decode_cells(sim.handle(jbd.read_request(jbd.Register.CELLS), now)[0]))
    return fields


def _close(got: dict[str, Any], want: dict[str, Any], exact: tuple[str, ...], approx: dict[str, float]) -> None:
    for key in exact:
        assert got[key] == want[key], f"{key}: published {got[key]!r}, simulator says {want[key]!r}"
    for key, tolerance in approx.items():
        assert abs(got[key] - want[key]) <= tolerance, f"{key}: published {got[key]}, simulator says {want[key]}"


def _note(line: str) -> None:
    print(line)
    with (OUT / "roundtrip.txt").open("a") as fh:
        fh.write(line + "\n")


def test_collector_publishes_right_values_from_both(collector: Collector, watcher: Watcher) -> None:
    _flowing(watcher, 0.0, 3, timeout=90)
    assert watcher.availability(MPPT.id) == "online" and watcher.availability(BMS.id) == "online"
    mppt, bms = watcher.states(MPPT)[-1], watcher.states(BMS)[-1]
    # The same simulator model evaluated at the sample's timestamp: protocol, GATT chunking,
    # reassembly, decoding and the MQTT payload must not change a value.
    _close(mppt["fields"], _expected_litime(mppt["ts"] / 1000), ("load_on", "battery_temperature"),
           {"battery_voltage": 0.3, "pv_voltage": 2.0, "controller_temperature": 2.0})
    _close(bms["fields"], _expected_jbd(bms["ts"] / 1000), ("nominal_capacity", "cell_count", "cycles", "production_date"),
           {"pack_voltage": 0.1, "soc": 1.0, "cell_voltage_min": 0.02, "cell_voltage_max": 0.02})
    assert bms["fields"].get("hardware_version"), "hardware version (register 0x05) read after authentication"
    # Fixed-rate polling: consecutive live samples about one interval apart.
    ts = [s["ts"] / 1000 for s in watcher.states(MPPT)]
    gaps = [b - a for a, b in zip(ts, ts[1:], strict=False)]
    assert all(INTERVAL * 0.5 < g < INTERVAL * 2 for g in gaps), gaps
    assert "Traceback" not in collector.log()


def test_dropped_link_is_reconnected(radio: Radio, collector: Collector, watcher: Watcher) -> None:
    connections = radio.status(MPPT.id)["stats"]["connections"]
    radio.command(f"fault {MPPT.id} drop-link")
    dropped = time.monotonic()
    # Two samples after the reconnect: the second proves the notifications are not doubled
    # (a duplicate would break the next reply's reassembly).
    wait_for("mppt samples after the reconnect", lambda: len(watcher.states(MPPT, since=dropped + 1)) >= 3, 60)
    assert radio.status(MPPT.id)["stats"]["connections"] > connections
    assert "link lost" in collector.log()
    ts = [s["ts"] / 1000 for s in watcher.states(MPPT)]
    gap = max(b - a for a, b in zip(ts, ts[1:], strict=False))
    _note(f"collector, dropped link: longest gap between mppt samples {gap:.1f} s (interval {INTERVAL:.0f} s)")


def test_silent_device_times_out_without_stalling_the_other(radio: Radio, collector: Collector, watcher: Watcher) -> None:
    radio.command(f"fault {BMS.id} silent")
    silenced = time.monotonic()
    wait_for("bms reported offline", lambda: watcher.availability(BMS.id) == "offline", 60)
    time.sleep(2 * INTERVAL)
    mppt = [s["ts"] / 1000 for s in watcher.states(MPPT, since=silenced)]
    gaps = [b - a for a, b in zip(mppt, mppt[1:], strict=False)]
    assert len(mppt) >= 3 and max(gaps) < 2 * INTERVAL, f"mppt stalled while bms was silent: gaps {gaps}"
    assert watcher.availability(MPPT.id) == "online"
    radio.command(f"clear {BMS.id}")
    cleared = time.monotonic()
    _flowing(watcher, cleared, devices=(BMS,))
    _note(f"collector, silent bms: offline after {watcher_offline_delay(watcher, silenced):.1f} s, mppt kept "
          f"{len(mppt)} samples; bms back {watcher.first_after(BMS, cleared):.1f} s after the silence ended")


def test_hung_adapter_is_recovered_by_a_power_cycle(radio: Radio, collector: Collector, watcher: Watcher) -> None:
    radio.command("fault adapter hang")  # no data moves until BlueZ resets the controller
    hung = time.monotonic()
    wait_for("the collector to power-cycle hci0", lambda: "power-cycling" in collector.log(), 60)
    _flowing(watcher, hung + 5, timeout=90)
    assert not radio.command("status")["adapter"]["hung"], "the power-cycle reset the controller (HCI_Reset)"
    assert "adapter power-cycled" in collector.log()
    _note(f"collector, hung adapter: samples again {watcher.first_after(MPPT, hung):.1f} s (mppt) / "
          f"{watcher.first_after(BMS, hung):.1f} s (bms) after the hang began")


def test_wrong_jbd_password_is_reported_and_the_other_keeps_flowing(
    radio: Radio, collector: Collector, watcher: Watcher
) -> None:
    radio.command(f"fault {BMS.id} wrong-password")
    radio.command(f"fault {BMS.id} drop-link")  # the collector authenticates again on reconnect
    changed = time.monotonic()
    wait_for("a clear password error in the log", lambda: "rejected the BLE password" in collector.log(), 60)
    said = collector.log().count("rejected the BLE password")
    since = time.monotonic()
    _flowing(watcher, since, 3, devices=(MPPT,))
    assert collector.log().count("rejected the BLE password") == said, "said once, not in a tight retry loop"
    assert not watcher.states(BMS, since=changed + 5)
    assert "Traceback" not in collector.log()


def watcher_offline_delay(watcher: Watcher, since: float) -> float:
    """Seconds from ``since`` to the bms 'offline' availability message."""
    with watcher.lock:
        times = [t for t, topic, p in watcher.messages if topic == f"solarmon/{BMS.id}/availability"
                 and p == b"offline" and t > since]
    return min(times) - since if times else float("nan")
