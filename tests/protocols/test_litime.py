"""LiTime codec against the captured status reply and hand-built frames from the spec."""

from __future__ import annotations

import contextlib
from typing import Final

from hypothesis import given
from hypothesis import strategies as st
import pytest

from solarmon.errors import BadChecksum, BadLength, BadStartOfFrame, DeviceRefused, ProtocolError, UnexpectedReply
from solarmon.protocols import litime

# Captured from a real controller (CRC valid), see docs/protocols.md.
CAPTURED_STATUS: Final = bytes.fromhex(
    "0103260064008f05c900d31bff008f000200000321036804ba0000800400000003000017e000000000a884"
)
# 14.3 V, 14.81 A, 211 W, 27 °C, no battery probe, load 14.3 V 0.02 A 0 W, PV 80.1 V,
# today max 872 W, today 1210 Wh, load on, boost, 3 days, total 6112 Wh
EXPECTED_STATUS: Final[litime.LitimeStatus] = {
    "battery_voltage": 14.3,
    "charge_current": 14.81,
    "charge_power": 211.0,
    "controller_temperature": 27.0,
    "battery_temperature": None,
    "load_voltage": 14.3,
    "load_current": 0.02,
    "load_power": 0.0,
    "pv_voltage": 80.1,
    "today_max_charge_power": 872.0,
    "today_generated_energy": 1210.0,
    "today_load_energy": 0.0,
    "load_on": True,
    "charging_state": 4,
    "alarm_flags": 0,
    "running_days": 3,
    "total_generated_energy": 6112.0,
    "total_load_energy": 0.0,
}


def _status_frame(regs: list[int]) -> bytes:
    body = bytes((1, 3, 2 * len(regs))) + b"".join(r.to_bytes(2, "big") for r in regs)
    return litime.with_crc(body)


def test_requests_match_the_documented_bytes() -> None:
    assert litime.status_request() == bytes.fromhex("010301010013543b")
    assert litime.info_request() == bytes.fromhex("0103000a000b240f")
    assert litime.history_request(2)[:6] == bytes.fromhex("010304020005")
    assert litime.load_switch_request(True)[:6] == bytes.fromhex("010601200001")


def test_crc_of_the_captured_frame() -> None:
    assert litime.crc16(CAPTURED_STATUS[:-2]) == 0x84A8  # sent low byte first: a8 84


def test_captured_status_decodes_to_the_documented_values() -> None:
    assert litime.decode_status(CAPTURED_STATUS) == EXPECTED_STATUS


@pytest.mark.parametrize("size", [1, 7, 20, 43])
def test_reassembly_from_notifications(size: int) -> None:
    asm = litime.FrameAssembler()
    chunks = [CAPTURED_STATUS[i : i + size] for i in range(0, len(CAPTURED_STATUS), size)]
    results = [asm.feed(c) for c in chunks]
    assert results[:-1] == [None] * (len(chunks) - 1)
    assert results[-1] == CAPTURED_STATUS


def test_hand_built_frame_with_temperatures_signs_and_totals() -> None:
    regs = [100, 132, 0, 0, 0x85 << 8 | 0x19, 0, 0, 0, 0, 0, 0, 0, 0x0005, 0x0003, 400, 0x0001, 0x0002, 0, 7]
    out = litime.decode_status(_status_frame(regs))
    assert out["controller_temperature"] == -5.0  # sign-magnitude
    assert out["battery_temperature"] == 25.0  # 0x19 on a unit with a probe
    assert out["load_on"] is False and out["charging_state"] == 5
    assert out["alarm_flags"] == 3
    assert out["total_generated_energy"] == 65538.0  # high word first
    assert out["total_load_energy"] == 7.0


def test_history_and_write_echo() -> None:
    frame = _status_frame([1210, 300, 872, 146, 128])
    assert litime.decode_history(frame, 1) == {
        "day": 1,
        "generated_energy": 1210.0,
        "load_energy": 300.0,
        "max_charge_power": 872.0,
        "max_battery_voltage": 14.6,
        "min_battery_voltage": 12.8,
    }
    req = litime.load_switch_request(False)
    litime.check_write_echo(req, req)
    with pytest.raises(UnexpectedReply):
        litime.check_write_echo(litime.load_switch_request(True), req)


BAD_FRAMES = [
    (b"\x02" + CAPTURED_STATUS[1:], BadStartOfFrame),
    (CAPTURED_STATUS[:-1], BadLength),
    (CAPTURED_STATUS[:-3] + b"\xff" + CAPTURED_STATUS[-2:], BadChecksum),
    (CAPTURED_STATUS[:-2] + b"\x00\x00", BadChecksum),
    (litime.with_crc(bytes.fromhex("018302")), DeviceRefused),
    (_status_frame([0] * 18), UnexpectedReply),
    (litime.with_crc(bytes.fromhex("010601200001")), UnexpectedReply),
]


@pytest.mark.parametrize(
    ("frame", "error"),
    BAD_FRAMES,
    ids=["wrong_SOF", "truncated", "wrong_CRC_data", "wrong_CRC", "modbus_exception", "wrong_count", "wrong_func"],
)
def test_bad_frames_raise_specific_errors(frame: bytes, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        litime.decode_status(frame)


def test_assembler_rejects_garbage_and_overrun() -> None:
    asm = litime.FrameAssembler()
    with pytest.raises(BadStartOfFrame):
        asm.feed(b"\x55\x01")
    with pytest.raises(BadLength):
        asm.feed(litime.load_switch_request(True) + b"\x00")
    assert asm.feed(litime.load_switch_request(True)) == litime.load_switch_request(True)


@given(st.binary(max_size=513))
def test_fuzz_decode_raises_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        litime.decode_status(data)


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_fuzz_assembler_raises_only_protocol_errors(chunks: list[bytes]) -> None:
    asm = litime.FrameAssembler()
    for c in chunks:
        try:
            frame = asm.feed(c)
        except ProtocolError:
            continue
        if frame is not None:
            with contextlib.suppress(ProtocolError):
                litime.decode_status(frame)


@given(st.integers(0, len(CAPTURED_STATUS) * 8 - 1))
def test_any_single_bit_error_is_caught(bit: int) -> None:
    damaged = bytearray(CAPTURED_STATUS)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ProtocolError):
        litime.decode_status(bytes(damaged))
