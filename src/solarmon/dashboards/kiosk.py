"""The two kiosk dashboards for the 800x480 touch screen: now, and the cells page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from ..appwindow import KIOSK_PORT
from ..catalog import CHARGING_STATES, JBD_BMS, LITIME_MPPT, DeviceKind
from ..tiers import Tier
from . import flux
from .panels import (
    CHARGING_STATE_COLORS,
    UNITS,
    Json,
    bargauge,
    dashboard,
    grid,
    html,
    stat,
    thresholds,
    timeseries,
    value_text,
)

KIOSK_UID: Final = "solarmon-kiosk"
CELLS_UID: Final = "solarmon-kiosk-cells"

#: Kiosk mode with every control hidden (Grafana shows time picker/variables otherwise).
KIOSK_PARAMS: Final = "kiosk&_dash.hideTimePicker&_dash.hideVariables&_dash.hideLinks"

#: The collector's loopback release endpoint (app_window.http_port must be KIOSK_PORT): every
#: device, for the configured default minutes. Only the kiosk's own browser can reach it.
RELEASE_URL: Final = f"http://127.0.0.1:{KIOSK_PORT}/release"

#: Chart ranges offered as touch buttons: label -> Grafana relative time.
RANGES: Final = (("6 h", "now-6h"), ("24 h", "now-24h"), ("7 d", "now-7d"), ("30 d", "now-30d"))

# LiFePO4 cell limits (the reference system): under 2.9 V or over 3.65 V is a fault.
_CELL_COLORS: Final = thresholds("red", (2.9, "orange"), (3.1, "green"), (3.5, "orange"), (3.65, "red"))
_SPREAD_COLORS: Final = thresholds("green", (0.03, "orange"), (0.1, "red"))
_CHARGING_COLORS: Final = thresholds("orange", (0, "green"))
_SOC_COLORS: Final = thresholds("red", (20, "orange"), (40, "green"))
# No data from a device is shown in red as well: the monitor must not look fine when blind.
_ALARM_COLORS: Final = thresholds("red")
_ALARM_MAPPINGS: Final = [
    {"type": "value", "options": {"OK": {"text": "OK", "color": "green", "index": 0}}},
    {"type": "regex", "options": {"pattern": ".+", "result": {"color": "red", "index": 1}}},
]


def kiosk_url(uid: str, time_from: str | None = None) -> str:
    """Path of a kiosk page (served from the root of the Grafana server)."""
    url = f"/d/{uid}?{KIOSK_PARAMS}"
    return f"{url}&from={time_from}&to=now" if time_from else url


def _button(label: str, href: str, color: str, basis: int) -> str:
    """A link styled as a button taking ``basis`` percent of a row (flex wraps the rest)."""
    return (
        f'<a href="{href}" style="flex-grow:1;flex-basis:{basis}%;display:flex;align-items:center;'
        f"justify-content:center;background-color:{color};color:#ffffff;font-size:22px;"
        f'font-weight:bold;text-decoration:none;border-radius:6px">{label}</a>'
    )


def _buttons(*buttons: str) -> str:
    return (
        '<div style="display:flex;flex-wrap:wrap;gap:6px;height:100%;align-content:stretch">'
        + "".join(buttons)
        + "</div>"
    )


def _per_device(pos: Json, field: str, kind: DeviceKind, prefix: str, tiers: Sequence[Tier], **kw: Any) -> Json:
    """A stat of one field's newest value, one value per device, labelled "<prefix> <device>"."""
    unit = UNITS[kind.field(field).unit]
    return stat(pos, flux.latest_per_device(tiers, kind, field), unit=unit,
                name=f"{prefix} ${{__field.name}}".strip(), **kw)


def kiosk(tiers: Sequence[Tier]) -> Json:
    """The main kiosk page: everything now, and the current chart over a touch-selected range."""
    jbd, mppt = JBD_BMS, LITIME_MPPT
    panels = [
        # Row 1 (3 rows high): the big numbers. Watts, watt-hours, amps and the cell spread keep
        # Grafana's automatic decimals: a fixed count would turn 1534 W into "2 kW".
        # The bank first (its device id is "bank"), then each battery: SOC in %.
        stat(grid(0, 0, 6, 3), flux.soc_now(tiers), unit=UNITS["%"], name="${__field.name}", decimals=0,
             color=_SOC_COLORS),
        _per_device(grid(6, 0, 5, 3), "charge_power", mppt, "PV", tiers),
        _per_device(grid(11, 0, 4, 3), "load_power", mppt, "load", tiers),
        stat(grid(15, 0, 4, 3), flux.latest_per_device(tiers, LITIME_MPPT, "charging_state"),
             name="${__field.name}", mappings=value_text(CHARGING_STATES, CHARGING_STATE_COLORS)),
        stat(grid(19, 0, 5, 3), flux.alarms_now(tiers), name="${__field.name}", text_fields=True,
             color=_ALARM_COLORS, mappings=_ALARM_MAPPINGS, color_mode="background", no_value="NO DATA"),
        # Row 2: battery and energy.
        _per_device(grid(0, 3, 4, 2), "pv_voltage", mppt, "PV", tiers, decimals=1),
        _per_device(grid(4, 3, 5, 2), "pack_voltage", jbd, "", tiers, decimals=2),
        # The BMS's own sign (+ while charging), unlike the chart: green charging, orange discharging.
        _per_device(grid(9, 3, 5, 2), "current", jbd, "", tiers, color=_CHARGING_COLORS),
        _per_device(grid(14, 3, 5, 2), "today_generated_energy", mppt, "PV today", tiers),
        _per_device(grid(19, 3, 5, 2), "today_load_energy", mppt, "load today", tiers),
        # Row 3: cells and temperatures.
        _per_device(grid(0, 5, 5, 2), "cell_voltage_min", jbd, "min", tiers, decimals=3, color=_CELL_COLORS),
        _per_device(grid(5, 5, 5, 2), "cell_voltage_max", jbd, "max", tiers, decimals=3, color=_CELL_COLORS),
        _per_device(grid(10, 5, 5, 2), "cell_voltage_delta", jbd, "Δ", tiers, color=_SPREAD_COLORS),
        stat(grid(15, 5, 9, 2), flux.temperatures_now(tiers), name="°C ${__field.name}", text_fields=True),
        # Row 4: the current chart and the touch buttons.
        timeseries(grid(0, 7, 17, 4), flux.current_flow(tiers), unit="amp", overrides=_flow_colors()),
        html(grid(17, 7, 7, 4), _buttons(
            # Three to a row: 6 h, 24 h, 7 d / 30 d, cells (two rows of ~60 px square buttons).
            *(_button(label, kiosk_url(KIOSK_UID, start), "#1f60c4", 28) for label, start in RANGES),
            _button("cells ▸", kiosk_url(CELLS_UID), "#3d3d3d", 60),
        )),
    ]
    return dashboard(KIOSK_UID, "solarmon kiosk", panels, time_from="now-6h", refresh="30s",
                     tags=["solarmon", "kiosk"], hide_time_picker=True,
                     description="800x480 touch kiosk; generated by `solarmon dashboards`, do not edit.")


def _flow_colors() -> list[Json]:
    """PV in yellow and loads in red, whatever the device ids; batteries keep the palette."""

    def by_regex(pattern: str, color: str) -> Json:
        return {
            "matcher": {"id": "byRegexp", "options": pattern},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}],
        }

    return [by_regex("^PV ", "yellow"), by_regex("^load ", "red")]


def cells(tiers: Sequence[Tier]) -> Json:
    """The second kiosk page: every cell voltage and temperature sensor, balancing, spread."""
    panels = [
        bargauge(grid(0, 0, 15, 7), flux.cells_now(tiers), unit="volt", decimals=3, color=_CELL_COLORS,
                 minimum=2.8, maximum=3.65),
        bargauge(grid(15, 0, 9, 7), flux.sensors_now(tiers), unit="celsius", decimals=0,
                 color=thresholds("blue", (0, "green"), (45, "orange"), (55, "red")), minimum=-10, maximum=70),
        _per_device(grid(0, 7, 4, 4), "cell_voltage_delta", JBD_BMS, "Δ", tiers,
                    color=_SPREAD_COLORS),
        stat(grid(4, 7, 4, 4), flux.balancing_now(tiers), name="balancing ${__field.name}", text_fields=True),
        # Link health per device: signal, poll success, reconnects; "APP" while released.
        stat(grid(8, 7, 5, 4), flux.health_now(tiers), name="${__field.name}", text_fields=True, no_value="–"),
        stat(grid(13, 7, 7, 4), flux.alarms_now(tiers), name="${__field.name}", text_fields=True,
             color=_ALARM_COLORS, mappings=_ALARM_MAPPINGS, color_mode="background", no_value="NO DATA"),
        html(grid(20, 7, 4, 4), _buttons(
            _button("◂ back", kiosk_url(KIOSK_UID), "#3d3d3d", 100),
            _button("app", RELEASE_URL, "#8f3bb8", 100),
        )),
    ]
    return dashboard(CELLS_UID, "solarmon kiosk: cells", panels, time_from="now-6h", refresh="30s",
                     tags=["solarmon", "kiosk"], hide_time_picker=True,
                     description="800x480 touch kiosk, cells page; generated by `solarmon dashboards`, do not edit.")
