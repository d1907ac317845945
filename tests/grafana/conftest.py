"""Fixtures: the dashboards as generated now, and every Flux query in them."""

from __future__ import annotations

from typing import Any

import pytest

from solarmon.dashboards import build_all


@pytest.fixture(scope="session")
def boards() -> dict[str, dict[str, Any]]:
    """Every generated dashboard by file name."""
    return build_all()


@pytest.fixture(scope="session")
def by_uid(boards: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every generated dashboard by uid."""
    return {b["uid"]: b for b in boards.values()}


@pytest.fixture(scope="session")
def queries(boards: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every Flux text (panel targets and template variables), by '<uid>/<where>'."""
    found: dict[str, str] = {}
    for board in boards.values():
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                found[f"{board['uid']}/panel{panel['id']}/{t['refId']}"] = t["query"]
        for var in board["templating"]["list"]:
            found[f"{board['uid']}/var-{var['name']}"] = var["query"]
    return found

