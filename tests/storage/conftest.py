"""Fixtures for the storage tests: the InfluxDB stand-in and a bridge wired to a real broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from harness import RAW_BUCKET, TOKEN, BridgeProcess, Publisher, StatusWatcher, write_config
import pytest

from influx_standin import InfluxStandIn


@pytest.fixture
def standin() -> Iterator[InfluxStandIn]:
    """The InfluxDB write-API stand-in with the raw bucket present."""
    with InfluxStandIn(token=TOKEN) as s:
        s.add_bucket(RAW_BUCKET, 0)
        yield s


@pytest.fixture
def rig(tmp_path: Path, mosquitto, standin: InfluxStandIn) -> Iterator[dict]:
    """Broker + stand-in + bridge subprocess (started, subscribed) + publisher + status watcher."""
    config = write_config(tmp_path, mosquitto.port, standin.url)
    bridge = BridgeProcess(config, tmp_path)
    status = StatusWatcher(mosquitto.host, mosquitto.port)
    bridge.start()
    status.wait_for(lambda s: s["state"] == "running")
    pub = Publisher(mosquitto.host, mosquitto.port)
    yield {"bridge": bridge, "status": status, "pub": pub, "broker": mosquitto, "influx": standin,
           "tmp": tmp_path}
    pub.close()
    status.close()
    if bridge.proc and bridge.proc.poll() is None:
        bridge.stop()
