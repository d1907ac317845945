"""The tier a query reads: the Python rule, and the Flux text generated from the same tier data."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
import pytest

from solarmon.dashboards.tiering import GRACE, choose_tier, tier_function
from solarmon.tiers import DAY, DEFAULT_TIERS, HOUR, Tier

_THRESHOLD = re.compile(r'if age <= (\d+) then \{bucket: "([^"]+)"')
_LAST = re.compile(r'^\s+\{bucket: "([^"]+)"', re.MULTILINE)


def flux_choice(text: str, age_s: int) -> str:
    """Evaluate the generated ``_tierFor`` if-chain for an age in seconds, by reading its text."""
    age_ns = age_s * 1_000_000_000
    for limit, bucket in _THRESHOLD.findall(text):
        if age_ns <= int(limit):
            return bucket
    (last,) = _LAST.findall(text)
    return last


@pytest.mark.parametrize(
    ("age", "expected"),
    [(1 * HOUR, "raw"), (2 * DAY, "2m"), (20 * DAY, "5m"), (183 * DAY, "30m"), (5 * 365 * DAY, "2h")],
    ids=["1h", "2d", "20d", "6mo", "5y"],
)
def test_default_tier_choice(age: int, expected: str) -> None:
    tier = choose_tier(DEFAULT_TIERS, age)
    assert tier.name == expected
    assert flux_choice(tier_function(DEFAULT_TIERS), age) == tier.bucket


def test_edges_of_the_default_tiers() -> None:
    # "Last 24 hours" reaches the server a moment older than 24 h: it still reads raw data.
    assert choose_tier(DEFAULT_TIERS, 1 * DAY + 5).name == "raw"
    assert choose_tier(DEFAULT_TIERS, 1 * DAY + GRACE).name == "raw"
    assert choose_tier(DEFAULT_TIERS, 1 * DAY + GRACE + 1).name == "2m"
    assert choose_tier(DEFAULT_TIERS, 7 * DAY + 5).name == "2m"
    assert choose_tier(DEFAULT_TIERS, 20 * 365 * DAY).name == "2h"  # older than kept: the coarsest


_tier_lists = st.lists(
    st.tuples(st.integers(10, 86400), st.integers(0, 4000 * DAY)), min_size=0, max_size=5, unique_by=lambda t: t[0]
).map(lambda spans: (
    Tier("raw", "b_raw", None, DAY),
    *(Tier(f"t{span}", f"b_{span}", span, retention) for span, retention in spans),
))


@given(tiers=_tier_lists, age=st.integers(0, 5000 * DAY))
def test_flux_text_and_python_agree(tiers: tuple[Tier, ...], age: int) -> None:
    assert flux_choice(tier_function(tiers), age) == choose_tier(tiers, age).bucket


def test_flux_thresholds_come_from_the_retentions() -> None:
    text = tier_function(DEFAULT_TIERS)
    pairs = [(int(limit) // 1_000_000_000, bucket) for limit, bucket in _THRESHOLD.findall(text)]
    assert pairs == [(t.retention + GRACE, t.bucket) for t in DEFAULT_TIERS[:-1]]
    assert _LAST.findall(text) == [DEFAULT_TIERS[-1].bucket]
