"""Publishes samples and availability to MQTT (paho-mqtt 2.x), with Home Assistant discovery.

paho runs its network loop in its own thread; ``publish`` is thread-safe and queues QoS 1
messages while the broker is away, re-sending them after the reconnect.
"""

from __future__ import annotations

from collections.abc import Callable
import json
import logging
import threading

import paho.mqtt.client as mqtt

from . import appwindow, catalog
from .config import Config, read_secret
from .payload import Sample, availability_topic, encode, state_topic

_LOGGER = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"
COLLECTOR_ID = "collector"
# paho keeps unsent QoS 1 messages in memory while the broker is down; a day of 27 s
# samples from a handful of devices fits easily, and the bound keeps memory flat.
MAX_QUEUED = 50_000

CommandHandler = Callable[[str, bytes], None]  # (device id or appwindow.ALL, payload)


def alerts_topic(prefix: str) -> str:
    """Retained JSON list of the active alerts."""
    return f"{prefix}/alerts"


class Publisher:
    """One MQTT connection for the collector; last will marks the collector offline."""

    def __init__(self, cfg: Config, client_id: str = "solarmon-collector") -> None:
        self.cfg = cfg
        self.prefix = cfg.mqtt.topic_prefix
        self.connected = threading.Event()
        self._announced: set[tuple[str, str]] = set()
        self._alert_sensors: set[str] = set()
        self.on_command: CommandHandler | None = None
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
        c.on_message = self._on_message
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
        client.subscribe([(f"{self.prefix}/+/release", 1), (f"{self.prefix}/release", 1)])
        if self.cfg.homeassistant.discovery:
            self._announce_alert(None)
        self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:
            return  # a retained command would release the device again at every reconnect
        target = appwindow.command_target(msg.topic, self.prefix)
        if target is not None and self.on_command is not None:
            self.on_command(target, msg.payload)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        self.connected.clear()
        if reason.value != 0:
            _LOGGER.warning("lost the MQTT broker (%s); samples are queued until it is back", reason)

    def publish(self, sample: Sample) -> None:
        """Queue a sample (QoS 1); announce to Home Assistant on a device's first sample."""
        if self.cfg.homeassistant.discovery and (sample.device, sample.kind) not in self._announced:
            self._announce(sample)
        self.client.publish(state_topic(self.prefix, sample.device), encode(sample), qos=1)

    def set_availability(self, device: str, online: bool) -> None:
        """Retained online/offline for a device, sent only on change."""
        if self._online.get(device) is online:
            return
        self._online[device] = online
        self.client.publish(availability_topic(self.prefix, device), ONLINE if online else OFFLINE, qos=1,
                            retain=True)

    def publish_alerts(self, alerts: list[dict[str, object]]) -> None:
        """Retained list of active alerts; a Home Assistant binary sensor per alert seen."""
        if self.cfg.homeassistant.discovery:
            for a in alerts:
                self._announce_alert((str(a["rule"]), str(a["device"])))
        self.client.publish(alerts_topic(self.prefix), json.dumps(alerts, separators=(",", ":")), qos=1, retain=True)

    def _announce_alert(self, which: tuple[str, str] | None) -> None:
        key = "any" if which is None else f"{which[0]}_{which[1]}"
        if key in self._alert_sensors:
            return
        self._alert_sensors.add(key)
        topic, body = alert_discovery(self.cfg.homeassistant.prefix, self.prefix, which)
        self.client.publish(topic, json.dumps(body, separators=(",", ":")), qos=1, retain=True)

    def _announce(self, sample: Sample) -> None:
        """Home Assistant MQTT discovery: one retained config per field present in the sample."""
        self._announced.add((sample.device, sample.kind))
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
    makers = {"litime-mppt": "LiTime", "jbd-bms": "JBD"}
    ha_device = {
        "identifiers": [f"solarmon_{device}"],
        "name": name,
        "manufacturer": makers.get(kind.name, "solarmon"),
        "model": kind.description,
    }
    # A device's link-health samples share its state topic: each sensor reads only its kind.
    guard = f"value_json.kind == '{kind.name}'"
    availability = [{"topic": availability_topic(prefix, COLLECTOR_ID)}]
    if kind.name in makers:
        # Device fields need the device online; derived kinds (bank, link-health, ...) have no
        # availability of their own, and link health matters most while the device is offline.
        availability.append({"topic": availability_topic(prefix, device)})
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
            value = f"('ON' if value_json.fields.{f.name} else 'OFF')"
        else:
            value = f"value_json.fields.{f.name}"
        body["value_template"] = f"{{{{ {value} if {guard} else this.state }}}}"
        if component == "sensor":
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


def alert_discovery(ha_prefix: str, prefix: str, which: tuple[str, str] | None) -> tuple[str, dict[str, object]]:
    """Home Assistant binary sensor of one alert (rule, device), or of 'any alert' for None."""
    if which is None:
        uid, name, test = "solarmon_alert_any", "Any alert", "value_json | length > 0"
    else:
        rule, device = which
        uid, name = f"solarmon_alert_{rule}_{device}", f"Alert {rule} {device}"
        test = (f"value_json | selectattr('rule', 'eq', '{rule}') | selectattr('device', 'eq', '{device}') "
                "| list | length > 0")
    return f"{ha_prefix}/binary_sensor/{uid}/config", {
        "name": name,
        "unique_id": uid,
        "object_id": uid,
        "state_topic": alerts_topic(prefix),
        "value_template": f"{{{{ 'ON' if {test} else 'OFF' }}}}",
        "device_class": "problem",
        "availability": [{"topic": availability_topic(prefix, COLLECTOR_ID)}],
        "device": {"identifiers": ["solarmon_alerts"], "name": "solarmon alerts", "manufacturer": "solarmon"},
    }
