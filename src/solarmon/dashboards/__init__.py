"""Grafana dashboards generated from the catalog and the tier list (build time only)."""

from __future__ import annotations

from collections.abc import Sequence
import json
from typing import Any

from ..tiers import DEFAULT_TIERS, Tier
from .history import HISTORY_UID, history
from .kiosk import CELLS_UID, KIOSK_UID, cells, kiosk
from .panels import DATASOURCE_UID

__all__ = ["CELLS_UID", "DATASOURCE_UID", "HISTORY_UID", "KIOSK_UID", "build_all", "render"]


def build_all(tiers: Sequence[Tier] = DEFAULT_TIERS) -> dict[str, dict[str, Any]]:
    """Every dashboard, by file name."""
    return {
        "solarmon-kiosk.json": kiosk(tiers),
        "solarmon-kiosk-cells.json": cells(tiers),
        "solarmon-history.json": history(tiers),
    }


def render(dashboard: dict[str, Any]) -> str:
    """The file text of a dashboard: stable, diff-friendly JSON."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"
