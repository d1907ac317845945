"""Late windows aggregated in Python: the same measurements, fields, values and types as the Flux tasks."""

from __future__ import annotations

from functools import reduce
from operator import or_

from hypothesis import given
from hypothesis import strategies as st

from influx_standin import parse_line
from solarmon import catalog
from solarmon.bridge.aggregate import tier_lines, windows
from solarmon.payload import Sample

T0 = 1_700_000_040_000  # a 2-minute window boundary (epoch ms)
BMS = catalog.JBD_BMS


def _bms(ts: int, **fields: object) -> Sample:
    return Sample(ts, "pack 1", "jbd-bms", fields)


def test_one_window_by_hand() -> None:
    samples = [
        _bms(T0 + 27_000, pack_voltage=13.0, cycles=7, protection_flags=1, charge_fet=True, software_version="a"),
        _bms(T0 + 81_000, pack_voltage=14.0, cycles=9, protection_flags=0, charge_fet=False),  # arrives early
        _bms(T0 + 54_000, pack_voltage=13.5, cycles=8, protection_flags=4, charge_fet=True, software_version="b"),
        _bms(T0 + 120_000, pack_voltage=12.0),  # the next window
    ]
    lines = tier_lines(BMS, "pack 1", samples, 120)
    tags = r",device=pack\ 1,kind=jbd-bms "
    assert lines == [
        f"mean{tags}pack_voltage=13.5 {T0}",
        f"min{tags}pack_voltage=13.0 {T0}",
        f"max{tags}pack_voltage=14.0 {T0}",
        # last by time, not by arrival; a field absent from the last sample keeps its last value
        f'last{tags}cycles=9i,charge_fet=false,software_version="b" {T0}',
        f"bit_or{tags}protection_flags=5i {T0}",
        f"mean{tags}pack_voltage=12.0 {T0 + 120_000}",
        f"min{tags}pack_voltage=12.0 {T0 + 120_000}",
        f"max{tags}pack_voltage=12.0 {T0 + 120_000}",
    ]


def test_a_rewritten_point_replaces_fields_as_influx_does() -> None:
    first = _bms(T0, pack_voltage=10.0, soc=50.0)
    again = _bms(T0, pack_voltage=20.0)  # same time: InfluxDB keeps soc=50, pack_voltage=20
    (w,) = windows(BMS, [first, again, _bms(T0 + 1000, pack_voltage=30.0)], 120).values()
    assert w["mean"] == {"pack_voltage": 25.0, "soc": 50.0}


def test_nulls_and_empty_windows_write_nothing() -> None:
    assert tier_lines(BMS, "b", [_bms(T0, soc=None)], 120) == []
    assert windows(BMS, [], 120) == {}


def test_windows_start_on_span_boundaries() -> None:
    samples = [_bms(T0 + i * 27_000, soc=float(i)) for i in range(40)]  # 18 minutes
    for span in (120, 300, 1800, 7200):
        starts = windows(BMS, samples, span).keys()
        assert all(s % (span * 1000) == 0 for s in starts)
        assert len(starts) == len({(T0 + i * 27_000) // (span * 1000) for i in range(40)})


def _value(f: catalog.Field) -> st.SearchStrategy:
    return {
        catalog.ValueType.FLOAT: st.floats(-1e6, 1e6, allow_nan=False),
        catalog.ValueType.INT: st.integers(0, 2**31),
        catalog.ValueType.BOOL: st.booleans(),
        catalog.ValueType.STR: st.text(max_size=8),
    }[f.type]


@st.composite
def series(draw) -> tuple[catalog.DeviceKind, list[Sample]]:
    kind = draw(st.sampled_from(list(catalog.KINDS.values())))
    chosen = draw(st.lists(st.sampled_from(kind.fields), min_size=1, max_size=8, unique_by=lambda f: f.name))
    times = draw(st.lists(st.integers(0, 3 * 7_200_000), min_size=1, max_size=40, unique=True))
    out = []
    for t in times:
        fields = {f.name: draw(st.one_of(st.none(), _value(f))) for f in chosen}
        out.append(Sample(T0 + t, "d", kind.name, fields))
    return kind, out


@given(series(), st.sampled_from([120, 300, 1800, 7200]))
def test_every_field_lands_in_exactly_its_aggregations(case, span: int) -> None:
    kind, samples = case
    lines = tier_lines(kind, "d", samples, span)
    got: dict[tuple[int, str], dict] = {}
    for line in lines:
        p = parse_line(line, "ms")  # the stand-in's independent parser: valid line protocol
        assert p.tags == {"device": "d", "kind": kind.name}
        got[(p.ts_ns // 1_000_000, p.measurement)] = p.fields
    span_ms = span * 1000
    for f in kind.fields:
        present = sorted((s.ts_ms, s.fields[f.name]) for s in samples if s.fields.get(f.name) is not None)
        by_window: dict[int, list] = {}
        for ts, v in present:
            by_window.setdefault(ts - ts % span_ms, []).append(v)
        for method in catalog.METHODS:
            holders = {w for (w, m), fields in got.items() if m == method and f.name in fields}
            assert holders == (set(by_window) if method in f.aggregation.methods else set()), (f.name, method)
        for w, values in by_window.items():
            if f.aggregation is catalog.Aggregation.GAUGE:
                mean, lo, hi = (got[(w, m)][f.name] for m in ("mean", "min", "max"))
                assert type(mean) is float and lo == min(values) and hi == max(values)
                assert lo - 1e-9 * abs(lo) <= mean <= hi + 1e-9 * abs(hi)
            elif f.aggregation is catalog.Aggregation.STATE:
                assert got[(w, "last")][f.name] == f.coerce(values[-1])
                assert type(got[(w, "last")][f.name]) is type(f.coerce(values[-1]))
            else:
                assert got[(w, "bit_or")][f.name] == reduce(or_, values, 0)
