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
    for name in ("mqtt-password", "influx-token", "push-token"):
        (creds / name).write_text("s3cret\n")
    for dev in cfg["devices"]:
        for key, value in (("password_file", "1234\n"), ("passkey_file", "654321\n")):
            if key in dev:
                name = dev[key].removeprefix("$CREDENTIALS_DIRECTORY/")
                if name.startswith(("jbd-password-", "jbd-passkey-")):  # the names the module uses
                    (creds / name).write_text(value)
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


# Every collector feature section, as a host would set them (NixOS option names; the
# sections' own keys snake_case as in src/solarmon/config.py), plus a passkey file and a
# push token file.
FEATURES = (
    '{ devices = devices ++ [ { id = "battery3"; kind = "jbd-bms"; address = "a4:c1:38:00:00:09"; '
    'passkeyFile = "/var/lib/solarmon-secrets/jbd-battery3.passkey"; } ]; '
    "collector.restartBluetoothd = true; "
    'alerts.rules = [ { name = "low-soc"; field = "soc"; device = "bank"; below = 25; hysteresis = 5; delay = 60; } '
    '{ name = "hot"; field = "temperature_*"; above = 50; hysteresis = 5; } ]; '
    "alerts.settings.silent_after = 900; "
    'alerts.push = { url = "https://ntfy.sh/my-cabin-solar"; tokenFile = "/var/lib/solarmon-secrets/push.token"; '
    'settings = { format = "ntfy"; retry = 120; }; }; '
    'bank = { packs = [ "battery1" "battery2" ]; stale_after = 180; }; '
    "energy.history_days = 14; "
    'clock.trust = "auto"; '
    'loadRules = [ { device = "mppt"; off_below_soc = 30; on_above_soc = 50; on_from = "17:00"; on_until = "23:30"; } ]; '
    "appWindow.settings.default_minutes = 20; }"
)


@pytest.mark.parametrize("role", ROLES)
def test_feature_sections_render_a_valid_config(role: str, tmp_path: Path) -> None:
    cfg = render(FEATURES, role)
    assert cfg["collector"]["state_dir"] == "/var/lib/solarmon-collector"
    assert cfg["collector"]["restart_bluetoothd"] is True
    assert cfg["app_window"] == {"http_port": 8099, "default_minutes": 20}
    assert cfg["alerts"]["silent_after"] == 900
    assert [r["name"] for r in cfg["alerts"]["rules"]] == ["low-soc", "hot"]
    assert cfg["bank"] == {"packs": ["battery1", "battery2"], "stale_after": 180}
    assert cfg["energy"] == {"history_days": 14}
    assert cfg["load_rules"][0]["device"] == "mppt"
    push = cfg["alerts"]["push"]
    assert push["url"] == "https://ntfy.sh/my-cabin-solar"
    assert push["format"] == "ntfy"
    # Secrets are credential names, and only in the file of the one role reading them.
    if role == "collect":
        assert push["token_file"] == "$CREDENTIALS_DIRECTORY/push-token"
    else:
        assert "token_file" not in push
    battery3 = cfg["devices"][-1]
    if role == "pair":
        assert battery3["passkey_file"] == "$CREDENTIALS_DIRECTORY/jbd-passkey-battery3"
        assert "username" not in cfg["mqtt"] and "password_file" not in cfg["mqtt"]
    else:
        assert "passkey_file" not in battery3
    assert "/var/lib/solarmon-secrets" not in json.dumps(cfg)
    result = check_config(cfg, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK, 4 device(s)" in result.stdout


def test_defaults_render_no_empty_feature_sections(tmp_path: Path) -> None:
    cfg = render("{ inherit devices; }", "collect")
    for section in ("alerts", "bank", "energy", "clock", "load_rules"):
        assert section not in cfg, section
    assert cfg["app_window"] == {"http_port": 8099}
    off = render("{ inherit devices; appWindow.httpPort = null; }", "collect")
    assert off["app_window"] == {}
    assert check_config(off, tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ('alerts.settings.silent_aftr = 60;', "alerts.silent_aftr: unknown key"),
        ('alerts.rules = [ { name = "x"; field = "soc"; below = 20; dealy = 5; } ];', "alerts.rules[0].dealy: unknown key"),
        ('alerts.push = { url = "https://ntfy.sh/x"; settings.retries = 3; };', "alerts.push.retries: unknown key"),
        ('bank.pack = [ "battery1" ];', "bank.pack: unknown key"),
        ("energy.max_gapp = 60;", "energy.max_gapp: unknown key"),
        ('clock.trusted = "always";', "clock.trusted: unknown key"),
        ('loadRules = [ { device = "mppt"; off_below_soc = 30; on_above_soc = 50; dwell = 60; } ];', "load_rules[0].dwell: unknown key"),
        ("appWindow.settings.port = 9000;", "app_window.port: unknown key"),
    ],
)
def test_a_wrong_key_in_a_feature_section_is_reported(values: str, expected: str, tmp_path: Path) -> None:
    result = check_config(render(f"{{ inherit devices; {values} }}", "collect"), tmp_path)
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr, result.stderr


def test_a_missing_push_token_or_passkey_file_is_reported(tmp_path: Path) -> None:
    collect = render(FEATURES, "collect")
    collect["alerts"]["push"]["token_file"] = "$CREDENTIALS_DIRECTORY/no-such-token"
    result = check_config(collect, tmp_path)
    assert result.returncode == 1
    assert "alerts.push.token_file" in result.stderr
    pair = render(FEATURES, "pair")
    pair["devices"][-1]["passkey_file"] = "$CREDENTIALS_DIRECTORY/no-such-passkey"
    result = check_config(pair, tmp_path)
    assert result.returncode == 1
    assert "devices[3].passkey_file" in result.stderr


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


# Where the appliance deliberately differs from the app's own defaults, and why.
APPLIANCE_CHOICES = {
    ("mqtt", "host"): "127.0.0.1",  # the local broker, without a DNS lookup of localhost
    ("mqtt", "username"): "solarmon-collect",  # per-service broker users
    ("mqtt", "password_file"): "$CREDENTIALS_DIRECTORY/mqtt-password",
    ("influx", "token_file"): "$CREDENTIALS_DIRECTORY/influx-token",
    ("bridge", "state_dir"): "/var/lib/solarmon-bridge",  # one StateDirectory per service
    ("app_window", "http_port"): 8099,  # the kiosk's "app" button needs the loopback endpoint
}


def test_nix_defaults_are_the_apps_defaults() -> None:
    """The module keeps a copy of the defaults (option docs need them): it must not drift."""
    from solarmon.config import Config

    app = Config().model_dump(mode="json")
    rendered = render("{ }", "collect")
    for section, values in rendered.items():
        if section in ("devices", "tiers") or not isinstance(values, dict):
            continue
        for key, value in values.items():
            expected = APPLIANCE_CHOICES.get((section, key), app.get(section, {}).get(key))
            if isinstance(value, dict):
                continue  # nested feature settings are passed through as written
            assert value == expected, f"{section}.{key}: Nix renders {value!r}, the app's default is {expected!r}"
    assert rendered["tiers"] == app["tiers"]
