"""Flux downsampling tasks: catalog -> aggregation mapping, start/stop arithmetic, offline Flux check."""

from __future__ import annotations

from datetime import UTC, datetime
import re

from hypothesis import given
from hypothesis import strategies as st
import pytest

from solarmon import catalog
from solarmon.influx import tasks
from solarmon.tiers import DAY, DEFAULT_TIERS, HOUR, MINUTE, Tier, downsampled

TIER_2M = DEFAULT_TIERS[1]
NOW = int(datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp())  # a run fires on a window boundary
CUSTOM_TIERS = (
    Tier("raw", "raw_forever", None, 0),
    Tier("15m", "q15", 15 * MINUTE, 90 * DAY),
    Tier("1d", "daily", DAY, 0),
)


def _parse_duration(text: str) -> int:
    sizes = {"h": 3600, "m": 60, "s": 1}
    parts = re.fullmatch(r"(?:\d+[hms])+", text) and re.findall(r"(\d+)([hms])", text)
    assert parts, text
    return sum(int(n) * sizes[u] for n, u in parts)


def _selected_fields(flux: str, agg: catalog.Aggregation) -> dict[str, set[str]]:
    """measurement -> fields named in the filter of one aggregation class."""
    block = re.search(rf"^{agg.value} = raw\n    \|> filter\(fn: \(r\) => (.*?)\)\n\n", flux, re.S | re.M)
    assert block, agg
    return {m: set(re.findall(r'"([^"]+)"', names))
            for m, names in re.findall(r'r\._measurement == "([^"]+)" and contains\(value: r\._field, set: \[(.*?)\]\)',
                                       block.group(1))}


# --- catalog -> task mapping ---------------------------------------------------------


@pytest.mark.parametrize("tier", downsampled(DEFAULT_TIERS), ids=lambda t: t.name)
def test_every_catalog_field_lands_in_exactly_its_aggregations(tier: Tier) -> None:
    flux = tasks.generate(tier, DEFAULT_TIERS)
    selected = {agg: _selected_fields(flux, agg) for agg in catalog.Aggregation}
    for kind in catalog.KINDS.values():
        for field in kind.fields:
            homes = [agg for agg, by_kind in selected.items() if field.name in by_kind.get(kind.name, set())]
            assert homes == [field.aggregation], (kind.name, field.name, homes)
        for agg in catalog.Aggregation:
            assert selected[agg].get(kind.name, set()) <= {f.name for f in kind.fields}
    # Each class is written to exactly its methods' measurements, into this tier's bucket.
    writes = re.findall(r'^(\w+)\n    \|> aggregateWindow\(every: span, fn: (.*?), timeSrc: "_start", createEmpty: false\)'
                        r'\n    \|> set\(key: "_measurement", value: "(\w+)"\)\n    \|> to\(bucket: "([^"]+)"\)',
                        flux, re.S | re.M)
    assert [(src, method) for src, _fn, method, _b in writes] == [
        (agg.value, m) for agg in catalog.Aggregation for m in agg.methods]
    assert {b for *_x, b in writes} == {tier.bucket}
    assert {fn for _s, fn, method, _b in writes if method != "bit_or"} == {"mean", "min", "max", "last"}
    bit_or = next(fn for _s, fn, method, _b in writes if method == "bit_or")
    assert "bitwise.sor(a: accumulator._value, b: r._value)" in bit_or and "identity: {_value: 0}" in bit_or
    code = "\n".join(line for line in flux.splitlines() if not line.lstrip().startswith("//"))
    assert "offset" not in code
    assert f'option task = {{name: "{tasks.task_name(tier)}", every: {tasks.duration(tier.span)}}}' in flux
    assert 'from(bucket: "solar_raw")' in flux


def test_catalog_field_types_fit_their_aggregation() -> None:
    # mean/min/max need numbers; bitwise.sor needs integers (Flux cannot check field types).
    for kind in catalog.KINDS.values():
        for f in kind.by_aggregation(catalog.Aggregation.GAUGE):
            assert f.type in (catalog.ValueType.FLOAT, catalog.ValueType.INT), f.name
        for f in kind.by_aggregation(catalog.Aggregation.FLAGS):
            assert f.type is catalog.ValueType.INT, f.name


def test_one_task_per_downsampled_tier() -> None:
    assert list(tasks.generate_all(DEFAULT_TIERS)) == [
        "solarmon-downsample-2m", "solarmon-downsample-5m", "solarmon-downsample-30m", "solarmon-downsample-2h"]
    assert list(tasks.generate_all(CUSTOM_TIERS)) == ["solarmon-downsample-15m", "solarmon-downsample-1d"]


# --- start/stop arithmetic: the Python mirror and the Flux share their constants ----------


@pytest.mark.parametrize("tiers", [DEFAULT_TIERS, CUSTOM_TIERS], ids=["default", "custom"])
def test_flux_uses_the_mirrors_constants_and_formula(tiers) -> None:
    for tier in downsampled(tiers):
        flux = tasks.generate(tier, tiers)
        t = tasks.timing(tier, tiers)
        consts = dict(re.findall(r"^(span|settle|allowance|rawRetention) = (\S+)$", flux, re.M))
        assert _parse_duration(consts["span"]) == t.span == tier.span
        assert _parse_duration(consts["settle"]) == t.settle == tasks.SETTLE
        coarsest = max(d.span or 0 for d in downsampled(tiers))
        assert _parse_duration(consts["allowance"]) == t.allowance == coarsest + tasks.LATE_DATA
        if t.raw_retention:
            assert _parse_duration(consts["rawRetention"]) == t.raw_retention
            assert "earliest = date.truncate(t: date.add(d: span, to: horizon), unit: span)" in flux
        else:
            assert "rawRetention" not in consts and f"earliest = {tasks.EPOCH_START}" in flux
        assert "stop = date.sub(d: settle, from: date.truncate(t: now(), unit: span))" in flux
        assert "wanted = date.truncate(t: date.sub(d: allowance, from: lastRun), unit: span)" in flux
        assert "start = if wanted < earliest then earliest else wanted" in flux
        assert "    |> range(start: start, stop: stop)" in flux


def test_normal_run() -> None:
    t = tasks.timing(TIER_2M, DEFAULT_TIERS)
    start, stop = t.window(NOW, NOW - 2 * MINUTE)
    assert stop == NOW - 30
    # The previous run stopped 30 s short of NOW - 2m: that window is redone, and the coarsest
    # span (2 h) plus an hour before it, for points the bridge delivers late.
    assert start == NOW - 2 * MINUTE - 2 * HOUR - HOUR
    assert start <= NOW - 4 * MINUTE


def test_first_run_backfills_the_whole_raw_retention() -> None:
    t = tasks.timing(TIER_2M, DEFAULT_TIERS)
    start, stop = t.window(NOW, None)
    assert (start, stop) == (NOW - DAY + 2 * MINUTE, NOW - 30)


def test_run_after_three_hour_outage_fills_the_gap() -> None:
    t = tasks.timing(TIER_2M, DEFAULT_TIERS)
    last = NOW - 3 * HOUR - 2 * MINUTE  # last good run before the outage
    start, stop = t.window(NOW, last)
    assert stop == NOW - 30
    assert start == last - 2 * HOUR - HOUR
    assert start <= last - 2 * MINUTE  # the window cut short by the settle delay is redone


def test_run_after_outage_longer_than_raw_retention_is_capped() -> None:
    t = tasks.timing(TIER_2M, DEFAULT_TIERS)
    start, stop = t.window(NOW, NOW - 3 * DAY)
    assert start == NOW - DAY + 2 * MINUTE  # first whole window still in the raw bucket
    assert stop == NOW - 30


def test_raw_kept_forever_first_run_starts_at_epoch_start() -> None:
    t = tasks.timing(CUSTOM_TIERS[2], CUSTOM_TIERS)
    start, stop = t.window(NOW, None)
    assert start == int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
    assert stop == NOW - 12 * HOUR - 30  # a daily tier stops at the last UTC midnight


@given(
    tier_index=st.integers(1, len(DEFAULT_TIERS) - 1),
    now=st.integers(1_700_000_000, 4_000_000_000),
    since_last=st.one_of(st.none(), st.integers(1, 40 * DAY)),
)
def test_window_invariants(tier_index: int, now: int, since_last: int | None) -> None:
    tier = DEFAULT_TIERS[tier_index]
    t = tasks.timing(tier, DEFAULT_TIERS)
    last = None if since_last is None else now - since_last
    start, stop = t.window(now, last)
    assert start % tier.span == 0 and (stop + t.settle) % tier.span == 0  # whole windows, UTC-aligned
    assert start < stop <= now
    assert start >= now - t.raw_retention  # never reads raw data that has expired
    if last is not None and last - now + t.raw_retention > 2 * tier.span:
        # Everything since the last run's (settle-shortened) final window is recomputed.
        assert start <= last - last % tier.span - tier.span


def test_impossible_tiers_are_refused() -> None:
    with pytest.raises(ValueError, match="settle"):
        tasks.timing(Tier("20s", "b", 20, DAY), (Tier("raw", "r", None, DAY), Tier("20s", "b", 20, DAY)))
    with pytest.raises(ValueError, match="too short"):
        tasks.timing(Tier("1d", "b", DAY, 0), (Tier("raw", "r", None, DAY), Tier("1d", "b", DAY, 0)))
    with pytest.raises(ValueError, match="raw tier"):
        tasks.timing(DEFAULT_TIERS[0], DEFAULT_TIERS)


def test_durations() -> None:
    assert [tasks.duration(s) for s in (30, 120, 3720, 7200, 86400, 3653 * DAY)] == [
        "30s", "2m", "1h2m", "2h", "24h", "87672h"]


# --- offline Flux check ----------------------------------------------------------------


@pytest.mark.flux
def test_every_generated_task_passes_the_flux_check() -> None:
    from fluxcheck import flux_errors, require

    require()
    sources = {f"default/{k}": v for k, v in tasks.generate_all(DEFAULT_TIERS).items()}
    sources |= {f"custom/{k}": v for k, v in tasks.generate_all(CUSTOM_TIERS).items()}
    assert flux_errors(sources) == {name: [] for name in sources}


@pytest.mark.flux
@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        # int flags through the unsigned OR: a type error the checker must see
        (lambda f: f.replace("bitwise.sor(", "bitwise.uor("), "uint"),
        (lambda f: f.replace("aggregateWindow(every: span, fn: mean", "aggregateWindw(every: span, fn: mean"),
         "aggregateWindw"),
        (lambda f: f.replace('import "experimental/bitwise"', 'import "experimental/bitwis"'), "bitwis"),
        (lambda f: f.replace("createEmpty: false)", "create_empty: false)", 1), "create_empty"),
        (lambda f: f.replace("start = if wanted < earliest", "start = if wanted < earliest)"), ""),
    ],
    ids=["uint-or", "typo-function", "bad-import", "bad-argument", "syntax"],
)
def test_the_flux_check_rejects_a_broken_task(break_it, expected: str) -> None:
    from fluxcheck import flux_errors, require

    require()
    good = tasks.generate(TIER_2M, DEFAULT_TIERS)
    broken = break_it(good)
    assert broken != good
    errors = flux_errors({"broken": broken})["broken"]
    assert errors, "the checker accepted a broken task"
    assert any(expected in e for e in errors), errors


def test_flux_command_prints_the_same_text(capsys) -> None:
    from solarmon.cli import main

    assert main(["flux", "--tier", "30m"]) == 0
    assert capsys.readouterr().out == tasks.generate(DEFAULT_TIERS[3], DEFAULT_TIERS)
    assert main(["flux", "--tier", "raw"]) == 1
    assert "no downsampled tier 'raw'" in capsys.readouterr().err
