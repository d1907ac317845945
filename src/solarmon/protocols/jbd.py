"""JBD BMS codec (Xiaoxiang protocol): data frames, password frames, decoders. No I/O."""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache
import struct
from typing import Final, TypedDict

from ..errors import BadChecksum, BadEndOfFrame, BadLength, BadStartOfFrame, DeviceRefused, UnexpectedReply
from . import framing

START: Final = 0xDD  # data frames start ...
END: Final = 0x77  # ... and end with these bytes
READ: Final = 0xA5  # request direction byte for a read
AUTH_START: Final = b"\xff\xaa"  # password frames: FF AA CMD LEN PAYLOAD SUM8
STATUS_OK: Final = 0x00
KELVIN_OFFSET: Final = 2731  # NTC raw values are 0.1 K
COARSE_UNITS_BIT: Final = 0x80  # in the first byte after the NTCs: 100 mA / 100 mAh units
MAX_DATA: Final = 255  # the length byte limits a frame's data

SERVICE_UUID: Final = "0000ff00-0000-1000-8000-00805f9b34fb"
NOTIFY_UUID: Final = "0000ff01-0000-1000-8000-00805f9b34fb"
WRITE_UUID: Final = "0000ff02-0000-1000-8000-00805f9b34fb"  # write without response

FIRST_LEVEL_PASSWORD: Final = b"000000"  # what the Xiaoxiang app sends at step 3
ROOT_PASSWORD: Final = b"JBDbtpwd!@#2023"  # step 4, needed for writes


class Register(IntEnum):
    """Data registers this project reads."""

    BASIC_INFO = 0x03
    CELLS = 0x04
    HARDWARE = 0x05


class AuthCmd(IntEnum):
    """Password-frame commands (from the Xiaoxiang app's BLE utilities)."""

    APP_KEY = 0x15  # the battery's BLE password, in clear
    GET_RANDOM = 0x17  # -> one random byte R
    FIRST_LEVEL = 0x18  # obfuscated "000000"
    ROOT = 0x1D  # obfuscated root password


class BasicInfo(TypedDict, total=False):
    """Decoded 0x03 reply (catalog field names); temperature_N added per NTC."""

    pack_voltage: float  # [V]
    current: float  # [A] (positive: charging)
    power: float  # [W] (positive: charging)
    remaining_capacity: float  # [Ah]
    nominal_capacity: float  # [Ah]
    cycles: int
    production_date: str  # YYYY-MM-DD
    balance_flags: int  # bit 0 = cell 1 (JBD document order)
    protection_flags: int
    software_version: str  # major.minor
    soc: float  # [%]
    charge_fet: bool
    discharge_fet: bool
    cell_count: int


# --- checksums and request builders ------------------------------------------------------


def checksum(body: bytes) -> int:
    """0x10000 minus the byte sum (REG/STATUS through the data)."""
    return (0x10000 - sum(body)) & 0xFFFF


@lru_cache(maxsize=8)
def read_request(register: int) -> bytes:
    """``DD A5 REG 00 CHK CHK 77``, e.g. basic info ``dd a5 03 00 ff fd 77``."""
    body = bytes((register, 0))
    return bytes((START, READ)) + body + checksum(body).to_bytes(2, "big") + bytes((END,))


def reply_frame(register: int, data: bytes, status: int = STATUS_OK) -> bytes:
    """Build a reply frame (used by the simulator and the tests)."""
    if len(data) > MAX_DATA:
        raise ValueError(f"JBD frames carry at most {MAX_DATA} data bytes")
    body = bytes((status, len(data))) + data
    return bytes((START, register)) + body + checksum(body).to_bytes(2, "big") + bytes((END,))


def sum8(body: bytes) -> int:
    """Password-frame checksum: low byte of the sum of CMD, LEN and payload."""
    return sum(body) & 0xFF


def auth_frame(cmd: int, payload: bytes = b"") -> bytes:
    """``FF AA CMD LEN PAYLOAD SUM8``."""
    body = bytes((cmd, len(payload))) + payload
    return AUTH_START + body + bytes((sum8(body),))


def obfuscate(password: bytes, random: int, mac: str) -> bytes:
    """byte i = ((pw[i] XOR m_i) + R) & 0xFF, m_i = MAC byte i (display order) or 0 past 6."""
    m = bytes.fromhex(mac.replace(":", ""))
    return bytes(((b ^ (m[i] if i < len(m) else 0)) + random) & 0xFF for i, b in enumerate(password))


def app_key_request(password: str) -> bytes:
    """Step 1: the battery's BLE password in clear."""
    pw = password.encode("ascii")
    if not 1 <= len(pw) <= 32:
        raise ValueError("a JBD BLE password has 1..32 ASCII characters")
    return auth_frame(AuthCmd.APP_KEY, pw)


def random_request() -> bytes:
    """Steps 2 and 4a: ask for a random byte (``ff aa 17 00 17``)."""
    return auth_frame(AuthCmd.GET_RANDOM)


def first_level_request(random: int, mac: str) -> bytes:
    """Step 3: obfuscated first-level password."""
    return auth_frame(AuthCmd.FIRST_LEVEL, obfuscate(FIRST_LEVEL_PASSWORD, random, mac))


def root_request(random: int, mac: str) -> bytes:
    """Step 4b: obfuscated root password."""
    return auth_frame(AuthCmd.ROOT, obfuscate(ROOT_PASSWORD, random, mac))


# --- reassembly --------------------------------------------------------------------------


def expected_length(head: bytes) -> int | None:
    """Total length of the frame starting with ``head``, None if more bytes are needed."""
    if not head:
        return None
    if head[0] == START:
        return None if len(head) < 4 else 4 + head[3] + 3
    if head[0] == AUTH_START[0]:
        if len(head) >= 2 and head[1] != AUTH_START[1]:
            raise BadStartOfFrame(f"0xff followed by 0x{head[1]:02x}, not 0xaa")
        return None if len(head) < 4 else 4 + head[3] + 1
    raise BadStartOfFrame(f"frame starts with 0x{head[0]:02x}")


class FrameAssembler(framing.FrameAssembler):
    """Joins 20-byte notifications into whole data or password frames."""

    def __init__(self) -> None:
        super().__init__(expected_length, 4)


# --- parsing -------------------------------------------------------------------------------


def parse_reply(frame: bytes, register: int) -> bytes:
    """Validate a data reply to ``register``; return its data bytes."""
    if len(frame) < 7 or frame[0] != START:
        raise BadStartOfFrame(f"not a JBD data frame: {frame[:4].hex()}")
    if len(frame) != 7 + frame[3]:
        raise BadLength(f"frame has {len(frame)} bytes, its length byte says {7 + frame[3]}")
    if frame[-1] != END:
        raise BadEndOfFrame(f"frame ends with 0x{frame[-1]:02x}, not 0x{END:02x}")
    got = int.from_bytes(frame[-3:-1], "big")
    want = checksum(frame[2:-3])
    if got != want:
        raise BadChecksum(f"checksum 0x{got:04x}, computed 0x{want:04x}")
    if frame[1] != register:
        raise UnexpectedReply(f"reply to register 0x{frame[1]:02x}, expected 0x{register:02x}")
    if frame[2] != STATUS_OK:
        raise DeviceRefused(f"BMS refused register 0x{register:02x} (status 0x{frame[2]:02x})", frame[2])
    return frame[4:-3]


def parse_auth_reply(frame: bytes, cmd: int) -> int:
    """Validate a password-frame reply to ``cmd``; return its one payload byte."""
    if len(frame) < 5 or frame[:2] != AUTH_START:
        raise BadStartOfFrame(f"not a password frame: {frame[:4].hex()}")
    if len(frame) != 5 + frame[3]:
        raise BadLength(f"frame has {len(frame)} bytes, its length byte says {5 + frame[3]}")
    if frame[-1] != sum8(frame[2:-1]):
        raise BadChecksum(f"sum 0x{frame[-1]:02x}, computed 0x{sum8(frame[2:-1]):02x}")
    if frame[2] != cmd:
        raise UnexpectedReply(f"reply to command 0x{frame[2]:02x}, expected 0x{cmd:02x}")
    if frame[3] != 1:
        raise UnexpectedReply(f"password reply with {frame[3]} payload bytes, expected 1")
    return frame[4]


def _date(raw: int) -> str:
    return f"{2000 + (raw >> 9):04d}-{(raw >> 5) & 0x0F:02d}-{raw & 0x1F:02d}"


def decode_basic_info(frame: bytes) -> BasicInfo:
    """Decode a 0x03 reply. Extra bytes after the NTCs (newer firmware) are accepted."""
    data = parse_reply(frame, Register.BASIC_INFO)
    if len(data) < 23:
        raise UnexpectedReply(f"basic info has {len(data)} data bytes, at least 23 expected")
    (volt, cur, rem, nom, cycles, date, bal_lo, bal_hi, prot, sw, soc, fet, cells, ntcs) = struct.unpack_from(
        ">HhHHHHHHHBBBBB", data
    )
    if len(data) < 23 + 2 * ntcs:
        raise UnexpectedReply(f"{ntcs} NTCs announced but only {len(data) - 23} bytes follow")
    if not 0 < cells <= 32 or ntcs > 8:
        raise UnexpectedReply(f"implausible cell count {cells} or NTC count {ntcs}")
    tail = data[23 + 2 * ntcs :]
    coarse = bool(tail) and bool(tail[0] & COARSE_UNITS_BIT)
    unit = 0.1 if coarse else 0.01  # A and Ah per raw step
    out = BasicInfo(
        pack_voltage=round(volt * 0.01, 2),
        current=round(cur * unit, 2),
        remaining_capacity=round(rem * unit, 2),
        nominal_capacity=round(nom * unit, 2),
        cycles=cycles,
        production_date=_date(date),
        balance_flags=bal_lo | bal_hi << 16,
        protection_flags=prot,
        software_version=f"{sw >> 4}.{sw & 0x0F}",
        soc=float(soc),
        charge_fet=bool(fet & 0x01),
        discharge_fet=bool(fet & 0x02),
        cell_count=cells,
    )
    out["power"] = round(out["pack_voltage"] * out["current"], 2)
    for i in range(ntcs):
        (raw,) = struct.unpack_from(">H", data, 23 + 2 * i)
        out[f"temperature_{i + 1}"] = round((raw - KELVIN_OFFSET) / 10, 1)  # type: ignore[literal-required]
    return out


def decode_cells(frame: bytes) -> dict[str, float]:
    """Decode a 0x04 reply into cell_voltage_N plus min, max and delta."""
    data = parse_reply(frame, Register.CELLS)
    if not data or len(data) % 2 or len(data) > 64:
        raise UnexpectedReply(f"cell block of {len(data)} bytes is not 1..32 16-bit values")
    mv = struct.unpack(f">{len(data) // 2}H", data)
    out = {f"cell_voltage_{i + 1}": v / 1000 for i, v in enumerate(mv)}
    out["cell_voltage_min"] = min(mv) / 1000
    out["cell_voltage_max"] = max(mv) / 1000
    out["cell_voltage_delta"] = (max(mv) - min(mv)) / 1000
    return out


def decode_hardware(frame: bytes) -> dict[str, str]:
    """Decode a 0x05 reply: the hardware version text."""
    data = parse_reply(frame, Register.HARDWARE)
    return {"hardware_version": "".join(chr(b) for b in data if 0x20 <= b < 0x7F).strip()}


DECODERS: Final = {
    Register.BASIC_INFO: decode_basic_info,
    Register.CELLS: decode_cells,
    Register.HARDWARE: decode_hardware,
}


def decode_any(frame: bytes) -> dict[str, object]:
    """Decode a reply of any supported register (chosen by the frame's register byte)."""
    if len(frame) < 2 or frame[0] != START:
        raise BadStartOfFrame(f"not a JBD data frame: {frame[:4].hex()}")
    try:
        decoder = DECODERS[Register(frame[1])]
    except ValueError:
        raise UnexpectedReply(f"unsupported register 0x{frame[1]:02x}") from None
    return dict(decoder(frame))
