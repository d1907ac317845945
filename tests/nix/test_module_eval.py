"""The NixOS modules evaluate with the real module system, with nixpkgs' options stubbed.

Needs nixpkgs' ``lib`` (pure Nix, no packages): set ``SOLARMON_NIXPKGS_LIB`` to its
directory (the flake's dev shell does). Skipped otherwise. This catches option typos,
type errors and assertion regressions in modules/ that ``--parse`` cannot see.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import subprocess
from typing import Any

import pytest

from solarmon.tiers import DEFAULT_TIERS

pytestmark = pytest.mark.nix

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "nix" / "eval-modules.nix"
DEVICES = ROOT / "hosts" / "rpi5" / "devices.nix"
SIMULATOR = ROOT / "hosts" / "vm" / "simulator.nix"


def _nix_eval(path: Path, *args: str) -> Any:
    """``nix-instantiate --eval --strict --json`` of ``path`` with ``lib`` = the nixpkgs lib checkout."""
    exe = shutil.which("nix-instantiate")
    lib = os.environ.get("SOLARMON_NIXPKGS_LIB")
    if exe is None:
        pytest.skip("nix-instantiate is not installed (apt-get install nix-bin)")
    if not lib or not (Path(lib) / "default.nix").is_file():
        pytest.skip("SOLARMON_NIXPKGS_LIB does not point to a nixpkgs lib directory")
    out = subprocess.run(
        [exe, "--eval", "--strict", "--json", str(path), "--arg", "lib", f"import {lib}", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, NIX_CONFIG="build-users-group ="),
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def evaluate(modules: str) -> dict[str, Any]:
    return _nix_eval(HARNESS, "--arg", "modules", modules)


EXAMPLE = f"[ (import {DEVICES}) {{ services.solarmon.enable = true; services.solarmon.kiosk.enable = true; }} ]"


def test_example_host_evaluates_without_failed_assertions() -> None:
    cfg = evaluate(EXAMPLE)
    assert cfg["failedAssertions"] == []
    for unit in ("solarmon-secrets", "solarmon-collect", "solarmon-bridge", "solarmon-bootstrap", "cage-tty1"):
        assert unit in cfg["units"], unit
    assert cfg["firewall"] == [3000]
    assert set(cfg["configFiles"]) == {"collect", "bridge", "bootstrap", "simulate", "pair"}


def test_app_units_are_hardened_and_get_secrets_only_as_credentials() -> None:
    units = evaluate(EXAMPLE)["units"]
    for name in ("solarmon-collect", "solarmon-bridge", "solarmon-bootstrap"):
        sc = units[name]["serviceConfig"]
        assert sc["DynamicUser"] is True
        assert sc["ProtectSystem"] == "strict"
        assert sc["CapabilityBoundingSet"] == ""
        assert "AF_UNIX" in sc["RestrictAddressFamilies"]
        assert sc["Restart"] == "on-failure"
        for cred in sc["LoadCredential"]:
            _, path = cred.split(":", 1)
            assert path.startswith("/var/lib/solarmon-secrets/"), cred
        assert "solarmon-secrets.service" in units[name]["requires"]
    assert units["solarmon-collect"]["serviceConfig"]["SupplementaryGroups"] == ["solarmon-ble"]
    assert "bluetooth.service" in units["solarmon-collect"]["after"]
    assert units["solarmon-bridge"]["serviceConfig"]["StateDirectory"] == "solarmon-bridge"
    # The bridge must survive InfluxDB outages: Wants, never Requires.
    assert "influxdb2.service" not in units["solarmon-bridge"]["requires"]


def test_per_service_credentials_and_users_line_up() -> None:
    cfg = evaluate(EXAMPLE)
    users = cfg["mosquitto"]["listeners"][0]["users"]
    assert set(users) == {"solarmon-collect", "solarmon-bridge"}
    assert cfg["mosquitto"]["listeners"][0]["address"] == "127.0.0.1"
    auths = cfg["influxdb2"]["provision"]["organizations"]["solarmon"]["auths"]
    assert auths["solarmon-bridge"]["writeBuckets"] == [t.bucket for t in DEFAULT_TIERS]  # late points -> tiers
    assert "writeBuckets" not in auths["solarmon-grafana"]
    buckets = cfg["influxdb2"]["provision"]["organizations"]["solarmon"]["buckets"]
    assert set(buckets) == {"solar_raw", "solar_2m", "solar_5m", "solar_30m", "solar_2h"}
    ds = cfg["grafana"]["provision"]["datasources"]["settings"]["datasources"][0]
    assert ds["uid"] == "solarmon-influx"
    assert ds["secureJsonData"]["token"].startswith("$__file{/run/credentials/grafana.service/")
    assert cfg["grafana"]["settings"]["analytics"]["reporting_enabled"] is False


def test_simulator_and_jbd_password_credentials() -> None:
    modules = (
        f"[ {SIMULATOR} ({{ lib, ... }}: {{ services.solarmon.enable = true; "
        'services.solarmon.simulator.enable = true; services.solarmon.simulator.faults = [ "battery1:wrong-password" ]; '
        'services.solarmon.devices = [ { id = "battery1"; kind = "jbd-bms"; address = "A4:C1:38:00:00:02"; '
        'auth = "password"; passwordFile = "/etc/solarmon-test/jbd-battery1"; } ]; }) ]'
    )
    units = evaluate(modules)["units"]
    cred = "jbd-password-battery1:/etc/solarmon-test/jbd-battery1"
    assert cred in units["solarmon-collect"]["serviceConfig"]["LoadCredential"]
    assert cred in units["solarmon-simulator"]["serviceConfig"]["LoadCredential"]
    assert "--fault battery1:wrong-password" in units["solarmon-simulator"]["serviceConfig"]["ExecStart"]


def test_assertion_messages_name_the_option() -> None:
    modules = (
        "[ { services.solarmon.enable = true; services.solarmon.devices = [ "
        '{ id = "b"; kind = "jbd-bms"; address = "A4:C1:38:00:00:02"; passwordFile = "/nix/store/x-pw"; } '
        '{ id = "b"; kind = "litime-mppt"; address = "a4:c1:38:00:00:02"; auth = "password"; } ]; } ]'
    )
    failed = evaluate(modules)["failedAssertions"]
    assert failed, failed
    assert all(m.startswith("services.solarmon.") for m in failed), failed
    assert any("duplicate id" in m for m in failed)
    assert any("passwordFile: must be an absolute path outside the Nix store" in m for m in failed)


def test_collector_state_and_loopback_only_network_without_push() -> None:
    cfg = evaluate(EXAMPLE)
    sc = cfg["units"]["solarmon-collect"]["serviceConfig"]
    assert sc["StateDirectory"] == "solarmon-collector"
    assert sc["StateDirectoryMode"] == "0700"
    # Broker and app-window endpoint are on 127.0.0.1: AF_INET, but loopback only.
    assert sc["RestrictAddressFamilies"] == ["AF_UNIX", "AF_INET"]
    assert sc["IPAddressDeny"] == "any"
    assert sc["IPAddressAllow"] == "localhost"
    # The release endpoint is never opened in the firewall; no polkit rule by default.
    assert cfg["firewall"] == [3000]
    assert cfg["polkit"] == {}
    assert cfg["warnings"] == []
    pair = [p for p in cfg["systemPackages"] if p["name"] == "solarmon-pair"]
    assert len(pair) == 1
    assert "solarmon-pair.json" in pair[0]["text"]
    assert "systemctl start solarmon-collect.service" in pair[0]["text"]


def test_push_passkey_and_bluetoothd_restart() -> None:
    modules = (
        "[ { services.solarmon.enable = true; services.solarmon.devices = [ "
        '{ id = "battery1"; kind = "jbd-bms"; address = "A4:C1:38:00:00:02"; '
        'passkeyFile = "/var/lib/solarmon-secrets/jbd-battery1.passkey"; } ]; '
        'services.solarmon.alerts.push = { url = "https://ntfy.sh/cabin"; '
        'tokenFile = "/var/lib/solarmon-secrets/push.token"; }; '
        "services.solarmon.collector.stateDir = \"/var/lib/solar-state\"; "
        "services.solarmon.collector.restartBluetoothd = true; } ]"
    )
    cfg = evaluate(modules)
    assert cfg["failedAssertions"] == []
    sc = cfg["units"]["solarmon-collect"]["serviceConfig"]
    assert "push-token:/var/lib/solarmon-secrets/push.token" in sc["LoadCredential"]
    # The passkey is for `solarmon-pair` only, never a credential of the collector.
    assert not any("passkey" in c for c in sc["LoadCredential"])
    assert sc["StateDirectory"] == "solar-state"
    assert sc["RestrictAddressFamilies"] == ["AF_UNIX", "AF_INET", "AF_INET6"]
    assert "IPAddressDeny" not in sc
    assert cfg["polkit"]["enable"] is True
    rule = cfg["polkit"]["extraConfig"]
    for part in ('"org.freedesktop.systemd1.manage-units"', '"bluetooth.service"', '"restart"', '"solarmon-collect"'):
        assert part in rule
    pair = next(p for p in cfg["systemPackages"] if p["name"] == "solarmon-pair")
    assert "/var/lib/solarmon-secrets/jbd-battery1.passkey" in pair["text"]
    assert '"$creds"/jbd-passkey-battery1' in pair["text"]


def test_new_sections_refuse_secrets_and_ports_in_the_wrong_place() -> None:
    modules = (
        "[ { services.solarmon.enable = true; "
        'services.solarmon.alerts.push.settings.token_file = "/nix/store/x-token"; '
        'services.solarmon.alerts.push.tokenFile = "/nix/store/y-token"; '
        'services.solarmon.settings.collector.state_dir = "/tmp/x"; '
        "services.solarmon.appWindow.settings.http_port = 9000; "
        'services.solarmon.devices = [ { id = "m"; kind = "litime-mppt"; address = "C8:47:80:00:00:01"; '
        'passkeyFile = "/var/lib/solarmon-secrets/m"; } ]; '
        "networking.firewall.allowedTCPPorts = [ 8099 ]; } ]"
    )
    failed = evaluate(modules)["failedAssertions"]
    assert all(m.startswith("services.solarmon.") for m in failed), failed
    for expected in (
        "alerts.push.tokenFile: must be an absolute path outside the Nix store",
        "alerts.push: tokenFile and settings need a push url",
        "set the token with alerts.push.tokenFile",
        "use services.solarmon.collector.stateDir",
        "set the port with appWindow.httpPort",
        "loopback-only; do not open port 8099",
        "devices.m.passkeyFile: jbd-bms only",
    ):
        assert any(expected in m for m in failed), (expected, failed)


def test_flake_outputs_are_wired() -> None:
    """flake.nix evaluates with a stub nixpkgs: every promised output exists."""
    flake = _nix_eval(ROOT / "tests" / "nix" / "eval-flake.nix")
    assert flake["inputs"] == ["nixos-hardware", "nixpkgs"]
    for system in ("x86_64-linux", "aarch64-linux"):
        assert {"solarmon", "default"} <= set(flake["packages"][system])
        assert flake["devShells"][system] == ["default"]
    assert "sdImage" in flake["packages"]["aarch64-linux"]
    assert flake["nixosConfigurations"] == ["solarmon", "solarmon-vm"]
    assert flake["nixosModules"] == ["default"]
    assert {"appliance", "jbd-wrong-password", "render-config", "solarmon"} <= set(flake["checks"])
    assert flake["apps"]["demo-vm"]["type"] == "app"
    assert len(flake["renderConfigFiles"]) == 5
