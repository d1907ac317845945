"""The broker fixture really runs mosquitto and survives a restart with queued messages."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest


@pytest.mark.mosquitto
def test_persistent_session_survives_broker_restart(mosquitto) -> None:
    got: list[bytes] = []
    done = threading.Event()

    def on_message(_c, _u, msg) -> None:
        got.append(msg.payload)
        done.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fixture-sub", clean_session=False)
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect(mosquitto.host, mosquitto.port)
    sub.loop_start()
    sub.subscribe("t/#", qos=1)
    assert subscribed.wait(5)
    sub.disconnect()
    sub.loop_stop()

    mosquitto.restart()  # the session and its subscription must survive

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fixture-pub")
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    pub.publish("t/x", b"queued", qos=1).wait_for_publish(5)
    pub.loop_stop()
    pub.disconnect()

    sub.on_message = on_message
    sub.connect(mosquitto.host, mosquitto.port)
    sub.loop_start()
    assert done.wait(5), "queued message was not delivered after broker restart"
    sub.loop_stop()
    sub.disconnect()
    assert got == [b"queued"]
