"""Sample -> line protocol: catalog types decide (floats stay floats), escaping, nulls."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
import pytest

from influx_standin import parse_line
from solarmon import catalog
from solarmon.bridge.points import BadLine, from_line, series_of, timestamp_of, to_line
from solarmon.payload import BadPayload, Sample, decode, encode


def test_exact_line_with_catalog_types() -> None:
    s = decode(encode(Sample(1_700_000_000_123, "battery1", "jbd-bms", {
        "pack_voltage": 13, "cycles": 12.0, "charge_fet": True, "software_version": 'v "1"\\x',
        "soc": None, "protection_flags": 5,
    })), "battery1")
    assert to_line(s) == (
        'jbd-bms,device=battery1,kind=jbd-bms pack_voltage=13.0,cycles=12i,charge_fet=true,'
        'software_version="v \\"1\\"\\\\x",protection_flags=5i 1700000000123'
    )


def test_all_null_sample_has_no_line() -> None:
    assert to_line(Sample(1_700_000_000_000, "m", "litime-mppt", {"battery_temperature": None})) is None


def test_tags_and_measurement_are_escaped() -> None:
    line = to_line(Sample(1_700_000_000_000, "pack 1,a=b", "litime-mppt", {"load_on": False}))
    assert line == r"litime-mppt,device=pack\ 1\,a\=b,kind=litime-mppt load_on=false 1700000000000"
    p = parse_line(line, "ms")
    assert p.tags == {"device": "pack 1,a=b", "kind": "litime-mppt"}


_FIELDS = [(k, f) for k in catalog.KINDS.values() for f in k.fields]


def _value(f: catalog.Field) -> st.SearchStrategy:
    return {
        catalog.ValueType.FLOAT: st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6)),
        catalog.ValueType.INT: st.integers(-(2**62), 2**62),
        catalog.ValueType.BOOL: st.booleans(),
        catalog.ValueType.STR: st.text(max_size=20),
    }[f.type]


@st.composite
def samples(draw) -> Sample:
    kind = draw(st.sampled_from(list(catalog.KINDS.values())))
    chosen = draw(st.lists(st.sampled_from(kind.fields), min_size=1, max_size=12, unique_by=lambda f: f.name))
    fields = {f.name: draw(_value(f)) for f in chosen}
    device = draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12))
    return Sample(draw(st.integers(1_600_000_000_000, 4_000_000_000_000)), device, kind.name, fields)


@given(samples())
def test_round_trip_through_an_independent_parser(sample: Sample) -> None:
    line = to_line(sample)
    assert line is not None
    p = parse_line(line, "ms")
    kind = catalog.kind(sample.kind)
    assert p.measurement == sample.kind
    assert p.tags == {"device": sample.device, "kind": sample.kind}
    assert p.ts_ns == sample.ts_ms * 1_000_000
    expected = {k: kind.field(k).coerce(v) for k, v in sample.fields.items()}
    assert p.fields == expected
    # the Influx type follows the catalog, never the JSON number's look
    assert {k: type(v) for k, v in p.fields.items()} == {k: type(v) for k, v in expected.items()}


@given(samples())
def test_from_line_inverts_to_line(sample: Sample) -> None:
    """The bridge reads its own queued lines back to aggregate late points: nothing may change."""
    line = to_line(sample)
    assert line is not None
    back = from_line(line)
    kind = catalog.kind(sample.kind)
    expected = {k: kind.field(k).coerce(v) for k, v in sample.fields.items()}
    assert (back.ts_ms, back.device, back.kind) == (sample.ts_ms, sample.device, sample.kind)
    assert back.fields == expected
    assert {k: type(v) for k, v in back.fields.items()} == {k: type(v) for k, v in expected.items()}
    assert timestamp_of(line) == sample.ts_ms
    # one series per device, whatever the fields and time
    other = to_line(Sample(sample.ts_ms + 1, sample.device, sample.kind, {kind.fields[0].name: _first(kind)}))
    assert other is not None and line.startswith(series_of(line) + " ") and series_of(other) == series_of(line)


def _first(kind: catalog.DeviceKind) -> float | int | bool | str:
    return {catalog.ValueType.FLOAT: 1.0, catalog.ValueType.INT: 1, catalog.ValueType.BOOL: True,
            catalog.ValueType.STR: "x"}[kind.fields[0].type]


@pytest.mark.parametrize(("line", "match"), [
    ("m f=1 1700000000000", "not a solarmon sample"),
    ("jbd-bms,device=b,kind=litime-mppt soc=1.0 1700000000000", "not a solarmon sample"),
    ("jbd-bms,kind=jbd-bms soc=1.0 1700000000000", "not a solarmon sample"),
    ("jbd-bms,device=b,kind=jbd-bms nope=1.0 1700000000000", "has no field"),
    ("jbd-bms,device=b,kind=jbd-bms cycles=1.0 1700000000000", "not an integer"),
    ("jbd-bms,device=b,kind=jbd-bms soc=x 1700000000000", "could not convert"),
    ("jbd-bms,device=b,kind=jbd-bms soc=1.0", "no timestamp"),
    ("jbd-bms,device=b,kind=jbd-bms", "no field set"),
])
def test_lines_it_did_not_write_are_refused_clearly(line: str, match: str) -> None:
    with pytest.raises(BadLine, match=match):
        from_line(line)


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_on_the_fast_path(raw: str) -> None:
    text = '{"ts": 1700000000000, "device": "b", "kind": "jbd-bms", "fields": {"soc": ' + raw + "}}"
    with pytest.raises(BadPayload, match="not a finite number"):
        decode(text, "b")


def test_float_fields_take_json_integers_and_stay_floats() -> None:
    s = decode('{"ts": 1700000000000, "device": "b", "kind": "jbd-bms", "fields": {"soc": 50, "pack_voltage": 13.5}}')
    assert s.fields == {"soc": 50.0, "pack_voltage": 13.5} and type(s.fields["soc"]) is float
