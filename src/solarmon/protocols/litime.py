"""LiTime MPPT codec: Modbus RTU (slave 1) carried over one BLE characteristic. No I/O."""

from __future__ import annotations

from functools import lru_cache
import struct
from typing import Final, NamedTuple, TypedDict

from ..errors import BadChecksum, BadLength, BadStartOfFrame, DeviceRefused, UnexpectedReply
from . import framing

SLAVE: Final = 0x01  # the controller always answers as slave 1
READ_HOLDING: Final = 0x03
WRITE_SINGLE: Final = 0x06
EXCEPTION_BIT: Final = 0x80  # set in the function code of a Modbus exception reply

STATUS_START: Final = 0x0101  # 19 registers 0x0101..0x0113: the live status block
STATUS_COUNT: Final = 19
INFO_START: Final = 0x000A  # device information block
INFO_COUNT: Final = 11
HISTORY_BASE: Final = 0x0400  # + day index: 5 words of daily history
HISTORY_COUNT: Final = 5
LOAD_SWITCH: Final = 0x0120  # write 1 = load output on, 0 = off

NO_PROBE: Final = 0xFF  # battery temperature byte when no probe is fitted

SERVICE_UUID: Final = "0000ffe0-0000-1000-8000-00805f9b34fb"
CHAR_UUID: Final = "0000ffe1-0000-1000-8000-00805f9b34fb"  # write + notify
NAME_PREFIX: Final = "BT-LTMPPT"


class LitimeStatus(TypedDict, total=False):
    """Decoded status block (catalog field names)."""

    battery_voltage: float  # [V]
    charge_current: float  # [A]
    charge_power: float  # [W]
    controller_temperature: float  # [°C]
    battery_temperature: float | None  # [°C], None without a probe
    load_voltage: float  # [V]
    load_current: float  # [A]
    load_power: float  # [W]
    pv_voltage: float  # [V]
    today_max_charge_power: float  # [W]
    today_generated_energy: float  # [Wh]
    today_load_energy: float  # [Wh]
    load_on: bool
    charging_state: int  # raw code, see catalog.CHARGING_STATES
    alarm_flags: int  # raw bits
    running_days: int  # [d]
    total_generated_energy: float  # [Wh]
    total_load_energy: float  # [Wh]


class DayHistory(TypedDict):
    """One day of the controller's stored history (register block 0x04NN)."""

    day: int  # index: 0 = today, 1 = yesterday, ...
    generated_energy: float  # [Wh]
    load_energy: float  # [Wh]
    max_charge_power: float  # [W]
    max_battery_voltage: float  # [V]
    min_battery_voltage: float  # [V]


class _Reg(NamedTuple):
    """A plain scaled 16-bit register of the status block."""

    key: str
    register: int
    scale: float


# Registers that are a plain unsigned value times a scale; the packed ones are decoded below.
_STATUS_FIELDS: Final[tuple[_Reg, ...]] = (
    _Reg("battery_voltage", 0x0102, 0.1),
    _Reg("charge_current", 0x0103, 0.01),
    _Reg("charge_power", 0x0104, 1),
    _Reg("load_voltage", 0x0106, 0.1),
    _Reg("load_current", 0x0107, 0.01),
    _Reg("load_power", 0x0108, 1),
    _Reg("pv_voltage", 0x0109, 0.1),
    _Reg("today_max_charge_power", 0x010A, 1),
    _Reg("today_generated_energy", 0x010B, 1),
    _Reg("today_load_energy", 0x010C, 1),
)


# --- CRC and request builders ---------------------------------------------------


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body: bytes) -> bytes:
    """Append the CRC, low byte first as Modbus RTU requires."""
    return body + crc16(body).to_bytes(2, "little")


@lru_cache(maxsize=64)
def read_request(start: int, count: int) -> bytes:
    """Function 0x03 request for ``count`` registers from ``start``."""
    if not 0 < count <= 125:
        raise ValueError(f"Modbus can read 1..125 registers, not {count}")
    return with_crc(struct.pack(">BBHH", SLAVE, READ_HOLDING, start, count))


def write_request(register: int, value: int) -> bytes:
    """Function 0x06 request writing one register."""
    return with_crc(struct.pack(">BBHH", SLAVE, WRITE_SINGLE, register, value & 0xFFFF))


def status_request() -> bytes:
    """The live status poll: ``01 03 01 01 00 13 54 3B``."""
    return read_request(STATUS_START, STATUS_COUNT)


def info_request() -> bytes:
    """Device information block: ``01 03 00 0A 00 0B 24 0F``."""
    return read_request(INFO_START, INFO_COUNT)


def history_request(day: int) -> bytes:
    """Daily history of ``day`` days ago (0 = today)."""
    if not 0 <= day <= 0xFF:
        raise ValueError(f"history day index must be 0..255, not {day}")
    return read_request(HISTORY_BASE + day, HISTORY_COUNT)


def load_switch_request(on: bool) -> bytes:
    """Switch the load output on or off."""
    return write_request(LOAD_SWITCH, 1 if on else 0)


# --- reassembly -------------------------------------------------------------------


def expected_length(head: bytes) -> int | None:
    """Total frame length from its first bytes, or None if more bytes are needed.

    Raises ``BadStartOfFrame`` when the bytes cannot start a reply.
    """
    if not head:
        return None
    if head[0] != SLAVE:
        raise BadStartOfFrame(f"reply starts with 0x{head[0]:02x}, not slave 0x{SLAVE:02x}")
    if len(head) < 2:
        return None
    func = head[1]
    if func == READ_HOLDING:
        return None if len(head) < 3 else 3 + head[2] + 2
    if func == WRITE_SINGLE:
        return 8  # echo of the request
    if func in (READ_HOLDING | EXCEPTION_BIT, WRITE_SINGLE | EXCEPTION_BIT):
        return 5  # slave, function, exception code, CRC
    raise BadStartOfFrame(f"unknown Modbus function 0x{func:02x}")


class FrameAssembler(framing.FrameAssembler):
    """Joins BLE notifications into whole Modbus replies (MTU 23 splits them in 20 bytes)."""

    def __init__(self) -> None:
        super().__init__(expected_length, 3)


# --- reply parsing ------------------------------------------------------------------


def check_frame(frame: bytes) -> None:
    """Validate start, length and CRC of a complete reply; raise a ProtocolError if bad."""
    need = expected_length(frame[:3])
    if need is None or len(frame) != need:
        raise BadLength(f"reply has {len(frame)} bytes, its header says {need}")
    got = int.from_bytes(frame[-2:], "little")
    want = crc16(frame[:-2])
    if got != want:
        raise BadChecksum(f"CRC 0x{got:04x}, computed 0x{want:04x}")
    if frame[1] & EXCEPTION_BIT:
        raise DeviceRefused(f"Modbus exception code {frame[2]} to function 0x{frame[1] & 0x7F:02x}", frame[2])


def registers(frame: bytes, count: int) -> tuple[int, ...]:
    """Registers of a checked function-0x03 reply that must carry ``count`` registers."""
    check_frame(frame)
    if frame[1] != READ_HOLDING:
        raise UnexpectedReply(f"function 0x{frame[1]:02x} where a read reply was expected")
    if frame[2] != 2 * count:
        raise UnexpectedReply(f"{frame[2] // 2} registers where {count} were requested")
    return struct.unpack(f">{count}H", frame[3:-2])


def _sign_magnitude(byte: int) -> int:
    """LiTime temperature bytes: bit 7 is the sign, bits 0-6 the magnitude."""
    return -(byte & 0x7F) if byte & 0x80 else byte


def decode_status(frame: bytes) -> LitimeStatus:
    """Decode the 43-byte reply to ``status_request()``.

    Register 0x0101 ("SOC") is skipped on purpose: it reads 100 in every capture.
    """
    regs = registers(frame, STATUS_COUNT)

    def reg(address: int) -> int:
        return regs[address - STATUS_START]

    out = LitimeStatus()
    for f in _STATUS_FIELDS:
        out[f.key] = float(round(reg(f.register) * f.scale, 2))  # type: ignore[literal-required]
    temps = reg(0x0105)
    # Controller byte: same sign-magnitude encoding assumed as the battery byte (>127 °C
    # is impossible, so the assumption cannot produce a wrong plausible value).
    out["controller_temperature"] = float(_sign_magnitude(temps >> 8))
    low = temps & 0xFF
    out["battery_temperature"] = None if low == NO_PROBE else float(_sign_magnitude(low))
    state = reg(0x010D)
    out["load_on"] = bool(state & 0x8000)
    out["charging_state"] = state & 0xFF
    out["alarm_flags"] = reg(0x010E)
    out["running_days"] = reg(0x010F)
    out["total_generated_energy"] = float(reg(0x0110) << 16 | reg(0x0111))
    out["total_load_energy"] = float(reg(0x0112) << 16 | reg(0x0113))
    return out


def decode_history(frame: bytes, day: int) -> DayHistory:
    """Decode the reply to ``history_request(day)``."""
    gen, load, peak, vmax, vmin = registers(frame, HISTORY_COUNT)
    return DayHistory(
        day=day,
        generated_energy=float(gen),
        load_energy=float(load),
        max_charge_power=float(peak),
        max_battery_voltage=round(vmax * 0.1, 1),
        min_battery_voltage=round(vmin * 0.1, 1),
    )


def decode_info(frame: bytes) -> str:
    """Printable text of the device-information block (layout unpublished: keep it as text)."""
    regs = registers(frame, INFO_COUNT)
    raw = b"".join(r.to_bytes(2, "big") for r in regs)
    return "".join(chr(b) for b in raw if 0x20 <= b < 0x7F).strip()


def check_write_echo(frame: bytes, request: bytes) -> None:
    """A function-0x06 reply must echo the request exactly."""
    check_frame(frame)
    if frame != request:
        raise UnexpectedReply(f"write reply {frame.hex()} does not echo request {request.hex()}")
