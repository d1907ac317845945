"""Shared fixtures: a real mosquitto broker per test (never a mock)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker import Mosquitto, mosquitto_binary


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A fresh broker on an ephemeral loopback port; skipped if mosquitto is not installed."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    with Mosquitto() as broker:
        yield broker
