"""MQTT intake in-process against a real broker: back-pressure keeps memory bounded under a backlog."""

from __future__ import annotations

from pathlib import Path
import time

from harness import Publisher, make_samples, wait_until
import paho.mqtt.client as mqtt
import pytest

from solarmon.bridge import mqtt as intake_mod
from solarmon.bridge.mqtt import MqttIntake
from solarmon.bridge.points import to_line
from solarmon.bridge.queue import PointQueue

pytestmark = pytest.mark.mosquitto


class SlowQueue(PointQueue):
    """A disk that is slow to commit (an SD card on a bad day)."""

    def put(self, lines) -> int:
        time.sleep(0.05)
        return super().put(lines)


def test_backlog_is_taken_with_bounded_memory(mosquitto, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(intake_mod, "COMMIT_MAX", 100)
    monkeypatch.setattr(intake_mod, "MAX_PENDING", 200)
    queue = SlowQueue(tmp_path / "q.sqlite")

    def make() -> MqttIntake:
        return MqttIntake(queue, host=mosquitto.host, port=mosquitto.port, client_id="intake-test",
                          topic_prefix="solarmon")

    first = make()
    first.start()
    assert first.subscribed.wait(10)
    first.stop()  # the session (and its subscription) stays on the broker

    samples = make_samples(3000, seed=11)
    pub = Publisher(mosquitto.host, mosquitto.port)
    pub.publish(samples)  # a backlog the broker now pushes as fast as it can
    pub.close()

    intake = make()
    intake.start()
    try:
        wait_until(lambda: intake.stored >= 3000, 60, "backlog stored")
    finally:
        intake.stop()
    assert intake.peak_pending <= 200
    assert sorted(r.line for r in queue.peek(10_000)) == sorted(to_line(s) for s in samples)


def test_session_is_persistent_mqtt5(mosquitto, tmp_path: Path) -> None:
    intake = MqttIntake(PointQueue(tmp_path / "q.sqlite"), host=mosquitto.host, port=mosquitto.port,
                        client_id="intake-props", topic_prefix="solarmon")
    assert intake.client.protocol == mqtt.MQTTv5
    intake.start()
    assert intake.subscribed.wait(10)
    intake.stop()
    again = MqttIntake(PointQueue(tmp_path / "q.sqlite"), host=mosquitto.host, port=mosquitto.port,
                       client_id="intake-props", topic_prefix="solarmon")
    present = []
    again.client.on_connect = lambda _c, _u, flags, _r, _p: present.append(flags.session_present)
    again.start()
    wait_until(lambda: present, 10, "reconnect")
    again.stop()
    assert present == [True]
