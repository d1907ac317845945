"""Guest fixtures: simulated peripherals on vhci, bluetoothd, the collector, an MQTT watcher.

Only collected inside the ble-vm guest (see ../conftest.py). Every wait has a timeout: a
broken link makes bleak hang instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
import faulthandler
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Any

from blevm_rig import (
    DEVICES,
    OUT,
    SIM_CONFIG,
    Collector,
    Radio,
    Watcher,
    adapter_powered,
    bluetoothd_path,
    check_sim_config,
    out_log,
    python_cmd,
    wait_for,
    write_config,
)
import paho.mqtt.client as mqtt
import pytest

from broker import Mosquitto

TEST_DEADLINE = 120  # s per test; a hung bleak call must fail one test, not the session


@pytest.fixture(autouse=True)
def _deadline() -> Iterator[None]:
    """Dump every thread's stack, then fail the test, if it runs past ``TEST_DEADLINE``."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"test still running after {TEST_DEADLINE} s")

    faulthandler.dump_traceback_later(TEST_DEADLINE - 5, file=sys.stderr)
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_DEADLINE)
    yield
    signal.alarm(0)
    faulthandler.cancel_dump_traceback_later()
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def radio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radio]:
    """Peripherals first (their vhci controller becomes hci0), then bluetoothd powers it.

    guest_init.sh normally starts ``solarmon simulate`` early (``BLEVM_SIM_*``); otherwise
    it is started here.
    """
    radio = Radio(control=os.environ.get("BLEVM_SIM_CONTROL", ""), config=SIM_CONFIG)
    ready_file = os.environ.get("BLEVM_SIM_READY")
    if ready_file:
        check_sim_config(Path(os.environ.get("BLEVM_SIM_CONFIG", SIM_CONFIG)))
    else:
        work = tmp_path_factory.mktemp("radio")
        radio.control = str(work / "sim.sock")
        ready_file = str(work / "sim.ready")
        if shutil.which("btmon"):  # the kernel's view of every HCI packet: read it first on failure
            radio.procs.append(subprocess.Popen(["btmon", "-T"], stdout=out_log("btmon.log"), stderr=subprocess.STDOUT))
        debug = ["-v"] if os.environ.get("BLEVM_SIM_DEBUG") else []
        with open(ready_file, "wb") as ready:
            radio.procs.append(subprocess.Popen(
                python_cmd(*debug, "simulate", "--ble", "--config", str(SIM_CONFIG), "--control", radio.control),
                stdout=ready, stderr=out_log("simulate.log"),
            ))
    wait_for("solarmon simulate --ble to print READY (see simulate.log)",
             lambda: Path(ready_file).exists() and Path(ready_file).read_bytes().startswith(b"READY"), 90, 0.5)
    wait_for("hci0 from /dev/vhci", lambda: Path("/sys/class/bluetooth/hci0").exists(), 20)
    radio.procs.append(subprocess.Popen([bluetoothd_path(), "-n"], stdout=out_log("bluetoothd.log"), stderr=subprocess.STDOUT))
    wait_for("bluetoothd to power hci0", adapter_powered, 30, 0.5)
    yield radio
    for proc in reversed(radio.procs):
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def sim(radio: Radio) -> Iterator[Radio]:
    """The radio with every fault cleared, and no device left connected afterwards."""
    radio.command("clear all")
    wait_for("hci0 powered", adapter_powered, 30, 0.5)
    yield radio
    radio.command("clear all")
    for d in DEVICES:
        if radio.status(d.id)["connected"]:
            radio.command(f"fault {d.id} drop-link")  # the next test starts from advertising devices
    wait_for("devices free", lambda: not any(radio.status(d.id)["connected"] for d in DEVICES), 15)


@pytest.fixture(scope="module")
def broker() -> Iterator[Any]:
    """One real mosquitto for a test module (the collector keeps its session across tests)."""
    with Mosquitto() as b:
        yield b


@pytest.fixture(scope="module")
def watcher(broker: Any, request: pytest.FixtureRequest) -> Iterator[Watcher]:
    """Subscribed before the collector starts, so nothing is missed."""
    w = Watcher()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="blevm-watcher")
    subscribed = threading.Event()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with w.lock:
            w.messages.append((time.monotonic(), msg.topic, msg.payload))

    client.on_message = on_message
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.subscribe("solarmon/#", qos=1)
    assert subscribed.wait(10)
    yield w
    w.dump(OUT / f"mqtt-{request.module.__name__}.log")
    client.loop_stop()
    client.disconnect()


@pytest.fixture(scope="module")
def collector(radio: Radio, broker: Any, watcher: Watcher, tmp_path_factory: pytest.TempPathFactory,
              request: pytest.FixtureRequest) -> Iterator[Collector]:
    """One ``solarmon collect`` (interval 2 s, timeout 2 s) for the scenarios of a module, in order.

    Starting a collector costs ~15 s under software emulation, so the scenarios share one and
    each leaves the devices healthy for the next (the wrong-password one runs last).
    """
    radio.command("clear all")
    settings = {"interval": 2, "timeout": 2, "connect_timeout": 10, "offline_after": 2, "adapter_reset_after": 2}
    cfg = write_config(tmp_path_factory.mktemp("collect") / "collect.json", broker.port, **settings)
    log_path = OUT / f"collect-{request.module.__name__}.log"
    proc = subprocess.Popen(python_cmd("collect", "--config", str(cfg)), stdout=subprocess.DEVNULL,
                            stderr=log_path.open("wb"))
    c = Collector(proc, log_path)
    yield c
    c.stop()
    radio.command("clear all")
