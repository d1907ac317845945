"""Flux query text for the dashboards, built from the catalog and the tier list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from .. import catalog
from ..catalog import JBD_BMS, JBD_PROTECTION_BITS, LITIME_MPPT, Aggregation
from ..tiers import DAY, Tier, raw_tier
from .tiering import tier_function, tier_prelude

#: "Now" values older than this are not shown: a stale number must not look live.
STALE_AFTER: Final = 600  # s
NOW_WINDOW: Final = f"-{STALE_AFTER // 60}m"

#: The dashboard's time zone (Grafana global variable); day windows follow it.
_TZ_PRELUDE: Final = (
    '_tz = "${__timezone}"\n'
    # Template-variable queries see "browser"; UTC is the only safe reading of that.
    '_loc = if _tz == "" or _tz == "utc" or _tz == "browser" then timezone.utc else timezone.location(name: _tz)'
)

# Window reducer per tier measurement: a window of means is averaged, of minima reduced by min...
_REDUCER: Final = {"mean": "mean", "min": "min", "max": "max", "last": "last", "bit_or": "_bitOr"}

# Windows of flag words combine by OR: max(0b01, 0b10) would lose bit 0.
_BIT_OR_FN: Final = """_bitOr = (column="_value", tables=<-) => tables
    |> reduce(fn: (r, accumulator) => ({_value: bitwise.sor(a: r._value, b: accumulator._value)}), identity: {_value: 0})"""

_BY_TIME: Final = """    |> group()
    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
    |> sort(columns: ["_time"])"""

# One row, one column per series: what a stat panel shows as one value per device.
_ONE_ROW: Final = """    |> group()
    |> pivot(rowKey: ["_stop"], columnKey: ["_field"], valueColumn: "_value")
    |> drop(columns: ["_stop"])"""


@dataclass(frozen=True, slots=True)
class Query:
    """A Flux query: imports first, then the body."""

    imports: tuple[str, ...]
    body: str

    @property
    def text(self) -> str:
        """The whole query."""
        head = "".join(f'import "{i}"\n' for i in sorted(set(self.imports)))
        return f"{head}\n{self.body}\n" if head else f"{self.body}\n"


def _str(value: str) -> str:
    """A Flux string literal (the catalog has no quotes or backslashes; refuse them anyway)."""
    if any(c in value for c in '"\\$'):
        raise ValueError(f"not safe in a Flux string: {value!r}")
    return f'"{value}"'


def _fields(names: Iterable[str]) -> str:
    terms = [f"r._field == {_str(n)}" for n in names]
    return terms[0] if len(terms) == 1 else "(" + " or ".join(terms) + ")"


def _pred(fields: Iterable[str], device: str | None) -> str:
    """A row predicate on field names and, if given, one device (a Grafana variable)."""
    parts = [_fields(fields)]
    if device is not None:
        parts.append(f'r.device == "{device}"')
    return "(r) => " + " and ".join(parts)


def _check(kind: catalog.DeviceKind, fields: Iterable[str], method: str | None = None) -> list[str]:
    """Fail at build time if a field is unknown or is not stored under ``method``."""
    names = list(fields)
    for name in names:
        f = kind.field(name)
        if method is not None and method not in f.aggregation.methods:
            raise ValueError(f"{kind.name}.{name} is {f.aggregation.value}: not in tier measurement {method!r}")
    return names


# --- "now" values from the raw bucket -------------------------------------------------


def _latest(tiers: Sequence[Tier], kind: catalog.DeviceKind, fields: Iterable[str]) -> str:
    names = _check(kind, fields)
    return (
        f"from(bucket: {_str(raw_tier(tiers).bucket)})\n"
        f"    |> range(start: {NOW_WINDOW})\n"
        f"    |> filter(fn: (r) => r._measurement == {_str(kind.name)} and {_fields(names)})\n"
        "    |> last()"
    )


def latest_per_device(tiers: Sequence[Tier], kind: catalog.DeviceKind, field: str) -> Query:
    """The newest value of one field, one column per device (named by the device id)."""
    body = (
        _latest(tiers, kind, [field])
        + '\n    |> map(fn: (r) => ({_stop: r._stop, _field: r.device, _value: r._value}))\n'
        + _ONE_ROW
    )
    return Query((), body)


def soc_now(tiers: Sequence[Tier]) -> Query:
    """The bank's SOC (capacity weighted, derived by the collector) and each battery's, by id."""
    _check(JBD_BMS, ["soc"])
    _check(catalog.BANK, ["soc"])
    body = (
        f"from(bucket: {_str(raw_tier(tiers).bucket)})\n"
        f"    |> range(start: {NOW_WINDOW})\n"
        f"    |> filter(fn: (r) => (r._measurement == {_str(catalog.BANK.name)} "
        f"or r._measurement == {_str(JBD_BMS.name)}) and r._field == \"soc\")\n"
        "    |> last()\n"
        "    |> map(fn: (r) => ({_stop: r._stop, _field: r.device, _value: r._value}))\n"
        + _ONE_ROW
    )
    return Query((), body)


def _bit_words(value: str, bits: dict[int, str]) -> str:
    """Flux text listing the names of the set bits of ``value``, comma separated."""
    known = 0
    parts = []
    for bit, name in sorted(bits.items()):
        known |= 1 << bit
        parts.append(f'(if bitwise.sand(a: {value}, b: {1 << bit}) != 0 then "{name}, " else "")')
    parts.append(f'(if bitwise.sand(a: {value}, b: {~known}) != 0 then "other bits, " else "")')
    joined = "\n            + ".join(parts)
    return f'strings.trimSuffix(v: {joined},\n            suffix: ", ")'


def alarms_now(tiers: Sequence[Tier]) -> Query:
    """Per device: "OK", the active BMS protection bits / controller alarm code as words, or
    "OFFLINE" when it sent nothing for a while (it was seen within the raw retention); plus an
    "alerts" column (the collector's active alerts, "OK" when none) and a "clock" column.
    """
    raw = raw_tier(tiers)
    _check(JBD_BMS, ["protection_flags"])
    _check(LITIME_MPPT, ["alarm_flags"])
    _check(catalog.ALERTS, ["summary"])
    _check(catalog.COLLECTOR, ["clock_synced"])
    lookback = raw.retention or DAY  # 0 = kept forever; a day back is enough to know a device
    stale = f"int(v: r._time) < int(v: r._stop) - {STALE_AFTER * 1_000_000_000}"
    body = f"""recent = from(bucket: {_str(raw.bucket)})
    |> range(start: -{lookback}s)

flags = recent
    |> filter(fn: (r) => (r._measurement == {_str(JBD_BMS.name)} and r._field == "protection_flags")
        or (r._measurement == {_str(LITIME_MPPT.name)} and r._field == "alarm_flags"))
    |> last()
    |> map(fn: (r) => ({{_stop: r._stop, _field: r.device, _value:
        if {stale} then "OFFLINE"
        else if r._value == 0 then "OK"
        else if r._field == "alarm_flags" then "alarm " + string(v: r._value)
        else {_bit_words("r._value", JBD_PROTECTION_BITS)}}}))

alerts = recent
    |> filter(fn: (r) => r._measurement == {_str(catalog.ALERTS.name)} and r._field == "summary")
    |> last()
    |> map(fn: (r) => ({{_stop: r._stop, _field: "alerts", _value: if {stale} then "OFFLINE" else r._value}}))

clock = recent
    |> filter(fn: (r) => r._measurement == {_str(catalog.COLLECTOR.name)} and r._field == "clock_synced")
    |> last()
    |> map(fn: (r) => ({{_stop: r._stop, _field: "clock", _value: if r._value then "OK" else "CLOCK NOT SET"}}))

union(tables: [flags, alerts, clock])
{_ONE_ROW}"""
    return Query(("experimental/bitwise", "strings"), body)


def health_now(tiers: Sequence[Tier]) -> Query:
    """Per device, from its link-health: "APP" while released, else "<rssi> dBm <rate>% <n>↻"."""
    kind = catalog.LINK_HEALTH
    names = _check(kind, ["rssi", "poll_success_rate", "reconnects", "released"])
    body = f"""from(bucket: {_str(raw_tier(tiers).bucket)})
    |> range(start: {NOW_WINDOW})
    |> filter(fn: (r) => r._measurement == {_str(kind.name)} and {_fields(names)})
    |> last()
    |> group(columns: ["device"])
    |> pivot(rowKey: ["_stop"], columnKey: ["_field"], valueColumn: "_value")
    |> map(fn: (r) => ({{_stop: r._stop, _field: r.device, _value:
        if exists r.released and r.released then "APP"
        else (if exists r.rssi then string(v: int(v: r.rssi)) + " dBm " else "")
            + (if exists r.poll_success_rate then string(v: int(v: r.poll_success_rate)) + "% " else "")
            + (if exists r.reconnects then string(v: r.reconnects) + "↻" else "")}}))
{_ONE_ROW}"""
    return Query((), body)


def _temperature_filter() -> str:
    """Predicate body selecting every temperature field of every kind (by unit)."""
    return "\n        or ".join(
        f"(r._measurement == {_str(k.name)} and {_fields(f.name for f in k.fields if f.unit == '°C')})"
        for k in (LITIME_MPPT, JBD_BMS)
    )


def temperatures_now(tiers: Sequence[Tier]) -> Query:
    """Per device: lowest and highest of its temperature sensors, as text "lo–hi"."""
    filters = _temperature_filter()
    body = f"""from(bucket: {_str(raw_tier(tiers).bucket)})
    |> range(start: {NOW_WINDOW})
    |> filter(fn: (r) => {filters})
    |> last()
    |> group(columns: ["device", "_stop"])
    |> reduce(
        fn: (r, accumulator) => ({{
            lo: if r._value < accumulator.lo then r._value else accumulator.lo,
            hi: if r._value > accumulator.hi then r._value else accumulator.hi,
        }}),
        identity: {{lo: 1000.0, hi: -1000.0}},
    )
    |> map(fn: (r) => ({{_stop: r._stop, _field: r.device, _value:
        if math.round(x: r.lo) == math.round(x: r.hi) then string(v: math.round(x: r.hi))
        else string(v: math.round(x: r.lo)) + "–" + string(v: math.round(x: r.hi))}}))
{_ONE_ROW}"""
    return Query(("math",), body)


def cells_now(tiers: Sequence[Tier]) -> Query:
    """Every cell voltage of every battery; columns "<device> 01", "<device> 02", ..."""
    cells = [f.name for f in JBD_BMS.fields if f.name.removeprefix("cell_voltage_").isdigit()]
    body = (
        _latest(tiers, JBD_BMS, cells)
        + """
    |> map(fn: (r) => {
        n = strings.trimPrefix(v: r._field, prefix: "cell_voltage_")
        return {_stop: r._stop, _field: r.device + " " + (if strings.strlen(v: n) < 2 then "0" + n else n), _value: r._value}
    })
"""
        + _ONE_ROW
    )
    return Query(("strings",), body)


def sensors_now(tiers: Sequence[Tier]) -> Query:
    """Every temperature sensor of every device; columns "<device> <sensor>"."""
    filters = _temperature_filter()
    body = f"""from(bucket: {_str(raw_tier(tiers).bucket)})
    |> range(start: {NOW_WINDOW})
    |> filter(fn: (r) => {filters})
    |> last()
    |> map(fn: (r) => ({{_stop: r._stop, _value: r._value, _field: r.device + " "
        + strings.replaceAll(v: strings.replaceAll(v: r._field, t: "_temperature", u: ""), t: "temperature_", u: "T")}}))
{_ONE_ROW}"""
    return Query(("strings",), body)


def balancing_now(tiers: Sequence[Tier]) -> Query:
    """Per battery: the cells being balanced now ("-" when none)."""
    bits = {i: str(i + 1) for i in range(catalog.JBD_MAX_CELLS)}
    body = (
        _latest(tiers, JBD_BMS, ["balance_flags"])
        + f"""
    |> map(fn: (r) => ({{_stop: r._stop, _field: r.device, _value:
        if r._value == 0 then "-" else {_bit_words("r._value", bits)}}}))
"""
        + _ONE_ROW
    )
    return Query(("experimental/bitwise", "strings"), body)


# --- time series through the tier chosen at query time --------------------------------


def _tiered(tiers: Sequence[Tier], parts: Sequence[str], extra_imports: Iterable[str] = (),
            defs: Sequence[str] = ()) -> Query:
    uses_bit_or = any("fn: _bitOr" in p for p in (*parts, *defs))
    body = "\n".join([
        tier_prelude(tiers),
        _TZ_PRELUDE,
        *([_BIT_OR_FN] if uses_bit_or else []),
        *defs,
        "union(tables: [",
        *(f"    {p}," for p in parts),
        "])",
        _BY_TIME,
    ])
    imports = ["timezone", *extra_imports, *(["experimental/bitwise"] if uses_bit_or else [])]
    return Query(tuple(imports), body)


def _source(kind: catalog.DeviceKind, method: str, fields: Sequence[str], device: str | None,
            bucket: str, start: str, stop: str) -> str:
    """Rows of ``fields`` from the raw bucket or a tier bucket, whichever ``bucket`` names at run time.

    The measurement is the kind in the raw bucket and the method in the tiers; naming both as
    literals keeps the filter one InfluxDB can push down to storage (no run-time choice inside
    the predicate), and each bucket only has one of them.
    """
    _check(kind, fields, method)
    k = _str(kind.name)
    return (
        f"from(bucket: {bucket})\n"
        f"        |> range(start: {start}, stop: {stop})\n"
        f"        |> filter(fn: (r) => (r._measurement == {k} or r._measurement == {_str(method)}) and r.kind == {k}"
        f" and {_pred(fields, device).removeprefix('(r) => ')})"
    )


def _read(kind: catalog.DeviceKind, method: str, fields: Sequence[str], device: str | None,
          every: str = "_every", fn: str | None = None) -> str:
    """A tier read over the dashboard range, aggregated to ``every`` windows."""
    return (
        _source(kind, method, fields, device, "_tier.bucket", "v.timeRangeStart", "v.timeRangeStop")
        + f"\n        |> aggregateWindow(every: {every}, fn: {fn or _REDUCER[method]}, createEmpty: false, "
        'timeSrc: "_start", location: _loc)'
    )


def _named(read: str, name: str, value: str = "r._value") -> str:
    """Map a read to rows ``_time, _field = name, _value``; ``name`` is a Flux expression."""
    return f"{read}\n        |> map(fn: (r) => ({{_time: r._time, _field: {name}, _value: {value}}}))"


@dataclass(frozen=True, slots=True)
class Band:
    """A gauge field drawn as its mean line inside a min-max band."""

    kind: catalog.DeviceKind
    field: str
    label: str

    def series(self) -> tuple[str, str, str]:
        """Names of the mean, min and max series."""
        return (self.label, f"{self.label} min", f"{self.label} max")


def gauge_bands(tiers: Sequence[Tier], bands: Sequence[Band], device: str | None) -> Query:
    """Mean, min and max of gauge fields from the finest tier that covers the range."""
    parts = []
    for band in bands:
        if band.kind.field(band.field).aggregation is not Aggregation.GAUGE:
            raise ValueError(f"{band.field} is not a gauge")
        for method, name in zip(("mean", "min", "max"), band.series(), strict=True):
            parts.append(_named(_read(band.kind, method, [band.field], device), _str(name)))
    return _tiered(tiers, parts)


def means(tiers: Sequence[Tier], reads: Sequence[tuple[catalog.DeviceKind, Sequence[str], str | None]]) -> Query:
    """Window means of gauge fields, one series per field (named by the field).

    ``reads`` holds (kind, fields, device) triples, so one chart can mix device kinds.
    """
    return _tiered(tiers, [_named(_read(kind, "mean", fields, device), "r._field") for kind, fields, device in reads])


def current_flow(tiers: Sequence[Tier]) -> Query:
    """Currents of all devices with the sign convention: supply positive, consumption negative.

    PV charge current (+), load current (-), battery current negated (BMS current is + while
    charging, so a discharging battery supplies (+) and a charging one consumes (-)).
    """
    parts = [
        _named(_read(LITIME_MPPT, "mean", ["charge_current"], None), '"PV " + r.device'),
        _named(_read(LITIME_MPPT, "mean", ["load_current"], None), '"load " + r.device', "-r._value"),
        _named(_read(JBD_BMS, "mean", ["current"], None), "r.device", "-r._value"),
    ]
    return _tiered(tiers, parts)


#: Daily energy: the controller's "today" counters peak at the end of each day.
DAILY_ENERGY: Final = (("today_generated_energy", "generated"), ("today_load_energy", "load output"))


#: The collector's integrated daily bank totals (kind ``energy``) -> series name.
DAILY_BANK_ENERGY: Final = (("battery_charge_energy", "battery in"), ("battery_discharge_energy", "battery out"))


def daily_energy(tiers: Sequence[Tier], device: str | None) -> Query:
    """Generated and load energy per day, and the bank's charge and discharge (dashboard time zone)."""
    parts = [
        _named(_read(LITIME_MPPT, "last", [field], device, every="1d", fn="max"), _str(name))
        for field, name in DAILY_ENERGY
    ] + [
        _named(_read(catalog.ENERGY, "last", [field], None, every="1d", fn="max"), _str(name))
        for field, name in DAILY_BANK_ENERGY
    ]
    return _tiered(tiers, parts)


def year_over_year(tiers: Sequence[Tier], device: str | None, years: int = 10) -> Query:
    """Daily generated energy of the month of the range end, and of that month in earlier years.

    Earlier years are moved onto the current month so they overlay; each reads the tier that
    covers its own age.
    """
    field = "today_generated_energy"
    _check(LITIME_MPPT, [field], "last")
    body = "\n".join([
        tier_function(tiers),
        _TZ_PRELUDE,
        "_month = date.truncate(t: v.timeRangeStop, unit: 1mo, location: _loc)",
        f"""_year = (back) => {{
    start = date.sub(d: back, from: _month, location: _loc)
    stop = date.add(d: 1mo, to: start, location: _loc)
    return {_source(LITIME_MPPT, "last", [field], device, "_tierFor(start: start).bucket", "start", "stop")}
        |> aggregateWindow(every: 1d, fn: max, createEmpty: false, timeSrc: "_start", location: _loc)
        |> map(fn: (r) => ({{
            _time: date.add(d: back, to: r._time, location: _loc),
            _field: string(v: date.year(t: start)),
            _value: r._value,
        }}))
}}""",
        "union(tables: [",
        # Calendar months, so that leap years keep the days of the month aligned.
        *(f"    _year(back: {12 * n}mo)," for n in range(years)),
        "])",
        _BY_TIME,
    ])
    return Query(("date", "timezone"), body)


def flag_history(tiers: Sequence[Tier], battery: str | None, controller: str | None) -> Query:
    """Per window, 1 where a flag bit was set: each BMS protection bit and the controller alarm."""
    defs = [
        "_protection = " + _read(JBD_BMS, "bit_or", ["protection_flags"], battery),
        "_alarm = " + _read(LITIME_MPPT, "bit_or", ["alarm_flags"], controller),
    ]
    parts = [
        f'_protection\n        |> map(fn: (r) => ({{_time: r._time, _field: {_str(name)}, '
        f"_value: if bitwise.sand(a: r._value, b: {1 << bit}) != 0 then 1 else 0}}))"
        for bit, name in sorted(JBD_PROTECTION_BITS.items())
    ]
    unknown = ~sum(1 << bit for bit in JBD_PROTECTION_BITS)
    parts.append(
        '_protection\n        |> map(fn: (r) => ({_time: r._time, _field: "other protection bits", '
        f"_value: if bitwise.sand(a: r._value, b: {unknown}) != 0 then 1 else 0}}))"
    )
    parts.append(
        '_alarm\n        |> map(fn: (r) => ({_time: r._time, _field: "controller alarm", '
        "_value: if r._value != 0 then 1 else 0}))"
    )
    return _tiered(tiers, parts, extra_imports=("experimental/bitwise",), defs=defs)


def state_history(tiers: Sequence[Tier], kind: catalog.DeviceKind, field: str, device: str | None) -> Query:
    """The last value of a state field per window (e.g. the charging state), named by device."""
    return _tiered(tiers, [_named(_read(kind, "last", [field], device), "r.device")])
