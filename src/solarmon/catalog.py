"""The metric catalog: every field of every device kind, its unit, type and aggregation.

It is the one source of truth for MQTT payload fields, InfluxDB field types, the Flux
downsampling tasks and the Grafana queries. Tests fail if any of those names a field that
is not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Aggregation(StrEnum):
    """How a field is downsampled into the retention tiers."""

    GAUGE = "gauge"  # mean, min, max
    STATE = "state"  # last
    FLAGS = "flags"  # bitwise OR of all values in the window

    @property
    def methods(self) -> tuple[str, ...]:
        """The tier measurements this class is written to."""
        return _METHODS[self]


_METHODS: Final = {
    Aggregation.GAUGE: ("mean", "min", "max"),
    Aggregation.STATE: ("last",),
    Aggregation.FLAGS: ("bit_or",),
}

#: Every tier measurement name, in a stable order.
METHODS: Final[tuple[str, ...]] = ("mean", "min", "max", "last", "bit_or")


class ValueType(StrEnum):
    """Influx field type. Fixed per field: a type change would be a field-type conflict."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STR = "str"


@dataclass(frozen=True, slots=True)
class Field:
    """One measured or derived value of a device."""

    name: str
    unit: str  # SI unit symbol; "" for counts, flags and text
    description: str
    aggregation: Aggregation
    type: ValueType
    #: Integer code -> label, for state fields that are enumerations.
    labels: dict[int, str] = field(default_factory=dict)
    #: Home Assistant device class, where one fits.
    device_class: str | None = None

    def coerce(self, value: object) -> float | int | bool | str | None:
        """Return ``value`` as this field's type, or raise ``TypeError``/``ValueError``.

        JSON has one number type, so 211 and 211.0 arrive alike; storing them under one
        Influx type needs this. ``None`` means "no sensor" and is passed through.
        """
        if value is None:
            return None
        # Hot path of the bridge (every field of every message): plain type checks first.
        vt = type(value)
        kind = self.type
        if kind is ValueType.FLOAT and vt is float:
            if value - value == 0:  # finite: inf - inf and nan - nan are nan
                return value  # type: ignore[return-value]
            raise ValueError(f"{self.name}: not a finite number: {value!r}")
        if kind is ValueType.BOOL:
            if vt is bool:
                return value  # type: ignore[return-value]
            raise TypeError(f"{self.name}: expected true/false, got {value!r}")
        if kind is ValueType.STR:
            if isinstance(value, str):
                return value
            raise TypeError(f"{self.name}: expected text, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, _NUMBER):
            raise TypeError(f"{self.name}: expected a number, got {value!r}")
        if vt is not int and not value - value == 0:  # type: ignore[operator]
            raise ValueError(f"{self.name}: not a finite number: {value!r}")
        if kind is ValueType.FLOAT:
            return float(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{self.name}: expected an integer, got {value!r}")
        return int(value)


_NUMBER: Final = (int, float)


@dataclass(frozen=True, slots=True)
class DeviceKind:
    """A kind of device and the fields its samples carry."""

    name: str
    description: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        """Return the field called ``name``; ``KeyError`` if the kind has none."""
        return self._index()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index()

    def _index(self) -> dict[str, Field]:
        return _FIELD_INDEX[self.name]

    def by_aggregation(self, aggregation: Aggregation) -> tuple[Field, ...]:
        """The fields of one aggregation class, in catalog order."""
        return tuple(f for f in self.fields if f.aggregation is aggregation)


G, S, F = Aggregation.GAUGE, Aggregation.STATE, Aggregation.FLAGS
FLOAT, INT, BOOL, STR = ValueType.FLOAT, ValueType.INT, ValueType.BOOL, ValueType.STR

#: LiTime 0x010D low byte, per the protocol notes (some units were seen using it as bits;
#: the raw code is what is stored, the labels are for display only).
CHARGING_STATES: Final[dict[int, str]] = {
    0: "standby",
    1: "start",
    2: "MPPT",
    3: "equalize",
    4: "boost",
    5: "float",
    6: "current-limited",
}

LITIME_MPPT: Final = DeviceKind(
    name="litime-mppt",
    description="LiTime MPPT solar charge controller (Modbus RTU over BLE)",
    fields=(
        Field("battery_voltage", "V", "Battery voltage at the controller", G, FLOAT, device_class="voltage"),
        Field("charge_current", "A", "Charge current into the battery (MPPT output)", G, FLOAT, device_class="current"),
        Field("charge_power", "W", "Charge power (MPPT output)", G, FLOAT, device_class="power"),
        Field("controller_temperature", "°C", "Controller temperature", G, FLOAT, device_class="temperature"),
        Field("battery_temperature", "°C", "Battery probe temperature; null without a probe", G, FLOAT,
              device_class="temperature"),
        Field("load_voltage", "V", "Load output voltage", G, FLOAT, device_class="voltage"),
        Field("load_current", "A", "Load output current", G, FLOAT, device_class="current"),
        Field("load_power", "W", "Load output power (register scale disputed between sources)", G, FLOAT,
              device_class="power"),
        Field("pv_voltage", "V", "Solar panel voltage", G, FLOAT, device_class="voltage"),
        Field("today_max_charge_power", "W", "Highest charge power today", S, FLOAT, device_class="power"),
        Field("today_generated_energy", "Wh", "Energy generated today", S, FLOAT, device_class="energy"),
        Field("today_load_energy", "Wh", "Energy used by the load output today", S, FLOAT, device_class="energy"),
        Field("load_on", "", "Load output switched on", S, BOOL),
        Field("charging_state", "", "Charging state code (see labels)", S, INT, labels=CHARGING_STATES),
        Field("alarm_flags", "", "Alarm bits (meaning not published)", F, INT),
        Field("running_days", "d", "Days the controller has been running", S, INT),
        Field("total_generated_energy", "Wh", "Lifetime generated energy", S, FLOAT, device_class="energy"),
        Field("total_load_energy", "Wh", "Lifetime load energy", S, FLOAT, device_class="energy"),
    ),
)

#: JBD packs have at most 32 cells (two 16-bit balance words) and, in practice, few NTCs.
JBD_MAX_CELLS: Final = 32
JBD_MAX_TEMPERATURES: Final = 8

JBD_BMS: Final = DeviceKind(
    name="jbd-bms",
    description="JBD / Xiaoxiang battery management system (BLE)",
    fields=(
        Field("pack_voltage", "V", "Battery pack voltage", G, FLOAT, device_class="voltage"),
        Field("current", "A", "Pack current, positive while charging", G, FLOAT, device_class="current"),
        Field("power", "W", "Pack power (voltage x current), positive while charging", G, FLOAT,
              device_class="power"),
        Field("remaining_capacity", "Ah", "Remaining capacity", G, FLOAT),
        Field("nominal_capacity", "Ah", "Nominal (design) capacity", S, FLOAT),
        Field("cycles", "", "Charge cycles", S, INT),
        Field("soc", "%", "State of charge reported by the BMS", G, FLOAT, device_class="battery"),
        Field("balance_flags", "", "Cells being balanced, bit 0 = cell 1 (order disputed: raw)", F, INT),
        Field("protection_flags", "", "Protection bits (cell/pack OV/UV, OT/UT, OC, short, ...)", F, INT),
        Field("charge_fet", "", "Charge MOSFET on", S, BOOL),
        Field("discharge_fet", "", "Discharge MOSFET on", S, BOOL),
        Field("cell_count", "", "Number of cells in series", S, INT),
        *(Field(f"temperature_{i}", "°C", f"Temperature sensor {i}", G, FLOAT, device_class="temperature")
          for i in range(1, JBD_MAX_TEMPERATURES + 1)),
        *(Field(f"cell_voltage_{i}", "V", f"Cell {i} voltage", G, FLOAT, device_class="voltage")
          for i in range(1, JBD_MAX_CELLS + 1)),
        Field("cell_voltage_min", "V", "Lowest cell voltage", G, FLOAT, device_class="voltage"),
        Field("cell_voltage_max", "V", "Highest cell voltage", G, FLOAT, device_class="voltage"),
        Field("cell_voltage_delta", "V", "Spread between highest and lowest cell", G, FLOAT,
              device_class="voltage"),
        Field("hardware_version", "", "Hardware version text (register 0x05)", S, STR),
        Field("software_version", "", "Firmware version, major.minor", S, STR),
        Field("production_date", "", "Production date, YYYY-MM-DD", S, STR),
    ),
)

#: Protection bit meanings (JBD 0x03 basic info), bit number -> short name.
JBD_PROTECTION_BITS: Final[dict[int, str]] = {
    0: "cell overvoltage",
    1: "cell undervoltage",
    2: "pack overvoltage",
    3: "pack undervoltage",
    4: "charge overtemperature",
    5: "charge undertemperature",
    6: "discharge overtemperature",
    7: "discharge undertemperature",
    8: "charge overcurrent",
    9: "discharge overcurrent",
    10: "short circuit",
    11: "front-end IC error",
    12: "MOS software lock",
}

# --- derived kinds: computed by the collector's processor, published like devices -------------

BANK: Final = DeviceKind(
    name="bank",
    description="The battery bank: parallel packs combined (derived by the collector)",
    fields=(
        Field("soc", "%", "Bank state of charge, packs weighted by their capacity", G, FLOAT, device_class="battery"),
        Field("remaining_capacity", "Ah", "Remaining capacity of the included packs", G, FLOAT),
        Field("nominal_capacity", "Ah", "Nominal capacity of the included packs", S, FLOAT),
        Field("current", "A", "Bank current, positive while charging", G, FLOAT, device_class="current"),
        Field("power", "W", "Bank power, positive while charging", G, FLOAT, device_class="power"),
        Field("time_to_empty", "h", "Hours until empty at the present discharge current; null while charging",
              G, FLOAT),
        Field("time_to_full", "h", "Hours until full at the present charge current; null while discharging",
              G, FLOAT),
        Field("packs_included", "", "Packs counted in the bank values", S, INT),
        Field("packs_excluded_flags", "", "Packs left out (stale data or FETs off), bit 0 = first configured pack",
              F, INT),
    ),
)

LINK_HEALTH: Final = DeviceKind(
    name="link-health",
    description="BLE link health of one device (published by the collector, also while the device is silent)",
    fields=(
        Field("online", "", "Device answering polls", S, BOOL),
        Field("released", "", "Deliberately disconnected for the phone app", S, BOOL),
        Field("rssi", "dBm", "Signal strength of the last connection; null if the adapter does not say", G, FLOAT,
              device_class="signal_strength"),
        Field("poll_success_rate", "%", "Share of the recent poll slots that produced a sample", G, FLOAT),
        Field("last_ok_age", "s", "Seconds since the last good sample; null before the first", G, FLOAT,
              device_class="duration"),
        Field("polls", "", "Good polls since the collector started", S, INT),
        Field("failures", "", "Failed polls and connects since the collector started", S, INT),
        Field("reconnects", "", "Links re-established since the collector started", S, INT),
        Field("adapter_resets", "", "Adapter power-cycles since the collector started", S, INT),
    ),
)

ENERGY: Final = DeviceKind(
    name="energy",
    description="Daily energy totals (derived by the collector; reset at local midnight, survive restarts)",
    fields=(
        Field("pv_energy", "Wh", "Solar energy today, from the controllers' lifetime counters", S, FLOAT,
              device_class="energy"),
        Field("load_energy", "Wh", "Load output energy today, integrated from load power", S, FLOAT,
              device_class="energy"),
        Field("battery_charge_energy", "Wh", "Energy into the bank today, integrated from bank power", S, FLOAT,
              device_class="energy"),
        Field("battery_discharge_energy", "Wh", "Energy out of the bank today, integrated from bank power", S,
              FLOAT, device_class="energy"),
    ),
)

ALERTS: Final = DeviceKind(
    name="alerts",
    description="Active alerts (derived by the collector's alert rules)",
    fields=(
        Field("active", "", "Number of active alerts", S, INT),
        Field("summary", "", "Active alerts, one short line each ('OK' when none)", S, STR),
    ),
)

COLLECTOR: Final = DeviceKind(
    name="collector",
    description="The collector itself: clock integrity",
    fields=(
        Field("clock_synced", "", "System clock trusted (NTP or a plausible RTC)", S, BOOL),
        Field("held_samples", "", "Samples held until the clock is trusted", S, INT),
        Field("dropped_samples", "", "Samples dropped because the hold buffer overflowed", S, INT),
    ),
)

#: Device ids the derived kinds publish under; a configured device may not use them.
DERIVED_IDS: Final[frozenset[str]] = frozenset({"bank", "energy", "alerts", "collector"})

KINDS: Final[dict[str, DeviceKind]] = {
    k.name: k for k in (LITIME_MPPT, JBD_BMS, BANK, LINK_HEALTH, ENERGY, ALERTS, COLLECTOR)
}

_FIELD_INDEX: Final[dict[str, dict[str, Field]]] = {
    k.name: {f.name: f for f in k.fields} for k in KINDS.values()
}
_FIELD_VIEWS: Final[dict[str, Mapping[str, Field]]] = {k: MappingProxyType(v) for k, v in _FIELD_INDEX.items()}


def kind(name: str) -> DeviceKind:
    """Return the device kind called ``name``; ``KeyError`` names the known kinds."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown device kind {name!r} (known: {', '.join(KINDS)})") from None


def field_index(kind_name: str) -> Mapping[str, Field]:
    """Field name -> Field of one kind (read-only view; ``KeyError`` for an unknown kind)."""
    return _FIELD_VIEWS[kind_name]


def float_fields(kind_name: str) -> frozenset[str]:
    """Names of the float fields of one kind (the bridge's fast path: most values are floats)."""
    return _FLOAT_FIELDS[kind_name]


def all_field_names() -> frozenset[str]:
    """Every field name of every kind."""
    return frozenset(f.name for k in KINDS.values() for f in k.fields)

_FLOAT_FIELDS: Final = {k.name: frozenset(f.name for f in k.fields if f.type is ValueType.FLOAT) for k in KINDS.values()}
