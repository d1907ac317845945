"""The command line as a user runs it (a real subprocess for exit codes and streams)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from protocols.test_jbd import DOC_BASIC, DOC_CELLS
from protocols.test_litime import CAPTURED_STATUS, EXPECTED_STATUS


def _solarmon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "solarmon", *args], capture_output=True, text=True, timeout=60)


def test_decode_litime() -> None:
    r = _solarmon("decode", "litime-mppt", CAPTURED_STATUS.hex())
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == EXPECTED_STATUS


@pytest.mark.parametrize("frame", [DOC_BASIC, DOC_CELLS], ids=["basic", "cells"])
def test_decode_jbd_any_register(frame: bytes) -> None:
    spaced = " ".join(f"{b:02x}" for b in frame)
    r = _solarmon("decode", "jbd-bms", spaced)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert ("soc" in out) if frame is DOC_BASIC else ("cell_voltage_15" in out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("jbd-bms", DOC_BASIC[:-1].hex() + "78"), "ends with 0x78"),
        (("litime-mppt", CAPTURED_STATUS[:-1].hex()), "bytes"),
        (("litime-mppt", "zz"), "not hexadecimal"),
        (("jbd-bms", "dd0600010001ff77"), ""),
    ],
    ids=["bad_end", "truncated", "not_hex", "bad_register"],
)
def test_decode_errors_are_one_line(args: tuple[str, str], message: str) -> None:
    r = _solarmon("decode", *args)
    assert r.returncode != 0 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("cmd", ["decode", "scan", "collect", "check-config", "demo"])
def test_help(cmd: str) -> None:
    r = _solarmon(cmd, "--help")
    assert r.returncode == 0 and "usage: solarmon" in r.stdout


def test_scan_without_bluez_is_one_clear_line(tmp_path) -> None:  # noqa: ANN001
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-such-bus"}
    r = subprocess.run([sys.executable, "-m", "solarmon", "scan", "--seconds", "1"], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "BlueZ is not reachable over the system D-Bus" in r.stderr
