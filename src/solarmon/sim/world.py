"""A small deterministic model of an off-grid day: sun, clouds and household load."""

from __future__ import annotations

import math
import time
from typing import Final

SUNRISE_H: Final = 6.0
SUNSET_H: Final = 20.0
PV_PEAK_W: Final = 650.0  # array power at noon on a clear day
BASE_LOAD_W: Final = 35.0  # fridge, router, the monitor itself


def local_hour(now: float) -> float:
    """Hour of the local day as a float (0..24)."""
    t = time.localtime(now)
    return t.tm_hour + t.tm_min / 60 + t.tm_sec / 3600


def clouds(now: float) -> float:
    """Cloud factor 0.35..1, smooth and repeatable (sum of slow sines, no randomness)."""
    x = now / 600.0
    v = 0.5 + 0.25 * math.sin(x) + 0.15 * math.sin(2.3 * x + 1.1) + 0.1 * math.sin(5.1 * x + 2.0)
    return 0.35 + 0.65 * min(1.0, max(0.0, v + 0.2))


def pv_power(now: float) -> float:
    """Panel power available to the controller in W."""
    h = local_hour(now)
    if not SUNRISE_H < h < SUNSET_H:
        return 0.0
    elevation = math.sin(math.pi * (h - SUNRISE_H) / (SUNSET_H - SUNRISE_H))
    return PV_PEAK_W * elevation**1.3 * clouds(now)


def load_power(now: float) -> float:
    """Household DC load in W: base load plus an evening peak and a fridge compressor cycle."""
    h = local_hour(now)
    evening = 60.0 * math.exp(-(((h - 20.0) / 1.5) ** 2))
    fridge = 45.0 if (now // 420) % 3 == 0 else 0.0  # on 7 of every 21 minutes
    return BASE_LOAD_W + evening + fridge
