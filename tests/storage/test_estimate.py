"""`solarmon estimate`: the figures follow from the catalog, devices, cadence and tiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from solarmon import catalog
from solarmon.cli import main
from solarmon.influx import estimate
from solarmon.tiers import DAY, DEFAULT_TIERS, Tier


def test_seed_system_reproduces_the_seed_sample_count() -> None:
    rows = estimate.estimate(estimate.SEED_DEVICES, DEFAULT_TIERS)
    per_device = sum(r.kept_samples for r in rows) / 3
    # 3200 raw + 5040 (2m, 7 d) + 8928 (5m, 31 d) + 17568 (30m, 366 d) + 43836 (2h, 3653 d)
    assert per_device == pytest.approx(78_572)
    assert [r.samples_per_day for r in rows] == pytest.approx([9600, 2160, 864, 144, 36])


def test_values_follow_the_catalog_aggregations() -> None:
    mppt = catalog.LITIME_MPPT
    gauges, states, flags = (len(mppt.by_aggregation(a)) for a in catalog.Aggregation)
    assert estimate.values_per_window(mppt) == 3 * gauges + states + flags
    assert estimate.fields_per_sample(mppt) == len(mppt.fields)
    jbd = catalog.JBD_BMS
    assert estimate.fields_per_sample(jbd) - estimate.fields_per_sample(jbd, cells=4, temperatures=2) == 28 + 6
    rows = estimate.estimate([("litime-mppt", 60.0)], (Tier("raw", "r", None, DAY), Tier("1h", "h", 3600, 10 * DAY)))
    assert rows[0].values_per_day == 1440 * len(mppt.fields) and rows[0].kept_values == rows[0].values_per_day
    assert rows[1].kept_values == 24 * 10 * (3 * gauges + states + flags)
    assert rows[1].bytes == rows[1].kept_values * estimate.BYTES_PER_VALUE


def test_forever_retention_is_counted_for_ten_years() -> None:
    rows = estimate.estimate([("jbd-bms", 27.0)], (Tier("raw", "r", None, DAY), Tier("1d", "d", DAY, 0)))
    assert rows[1].kept_samples == 3653


def test_command_uses_configured_devices(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"devices": [
        {"id": "mppt", "kind": "litime-mppt", "address": "C8:47:80:00:00:01", "interval": 10}]}))
    assert main(["estimate", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    # raw samples per day: 8,640 of the device, as many link-health, 3 x 1,440 minute summaries
    assert "1 device(s): litime-mppt every 10 s" in out and "21,600" in out
    assert main(["estimate"]) == 0
    out = capsys.readouterr().out
    assert "kept samples per device: 78,572 (seed: ~78,000)" in out
    assert "devices only: 132 MB (seed: ~128 MB" in out
    assert "plus 7 derived series: alerts, bank, collector, energy, link-health" in out


def test_derived_series_follow_the_devices() -> None:
    derived = estimate.derived_series(estimate.SEED_DEVICES)
    assert derived.count(("link-health", 27.0)) == 3
    assert ("bank", 13.5) in derived  # two packs at 27 s: a bank sample after each
    assert {k for k, i in derived if i == estimate.SUMMARY_EVERY} == {"alerts", "energy", "collector"}
    assert not [k for k, _i in estimate.derived_series([("litime-mppt", 10.0)]) if k == "bank"]
    from solarmon.processor import SUMMARY_EVERY
    assert estimate.SUMMARY_EVERY == SUMMARY_EVERY
