"""The provisioning files for non-Nix installs: well formed, Flux, fixed uid, token from a file."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from solarmon.dashboards import DATASOURCE_UID

PROVISIONING = Path(__file__).resolve().parents[2] / "grafana" / "provisioning"


def load(path: Path) -> Any:
    """The files are JSON (valid YAML) after their leading '#' comment lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if not line.lstrip().startswith("#")]
    return json.loads("\n".join(body))


def test_datasource() -> None:
    doc = load(PROVISIONING / "datasources" / "solarmon.yaml")
    assert doc["apiVersion"] == 1
    (ds,) = doc["datasources"]
    assert ds["uid"] == DATASOURCE_UID
    assert ds["name"] == "InfluxDB (solarmon)"
    assert ds["type"] == "influxdb"
    assert ds["url"] == "http://127.0.0.1:8086"
    assert ds["jsonData"]["version"] == "Flux"
    assert ds["jsonData"]["organization"] == "solarmon"
    assert set(ds["secureJsonData"]) == {"token"}
    assert re.fullmatch(r"\$__file\{/[^{}]+\}", ds["secureJsonData"]["token"])
    assert "token" not in json.dumps(ds["jsonData"]).lower()


def test_dashboard_provider() -> None:
    doc = load(PROVISIONING / "dashboards" / "solarmon.yaml")
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["disableDeletion"] is True and provider["allowUiUpdates"] is False
    assert provider["options"]["path"].startswith("/")


def test_no_secret_in_any_provisioning_file() -> None:
    for path in PROVISIONING.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        for key, value in re.findall(r'"(\w*(?:token|password|secret)\w*)":\s*"([^"]*)"', text, re.IGNORECASE):
            assert value.startswith("$__file{"), (path, key)
