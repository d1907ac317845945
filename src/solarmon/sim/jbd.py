"""Simulated JBD BMS behind a BLE adapter: data registers, password generations, cell drift."""

from __future__ import annotations

from enum import StrEnum
import math
import struct

from ..protocols import jbd as proto
from . import world
from .base import SimDevice


class SimAuth(StrEnum):
    """Which adapter generation the simulator plays."""

    NONE = "none"  # answers data requests at once
    PASSWORD = "password"  # needs the app key (and, by default, the first-level password)
    PASSKEY = "passkey"  # 2026 generation: BLE passkey pairing; echoes every frame it does not know


# LiFePO4 open-circuit voltage per cell against state of charge (%), for a plausible curve.
_OCV = ((0, 2.80), (5, 3.10), (10, 3.20), (20, 3.25), (40, 3.29), (60, 3.31), (80, 3.33), (95, 3.38), (100, 3.45))


def _ocv(soc: float) -> float:
    for (s0, v0), (s1, v1) in zip(_OCV, _OCV[1:], strict=False):
        if soc <= s1:
            return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)
    return _OCV[-1][1]


class JbdSim(SimDevice):
    """A 12 V 4S LiFePO4 pack (300 Ah by default) sharing the world's load with its siblings."""

    kind = "jbd-bms"
    service_uuid = proto.SERVICE_UUID
    write_uuid = proto.WRITE_UUID
    notify_uuid = proto.NOTIFY_UUID

    def __init__(
        self,
        address: str,
        name: str = "JBD-SIM",
        *,
        auth: SimAuth | str = SimAuth.NONE,
        password: str = "123456",
        passkey: int = 123456,
        unlock_after_app_key: bool = False,
        cells: int = 4,
        capacity_ah: float = 300.0,
        packs: int = 2,
        soc: float = 62.0,
        hardware: str = "JBD-SP04S034-L4S-150A-B-U",
        seed: int = 0,
    ) -> None:
        super().__init__(address, name)
        self.auth = SimAuth(auth)
        self.password = password
        self.passkey = passkey
        # Set by the BLE transport before each request: is this link encrypted with a key
        # from an authenticated (passkey) pairing? Only the PASSKEY generation cares.
        self.paired = False
        self.unlock_after_app_key = unlock_after_app_key
        self.cells = cells
        self.capacity_ah = capacity_ah
        self.packs = packs
        self.soc = soc
        self.hardware = hardware
        self.protection_flags = 0
        self.ntc = 2
        self._seed = seed
        self._last: float | None = None
        self._random = 0
        self.unlocked = self.auth is SimAuth.NONE
        self.root = False

    @property
    def pairing_passkey(self) -> int | None:
        """The passkey BLE pairing needs (the PASSKEY generation only), shown on the adapter's "display"."""
        return self.passkey if self.auth is SimAuth.PASSKEY else None

    def on_disconnect(self) -> None:
        """Authentication does not survive a reconnect."""
        self.unlocked = self.auth is SimAuth.NONE
        self.root = False

    # --- model --------------------------------------------------------------------

    def current(self, now: float) -> float:
        """Pack current in A, + while charging: PV surplus over the load, split across packs."""
        vbat = 3.3 * self.cells
        amps = (world.pv_power(now) * 0.96 - world.load_power(now)) / vbat / self.packs
        if self.soc >= 99.5 and amps > 0:
            amps *= 0.05  # full: only a trickle (the charger is in float)
        return amps

    def _advance(self, now: float) -> float:
        amps = self.current(now)
        if self._last is not None and 0 < now - self._last < 3600:
            self.soc += amps * (now - self._last) / 3600 / self.capacity_ah * 100
            self.soc = min(100.0, max(3.0, self.soc))
        self._last = now
        return amps

    def cell_millivolts(self, now: float, amps: float) -> list[int]:
        """Per-cell voltage: OCV + IR drop + a slow drift that differs per cell."""
        base = _ocv(self.soc) + amps * 0.0006
        out = []
        for i in range(self.cells):
            drift = 0.004 * math.sin(now / 5400 + i * 1.7 + self._seed) + 0.002 * i / max(1, self.cells - 1)
            out.append(round((base + drift) * 1000))
        return out

    def basic_info(self, now: float) -> bytes:
        """Data bytes of a 0x03 reply at ``now``."""
        amps = self._advance(now)
        mv = self.cell_millivolts(now, amps)
        temps = [round(2731 + 10 * (18 + 4 * math.sin(now / 7200 + k))) for k in range(self.ntc)]
        balance = 0
        if amps > 0 and max(mv) - min(mv) > 5:
            balance = 1 << mv.index(max(mv))
        fets = 0b11 if not self.protection_flags else 0b01
        date = (24 << 9) | (5 << 5) | 17  # 2024-05-17
        return struct.pack(
            f">HhHHHHHHHBBBBB{self.ntc}H",
            round(sum(mv) / 10),
            round(amps * 100),
            round(self.soc / 100 * self.capacity_ah * 100),
            round(self.capacity_ah * 100),
            42,
            date,
            balance & 0xFFFF,
            balance >> 16,
            self.protection_flags,
            0x25,  # software 2.5
            round(self.soc),
            fets,
            self.cells,
            self.ntc,
            *temps,
        )

    # --- protocol -----------------------------------------------------------------

    def _respond(self, request: bytes, now: float) -> list[bytes]:
        if self.auth is SimAuth.PASSKEY and not self.paired:
            return [request]  # unpaired third generation: echoes what it does not understand
        if request[:2] == proto.AUTH_START:
            return self._auth(request)
        if not (self.unlocked or self.auth is SimAuth.PASSKEY):  # a paired link is unlocked
            return []  # locked adapters stay silent
        if len(request) != 7 or request[:2] != bytes((proto.START, proto.READ)):
            return []
        reg = request[2]
        if reg == proto.Register.BASIC_INFO:
            return [proto.reply_frame(reg, self.basic_info(now))]
        if reg == proto.Register.CELLS:
            mv = self.cell_millivolts(now, self.current(now))
            return [proto.reply_frame(reg, struct.pack(f">{len(mv)}H", *mv))]
        if reg == proto.Register.HARDWARE:
            return [proto.reply_frame(reg, self.hardware.encode())]
        return [proto.reply_frame(reg, b"", status=0x80)]

    def _auth(self, frame: bytes) -> list[bytes]:
        if len(frame) < 5 or len(frame) != 5 + frame[3] or frame[-1] != proto.sum8(frame[2:-1]):
            return []
        cmd, payload = frame[2], frame[4:-1]
        if cmd == proto.AuthCmd.APP_KEY:
            ok = payload == self.password.encode()
            if ok and self.unlock_after_app_key:
                self.unlocked = True
            return [proto.auth_frame(cmd, b"\x00" if ok else b"\x01")]
        if cmd == proto.AuthCmd.GET_RANDOM:
            self._random = (self._random * 73 + 41) & 0xFF
            return [proto.auth_frame(cmd, bytes((self._random,)))]
        if cmd in (proto.AuthCmd.FIRST_LEVEL, proto.AuthCmd.ROOT):
            want = proto.FIRST_LEVEL_PASSWORD if cmd == proto.AuthCmd.FIRST_LEVEL else proto.ROOT_PASSWORD
            ok = payload == proto.obfuscate(want, self._random, self.address)
            if ok and cmd == proto.AuthCmd.FIRST_LEVEL:
                self.unlocked = True
            if ok and cmd == proto.AuthCmd.ROOT:
                self.root = True
            return [proto.auth_frame(cmd, b"\x00" if ok else b"\x01")]
        return [proto.auth_frame(cmd, b"\x01")]
