"""Shared fixtures: a real mosquitto broker per test (never a mock)."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import HealthCheck, settings
import pytest

from broker import Mosquitto, mosquitto_binary

# Timing belongs to benchmarks/, not to unit tests: on a loaded 2-core CI machine a slow draw
# or example must not fail a property test. The properties themselves are unchanged.
settings.register_profile("solarmon", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("solarmon")


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A fresh broker on an ephemeral loopback port; skipped if mosquitto is not installed."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    with Mosquitto() as broker:
        yield broker
