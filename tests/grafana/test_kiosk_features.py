"""Kiosk additions of issue 7: link health, alerts and clock badges, the phone-app button."""

from __future__ import annotations

import re
from typing import Any

from solarmon.appwindow import KIOSK_PORT
from solarmon.dashboards import CELLS_UID, KIOSK_UID


def _queries(board: dict[str, Any]) -> list[str]:
    return [t["query"] for p in board["panels"] for t in p.get("targets", [])]


def test_alerts_and_clock_sit_beside_the_device_alarms_on_both_pages(by_uid: dict[str, Any]) -> None:
    for uid in (KIOSK_UID, CELLS_UID):
        (q,) = [q for q in _queries(by_uid[uid]) if "protection_flags" in q]
        assert 'r._measurement == "alerts" and r._field == "summary"' in q
        assert 'r._measurement == "collector" and r._field == "clock_synced"' in q
        assert '"CLOCK NOT SET"' in q and '_field: "alerts"' in q


def test_health_details_on_the_second_page(by_uid: dict[str, Any]) -> None:
    (q,) = [q for q in _queries(by_uid[CELLS_UID]) if "link-health" in q]
    for f in ("rssi", "poll_success_rate", "reconnects", "released"):
        assert f'r._field == "{f}"' in q
    assert '"APP"' in q and "_field: r.device" in q


def test_app_button_opens_the_loopback_endpoint_only(by_uid: dict[str, Any]) -> None:
    hrefs = [h for p in by_uid[CELLS_UID]["panels"] if p["type"] == "text"
             for h in re.findall(r'href="([^"]+)"', p["options"]["content"])]
    (release,) = [h for h in hrefs if "release" in h]
    assert release == f"http://127.0.0.1:{KIOSK_PORT}/release"


def test_bank_soc_beside_the_batteries(by_uid: dict[str, Any]) -> None:
    (q,) = [q for q in _queries(by_uid[KIOSK_UID]) if 'r._field == "soc"' in q]
    assert '(r._measurement == "bank" or r._measurement == "jbd-bms")' in q


def test_daily_energy_includes_the_bank_totals(by_uid: dict[str, Any]) -> None:
    from solarmon.dashboards import HISTORY_UID

    (q,) = [q for q in _queries(by_uid[HISTORY_UID]) if "today_generated_energy" in q and "battery in" in q]
    assert 'r.kind == "energy"' in q and 'r._field == "battery_discharge_energy"' in q
