"""JBD driver against the simulator: every adapter generation and the faults, over 20-byte notifications."""

from __future__ import annotations

import pytest

from solarmon.config import AuthMode
from solarmon.devices import JbdBms
from solarmon.errors import BadChecksum, DeviceTimeout, NoAuthReply, PairingRequired, WrongPassword
from solarmon.link import SimLink
from solarmon.sim import JbdSim

MAC = "A4:C1:38:00:00:21"


async def _device(sim: JbdSim, auth: AuthMode, password: str | None, **kw: object) -> JbdBms:
    link = SimLink(sim)
    dev = JbdBms("bat", link, timeout=0.5, auth=auth, password=password, **kw)  # type: ignore[arg-type]
    await link.connect(1)
    return dev


async def test_no_password_adapter_reads_directly() -> None:
    sim = JbdSim(MAC, auth="none")
    dev = await _device(sim, AuthMode.AUTO, None)
    await dev.setup()
    fields = await dev.poll()
    assert fields["cell_count"] == 4 and fields["hardware_version"] == sim.hardware
    assert {f"cell_voltage_{i}" for i in range(1, 5)} <= fields.keys()
    assert fields["pack_voltage"] == pytest.approx(sum(fields[f"cell_voltage_{i}"] for i in range(1, 5)), abs=0.01)


@pytest.mark.parametrize("mode", [AuthMode.AUTO, AuthMode.PASSWORD])
async def test_password_sequence_unlocks(mode: AuthMode) -> None:
    sim = JbdSim(MAC, auth="password", password="123123")
    dev = await _device(sim, mode, "123123")
    await dev.setup()
    assert sim.unlocked and not sim.root
    assert (await dev.poll())["soc"] == pytest.approx(sim.soc, abs=0.5)


async def test_app_key_alone_is_enough_on_some_adapters() -> None:
    sim = JbdSim(MAC, auth="password", password="000000", unlock_after_app_key=True)
    dev = await _device(sim, AuthMode.PASSWORD, "000000")
    before = sim.requests
    await dev.setup()
    # app key + one successful read + hardware version: no random/first-level frames sent
    assert sim.requests - before == 3


async def test_root_password_when_asked() -> None:
    sim = JbdSim(MAC, auth="password", password="123123")
    dev = await _device(sim, AuthMode.PASSWORD, "123123", root=True)
    await dev.setup()
    assert sim.root


async def test_wrong_password_is_a_clear_error() -> None:
    sim = JbdSim(MAC, auth="password", password="123123")
    dev = await _device(sim, AuthMode.AUTO, "654321")
    with pytest.raises(WrongPassword, match="rejected the BLE password"):
        await dev.setup()
    assert not sim.unlocked


async def test_locked_adapter_without_password_file_says_what_to_do() -> None:
    sim = JbdSim(MAC, auth="password")
    dev = await _device(sim, AuthMode.AUTO, None)
    with pytest.raises(WrongPassword, match="set password_file"):
        await dev.setup()


async def test_passkey_generation_is_detected() -> None:
    sim = JbdSim(MAC, auth="passkey")
    dev = await _device(sim, AuthMode.AUTO, "123456")
    with pytest.raises(PairingRequired, match="passkey"):
        await dev.setup()


async def test_adapter_that_ignores_password_frames() -> None:
    sim = JbdSim(MAC, auth="password")
    sim.faults.silent = True
    dev = await _device(sim, AuthMode.PASSWORD, "123456")
    with pytest.raises(NoAuthReply, match="no answer"):
        await dev.setup()


async def test_bad_crc_is_reported_not_decoded() -> None:
    sim = JbdSim(MAC)
    dev = await _device(sim, AuthMode.NONE, None)
    sim.faults.bad_crc = True
    with pytest.raises(BadChecksum):
        await dev.poll()


async def test_lost_notification_times_out_and_next_poll_recovers() -> None:
    sim = JbdSim(MAC)
    dev = await _device(sim, AuthMode.NONE, None)
    sim.faults.drop_chunk = True
    with pytest.raises(DeviceTimeout):
        await dev.poll()
    sim.faults.drop_chunk = False
    assert (await dev.poll())["cell_count"] == 4


async def test_slow_replies_within_timeout_still_arrive() -> None:
    sim = JbdSim(MAC)
    dev = await _device(sim, AuthMode.NONE, None)
    sim.faults.delay = 0.2
    assert (await dev.poll())["cell_count"] == 4
    sim.faults.delay = 0.8
    with pytest.raises(DeviceTimeout):
        await dev.poll()
