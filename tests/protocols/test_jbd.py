"""JBD codec against the frames in JBD's protocol document and hand-built frames."""

from __future__ import annotations

import contextlib
import struct
from typing import Final

from hypothesis import given
from hypothesis import strategies as st
import pytest

from solarmon.errors import (
    BadChecksum,
    BadEndOfFrame,
    BadLength,
    BadStartOfFrame,
    DeviceRefused,
    ProtocolError,
    UnexpectedReply,
)
from solarmon.protocols import jbd

# From JBD's own protocol document (checksums valid).
DOC_BASIC: Final = bytes.fromhex("dd03001b1700000002d003e8000020780000000000001048030f020b760b82fbff77")
DOC_CELLS: Final = bytes.fromhex("dd04001e0f660f630f630f640f3e0f630f370f5b0f650f3b0f630f630f3c0f660f3df9f977")

EXPECTED_BASIC: Final[jbd.BasicInfo] = {
    "pack_voltage": 58.88,
    "current": 0.0,
    "power": 0.0,
    "remaining_capacity": 7.2,
    "nominal_capacity": 10.0,
    "cycles": 0,
    "production_date": "2016-03-24",
    "balance_flags": 0,
    "protection_flags": 0,
    "software_version": "1.0",
    "soc": 72.0,
    "charge_fet": True,
    "discharge_fet": True,
    "cell_count": 15,
    "temperature_1": 20.3,  # type: ignore[typeddict-unknown-key]
    "temperature_2": 21.5,  # type: ignore[typeddict-unknown-key]
}
EXPECTED_CELLS_MV: Final = [3942, 3939, 3939, 3940, 3902, 3939, 3895, 3931, 3941, 3899, 3939, 3939, 3900, 3942, 3901]


def _basic(**over: int) -> bytes:
    """A hand-built 0x03 data block for a 4S pack; ``over`` replaces named raw values."""
    v = dict(volt=1329, cur=-1234, rem=18600, nom=30000, cycles=42, date=(24 << 9) | (5 << 5) | 17, bal_lo=0,
             bal_hi=0, prot=0, sw=0x25, soc=62, fet=3, cells=4, ntcs=2)
    v.update(over)
    return struct.pack(">HhHHHHHHHBBBBB", *v.values()) + struct.pack(">HH", 2931, 2631)


def test_requests_match_the_documented_bytes() -> None:
    assert jbd.read_request(jbd.Register.BASIC_INFO) == bytes.fromhex("dda50300fffd77")
    assert jbd.read_request(jbd.Register.CELLS) == bytes.fromhex("dda50400fffc77")
    assert jbd.read_request(jbd.Register.HARDWARE) == bytes.fromhex("dda50500fffb77")


def test_documented_basic_info() -> None:
    assert jbd.decode_basic_info(DOC_BASIC) == EXPECTED_BASIC


def test_documented_cells() -> None:
    out = jbd.decode_cells(DOC_CELLS)
    assert [round(out[f"cell_voltage_{i}"] * 1000) for i in range(1, 16)] == EXPECTED_CELLS_MV
    assert (out["cell_voltage_min"], out["cell_voltage_max"]) == (3.895, 3.942)
    assert out["cell_voltage_delta"] == pytest.approx(0.047)
    assert "cell_voltage_16" not in out


def test_reply_builder_round_trips_the_document_frames() -> None:
    assert jbd.reply_frame(3, DOC_BASIC[4:-3]) == DOC_BASIC
    assert jbd.reply_frame(4, DOC_CELLS[4:-3]) == DOC_CELLS


@pytest.mark.parametrize("size", [1, 5, 20])
def test_reassembly_from_20_byte_notifications(size: int) -> None:
    asm = jbd.FrameAssembler()
    chunks = [DOC_BASIC[i : i + size] for i in range(0, len(DOC_BASIC), size)]
    results = [asm.feed(c) for c in chunks]
    assert results[-1] == DOC_BASIC and not any(results[:-1])


def test_negative_current_balance_words_and_protection() -> None:
    data = _basic(bal_lo=0x0003, bal_hi=0x0001, prot=0b1_0000_0000_0010)
    out = jbd.decode_basic_info(jbd.reply_frame(3, data))
    assert out["current"] == -12.34 and out["power"] == round(13.29 * -12.34, 2)
    assert out["balance_flags"] == 0x0001_0003  # cells 1, 2 and 17
    assert out["protection_flags"] == 0x1002
    assert out["software_version"] == "2.5" and out["production_date"] == "2024-05-17"
    assert out["temperature_1"] == 20.0 and out["temperature_2"] == -10.0  # type: ignore[typeddict-item]


def test_newer_firmware_tail_is_accepted_and_coarse_units_honoured() -> None:
    fine = jbd.decode_basic_info(jbd.reply_frame(3, _basic() + bytes(9)))
    assert fine["current"] == -12.34 and fine["nominal_capacity"] == 300.0
    coarse = jbd.decode_basic_info(jbd.reply_frame(3, _basic() + b"\x80" + bytes(8)))
    assert coarse["current"] == -123.4 and coarse["nominal_capacity"] == 3000.0


def test_hardware_version_and_any_register() -> None:
    frame = jbd.reply_frame(5, b"JBD-SP04S034")
    assert jbd.decode_any(frame) == {"hardware_version": "JBD-SP04S034"}
    assert jbd.decode_any(DOC_CELLS)["cell_voltage_1"] == 3.942


BAD = [
    (b"\xdc" + DOC_BASIC[1:], BadStartOfFrame),
    (DOC_BASIC[:-1] + b"\x78", BadEndOfFrame),
    (DOC_BASIC[:-3] + b"\xfb\xfe\x77", BadChecksum),
    (DOC_BASIC[:20], BadLength),
    (DOC_BASIC + b"\x00", BadLength),
    (jbd.reply_frame(3, b"", status=0x80), DeviceRefused),
    (DOC_CELLS, UnexpectedReply),
    (jbd.reply_frame(3, _basic()[:20]), UnexpectedReply),
    (jbd.reply_frame(3, _basic(ntcs=5)), UnexpectedReply),
    (jbd.reply_frame(3, _basic(cells=0)), UnexpectedReply),
]


@pytest.mark.parametrize(
    ("frame", "error"),
    BAD,
    ids=["wrong_SOF", "wrong_EOF", "wrong_CRC", "truncated", "padded", "status_0x80", "wrong_register",
         "short_data", "ntc_overrun", "zero_cells"],
)
def test_bad_frames_raise_specific_errors(frame: bytes, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        jbd.decode_basic_info(frame)


def test_unsupported_register() -> None:
    with pytest.raises(UnexpectedReply):
        jbd.decode_any(jbd.reply_frame(0x06, b"\x00"))


# --- password frames -------------------------------------------------------------------


def test_password_frames() -> None:
    assert jbd.app_key_request("000000") == bytes.fromhex("ffaa15063030303030303b")
    assert jbd.random_request() == bytes.fromhex("ffaa170017")
    assert jbd.parse_auth_reply(bytes.fromhex("ffaa15010016"), jbd.AuthCmd.APP_KEY) == 0
    assert jbd.parse_auth_reply(bytes.fromhex("ffaa1701243c"), jbd.AuthCmd.GET_RANDOM) == 0x24


def test_obfuscation_follows_the_documented_formula() -> None:
    mac = "A4:C1:38:12:34:56"
    out = jbd.obfuscate(b"JBDbtpwd!@#2023", 0x24, mac)
    m = bytes.fromhex("A4C138123456")
    for i, b in enumerate(b"JBDbtpwd!@#2023"):
        assert out[i] == ((b ^ (m[i] if i < 6 else 0)) + 0x24) & 0xFF
    frame = jbd.first_level_request(0x24, mac)
    assert frame[:4] == bytes.fromhex("ffaa1806") and frame[-1] == sum(frame[2:-1]) & 0xFF


@pytest.mark.parametrize(
    ("frame", "error"),
    [(bytes.fromhex("ffaa15010017"), BadChecksum), (bytes.fromhex("ffaa150100"), BadLength),
     (bytes.fromhex("ffaa17010018"), UnexpectedReply), (bytes.fromhex("ffab15010016"), BadStartOfFrame)],
    ids=["wrong_SUM8", "truncated", "wrong_cmd", "wrong_SOF"],
)
def test_bad_password_replies(frame: bytes, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        jbd.parse_auth_reply(frame, jbd.AuthCmd.APP_KEY)


@given(st.binary(max_size=513))
def test_fuzz_decoders_raise_only_protocol_errors(data: bytes) -> None:
    for decoder in (jbd.decode_any, jbd.decode_basic_info, jbd.decode_cells, jbd.decode_hardware):
        with contextlib.suppress(ProtocolError):
            decoder(data)
    with contextlib.suppress(ProtocolError):
        jbd.parse_auth_reply(data, jbd.AuthCmd.APP_KEY)


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_fuzz_assembler(chunks: list[bytes]) -> None:
    asm = jbd.FrameAssembler()
    for c in chunks:
        try:
            frame = asm.feed(c)
        except ProtocolError:
            continue
        if frame is not None:
            assert len(frame) == jbd.expected_length(frame[:4])


@given(st.integers(0, len(DOC_BASIC) * 8 - 1))
def test_any_single_bit_error_in_basic_info_is_caught(bit: int) -> None:
    damaged = bytearray(DOC_BASIC)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ProtocolError):
        jbd.decode_basic_info(bytes(damaged))
