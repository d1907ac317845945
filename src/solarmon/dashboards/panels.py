"""Grafana dashboard JSON pieces as plain dicts: datasource, panels, value mappings."""

from __future__ import annotations

from typing import Any, Final

from .flux import Query

#: Fixed by the team: the provisioned InfluxDB (Flux) datasource.
DATASOURCE_UID: Final = "solarmon-influx"
DATASOURCE: Final[dict[str, str]] = {"type": "influxdb", "uid": DATASOURCE_UID}

#: Catalog unit -> Grafana unit id.
UNITS: Final[dict[str, str]] = {
    "V": "volt",
    "A": "amp",
    "W": "watt",
    "Wh": "watth",
    "Ah": "amph",
    "°C": "celsius",
    "%": "percent",
    "d": "d",
    "h": "h",
    "s": "s",
    "dBm": "dBm",
    "": "none",
}

#: Colours for charging-state codes (the words come from the catalog labels).
CHARGING_STATE_COLORS: Final = {0: "text", 1: "text", 2: "green", 3: "purple", 4: "orange", 5: "blue", 6: "yellow"}

Json = dict[str, Any]


def grid(x: int, y: int, w: int, h: int) -> Json:
    """A panel's position on Grafana's 24-column grid."""
    return {"x": x, "y": y, "w": w, "h": h}


def target(query: Query, ref: str = "A") -> Json:
    """One Flux query of a panel."""
    return {"refId": ref, "datasource": dict(DATASOURCE), "query": query.text}


def thresholds(base: str, *steps: tuple[float, str]) -> Json:
    """Absolute thresholds: ``base`` colour below the first step."""
    return {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}, *({"color": c, "value": v} for v, c in steps)],
    }


def value_text(labels: dict[int, str], colors: dict[int, str] | None = None) -> list[Json]:
    """A value mapping from integer codes to words (catalog labels)."""
    options = {}
    for index, (code, text) in enumerate(sorted(labels.items())):
        result: Json = {"text": text, "index": index}
        if colors and code in colors:
            result["color"] = colors[code]
        options[str(code)] = result
    return [{"type": "value", "options": options}]


def _panel(kind: str, pos: Json, title: str, description: str) -> Json:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "gridPos": pos,
        "datasource": dict(DATASOURCE),
    }


def stat(pos: Json, query: Query, *, unit: str = "none", title: str = "", description: str = "",
         name: str | None = None, decimals: int | None = None, color: Json | None = None,
         mappings: list[Json] | None = None, color_mode: str = "value", text_fields: bool = False,
         value_size: int | None = None, no_value: str = "–") -> Json:
    """A stat panel showing one value per query column (e.g. one per device).

    ``name`` is the small label above each value (``${__field.name}`` = the column, e.g.
    the device id); ``text_fields`` shows text columns too (numbers only otherwise).
    """
    defaults: Json = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": color or thresholds("text"),
        "mappings": mappings or [],
        "noValue": no_value,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    if name is not None:
        defaults["displayName"] = name
    text: Json = {}
    if value_size is not None:
        text["valueSize"] = value_size
    panel = _panel("stat", pos, title, description)
    panel.update({
        "targets": [target(query)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "/.*/" if text_fields else "", "values": False},
            "orientation": "auto",
            "textMode": "value_and_name" if name is not None else "value",
            "colorMode": color_mode,
            "graphMode": "none",
            "justifyMode": "center",
            "wideLayout": True,
            "showPercentChange": False,
            "text": text,
        },
    })
    return panel


def timeseries(pos: Json, query: Query, *, unit: str, title: str = "", description: str = "",
               overrides: list[Json] | None = None, legend: bool = True, bars: bool = False,
               fill: int = 10, decimals: int | None = None) -> Json:
    """A time series panel (lines, or bars for per-day values)."""
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1 if bars else 2,
        "fillOpacity": 80 if bars else fill,
        "spanNulls": 3600000,  # raw series of different devices do not share timestamps
        "showPoints": "auto",  # a lone window between gaps stays visible
        "axisSoftMin": 0 if bars else None,
        "barAlignment": 1 if bars else None,  # a day's bar covers that day, not the midnight before
    }
    custom = {k: v for k, v in custom.items() if v is not None}
    defaults: Json = {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    panel = _panel("timeseries", pos, title, description)
    panel.update({
        "targets": [target(query)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {"showLegend": legend, "displayMode": "list", "placement": "bottom", "calcs": []},
            "tooltip": {"mode": "multi", "sort": "none"},
        },
    })
    return panel


def bargauge(pos: Json, query: Query, *, unit: str, color: Json, title: str = "", description: str = "",
             minimum: float | None = None, maximum: float | None = None, decimals: int | None = None,
             orientation: str = "vertical") -> Json:
    """A bar gauge: one bar per query column (cells, sensors)."""
    defaults: Json = {"unit": unit, "color": {"mode": "thresholds"}, "thresholds": color, "noValue": "–"}
    for key, value in (("min", minimum), ("max", maximum), ("decimals", decimals)):
        if value is not None:
            defaults[key] = value
    panel = _panel("bargauge", pos, title, description)
    panel.update({
        "targets": [target(query)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": orientation,
            "displayMode": "basic",
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "auto",
            "sizing": "auto",
            "minVizHeight": 10,
            "minVizWidth": 8,
        },
    })
    return panel


def state_timeline(pos: Json, query: Query, *, title: str, description: str, mappings: list[Json],
                   color: Json) -> Json:
    """A state timeline: one row per query column, coloured by value."""
    panel = _panel("state-timeline", pos, title, description)
    panel.update({
        "targets": [target(query)],
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "thresholds": color,
                "mappings": mappings,
                "custom": {"fillOpacity": 80, "lineWidth": 0},
            },
            "overrides": [],
        },
        "options": {
            "showValue": "never",
            "mergeValues": True,
            "rowHeight": 0.8,
            "alignValue": "left",
            "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    })
    return panel


def html(pos: Json, content: str, *, title: str = "", description: str = "") -> Json:
    """A text panel with HTML content (links as touch buttons); needs no datasource."""
    panel = _panel("text", pos, title, description)
    del panel["datasource"]
    panel.update({
        "transparent": True,
        "options": {"mode": "html", "content": content, "code": {"language": "plaintext", "showLineNumbers": False}},
    })
    return panel


def band_overrides(mean: str, low: str, high: str) -> list[Json]:
    """Draw ``low``..``high`` as a shaded band around the ``mean`` line (one colour)."""

    def by_name(name: str, props: list[Json]) -> Json:
        return {"matcher": {"id": "byName", "options": name}, "properties": props}

    edge = [
        {"id": "custom.lineWidth", "value": 0},
        {"id": "custom.hideFrom", "value": {"legend": True, "tooltip": False, "viz": False}},
    ]
    return [
        by_name(low, [*edge, {"id": "custom.fillOpacity", "value": 0}]),
        by_name(high, [*edge, {"id": "custom.fillOpacity", "value": 25}, {"id": "custom.fillBelowTo", "value": low}]),
        by_name(mean, [{"id": "custom.fillOpacity", "value": 0}]),
    ]


def dashboard(uid: str, title: str, panels: list[Json], *, time_from: str, refresh: str, tags: list[str],
              variables: list[Json] | None = None, hide_time_picker: bool = False,
              links: list[Json] | None = None, description: str = "") -> Json:
    """A whole dashboard; panel ids are assigned in order."""
    for index, panel in enumerate(panels, start=1):
        panel["id"] = index
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": tags,
        "editable": False,
        "graphTooltip": 1,
        "timezone": "browser",
        "refresh": refresh,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {"hidden": hide_time_picker},
        "templating": {"list": variables or []},
        "annotations": {"list": []},
        "links": links or [],
        "panels": panels,
    }
