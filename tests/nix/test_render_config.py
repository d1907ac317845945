"""The Nix <-> Python contract: modules/lib/render-config.nix renders files check-config accepts.

The NixOS module builds the app's config file with the pure function in
``modules/lib/render-config.nix``. Here a bare ``nix-instantiate`` (no nixpkgs needed)
renders the example host's device list for every service role, and ``solarmon
check-config`` must accept each file with the secret files it names present. A
deliberately wrong option must be reported, naming the key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.nix

ROOT = Path(__file__).resolve().parents[2]
RENDER = ROOT / "modules" / "lib" / "render-config.nix"
DEVICES = ROOT / "hosts" / "rpi5" / "devices.nix"
ROLES = ("collect", "bridge", "bootstrap", "simulate", "pair")


def _nix_instantiate() -> str:
    exe = shutil.which("nix-instantiate")
    if exe is None:
        pytest.skip("nix-instantiate is not installed (apt-get install nix-bin)")
    return exe


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Debian's nix-bin without a daemon or nixbld group: evaluation needs neither.
    env["NIX_CONFIG"] = "build-users-group =\n" + env.get("NIX_CONFIG", "")
    return env


def render(expr_values: str, role: str) -> dict:
    """Evaluate render-config.nix with ``values`` (a Nix expression) for one role."""
    expr = (
        f"let rc = import {RENDER}; devices = (import {DEVICES}).services.solarmon.devices; "
        f'in rc.render {{ values = {expr_values}; role = "{role}"; }}'
    )
    out = subprocess.run(
        [_nix_instantiate(), "--eval", "--strict", "--json", "--expr", expr],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check_config(cfg: dict, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``solarmon check-config`` on a rendered file with its credentials in place."""
    creds = tmp_path / "credentials"
    creds.mkdir(exist_ok=True)
    text = json.dumps(cfg)
    for name in ("mqtt-password", "influx-token"):
        (creds / name).write_text("s3cret\n")
    for dev in cfg["devices"]:
        if "password_file" in dev:
            name = dev["password_file"].removeprefix("$CREDENTIALS_DIRECTORY/")
            (creds / name).write_text("1234\n")
    path = tmp_path / "solarmon.json"
    path.write_text(text)
    env = dict(os.environ, CREDENTIALS_DIRECTORY=str(creds))
    return subprocess.run(
        [sys.executable, "-m", "solarmon", "check-config", str(path), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("role", ROLES)
def test_example_host_renders_a_valid_config(role: str, tmp_path: Path) -> None:
    cfg = render("{ inherit devices; }", role)
    assert [d["id"] for d in cfg["devices"]] == ["mppt", "battery1", "battery2"]
    result = check_config(cfg, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK, 3 device(s)" in result.stdout


def test_secrets_are_credential_paths_never_values(tmp_path: Path) -> None:
    values = (
        '{ devices = devices ++ [ { id = "battery3"; kind = "jbd-bms"; '
        'address = "a4:c1:38:00:00:09"; auth = "password"; '
        'passwordFile = "/var/lib/solarmon-secrets/jbd-battery3"; } ]; }'
    )
    collect = render(values, "collect")
    bridge = render(values, "bridge")
    assert collect["devices"][-1]["password_file"] == "$CREDENTIALS_DIRECTORY/jbd-password-battery3"
    assert collect["mqtt"] == {
        "host": "127.0.0.1",
        "port": 1883,
        "keepalive": 30,
        "topic_prefix": "solarmon",
        "username": "solarmon-collect",
        "password_file": "$CREDENTIALS_DIRECTORY/mqtt-password",
    }
    assert "token_file" not in collect["influx"]
    # Only the collector (and the simulator) see the BMS password; the bridge gets the token.
    assert "password_file" not in bridge["devices"][-1]
    assert bridge["influx"]["token_file"] == "$CREDENTIALS_DIRECTORY/influx-token"
    assert bridge["mqtt"]["username"] == "solarmon-bridge"
    for cfg in (collect, bridge):
        result = check_config(cfg, tmp_path)
        assert result.returncode == 0, result.stderr


def test_default_tiers_match_the_app(tmp_path: Path) -> None:
    cfg = render("{ }", "bootstrap")
    assert [(t["bucket"], t["span"], t["retention"]) for t in cfg["tiers"]] == [
        ("solar_raw", None, 86400),
        ("solar_2m", 120, 7 * 86400),
        ("solar_5m", 300, 31 * 86400),
        ("solar_30m", 1800, 366 * 86400),
        ("solar_2h", 7200, 3653 * 86400),
    ]
    assert check_config(cfg, tmp_path).returncode == 0


def test_a_wrong_option_is_reported_by_check_config(tmp_path: Path) -> None:
    # A typo in the freeform `settings` and a bad MAC address: both reach the app, which
    # must name each key instead of silently ignoring it.
    values = (
        '{ devices = devices ++ [ { id = "bad"; kind = "jbd-bms"; address = "not-a-mac"; } ]; '
        "settings.collector.intervall = 5; }"
    )
    result = check_config(render(values, "collect"), tmp_path)
    assert result.returncode == 1
    assert "collector.intervall: unknown key" in result.stderr
    assert "devices[3].address" in result.stderr


def test_a_missing_secret_file_is_reported(tmp_path: Path) -> None:
    cfg = render("{ inherit devices; }", "bridge")
    cfg["influx"]["token_file"] = "$CREDENTIALS_DIRECTORY/no-such-token"
    result = check_config(cfg, tmp_path)
    assert result.returncode == 1
    assert "influx.token_file" in result.stderr


def test_unknown_role_is_refused() -> None:
    expr = f'(import {RENDER}).render {{ role = "grafana"; }}'
    out = subprocess.run(
        [_nix_instantiate(), "--eval", "--strict", "--json", "--expr", expr],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "role must be one of" in out.stderr
