"""Passkey pairing: agent answers, diagnoses, device path, CLI device and passkey choice."""

from __future__ import annotations

import argparse
from pathlib import Path

from dbus_fast import DBusError
import pytest

from solarmon import config
from solarmon.ble.pairing import DEFAULT_PASSKEY, PairingError, PasskeyAgent, device_path, diagnose, parse_passkey
from solarmon.cli import build_parser
from solarmon.cli.pair import passkey_of, pick
from solarmon.errors import ConfigError


def test_agent_answers_with_the_passkey_and_refuses_a_different_comparison() -> None:
    agent = PasskeyAgent(4321)
    methods = {m.name: m for m in agent.introspect().methods}
    assert methods["RequestPasskey"].in_signature == "o" and methods["RequestPasskey"].out_signature == "u"
    assert methods["RequestPinCode"].out_signature == "s"
    assert PasskeyAgent.RequestPasskey.__wrapped__(agent, "/org/bluez/hci0/dev_X") == 4321  # type: ignore[attr-defined]
    assert PasskeyAgent.RequestPinCode.__wrapped__(agent, "/x") == "004321"  # type: ignore[attr-defined]
    PasskeyAgent.RequestConfirmation.__wrapped__(agent, "/x", 4321)  # type: ignore[attr-defined]
    with pytest.raises(DBusError):
        PasskeyAgent.RequestConfirmation.__wrapped__(agent, "/x", 999999)  # type: ignore[attr-defined]
    assert agent.asked == ["passkey", "pin", "confirm", "confirm"]


def test_diagnoses_name_the_cause() -> None:
    assert "passkey is wrong" in diagnose("org.bluez.Error.AuthenticationFailed")
    assert "another client" in diagnose("org.bluez.Error.ConnectionAttemptFailed")
    assert "another client" in diagnose("org.bluez.Error.Failed", "Page Timeout")
    assert diagnose("org.bluez.Error.Weird", "odd") == "BlueZ said org.bluez.Error.Weird: odd"


def test_paths_and_passkeys() -> None:
    assert device_path("hci1", "a4:c1:38:00:00:11") == "/org/bluez/hci1/dev_A4_C1_38_00_00_11"
    assert parse_passkey("000123") == 123 and parse_passkey(" 654321\n") == 654321
    for bad in ("1234567", "12a4", ""):
        with pytest.raises(PairingError):
            parse_passkey(bad)


def _cfg(tmp_path: Path) -> config.Config:
    key = tmp_path / "pk"
    key.write_text("246810\n")
    return config.parse({"devices": [
        {"id": "mppt", "kind": "litime-mppt", "address": "C8:47:80:00:00:01"},
        {"id": "battery1", "kind": "jbd-bms", "address": "A4:C1:38:00:00:11", "passkey_file": str(key)},
        {"id": "battery2", "kind": "jbd-bms", "address": "A4:C1:38:00:00:12"},
    ]})


def test_cli_picks_the_device_and_the_passkey(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    assert pick(cfg, "battery1").id == "battery1"
    assert pick(cfg, "a4-c1-38-00-00-12").id == "battery2"
    with pytest.raises(ConfigError, match="only jbd-bms"):
        pick(cfg, "mppt")
    with pytest.raises(ConfigError, match="configured: mppt, battery1, battery2"):
        pick(cfg, "battery9")
    args = build_parser().parse_args(["pair", "battery1", "--config", "x.toml"])
    assert passkey_of(args, pick(cfg, "battery1"))[0] == 246810
    assert passkey_of(args, pick(cfg, "battery2")) == (DEFAULT_PASSKEY, "the factory default")
    assert passkey_of(argparse.Namespace(passkey="111111"), pick(cfg, "battery1")) == (111111, "--passkey")


def test_passkey_file_only_for_jbd() -> None:
    with pytest.raises(ConfigError, match="passkey_file applies to jbd-bms devices only"):
        config.parse({"devices": [{"id": "m", "kind": "litime-mppt", "address": "C8:47:80:00:00:01",
                                   "passkey_file": "/x"}]})
