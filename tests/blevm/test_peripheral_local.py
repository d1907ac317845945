"""The Bumble peripherals of ``solarmon simulate --ble``, driven in-process by a Bumble central.

No kernel, no VM: both ends are Bumble on one ``FixedLocalLink``. This checks the GATT
layout, 20-byte chunking, the faults and the LocalLink workaround in a second; the VM tier
checks the same peripherals through BlueZ and bleak.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("bumble", reason="needs the 'sim' extra (bumble)")

from bumble import hci  # noqa: E402
from bumble.core import UUID  # noqa: E402
from bumble.device import Device, DeviceConfiguration, Peer  # noqa: E402
from bumble.host import Host  # noqa: E402

from solarmon.protocols import jbd, litime  # noqa: E402
from solarmon.sim import ble, make_simulator  # noqa: E402

_STATUS = litime.status_request()  # 43-byte reply: 20 + 20 + 3 bytes at MTU 23
_BASIC = jbd.read_request(jbd.Register.BASIC_INFO)


_SPECS = [
    {"id": "mppt", "kind": "litime-mppt", "address": "C8:47:80:00:00:01", "name": "BT-LTMPPT-TEST",
     "password": None, "auth": "none"},
    {"id": "bms", "kind": "jbd-bms", "address": "A4:C1:38:00:00:02", "name": "JBD-TEST",
     "password": "123456", "auth": "none"},
]


async def _central(link: ble.FixedLocalLink) -> Device:
    controller = ble.SimController("central", link=link, public_address="00:5A:11:0B:1E:01")
    config = DeviceConfiguration()
    config.name = "central"
    device = Device(config=config, host=Host(controller, controller))
    await device.power_on()
    return device


async def _connect(central: Device, spec: dict, notify: str, write: str) -> tuple[Peer, object, asyncio.Queue[bytes]]:
    connection = await asyncio.wait_for(
        central.connect(
            hci.Address(spec["address"], hci.Address.PUBLIC_DEVICE_ADDRESS),
            own_address_type=hci.OwnAddressType.PUBLIC,
        ),
        5,
    )
    peer = Peer(connection)
    await asyncio.wait_for(peer.discover_services(), 5)
    await asyncio.wait_for(peer.discover_characteristics(), 5)
    got: asyncio.Queue[bytes] = asyncio.Queue()
    [notify_char] = peer.get_characteristics_by_uuid(UUID(notify))
    [write_char] = peer.get_characteristics_by_uuid(UUID(write))
    await peer.subscribe(notify_char, lambda value: got.put_nowait(bytes(value)))
    return peer, write_char, got


async def _read_reply(got: asyncio.Queue[bytes], assembler: object | None = None) -> list[bytes]:
    assembler = assembler or litime.FrameAssembler()
    pieces: list[bytes] = []
    while True:
        pieces.append(await asyncio.wait_for(got.get(), 2))
        if assembler.feed(pieces[-1]) is not None:
            return pieces


async def test_both_devices_answer_in_20_byte_notifications() -> None:
    sim = ble.Simulation(make_simulator, [dict(s) for s in _SPECS])
    await sim.start_peripherals()
    central = await _central(sim.link)

    peer, write_char, got = await _connect(central, _SPECS[0], "ffe1", "ffe1")
    await peer.write_value(write_char, _STATUS, with_response=True)
    pieces = await _read_reply(got)
    assert [len(p) for p in pieces] == [20, 20, 3]
    assert litime.decode_status(b"".join(pieces))

    peer2, write2, got2 = await _connect(central, _SPECS[1], "ff01", "ff02")
    await peer2.write_value(write2, _BASIC, with_response=False)
    frame = b"".join(await _read_reply(got2, jbd.FrameAssembler()))
    assert frame[:2] == b"\xdd\x03" and frame[-1] == 0x77
    assert sim.peripherals["bms"].sim.password == "123456"
    assert sim.peripherals["bms"].sim.requests == 1
    assert sim.command("fault bms wrong-password")["ok"]
    assert sim.peripherals["bms"].sim.password not in (None, "123456")
    assert sim.command("clear bms")["ok"]
    assert sim.peripherals["bms"].sim.password == "123456"

    # Faults at run time, through the same command parser the control socket uses.
    assert sim.command("fault mppt silent")["ok"]
    await peer.write_value(write_char, _STATUS, with_response=True)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(got.get(), 0.5)
    assert sim.command("clear mppt")["ok"]
    assert sim.command("fault mppt slow=0.3")["ok"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await peer.write_value(write_char, _STATUS, with_response=True)
    await _read_reply(got)
    assert loop.time() - started >= 0.3
    status = sim.command("status")
    assert status["devices"]["mppt"]["faults"]["delay"] == 0.3
    assert status["devices"]["mppt"]["stats"]["replies"] == 2

    disconnected = asyncio.Event()
    peer.connection.on("disconnection", lambda _reason: disconnected.set())
    assert sim.command("fault mppt drop-link")["ok"]
    await asyncio.wait_for(disconnected.wait(), 2)
    # It advertises again: a new connection works.
    peer, write_char, got = await _connect(central, _SPECS[0], "ffe1", "ffe1")
    assert sim.command("clear all")["ok"]
    await peer.write_value(write_char, _STATUS, with_response=True)
    assert litime.decode_status(b"".join(await _read_reply(got)))


def test_fault_specs_are_checked() -> None:
    assert ble.parse_fault("bms:slow=0.5") == ("bms", "slow", 0.5)
    assert ble.parse_fault("adapter:hang") == ("adapter", "hang", None)
    for bad in ("bms", "bms:loud", "bms:hang", "adapter:silent"):
        with pytest.raises(ValueError, match="expected|applies"):
            ble.parse_fault(bad)
