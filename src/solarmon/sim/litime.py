"""Simulated LiTime MPPT controller: answers Modbus requests with a live, daily-varying state."""

from __future__ import annotations

import struct
import time

from ..protocols import litime as proto
from . import world
from .base import SimDevice

_ILLEGAL_ADDRESS = 0x02  # Modbus exception code


class LitimeSim(SimDevice):
    """A 60 A MPPT feeding a 12 V bank, with a load output."""

    kind = "litime-mppt"
    service_uuid = proto.SERVICE_UUID
    write_uuid = proto.CHAR_UUID
    notify_uuid = proto.CHAR_UUID

    def __init__(self, address: str, name: str = "BT-LTMPPT-SIM", *, start: float | None = None) -> None:
        super().__init__(address, name)
        self.load_on = True
        self.battery_probe = False
        self.alarm_flags = 0
        self._last: float | None = None
        self._day = -1
        self._today_gen = self._today_load = 0.0
        self._today_max = 0.0
        self._total_gen = 6112.0  # Wh, as the captured unit
        self._total_load = 1800.0
        self._start = time.time() if start is None else start

    # --- model ----------------------------------------------------------------------

    def _battery_voltage(self, charge_w: float, now: float) -> float:
        # Resting LiFePO4 sits near 13.2 V; charging lifts it towards the 14.4 V boost level.
        return min(14.4, 13.15 + charge_w / 500.0 + 0.05 * world.clouds(now))

    def _advance(self, now: float) -> tuple[float, float, float]:
        """Integrate energy counters up to ``now``; return (pv W, charge W, load W)."""
        pv = world.pv_power(now)
        charge = pv * 0.96  # converter efficiency
        load = world.load_power(now) if self.load_on else 0.0
        day = time.localtime(now).tm_yday
        if day != self._day:
            self._day, self._today_gen, self._today_load, self._today_max = day, 0.0, 0.0, 0.0
        if self._last is not None and 0 < now - self._last < 3600:
            hours = (now - self._last) / 3600
            self._today_gen += charge * hours
            self._total_gen += charge * hours
            self._today_load += load * hours
            self._total_load += load * hours
        self._last = now
        self._today_max = max(self._today_max, charge)
        return pv, charge, load

    def status_registers(self, now: float) -> list[int]:
        """The 19 registers 0x0101..0x0113 at ``now``."""
        pv, charge, load = self._advance(now)
        vbat = self._battery_voltage(charge, now)
        state = 0 if pv < 1 else (2 if charge < 400 else 4)
        ctrl_temp = int(22 + charge / 40)
        bat_temp = 0xFF if not self.battery_probe else 20
        days = int((now - self._start) // 86400) + 3
        pv_v = 0.0 if pv < 1 else 78.0 + 4.0 * world.clouds(now)
        return [
            100,  # 0x0101 "SOC": always 100 on real units
            round(vbat * 10),
            round(charge / vbat * 100),
            round(charge),
            ctrl_temp << 8 | bat_temp,
            round(vbat * 10) if self.load_on else 0,
            round(load / vbat * 100),
            round(load),
            round(pv_v * 10),
            round(self._today_max),
            round(self._today_gen),
            round(self._today_load),
            (0x8000 if self.load_on else 0) | state,
            self.alarm_flags,
            days,
            *divmod(round(self._total_gen), 0x10000),
            *divmod(round(self._total_load), 0x10000),
        ]

    def history_registers(self, day: int) -> list[int]:
        """Five words for ``day`` days ago: generated Wh, load Wh, peak W, max/min V x10."""
        gen = 1800 + (day * 397) % 1500
        return [gen, 900 + (day * 131) % 400, 500 + (day * 53) % 150, 144, 128 + day % 3]

    # --- protocol -----------------------------------------------------------------

    def _respond(self, request: bytes, now: float) -> list[bytes]:
        if len(request) != 8 or request[0] != proto.SLAVE or proto.crc16(request[:-2]) != int.from_bytes(
            request[-2:], "little"
        ):
            return []  # a real slave ignores damaged frames
        func, reg, value = request[1], *struct.unpack(">HH", request[2:6])
        if func == proto.WRITE_SINGLE and reg == proto.LOAD_SWITCH:
            self.load_on = bool(value)
            return [request]
        if func != proto.READ_HOLDING:
            return [self._exception(func, 0x01)]
        if (reg, value) == (proto.STATUS_START, proto.STATUS_COUNT):
            regs = self.status_registers(now)
        elif (reg, value) == (proto.INFO_START, proto.INFO_COUNT):
            text = b"LT-MPPT60A V1.07 SIM".ljust(2 * proto.INFO_COUNT, b"\0")
            regs = list(struct.unpack(f">{proto.INFO_COUNT}H", text))
        elif proto.HISTORY_BASE <= reg < proto.HISTORY_BASE + 0x100 and value == proto.HISTORY_COUNT:
            regs = self.history_registers(reg - proto.HISTORY_BASE)
        else:
            return [self._exception(func, _ILLEGAL_ADDRESS)]
        body = struct.pack(f">BBB{len(regs)}H", proto.SLAVE, func, 2 * len(regs), *regs)
        return [proto.with_crc(body)]

    @staticmethod
    def _exception(func: int, code: int) -> bytes:
        return proto.with_crc(bytes((proto.SLAVE, func | proto.EXCEPTION_BIT, code)))
