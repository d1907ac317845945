"""Config loading: TOML and JSON, and a clear line for every mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from solarmon import config
from solarmon.cli import main
from solarmon.errors import ConfigError

GOOD_TOML = """
[[devices]]
id = "mppt"
kind = "litime-mppt"
address = "c8:47:80:12:34:56"

[[devices]]
id = "battery1"
kind = "jbd-bms"
address = "A4-C1-38-00-00-01"
auth = "password"
password_file = "{pw}"
interval = 10

[mqtt]
host = "127.0.0.1"
"""


@pytest.fixture
def pw(tmp_path: Path) -> Path:
    p = tmp_path / "bat1.pw"
    p.write_text("s3cret-value\n")
    return p


def test_toml_and_json_load_the_same(tmp_path: Path, pw: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(GOOD_TOML.format(pw=pw))
    cfg = config.load(toml)
    assert cfg.devices[0].address == "C8:47:80:12:34:56" and cfg.devices[1].address == "A4:C1:38:00:00:01"
    assert cfg.interval_of(cfg.devices[0]) == 27.0 and cfg.interval_of(cfg.devices[1]) == 10
    js = tmp_path / "c.json"
    js.write_text(json.dumps(cfg.model_dump(mode="json")))
    assert config.load(js) == cfg
    assert [t.bucket for t in cfg.tier_list] == ["solar_raw", "solar_2m", "solar_5m", "solar_30m", "solar_2h"]


def test_every_mistake_is_listed() -> None:
    bad = {
        "devices": [
            {"id": "b1", "kind": "jbd-bms", "address": "zz:00", "colour": "red"},
            {"id": "Bad Id", "kind": "victron", "address": "A4:C1:38:00:00:01"},
            {"id": "m", "kind": "litime-mppt", "address": "A4:C1:38:00:00:02", "password_file": "/x"},
            {"id": "b1", "kind": "jbd-bms", "address": "a4:c1:38:00:00:02"},
        ],
        "mqtt": {"port": 70000, "hots": "x"},
    }
    with pytest.raises(ConfigError) as err:
        config.parse(bad, "t")
    text = "\n".join(err.value.problems)
    for expected in (
        "devices[0].address: 'zz:00' is not a Bluetooth MAC",
        "devices[0].colour: unknown key",
        "devices[1].id: must be",
        "devices[1].kind",
        "devices[2]: auth and password_file apply to jbd-bms devices only",
        "devices[3].id 'b1' is already used by devices[0]",
        "devices[3].address 'A4:C1:38:00:00:02' is already used by devices[2]",
        "mqtt.port",
        "mqtt.hots: unknown key",
    ):
        assert expected in text, f"missing {expected!r} in:\n{text}"


def test_duplicates_and_tiers() -> None:
    dup = {"devices": [{"id": "a", "kind": "jbd-bms", "address": "A4:C1:38:00:00:01"},
                       {"id": "a", "kind": "jbd-bms", "address": "a4:c1:38:00:00:01"}],
           "tiers": [{"name": "raw", "bucket": "r", "retention": 0}, {"name": "raw", "bucket": "r", "retention": 1}]}
    with pytest.raises(ConfigError) as err:
        config.parse(dup)
    text = "\n".join(err.value.problems)
    assert "devices[1].id 'a' is already used by devices[0]" in text
    assert "devices[1].address 'A4:C1:38:00:00:01' is already used" in text
    assert "exactly one tier must have span = null" in text and "duplicate name raw" in text


def test_broken_syntax_is_one_clear_problem(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("[[devices]\nid = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(p)
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.toml")


def test_secret_files(tmp_path: Path, pw: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.read_secret(str(pw)) == "s3cret-value"
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert config.read_secret("$CREDENTIALS_DIRECTORY/bat1.pw") == "s3cret-value"
    (tmp_path / "empty").write_text("\n")
    cfg = config.parse({"devices": [{"id": "b", "kind": "jbd-bms", "address": "A4:C1:38:00:00:01",
                                     "password_file": str(tmp_path / "empty")},
                                    {"id": "c", "kind": "jbd-bms", "address": "A4:C1:38:00:00:02",
                                     "password_file": str(tmp_path / "nope")}]})
    problems = config.check_files(cfg)
    assert any("devices[0].password_file" in p and "empty" in p for p in problems)
    assert any("devices[1].password_file" in p and "cannot read" in p for p in problems)


def test_check_config_command(tmp_path: Path, pw: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD_TOML.format(pw=pw))
    assert main(["check-config", str(good)]) == 0
    assert "OK, 2 device(s)" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD_TOML.format(pw=tmp_path / "absent") + "\n[extra]\n")
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "extra: unknown key" in err
    pw.unlink()
    assert main(["check-config", str(good)]) == 1
    err = capsys.readouterr().err
    assert "devices[1].password_file" in err and "cannot read" in err
    assert "s3cret" not in err  # the secret itself never appears


def test_the_shipped_example_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).parents[1] / "examples" / "solarmon.toml"
    assert main(["check-config", "--no-files", str(example)]) == 0
    assert "3 device(s)" in capsys.readouterr().out


def test_tier_spans_must_line_up() -> None:
    tiers = [{"name": "raw", "bucket": "r", "retention": 86400},
             {"name": "7m", "bucket": "a", "span": 420, "retention": 0},
             {"name": "2h", "bucket": "b", "span": 7200, "retention": 0}]
    with pytest.raises(ConfigError) as err:
        config.parse({"tiers": tiers})
    assert "span 420 s does not divide the coarsest span 7200 s" in "\n".join(err.value.problems)
    with pytest.raises(ConfigError, match="at least one downsampled tier"):
        config.parse({"tiers": tiers[:1]})
    tiers[1] |= {"span": 600}
    assert [t.span for t in config.parse({"tiers": tiers}).tier_list] == [None, 600, 7200]
