"""Inside the VM: passkey pairing of the 2026 JBD generation through bluetoothd (`solarmon pair`).

The simulated BMS becomes the passkey generation at run time (``fault bms passkey=N``): it
echoes every frame until the link is encrypted with keys from an authenticated (passkey)
pairing, then answers like an unlocked adapter. ``clear`` turns it back into the password
generation; the bond is removed from BlueZ afterwards so later tests see an unpaired device.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import json
from pathlib import Path
import re
import subprocess
import sys
import time
from typing import Any

from blevm_rig import BMS, Radio, SimDevice
import pytest

from solarmon.ble.link import BleakLink
from solarmon.config import AuthMode
from solarmon.devices.jbd_bms import JbdBms
from solarmon.errors import PairingRequired

pytestmark = pytest.mark.blevm

PASSKEY = 314159  # the simulated adapter's passkey in this module
WRONG = 271828


def _config(path: Path, passkey: int = PASSKEY) -> Path:
    """The BMS as the docs say to configure a passkey JBD: auth none, passkey_file for `pair`."""
    secret = path.with_name("bms.passkey")
    secret.write_text(f"{passkey:06d}\n")
    device = {"id": BMS.id, "kind": BMS.kind, "address": BMS.address, "name": BMS.name,
              "auth": "none", "passkey_file": str(secret)}
    path.write_text(json.dumps({"devices": [device], "logging": {"level": "debug"}}, indent=2))
    return path


def _remove_bond(device: SimDevice) -> None:
    """Forget the device in BlueZ (bond included); fine if BlueZ does not know it."""
    subprocess.run(
        ["dbus-send", "--system", "--print-reply", "--dest=org.bluez", "/org/bluez/hci0", "org.bluez.Adapter1.RemoveDevice",
         f"objpath:/org/bluez/hci0/dev_{device.address.replace(':', '_')}"],
        capture_output=True, text=True, timeout=10, check=False,
    )


@pytest.fixture
def passkey_bms(sim: Radio) -> Iterator[Radio]:
    """The BMS as the passkey generation, not bonded in BlueZ before or after."""
    _remove_bond(BMS)
    sim.command(f"fault {BMS.id} passkey={PASSKEY}")
    yield sim
    _remove_bond(BMS)
    sim.command(f"clear {BMS.id}")


async def _poll(device: SimDevice) -> dict[str, Any]:
    """One connect + poll with the project's driver (auth none, as after pairing)."""
    link = BleakLink(device.address, device.name, device.notify_uuid, device.write_uuid)
    bms = JbdBms(device.id, link, auth=AuthMode.NONE, timeout=5)
    try:
        await asyncio.wait_for(link.connect(20), 60)
        return dict(await asyncio.wait_for(bms.poll(), 20))
    finally:
        await asyncio.wait_for(link.disconnect(), 20)


def _pair(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "solarmon", "pair", BMS.id, "--config", str(cfg), *extra],
        capture_output=True, text=True, timeout=90, check=False,
    )


def test_unpaired_passkey_bms_is_diagnosed_and_a_wrong_passkey_is_refused(passkey_bms: Radio, tmp_path: Path) -> None:
    with pytest.raises(PairingRequired, match=r"passkey-pairing generation.*solarmon pair bms"):
        asyncio.run(_poll(BMS))
    cfg = _config(tmp_path / "pair.json")
    started = time.monotonic()
    out = _pair(cfg, "--passkey", f"{WRONG:06d}")
    print(f"wrong passkey refused after {time.monotonic() - started:.1f} s: {out.stderr.strip()}")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "the passkey is wrong" in out.stderr or "rejected pairing" in out.stderr, out.stderr
    assert str(WRONG) not in out.stderr + out.stdout  # never echoed


def test_pair_with_the_passkey_then_reads_work(passkey_bms: Radio, tmp_path: Path) -> None:
    cfg = _config(tmp_path / "pair.json")
    out = _pair(cfg)  # the passkey from passkey_file
    assert out.returncode == 0, out.stdout + out.stderr
    seconds = re.search(r"paired and trusted in ([0-9.]+) s", out.stdout)
    assert seconds, out.stdout
    print(f"pairing time (solarmon pair, through bluetoothd): {seconds.group(1)} s")
    assert str(PASSKEY) not in out.stdout + out.stderr
    started = time.monotonic()
    fields = asyncio.run(_poll(BMS))
    print(f"first poll after pairing (connect + encrypt + read): {time.monotonic() - started:.1f} s")
    assert 10.0 < float(fields["pack_voltage"]) < 15.0, fields
    assert _pair(cfg).stdout.strip().endswith("already paired; nothing to do")
