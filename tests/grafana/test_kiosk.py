"""The kiosk pages fit the 800x480 screen in Grafana kiosk mode and work by touch."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from solarmon.catalog import CHARGING_STATES
from solarmon.dashboards import CELLS_UID, KIOSK_UID
from solarmon.dashboards import geometry as g
from solarmon.dashboards.kiosk import KIOSK_PARAMS, RANGES

KIOSKS = (KIOSK_UID, CELLS_UID)


def test_geometry_numbers() -> None:
    # 800 px - 2 x 16 px padding; Grafana switches to one stacked column below 768 px.
    assert g.GRID_WIDTH == 768
    assert g.GRID_WIDTH >= g.MOBILE_BELOW
    assert pytest.approx(24.333, abs=0.001) == g.COLUMN_WIDTH
    assert g.GRID_HEIGHT == 447
    assert g.KIOSK_ROWS == 11
    assert g.span_px(g.KIOSK_ROWS, g.ROW_HEIGHT) <= g.GRID_HEIGHT < g.span_px(g.KIOSK_ROWS + 1, g.ROW_HEIGHT)
    assert g.span_px(g.COLUMNS, g.COLUMN_WIDTH) == g.GRID_WIDTH


@pytest.mark.parametrize("uid", KIOSKS)
def test_kiosk_fits_the_screen(by_uid: dict[str, Any], uid: str) -> None:
    panels = by_uid[uid]["panels"]
    assert panels
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] >= 1 and pos["h"] >= 2, p["id"]
        assert pos["x"] + pos["w"] <= g.COLUMNS, p["id"]
        assert pos["y"] + pos["h"] <= g.KIOSK_ROWS, p["id"]
        box = g.box(**pos)
        assert box.left >= 0 and box.right <= g.SCREEN_WIDTH - g.PAD_SIDE, (p["id"], box)
        assert box.top >= 0 and box.bottom <= g.SCREEN_HEIGHT - g.PAD_BOTTOM, (p["id"], box)


@pytest.mark.parametrize("uid", KIOSKS)
def test_kiosk_panels_do_not_overlap_and_fill_the_screen(by_uid: dict[str, Any], uid: str) -> None:
    cells = [
        {(x, y) for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
         for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])}
        for p in by_uid[uid]["panels"]
    ]
    for a, b in itertools.combinations(cells, 2):
        assert not a & b
    # No holes either: Grafana would float panels up into a hole and change the layout.
    assert set().union(*cells) == {(x, y) for x in range(g.COLUMNS) for y in range(g.KIOSK_ROWS)}


@pytest.mark.parametrize("uid", KIOSKS)
def test_kiosk_has_no_titles_and_refreshes(by_uid: dict[str, Any], uid: str) -> None:
    board = by_uid[uid]
    assert board["refresh"] == "30s"
    assert board["timepicker"]["hidden"] is True
    assert board["templating"]["list"] == []  # nothing to show above the grid
    assert board["links"] == []
    for p in board["panels"]:
        assert p["title"] == "", p["id"]
        assert p.get("description", "") == "", p["id"]  # an info icon would add a header


def _links(board: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for p in board["panels"]:
        if p["type"] == "text":
            found += re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', p["options"]["content"])
    return found


def test_range_buttons_and_page_links(by_uid: dict[str, Any]) -> None:
    links = _links(by_uid[KIOSK_UID])
    for label, start in RANGES:
        assert (f"/d/{KIOSK_UID}?{KIOSK_PARAMS}&from={start}&to=now", label) in links
    assert any(href == f"/d/{CELLS_UID}?{KIOSK_PARAMS}" for href, _ in links)
    back = _links(by_uid[CELLS_UID])
    assert any(href == f"/d/{KIOSK_UID}?{KIOSK_PARAMS}" for href, _ in back)


_PAD = 8  # Grafana's panel content padding
_GAP = 6  # the buttons' flex gap


def button_sizes(content: str, width: int, height: int) -> list[tuple[float, float]]:
    """(width, height) of each button, laid out as CSS flex-wrap would: fill rows by flex-basis."""
    inner_w, inner_h = width - 2 * _PAD, height - 2 * _PAD
    rows: list[list[float]] = [[]]
    for basis in (int(b) / 100 * inner_w for b in re.findall(r"flex-basis:(\d+)%", content)):
        row = rows[-1]
        if row and sum(row) + basis + _GAP * len(row) > inner_w:
            rows.append([])
        rows[-1].append(basis)
    row_h = (inner_h - _GAP * (len(rows) - 1)) / len(rows)
    sizes = []
    for row in rows:
        spare = inner_w - sum(row) - _GAP * (len(row) - 1)  # flex-grow:1 shares it out evenly
        sizes += [(b + spare / len(row), row_h) for b in row]
    return sizes


@pytest.mark.parametrize("uid", KIOSKS)
def test_buttons_are_big_touch_targets(by_uid: dict[str, Any], uid: str) -> None:
    texts = [p for p in by_uid[uid]["panels"] if p["type"] == "text"]
    assert texts
    for p in texts:
        box = g.box(**p["gridPos"])
        sizes = button_sizes(p["options"]["content"], box.width, box.height)
        assert len(sizes) == p["options"]["content"].count("<a ")
        # About 9 mm or more on this screen (~133 dpi: 45 px); 55 px leaves room for Grafana's padding.
        for w, h in sizes:
            assert w >= 55 and h >= 55, (p["id"], w, h)


def test_button_layout_model() -> None:
    assert button_sizes("flex-basis:40%" * 4, 216, 216) == [(97.0, 97.0)] * 4
    assert len(button_sizes("flex-basis:100%" * 3, 116, 116)) == 3


def test_charging_state_words_come_from_the_catalog(by_uid: dict[str, Any]) -> None:
    panels = [p for p in by_uid[KIOSK_UID]["panels"] if "charging_state" in p.get("targets", [{}])[0].get("query", "")]
    assert len(panels) == 1
    (mapping,) = panels[0]["fieldConfig"]["defaults"]["mappings"]
    assert {int(k): v["text"] for k, v in mapping["options"].items()} == CHARGING_STATES


def test_alarms_are_red_unless_ok(by_uid: dict[str, Any]) -> None:
    for uid in KIOSKS:
        (panel,) = [p for p in by_uid[uid]["panels"] if "protection_flags" in p.get("targets", [{}])[0].get("query", "")]
        defaults = panel["fieldConfig"]["defaults"]
        assert panel["options"]["colorMode"] == "background"
        assert defaults["thresholds"]["steps"][0]["color"] == "red"  # also "NO DATA"
        ok, other = defaults["mappings"]
        assert ok["options"]["OK"]["color"] == "green"
        assert other["type"] == "regex" and other["options"]["result"]["color"] == "red"
        assert re.fullmatch(other["options"]["pattern"], "cell overvoltage, short circuit")
        assert re.fullmatch(other["options"]["pattern"], "OFFLINE")
        # A silent device is reported, not dropped: it was seen within the raw retention.
        query = panel["targets"][0]["query"]
        assert '"OFFLINE"' in query and "range(start: -86400s)" in query


def test_soc_per_battery_is_from_the_bms(by_uid: dict[str, Any]) -> None:
    socs = [p for p in by_uid[KIOSK_UID]["panels"] if 'r._field == "soc"' in p.get("targets", [{}])[0].get("query", "")]
    assert len(socs) == 1
    query = socs[0]["targets"][0]["query"]
    assert 'r._measurement == "jbd-bms"' in query
    assert "_field: r.device" in query  # one value per battery, named by its id
