"""Home Assistant MQTT discovery: one retained config per field, units and classes from the catalog."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from simrig import build, rig_config
from solarmon import catalog
from solarmon.publisher import Publisher, discovery_messages
from test_mqtt_integration import Subscriber, _run


def test_discovery_configs_follow_the_catalog() -> None:
    present = {"battery_voltage": 14.3, "load_on": True, "charging_state": 4, "total_generated_energy": 6112.0}
    msgs = dict(discovery_messages("homeassistant", "solarmon", "mppt", "LiTime", catalog.LITIME_MPPT, present))
    assert set(msgs) == {
        "homeassistant/sensor/solarmon_mppt_battery_voltage/config",
        "homeassistant/binary_sensor/solarmon_mppt_load_on/config",
        "homeassistant/sensor/solarmon_mppt_charging_state/config",
        "homeassistant/sensor/solarmon_mppt_total_generated_energy/config",
    }
    volt = msgs["homeassistant/sensor/solarmon_mppt_battery_voltage/config"]
    assert volt["unit_of_measurement"] == "V" and volt["device_class"] == "voltage"
    assert volt["state_class"] == "measurement" and volt["state_topic"] == "solarmon/mppt/state"
    assert "value_json.fields.battery_voltage" in volt["value_template"]
    assert [a["topic"] for a in volt["availability"]] == ["solarmon/collector/availability",
                                                          "solarmon/mppt/availability"]
    assert msgs["homeassistant/sensor/solarmon_mppt_total_generated_energy/config"]["state_class"] == "total_increasing"
    assert "ON" in msgs["homeassistant/binary_sensor/solarmon_mppt_load_on/config"]["value_template"]


@pytest.mark.mosquitto
async def test_discovery_is_retained_on_the_broker(tmp_path: Path, mosquitto) -> None:  # noqa: ANN001
    cfg = rig_config(tmp_path)
    cfg = cfg.model_copy(update={
        "mqtt": cfg.mqtt.model_copy(update={"host": mosquitto.host, "port": mosquitto.port}),
        "homeassistant": cfg.homeassistant.model_copy(update={"discovery": True}),
    })
    pub = Publisher(cfg, client_id="test-collector")
    pub.start()
    coll, _sims, _ = build(cfg, pub)
    await _run(coll, 1.5)
    pub.stop()
    # A Home Assistant starting later still finds every entity (retained configs).
    ha = Subscriber(mosquitto, "ha", "homeassistant/#")
    assert await asyncio.to_thread(ha.wait_for, lambda: len(ha.messages) >= 18 + 2 * 20, 5)
    topics = {t: (json.loads(p), retained) for t, p, retained in ha.messages}
    assert all(retained for _, retained in topics.values())
    assert "homeassistant/sensor/solarmon_battery1_cell_voltage_4/config" in topics
    assert "homeassistant/sensor/solarmon_battery1_cell_voltage_5/config" not in topics  # a 4-cell pack
    ha.close()
