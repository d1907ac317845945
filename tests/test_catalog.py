"""The catalog is complete, consistent, and matches what the decoders produce."""

from __future__ import annotations

import time

import pytest

from protocols.test_jbd import DOC_BASIC, DOC_CELLS
from protocols.test_litime import CAPTURED_STATUS
from solarmon import catalog
from solarmon.protocols import jbd
from solarmon.sim import JbdSim, LitimeSim

ISSUE_LITIME = ["battery_voltage", "charge_current", "charge_power", "controller_temperature", "battery_temperature", "load_voltage", "load_current", "load_power", "pv_voltage", "today_max_charge_power", "today_generated_energy", "today_load_energy", "load_on", "charging_state", "alarm_flags", "running_days", "total_generated_energy", "total_load_energy"]
ISSUE_JBD = ["pack_voltage", "current", "remaining_capacity", "nominal_capacity", "cycles", "soc", "balance_flags", "protection_flags", "charge_fet", "discharge_fet", "cell_count", "cell_voltage_min", "cell_voltage_max", "cell_voltage_delta", "hardware_version", "software_version", "production_date"]


def test_required_fields_are_present() -> None:
    assert [f.name for f in catalog.LITIME_MPPT.fields] == ISSUE_LITIME
    names = {f.name for f in catalog.JBD_BMS.fields}
    assert set(ISSUE_JBD) <= names
    assert {f"cell_voltage_{i}" for i in range(1, 33)} <= names
    assert {f"temperature_{i}" for i in range(1, 9)} <= names


@pytest.mark.parametrize("kind", catalog.KINDS.values(), ids=lambda k: k.name)
def test_fields_are_unique_and_well_typed(kind: catalog.DeviceKind) -> None:
    names = [f.name for f in kind.fields]
    assert len(names) == len(set(names))
    for f in kind.fields:
        if f.aggregation is catalog.Aggregation.GAUGE:
            assert f.type is catalog.ValueType.FLOAT, f"{f.name}: mean/min/max need floats"
        if f.aggregation is catalog.Aggregation.FLAGS:
            assert f.type is catalog.ValueType.INT, f"{f.name}: bitwise OR needs integers"
        assert f.description


def _check(kind: catalog.DeviceKind, fields: dict[str, object]) -> None:
    for name, value in fields.items():
        assert name in kind, f"decoder emits {name!r}, which the catalog lacks"
        assert kind.field(name).coerce(value) == value
        if value is not None and kind.field(name).type is catalog.ValueType.FLOAT:
            assert isinstance(value, float), f"{name} must be emitted as float, got {value!r}"


def test_decoder_output_matches_the_catalog() -> None:
    from solarmon.protocols import litime

    _check(catalog.LITIME_MPPT, dict(litime.decode_status(CAPTURED_STATUS)))
    _check(catalog.JBD_BMS, dict(jbd.decode_basic_info(DOC_BASIC)))
    _check(catalog.JBD_BMS, jbd.decode_cells(DOC_CELLS))
    _check(catalog.JBD_BMS, jbd.decode_hardware(jbd.reply_frame(5, b"HW1")))


def test_simulator_output_matches_the_catalog_over_a_day() -> None:
    from solarmon.protocols import litime

    mppt, bat = LitimeSim("C8:47:80:00:00:01"), JbdSim("A4:C1:38:00:00:01")
    t = time.time()
    for step in range(0, 86400, 3600):
        _check(catalog.LITIME_MPPT, dict(litime.decode_status(mppt.handle(litime.status_request(), t + step)[0])))
        _check(catalog.JBD_BMS, dict(jbd.decode_basic_info(bat.handle(jbd.read_request(3), t + step)[0])))


def test_coerce_rejects_wrong_types() -> None:
    f = catalog.JBD_BMS.field("cycles")
    assert f.coerce(3.0) == 3 and isinstance(f.coerce(3.0), int)
    for bad in (3.5, "3", True, float("nan")):
        with pytest.raises((TypeError, ValueError)):
            f.coerce(bad)
    assert catalog.JBD_BMS.field("pack_voltage").coerce(13) == 13.0
    with pytest.raises(KeyError, match="known"):
        catalog.kind("victron")
