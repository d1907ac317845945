"""The offline Flux checker reports real errors and accepts valid Flux."""

from __future__ import annotations

import pytest

from fluxcheck import GRAFANA_V_STUB, flux_errors, grafana_source, require

pytestmark = pytest.mark.flux

_VALID = 'from(bucket: "solar_raw") |> range(start: -1h) |> filter(fn: (r) => r._field == "soc")\n'


@pytest.fixture(autouse=True)
def _checker() -> None:
    require()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('from(bucket: "a") |> range(start: -1h) |> aggregateWindw(every: 1m, fn: mean)', "aggregateWindw"),
        ('from(bucket: "a") |> range(start: -1h) |> aggregateWindow(every: "1m", fn: mean)', "duration"),
        ('from(bucket: "a") |> range(start: -1h) |> aggregateWindow(every: 1m, fn: mean, create_empty: false)',
         "create_empty"),
        ('import "experimental/bitwis"\nx = 1', "bitwis"),
        ("x = bitwise.uor(a: uint(v: 1), b: uint(v: 2))", "bitwise"),
        ('from(bucket: "a") |> range(start: -1h', ""),
    ],
    ids=["unknown_function", "wrong_argument_type", "unknown_argument", "bad_import", "missing_import", "syntax"],
)
def test_broken_flux_is_reported(source: str, expected: str) -> None:
    errors = flux_errors({"broken": source, "fine": _VALID})
    assert errors["fine"] == []
    assert errors["broken"], f"checker accepted broken Flux: {source!r}"
    assert any(expected in e for e in errors["broken"]), errors["broken"]


def test_task_warning_is_not_an_error() -> None:
    task = 'option task = {name: "t", every: 2m}\n' + _VALID
    assert flux_errors({"task": task}) == {"task": []}


def test_files_are_separate_packages() -> None:
    # Two tasks checked together must not collide as one package ("option task reassigned").
    task = 'option task = {name: "t", every: 2m}\n' + _VALID
    assert flux_errors({"a": task, "b": task}) == {"a": [], "b": []}


def test_grafana_v_record_is_required_and_stub_defines_it() -> None:
    query = ('from(bucket: "solar_raw") |> range(start: v.timeRangeStart, stop: v.timeRangeStop)'
             " |> aggregateWindow(every: v.windowPeriod, fn: mean)")
    errors = flux_errors({"bare": query, "stubbed": grafana_source(query)})
    assert errors["bare"], "v is undefined without the stub, the checker must say so"
    assert errors["stubbed"] == []


def test_grafana_variables_are_substituted() -> None:
    query = 'from(bucket: "solar_raw") |> range(start: -1h) |> filter(fn: (r) => r.device == "${device}")'
    text = grafana_source(query, {"device": "battery1"})
    assert text.startswith(GRAFANA_V_STUB)
    with_import = grafana_source('import "strings"\n\n' + query, {"device": "battery1"})
    assert with_import.startswith('import "strings"\n' + GRAFANA_V_STUB)
    assert flux_errors({"q": with_import}) == {"q": []}
    assert 'r.device == "battery1"' in text
    assert flux_errors({"q": text}) == {"q": []}
    with pytest.raises(KeyError, match="device"):
        grafana_source(query)
