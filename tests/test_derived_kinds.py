"""Derived kinds travel the same path as devices: MQTT contract, bridge line protocol, HA discovery."""

from __future__ import annotations

import pytest

from solarmon import catalog, payload
from solarmon.bridge.points import to_line
from solarmon.publisher import alert_discovery, discovery_messages

SAMPLES = {
    "bank": {"soc": 80.0, "remaining_capacity": 480.0, "nominal_capacity": 600.0, "current": -12.5,
             "power": -165.0, "time_to_empty": 38.4, "time_to_full": None, "packs_included": 2,
             "packs_excluded_flags": 0},
    "link-health": {"online": True, "released": False, "rssi": -71.0, "poll_success_rate": 95.0,
                    "last_ok_age": 3.2, "polls": 120, "failures": 6, "reconnects": 1, "adapter_resets": 0},
    "energy": {"pv_energy": 2150.5, "load_energy": 880.0, "battery_charge_energy": 1200.0,
               "battery_discharge_energy": 640.2},
    "alerts": {"active": 1, "summary": "bank: low-soc: soc 12 < 20"},
    "collector": {"clock_synced": False, "held_samples": 31, "dropped_samples": 0},
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_decodes_and_becomes_a_line(kind: str) -> None:
    device = "battery1" if kind == "link-health" else kind
    sample = payload.Sample(1_780_000_000_000, device, kind, SAMPLES[kind])
    back = payload.decode(payload.encode(sample), device)
    assert back == sample
    line = to_line(back)
    assert line is not None and line.startswith(f"{kind},device={device},kind={kind} ")
    assert set(SAMPLES[kind]) == {f.name for f in catalog.kind(kind).fields}  # the test covers every field


def test_configured_devices_cannot_take_derived_ids() -> None:
    from solarmon import config
    from solarmon.errors import ConfigError

    with pytest.raises(ConfigError, match="reserved"):
        config.parse({"devices": [{"id": "bank", "kind": "jbd-bms", "address": "A4:C1:38:00:00:11"}]})


def test_discovery_reads_only_its_own_kind_from_a_shared_topic() -> None:
    msgs = discovery_messages("homeassistant", "solarmon", "battery1", "Battery 1", catalog.LINK_HEALTH,
                              SAMPLES["link-health"])
    body = dict(msgs)["homeassistant/sensor/solarmon_battery1_rssi/config"]
    assert body["state_topic"] == "solarmon/battery1/state"
    assert "value_json.kind == 'link-health'" in str(body["value_template"])
    assert body["device"]["manufacturer"] == "solarmon"  # type: ignore[index]
    # health must stay visible while the device itself is offline
    assert body["availability"] == [{"topic": "solarmon/collector/availability"}]
    (_, soc), *_ = [m for m in discovery_messages("homeassistant", "solarmon", "battery1", "B1", catalog.JBD_BMS,
                                                  {"soc": 50.0})]
    assert {"topic": "solarmon/battery1/availability"} in soc["availability"]  # type: ignore[operator]


def test_alert_binary_sensor() -> None:
    topic, body = alert_discovery("homeassistant", "solarmon", ("low-soc", "bank"))
    assert topic == "homeassistant/binary_sensor/solarmon_alert_low-soc_bank/config"
    assert body["state_topic"] == "solarmon/alerts" and body["device_class"] == "problem"
    assert "'low-soc'" in str(body["value_template"]) and "'bank'" in str(body["value_template"])
