"""What the charts mean: sign convention, bands, datasource, generated files up to date."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest

from solarmon.catalog import KINDS
from solarmon.cli import main
from solarmon.dashboards import DATASOURCE_UID, build_all, flux, render
from solarmon.dashboards.panels import UNITS
from solarmon.tiers import DEFAULT_TIERS

from .names import walk

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"


def test_committed_dashboards_are_up_to_date() -> None:
    generated = {name: render(board) for name, board in build_all().items()}
    committed = {p.name: p.read_text(encoding="utf-8") for p in DASHBOARDS.glob("*.json")}
    assert sorted(committed) == sorted(generated)
    stale = [name for name in generated if committed[name] != generated[name]]
    assert stale == [], "run `solarmon dashboards` and commit grafana/dashboards/"


def test_cli_writes_and_checks(tmp_path: Path) -> None:
    assert main(["dashboards", "--out", str(tmp_path), "--check"]) == 1  # nothing there yet
    assert main(["dashboards", "--out", str(tmp_path)]) == 0
    assert main(["dashboards", "--out", str(tmp_path), "--check"]) == 0
    kiosk = tmp_path / "solarmon-kiosk.json"
    kiosk.write_text(kiosk.read_text(encoding="utf-8").replace('"30s"', '"1m"'), encoding="utf-8")
    assert main(["dashboards", "--out", str(tmp_path), "--check"]) == 1


def test_uids(by_uid: dict[str, Any]) -> None:
    assert set(by_uid) == {"solarmon-kiosk", "solarmon-kiosk-cells", "solarmon-history"}


def test_datasource_uid_everywhere(boards: dict[str, Any]) -> None:
    for name, board in boards.items():
        refs = [d["datasource"] for d in walk(board) if "datasource" in d]
        with_query = [d for d in walk(board) if "targets" in d or d.get("type") == "query"]
        assert refs, name
        assert all(r == {"type": "influxdb", "uid": DATASOURCE_UID} for r in refs), name
        assert all("datasource" in d for d in with_query), name
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                assert t["datasource"]["uid"] == DATASOURCE_UID


def test_sign_convention_of_the_current_chart() -> None:
    """Supply positive (PV, battery discharge), consumption negative (load, battery charge)."""
    text = flux.current_flow(DEFAULT_TIERS).text
    reads = re.findall(
        r'r\.kind == "([^"]+)" and r\._field == "(\w+)"\)\n[^\n]*aggregateWindow[^\n]*\n'
        r"\s*\|> map\(fn: \(r\) => \(\{[^}]*_value: ([^}]*)\}\)\)",
        text,
    )
    signs = {(kind, field): value.strip() for kind, field, value in reads}
    assert signs == {
        ("litime-mppt", "charge_current"): "r._value",
        ("litime-mppt", "load_current"): "-r._value",
        ("jbd-bms", "current"): "-r._value",  # BMS current is + while charging
    }


def test_history_bands_pair_min_and_max(by_uid: dict[str, Any]) -> None:
    history = by_uid["solarmon-history"]
    banded = 0
    for panel in history["panels"]:
        query = panel.get("targets", [{}])[0].get("query", "")
        for o in panel["fieldConfig"]["overrides"]:
            props = {p["id"]: p["value"] for p in o["properties"]}
            if "custom.fillBelowTo" in props:
                high, low = o["matcher"]["options"], props["custom.fillBelowTo"]
                assert high.endswith(" max") and low == high.removesuffix(" max") + " min"
                assert f'_field: "{high}"' in query and f'_field: "{low}"' in query
                banded += 1
    assert banded >= 6


@pytest.mark.parametrize("name", ["solarmon-kiosk.json", "solarmon-history.json"])
def test_files_are_plain_json_without_ids_or_versions_grafana_would_fight(name: str) -> None:
    board = json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))
    assert "id" not in board  # provisioning assigns it
    assert board["editable"] is False


def test_every_catalog_unit_has_a_grafana_unit() -> None:
    units = {f.unit for k in KINDS.values() for f in k.fields}
    assert units - set(UNITS) == set()


def test_no_fixed_decimals_on_auto_scaled_units(boards: dict[str, Any]) -> None:
    """Grafana scales W/Wh/A to k/m units; a fixed decimal count would show 1534 W as "2 kW"."""
    for board in boards.values():
        for panel in board["panels"]:
            defaults = panel.get("fieldConfig", {}).get("defaults", {})
            if defaults.get("unit") in ("watt", "watth", "amp"):
                assert "decimals" not in defaults, (board["uid"], panel["id"])
