"""LiTime driver against the simulator over 20-byte notifications."""

from __future__ import annotations

import asyncio
import time

import pytest

from solarmon import catalog
from solarmon.devices import LitimeMppt
from solarmon.errors import DeviceTimeout, TransportError
from solarmon.link import SimLink
from solarmon.sim import LitimeSim


async def _device() -> tuple[LitimeSim, LitimeMppt]:
    sim = LitimeSim("C8:47:80:00:00:31")
    link = SimLink(sim)
    await link.connect(1)
    return sim, LitimeMppt("mppt", link, timeout=0.5)


async def test_poll_returns_every_catalog_field() -> None:
    sim, dev = await _device()
    fields = await dev.poll()
    assert set(fields) == {f.name for f in catalog.LITIME_MPPT.fields}
    for name, value in fields.items():
        assert catalog.LITIME_MPPT.field(name).coerce(value) == value


async def test_history_and_load_switch() -> None:
    sim, dev = await _device()
    day = await dev.history(3)
    gen, load, peak, vmax, vmin = sim.history_registers(3)
    assert (day["generated_energy"], day["load_energy"], day["max_charge_power"]) == (gen, load, peak)
    assert day["max_battery_voltage"] == vmax / 10
    await dev.set_load(False)
    assert sim.load_on is False
    assert (await dev.poll())["load_on"] is False


async def test_silent_controller_times_out() -> None:
    sim, dev = await _device()
    sim.faults.silent = True
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout):
        await dev.poll()
    assert time.monotonic() - t0 < 2


async def test_dropped_link_fails_the_next_write() -> None:
    sim, dev = await _device()
    sim.faults.drop_link = True
    with pytest.raises(DeviceTimeout):
        await dev.poll()
    assert not dev.link.is_connected
    with pytest.raises(TransportError):
        await dev.poll()


async def test_a_write_that_hangs_is_bounded_by_the_request_timeout() -> None:
    class HungWrite(SimLink):
        async def write(self, data: bytes) -> None:
            await asyncio.Event().wait()  # bleak retrying a write on a hung adapter

    link = HungWrite(LitimeSim("C8:47:80:00:00:32"))
    await link.connect(1)
    dev = LitimeMppt("mppt", link, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout):
        await dev.poll()
    assert time.monotonic() - t0 < 1.0


async def test_device_info_block_decodes_to_text() -> None:
    from solarmon.protocols import litime

    sim, dev = await _device()
    assert litime.decode_info(await dev.request(litime.info_request())) == "LT-MPPT60A V1.07 SIM"


async def test_link_forgets_deliveries_once_made() -> None:
    sim, dev = await _device()
    for _ in range(50):
        await dev.poll()
    assert len(dev.link._pending) <= 3  # one reply's notifications at most, not one per poll ever made
