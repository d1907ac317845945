"""Publishes samples and availability to MQTT (paho-mqtt 2.x), with Home Assistant discovery.

paho runs its network loop in its own thread; ``publish`` is thread-safe and queues QoS 1
messages while the broker is away, re-sending them after the reconnect.
"""

from __future__ import annotations

import json
import logging
import threading

import paho.mqtt.client as mqtt

from . import catalog
from .config import Config, read_secret
from .payload import Sample, availability_topic, encode, state_topic

_LOGGER = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"
COLLECTOR_ID = "collector"
# paho keeps unsent QoS 1 messages in memory while the broker is down; a day of 27 s
# samples from a handful of devices fits easily, and the bound keeps memory flat.
MAX_QUEUED = 50_000


class Publisher:
    """One MQTT connection for the collector; last will marks the collector offline."""

    def __init__(self, cfg: Config, client_id: str = "solarmon-collector") -> None:
        self.cfg = cfg
        self.prefix = cfg.mqtt.topic_prefix
        self.connected = threading.Event()
        self._announced: set[str] = set()
        self._online: dict[str, bool] = {}
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if cfg.mqtt.username:
            password = read_secret(cfg.mqtt.password_file) if cfg.mqtt.password_file else None
            c.username_pw_set(cfg.mqtt.username, password)
        c.will_set(availability_topic(self.prefix, COLLECTOR_ID), OFFLINE, qos=1, retain=True)
        c.max_queued_messages_set(MAX_QUEUED)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        self.client = c

    def start(self) -> None:
        """Connect in the background (retries until the broker is there)."""
        self.client.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, keepalive=self.cfg.mqtt.keepalive)
        self.client.loop_start()

    def stop(self) -> None:
        """Mark everything offline and disconnect cleanly."""
        if self.connected.is_set():
            for device in list(self._online):
                self.client.publish(availability_topic(self.prefix, device), OFFLINE, qos=1, retain=True)
            info = self.client.publish(availability_topic(self.prefix, COLLECTOR_ID), OFFLINE, qos=1, retain=True)
            info.wait_for_publish(timeout=3)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        if reason.is_failure:
            _LOGGER.warning("MQTT broker %s:%s refused the connection: %s", self.cfg.mqtt.host, self.cfg.mqtt.port,
                            reason)
            return
        _LOGGER.info("connected to MQTT broker %s:%s", self.cfg.mqtt.host, self.cfg.mqtt.port)
        client.publish(availability_topic(self.prefix, COLLECTOR_ID), ONLINE, qos=1, retain=True)
        for device, online in list(self._online.items()):  # paho's thread; the dict changes on the loop's
            client.publish(availability_topic(self.prefix, device), ONLINE if online else OFFLINE, qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        self.connected.clear()
        if reason.value != 0:
            _LOGGER.warning("lost the MQTT broker (%s); samples are queued until it is back", reason)

    def publish(self, sample: Sample) -> None:
        """Queue a sample (QoS 1); announce to Home Assistant on a device's first sample."""
        if self.cfg.homeassistant.discovery and sample.device not in self._announced:
            self._announce(sample)
        self.client.publish(state_topic(self.prefix, sample.device), encode(sample), qos=1)

    def set_availability(self, device: str, online: bool) -> None:
        """Retained online/offline for a device, sent only on change."""
        if self._online.get(device) is online:
            return
        self._online[device] = online
        self.client.publish(availability_topic(self.prefix, device), ONLINE if online else OFFLINE, qos=1,
                            retain=True)

    def _announce(self, sample: Sample) -> None:
        """Home Assistant MQTT discovery: one retained config per field present in the sample."""
        self._announced.add(sample.device)
        kind = catalog.kind(sample.kind)
        dev_cfg = next((d for d in self.cfg.devices if d.id == sample.device), None)
        name = dev_cfg.display_name if dev_cfg else sample.device
        for config_topic, body in discovery_messages(self.cfg.homeassistant.prefix, self.prefix, sample.device, name,
                                                      kind, sample.fields):
            self.client.publish(config_topic, json.dumps(body, separators=(",", ":")), qos=1, retain=True)


def discovery_messages(
    ha_prefix: str, prefix: str, device: str, name: str, kind: catalog.DeviceKind, present: dict[str, object]
) -> list[tuple[str, dict[str, object]]]:
    """Home Assistant discovery (topic, config) pairs for the catalog fields in ``present``."""
    out = []
    ha_device = {
        "identifiers": [f"solarmon_{device}"],
        "name": name,
        "manufacturer": "LiTime" if kind.name == "litime-mppt" else "JBD",
        "model": kind.description,
    }
    availability = [
        {"topic": availability_topic(prefix, COLLECTOR_ID)},
        {"topic": availability_topic(prefix, device)},
    ]
    for f in kind.fields:
        if f.name not in present:
            continue
        component = "binary_sensor" if f.type is catalog.ValueType.BOOL else "sensor"
        uid = f"solarmon_{device}_{f.name}"
        body: dict[str, object] = {
            "name": f.description,
            "unique_id": uid,
            "object_id": uid,
            "state_topic": state_topic(prefix, device),
            "availability": availability,
            "availability_mode": "all",
            "device": ha_device,
        }
        if component == "binary_sensor":
            body["value_template"] = f"{{{{ 'ON' if value_json.fields.{f.name} else 'OFF' }}}}"
        else:
            body["value_template"] = f"{{{{ value_json.fields.{f.name} }}}}"
            if f.unit:
                body["unit_of_measurement"] = f.unit
            if f.device_class:
                body["device_class"] = f.device_class
            if f.aggregation is catalog.Aggregation.GAUGE:
                body["state_class"] = "measurement"
            elif f.device_class == "energy" and f.name.startswith("total_"):
                body["state_class"] = "total_increasing"
        out.append((f"{ha_prefix}/{component}/{uid}/config", body))
    return out
