"""Bank of parallel packs: capacity weighting, stale and cut-off packs, times to empty/full."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
import pytest

from solarmon.bank import BankTracker, PackState, combine
from solarmon.payload import FieldValue, Sample


def pack(remaining: float, nominal: float, current: float, *, seen: float = 100.0, volts: float = 13.2,
         **extra: FieldValue) -> PackState:
    fields: dict[str, FieldValue] = {"remaining_capacity": remaining, "nominal_capacity": nominal,
                                     "current": current, "pack_voltage": volts, "power": round(current * volts, 1),
                                     "charge_fet": True, "discharge_fet": True, **extra}
    return PackState(fields, seen)


def test_mixed_capacities_weight_the_soc() -> None:
    # 100 Ah at 50 % and 300 Ah at 90 %: 320 of 400 Ah is 80 %, not the mean 70 %.
    out = combine(["a", "b"], {"a": pack(50, 100, -5), "b": pack(270, 300, -15)}, 100, 120)
    assert out["soc"] == 80.0
    assert out["remaining_capacity"] == 320.0 and out["nominal_capacity"] == 400.0
    assert out["current"] == -20.0
    assert out["time_to_empty"] == 16.0 and out["time_to_full"] is None
    assert out["packs_included"] == 2 and out["packs_excluded_flags"] == 0


def test_charging_gives_time_to_full() -> None:
    out = combine(["a"], {"a": pack(200, 300, 25)}, 100, 120)
    assert out["time_to_full"] == 4.0 and out["time_to_empty"] is None


def test_idle_bank_has_no_times() -> None:
    out = combine(["a"], {"a": pack(200, 300, 0.1)}, 100, 120)
    assert out["time_to_full"] is None and out["time_to_empty"] is None


@pytest.mark.parametrize("why", ["stale", "discharge_fet", "charge_fet", "missing", "incomplete"])
def test_excluded_pack_is_flagged_and_left_out(why: str) -> None:
    good = pack(150, 300, -10)
    bad = {
        "stale": pack(10, 100, -50, seen=100 - 121),
        "discharge_fet": pack(10, 100, 0, discharge_fet=False),
        "charge_fet": pack(10, 100, 0, charge_fet=False),
        "incomplete": PackState({"soc": 10.0}, 100),
    }.get(why)
    latest = {"a": good} if bad is None else {"a": good, "b": bad}
    out = combine(["a", "b"], latest, 100, 120)
    assert out["packs_excluded_flags"] == 0b10 and out["packs_included"] == 1
    assert out["soc"] == 50.0 and out["current"] == -10.0


def test_no_usable_pack_gives_only_the_flags() -> None:
    out = combine(["a", "b"], {}, 100, 120)
    assert out == {"packs_included": 0, "packs_excluded_flags": 0b11}


def test_tracker_emits_a_bank_sample_per_pack_sample() -> None:
    tr = BankTracker(["battery1", "battery2"], 120)
    assert tr.observe(Sample(1, "mppt", "litime-mppt", {"load_power": 3.0}), 0) is None
    fields = {"remaining_capacity": 150.0, "nominal_capacity": 300.0, "current": -3.0, "pack_voltage": 13.1,
              "power": -39.3, "charge_fet": True, "discharge_fet": True}
    first = tr.observe(Sample(1000, "battery1", "jbd-bms", fields), 10)
    assert first is not None and first.device == "bank" and first.kind == "bank" and first.ts_ms == 1000
    assert first.fields["packs_excluded_flags"] == 0b10  # battery2 not heard yet
    second = tr.observe(Sample(2000, "battery2", "jbd-bms", fields), 20)
    assert second is not None and second.fields["soc"] == 50.0 and second.fields["power"] == -78.6


_PACK = st.builds(
    lambda rem, nom, cur, age, fet: PackState(
        {"remaining_capacity": min(rem, nom), "nominal_capacity": nom, "current": cur, "pack_voltage": 13.2,
         "charge_fet": fet, "discharge_fet": True}, 100 - age),
    st.floats(0, 400), st.floats(1, 400), st.floats(-200, 200), st.floats(0, 300), st.booleans())


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), _PACK))
def test_bank_invariants(latest: dict[str, PackState]) -> None:
    out = combine(["a", "b", "c"], latest, 100, 120)
    included, flags = out["packs_included"], out["packs_excluded_flags"]
    assert isinstance(included, int) and isinstance(flags, int)
    assert included + bin(flags).count("1") == 3
    if included:
        assert 0 <= out["soc"] <= 100  # type: ignore[operator]
        assert out["time_to_empty"] is None or out["time_to_full"] is None
