"""`solarmon bootstrap` against the InfluxDB API stand-in: idempotent, leaves others alone, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pytest

from influx_standin import InfluxStandIn
from solarmon.influx import tasks
from solarmon.influx.bootstrap import Bootstrap
from solarmon.tiers import DAY, DEFAULT_TIERS

TOKEN = "boot-token"


@pytest.fixture
def influx():
    with InfluxStandIn(token=TOKEN) as s:
        yield s


def _config(tmp_path: Path, url: str, tiers: list[dict] | None = None) -> Path:
    (tmp_path / "token").write_text(TOKEN + "\n")
    cfg: dict = {"influx": {"url": url, "org": "solarmon", "token_file": str(tmp_path / "token"), "timeout": 2}}
    if tiers is not None:
        cfg["tiers"] = tiers
    path = tmp_path / "solarmon.json"
    path.write_text(json.dumps(cfg))
    return path


def _bootstrap(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The real command line, as the NixOS oneshot runs it."""
    return subprocess.run([sys.executable, "-m", "solarmon", "bootstrap", "--config", str(cfg), *extra],
                          capture_output=True, text=True, timeout=60, check=False)


def _bootstrap_here(capsys, cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The same command in this process (faster)."""
    from solarmon.cli import main

    rc = main(["bootstrap", "--config", str(cfg), *extra])
    out = capsys.readouterr()
    return subprocess.CompletedProcess([], rc, out.out, out.err)


def test_creates_everything_then_changes_nothing(influx: InfluxStandIn, tmp_path: Path) -> None:
    cfg = _config(tmp_path, influx.url)
    first = _bootstrap(cfg)
    assert first.returncode == 0, first.stderr
    assert {b.name: b.retention for b in influx.buckets.values()} == {t.bucket: t.retention for t in DEFAULT_TIERS}
    assert {t.name: t.flux for t in influx.tasks.values()} == tasks.generate_all(DEFAULT_TIERS)
    assert {t.every for t in influx.tasks.values()} == {"2m", "5m", "30m", "2h"}
    assert first.stdout.count("created") == 9
    ids = set(influx.tasks), set(influx.buckets)

    again = _bootstrap(cfg)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("unchanged") == 9 and "created" not in again.stdout
    assert (set(influx.tasks), set(influx.buckets)) == ids


def test_fixes_retention_updates_changed_flux_and_leaves_others_alone(influx: InfluxStandIn, tmp_path: Path) -> None:
    boot = Bootstrap(influx.url, "solarmon", TOKEN)
    boot.run(DEFAULT_TIERS)
    influx.add_bucket("someone_elses", 5 * DAY)
    wrong = next(b for b in influx.buckets.values() if b.name == "solar_30m")
    wrong.retention = 30 * DAY
    task_5m = next(t for t in influx.tasks.values() if t.name == "solarmon-downsample-5m")
    task_5m.flux = task_5m.flux.replace("settle = 30s", "settle = 10s")  # an older generator's text
    with influx.lock:
        other = influx.tasks["ffff"] = type(task_5m)("ffff", "my-own-task", influx.org_id, "solarmon", "x = 1")

    actions = {str(a) for a in boot.run(DEFAULT_TIERS)}
    boot.close()
    assert "bucket solar_30m: retention fixed: 30 d -> 366 d" in actions
    assert "task solarmon-downsample-5m: updated (Flux changed)" in actions
    assert "task solarmon-downsample-2m: unchanged" in actions
    assert wrong.retention == 366 * DAY
    assert task_5m.flux == tasks.generate(DEFAULT_TIERS[2], DEFAULT_TIERS)
    assert influx.bucket_by_name("someone_elses").retention == 5 * DAY
    assert influx.tasks["ffff"] is other and other.flux == "x = 1"
    assert len(influx.tasks) == 5


def test_configured_tiers_drive_buckets_and_tasks(capsys, influx: InfluxStandIn, tmp_path: Path) -> None:
    tiers = [{"name": "raw", "bucket": "r", "span": None, "retention": 2 * DAY},
             {"name": "10m", "bucket": "ten", "span": 600, "retention": 0}]
    res = _bootstrap_here(capsys, _config(tmp_path, influx.url, tiers))
    assert res.returncode == 0, res.stderr
    assert {b.name: b.retention for b in influx.buckets.values()} == {"r": 2 * DAY, "ten": 0}
    assert [t.name for t in influx.tasks.values()] == ["solarmon-downsample-10m"]


def test_unreachable_is_a_clear_error(capsys, tmp_path: Path) -> None:
    s = InfluxStandIn(token=TOKEN)
    s.start()
    s.down()
    res = _bootstrap_here(capsys, _config(tmp_path, s.url), "--wait", "1")
    assert res.returncode == 2
    assert f"InfluxDB at {s.url} is unreachable" in res.stderr
    assert "Traceback" not in res.stderr


def test_wrong_token_is_named(capsys, influx: InfluxStandIn, tmp_path: Path) -> None:
    cfg = _config(tmp_path, influx.url)
    (tmp_path / "token").write_text("not-the-token\n")
    res = _bootstrap_here(capsys, cfg)
    assert res.returncode == 2
    assert "rejected the token (401): check influx.token_file" in res.stderr


@pytest.mark.parametrize(("denied", "named"), [
    (("tasks", "write"), "write:tasks"),
    (("buckets", "write"), "write:buckets"),
    (("orgs", "read"), "read:orgs"),
])
def test_missing_permission_is_named(capsys, influx: InfluxStandIn, tmp_path: Path, denied, named: str) -> None:
    influx.deny.add(denied)
    res = _bootstrap_here(capsys, _config(tmp_path, influx.url))
    assert res.returncode == 2
    assert f"the token lacks the permission {named} in org 'solarmon' (403)" in res.stderr


def test_impossible_tiers_change_nothing(capsys, influx: InfluxStandIn, tmp_path: Path) -> None:
    tiers = [{"name": "raw", "bucket": "r", "span": None, "retention": DAY},
             {"name": "20s", "bucket": "b20", "span": 20, "retention": DAY}]
    res = _bootstrap_here(capsys, _config(tmp_path, influx.url, tiers))
    assert res.returncode == 2 and "tiers: tier 20s: span 20 s must be longer than the 30 s settle delay" in res.stderr
    assert influx.buckets == {} and influx.tasks == {}
