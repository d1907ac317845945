"""Every Flux query of every dashboard passes the offline checker and names only known things."""

from __future__ import annotations

import re

import pytest

from fluxcheck import flux_errors, grafana_source, require
from solarmon.catalog import JBD_BMS, LITIME_MPPT
from solarmon.dashboards import flux
from solarmon.dashboards.tiering import tier_function
from solarmon.tiers import DEFAULT_TIERS, raw_tier

from .names import read_calls, unknown_names

#: Values Grafana would substitute for the template and global variables the queries use.
VARIABLES = {"battery": "battery1", "mppt": "mppt", "__timezone": "Europe/Berlin"}


@pytest.mark.flux
def test_every_query_passes_the_flux_checker(queries: dict[str, str]) -> None:
    require()
    sources = {name: grafana_source(text, VARIABLES) for name, text in queries.items()}
    errors = {name: e for name, e in flux_errors(sources).items() if e}
    assert errors == {}


def test_every_name_is_in_the_catalog_or_tier_list(queries: dict[str, str]) -> None:
    problems = {name: p for name, text in queries.items() if (p := unknown_names(text, DEFAULT_TIERS))}
    assert problems == {}


def test_queries_exist_for_every_dashboard(by_uid: dict, queries: dict[str, str]) -> None:
    for uid in by_uid:
        assert any(name.startswith(f"{uid}/") for name in queries), uid


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (('r._field == "soc"', 'r._field == "sco"'), "field 'sco'"),
        (('bucket: "solar_raw"', 'bucket: "solar_1m"'), "bucket 'solar_1m'"),
        (('r._measurement == "jbd-bms"', 'r._measurement == "avg"'), "measurement 'avg'"),
        (('r._measurement == "jbd-bms"', 'r._measurement == "litime-mppt"'), "'soc' is not a litime-mppt field"),
    ],
    ids=["unknown_field", "unknown_bucket", "unknown_measurement", "controller_soc"],
)
def test_name_check_catches_mistakes(mutation: tuple[str, str], expected: str) -> None:
    good = flux.latest_per_device(DEFAULT_TIERS, JBD_BMS, "soc").text
    assert unknown_names(good, DEFAULT_TIERS) == []
    bad = good.replace(*mutation)
    assert bad != good
    assert any(expected in p for p in unknown_names(bad, DEFAULT_TIERS))


def test_name_check_catches_wrong_tier_measurement() -> None:
    good = flux.state_history(DEFAULT_TIERS, LITIME_MPPT, "charging_state", "${mppt}").text
    assert unknown_names(good, DEFAULT_TIERS) == []
    # A state field is only downsampled to "last": reading it from "mean" finds nothing.
    bad = good.replace('r._measurement == "last"', 'r._measurement == "mean"')
    assert bad != good
    assert any("is state, not in 'mean'" in p for p in unknown_names(bad, DEFAULT_TIERS))
    assert any("kind 'litime'" in p for p in unknown_names(good.replace('"litime-mppt"', '"litime"'), DEFAULT_TIERS))


def test_builders_refuse_unknown_or_misplaced_fields() -> None:
    with pytest.raises(KeyError):
        flux.latest_per_device(DEFAULT_TIERS, LITIME_MPPT, "soc")  # the controller's SOC is not trusted
    with pytest.raises(ValueError, match="not a gauge"):
        flux.gauge_bands(DEFAULT_TIERS, [flux.Band(LITIME_MPPT, "charging_state", "state")], None)
    with pytest.raises(ValueError, match="not in tier measurement"):
        flux.means(DEFAULT_TIERS, [(JBD_BMS, ["protection_flags"], None)])


def test_range_queries_read_the_chosen_tier(queries: dict[str, str]) -> None:
    """A query over the dashboard range must not hard-code a bucket: it reads the tier picked in Flux."""
    chooser = tier_function(DEFAULT_TIERS)
    ranged = {n: q for n, q in queries.items() if "v.timeRangeStart" in q or "v.timeRangeStop" in q}
    assert len(ranged) >= 10
    for name, text in ranged.items():
        assert chooser in text, name
        buckets = set(re.findall(r"from\(bucket: ([^\n]+)\)\n", text))
        assert buckets in ({"_tier.bucket"}, {"_tierFor(start: start).bucket"}), name


def test_now_queries_read_the_raw_bucket(queries: dict[str, str]) -> None:
    raw = raw_tier(DEFAULT_TIERS).bucket
    now = {n: q for n, q in queries.items() if "v.timeRange" not in q and "schema.tagValues" not in q}
    assert len(now) >= 10
    assert sum(f"range(start: {flux.NOW_WINDOW})" in q for q in now.values()) >= 10
    for name, text in now.items():
        assert f'from(bucket: "{raw}")' in text, name


def test_tier_reads_use_the_matching_window_reducer(queries: dict[str, str]) -> None:
    """Means are averaged, minima reduced by min, maxima by max, flags OR-ed (not max-ed)."""
    allowed = {"mean": {"mean"}, "min": {"min"}, "max": {"max"}, "last": {"last", "max"}, "bit_or": {"_bitOr"}}
    calls = [c for q in queries.values() for c in read_calls(q)]
    assert {method for _, method, _, _ in calls} == set(allowed)
    for kind, method, fn, pred in calls:
        assert fn in allowed[method], (kind, method, fn, pred)
