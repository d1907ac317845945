"""The history dashboard for PCs: any range from 1 hour to 10 years, tier chosen per query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..catalog import CHARGING_STATES, JBD_BMS, LITIME_MPPT, DeviceKind
from ..tiers import Tier
from . import flux
from .flux import Band, Query
from .panels import (
    CHARGING_STATE_COLORS,
    DATASOURCE,
    UNITS,
    Json,
    band_overrides,
    dashboard,
    grid,
    state_timeline,
    thresholds,
    timeseries,
    value_text,
)
from .tiering import ordered

HISTORY_UID: Final = "solarmon-history"

# Template variables (Grafana substitutes them into the Flux text before sending it).
BATTERY: Final = "${battery}"
CONTROLLER: Final = "${mppt}"

_QUICK_RANGES: Final = (
    ("Last 1 hour", "now-1h"), ("Last 24 hours", "now-24h"), ("Last 2 days", "now-2d"),
    ("Last 7 days", "now-7d"), ("Last 30 days", "now-30d"), ("Last 90 days", "now-90d"),
    ("Last year", "now-1y"), ("Last 2 years", "now-2y"), ("Last 5 years", "now-5y"),
    ("Last 10 years", "now-10y"),
)


def device_query(tiers: Sequence[Tier], kind: DeviceKind) -> Query:
    """Device ids of one kind seen in the raw bucket or, for old ones, the coarsest tier."""
    chain = ordered(tiers)
    reads = []
    for tier in (chain[0], chain[-1]):
        days = tier.retention // 86400 or 3653
        reads.append(
            f'    schema.tagValues(bucket: "{tier.bucket}", tag: "device", '
            f'predicate: (r) => r.kind == "{kind.name}", start: -{days}d),'
        )
    body = "\n".join(["union(tables: [", *reads, "])", '    |> unique(column: "_value")', "    |> sort()"])
    return Query(("influxdata/influxdb/schema",), body)


def _variable(name: str, label: str, query: Query) -> Json:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": dict(DATASOURCE),
        "query": query.text,
        "definition": query.text,
        "refresh": 1,  # on dashboard load
        "sort": 1,
        "multi": False,
        "includeAll": False,
        "current": {},
        "options": [],
    }


def _band_panel(pos: Json, tiers: Sequence[Tier], bands: Sequence[Band], device: str, title: str,
                description: str, decimals: int | None = None) -> Json:
    overrides = [o for b in bands for o in band_overrides(*b.series())]
    unit = UNITS[bands[0].kind.field(bands[0].field).unit]
    return timeseries(pos, flux.gauge_bands(tiers, bands, device), unit=unit, title=title,
                      description=description, overrides=overrides, decimals=decimals, fill=0)


def _names(kind: DeviceKind, fields: Sequence[str]) -> list[Json]:
    """Show catalog descriptions instead of raw field names in legends."""
    return [
        {"matcher": {"id": "byName", "options": f},
         "properties": [{"id": "displayName", "value": kind.field(f).description}]}
        for f in fields
    ]


def history(tiers: Sequence[Tier]) -> Json:
    """The history dashboard."""
    cells = [f.name for f in JBD_BMS.fields if f.name.removeprefix("cell_voltage_").isdigit()]
    sensors = [f.name for f in JBD_BMS.fields if f.name.startswith("temperature_")]
    controller_temps = ["controller_temperature", "battery_temperature"]
    tier_note = (
        "Each query reads the finest retention tier that still covers the range start: "
        + ", ".join(f"{t.bucket} ({t.name})" for t in ordered(tiers))
        + "; min/max bands come from the tiers' min and max measurements."
    )
    panels = [
        timeseries(grid(0, 0, 24, 9), flux.current_flow(tiers), unit="amp",
                   title="Current: supply + / consumption −",
                   description="PV charge current and battery discharge are positive; load current and battery "
                   "charge are negative (battery = −BMS current). All devices. " + tier_note),
        _band_panel(grid(0, 9, 8, 8), tiers, [Band(JBD_BMS, "soc", "SOC")], BATTERY,
                    "State of charge ${battery}", "BMS state of charge, mean with min–max band.", decimals=0),
        _band_panel(grid(8, 9, 8, 8), tiers, [Band(JBD_BMS, "pack_voltage", "pack")], BATTERY,
                    "Pack voltage ${battery}", "Mean with min–max band.", decimals=2),
        _band_panel(grid(16, 9, 8, 8), tiers, [Band(JBD_BMS, "current", "current")], BATTERY,
                    "Battery current ${battery}", "BMS current, positive while charging; min–max band."),
        _band_panel(grid(0, 17, 8, 8), tiers, [Band(LITIME_MPPT, "pv_voltage", "PV")], CONTROLLER,
                    "PV voltage ${mppt}", "Solar panel voltage, mean with min–max band.", decimals=1),
        _band_panel(grid(8, 17, 8, 8), tiers, [Band(LITIME_MPPT, "charge_power", "charge"),
                                               Band(LITIME_MPPT, "load_power", "load")], CONTROLLER,
                    "Power ${mppt}", "Charge (MPPT output) and load output power; min–max bands."),
        timeseries(grid(16, 17, 8, 8), flux.means(tiers, [(JBD_BMS, sensors, BATTERY),
                                                           (LITIME_MPPT, controller_temps, CONTROLLER)]),
                   unit="celsius", decimals=1, title="Temperatures", fill=0,
                   description="Window means of the battery's sensors and the controller's.",
                   overrides=_names(JBD_BMS, sensors) + _names(LITIME_MPPT, controller_temps)),
        _band_panel(grid(0, 25, 12, 8), tiers, [Band(JBD_BMS, "cell_voltage_delta", "spread")], BATTERY,
                    "Cell balance ${battery}: highest − lowest cell",
                    "Spread between the highest and lowest cell, mean with min–max band."),
        timeseries(grid(12, 25, 12, 8), flux.means(tiers, [(JBD_BMS, cells, BATTERY)]), unit="volt",
                   decimals=3, title="Cell voltages ${battery}", fill=0,
                   description="Window mean of every cell.", overrides=_names(JBD_BMS, cells)),
        timeseries(grid(0, 33, 12, 8), flux.daily_energy(tiers, CONTROLLER), unit="watth", bars=True,
                   title="Energy per day ${mppt}",
                   description="The controller's daily counters at the end of each day (dashboard time zone). "
                   "'load output' is the controller's load terminal only; 'battery in/out' is the bank's "
                   "energy integrated by the collector."),
        timeseries(grid(12, 33, 12, 8), flux.year_over_year(tiers, CONTROLLER), unit="watth",
                   title="Generated per day: this month and the same month in earlier years", fill=0,
                   description="The month of the range end; earlier years are moved onto it to overlay."),
        state_timeline(grid(0, 41, 16, 9), flux.flag_history(tiers, BATTERY, CONTROLLER),
                       title="Protection and alarms ${battery} ${mppt}",
                       description="Red where a BMS protection bit or a controller alarm was set in the window "
                       "(bitwise OR of the window).",
                       mappings=value_text({0: "clear", 1: "SET"}), color=thresholds("green", (1, "red"))),
        state_timeline(grid(16, 41, 8, 9), flux.state_history(tiers, LITIME_MPPT, "charging_state", CONTROLLER),
                       title="Charging state ${mppt}", description="Last charging state of each window.",
                       mappings=value_text(CHARGING_STATES, CHARGING_STATE_COLORS), color=thresholds("text")),
    ]
    variables = [
        _variable("battery", "Battery", device_query(tiers, JBD_BMS)),
        _variable("mppt", "Charge controller", device_query(tiers, LITIME_MPPT)),
    ]
    board = dashboard(HISTORY_UID, "solarmon history", panels, time_from="now-7d", refresh="5m",
                      tags=["solarmon"], variables=variables,
                      description="Any range from 1 hour to 10 years; generated by `solarmon dashboards`.")
    board["timepicker"]["quick_ranges"] = [
        {"display": label, "from": start, "to": "now"} for label, start in _QUICK_RANGES
    ]
    return board
