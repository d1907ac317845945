"""Alert rules: threshold, hysteresis, delay, silence, exactly-once raise and clear."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from solarmon.alerts import Alert, AlertEngine
from solarmon.config import AlertRule
from solarmon.payload import Sample

LOW_SOC = AlertRule(name="low-soc", field="soc", device="bank", below=20, hysteresis=5, delay=60)


def bank(soc: float | None) -> Sample:
    return Sample(0, "bank", "bank", {"soc": soc, "packs_included": 2})


def feed(engine: AlertEngine, values: list[tuple[float, float | None]]) -> list[tuple[float, str]]:
    """(t, soc) samples -> (t, change) events."""
    return [(t, e.change) for t, v in values for e in engine.observe(bank(v), t)]


def test_raise_after_delay_and_clear_past_hysteresis_exactly_once() -> None:
    engine = AlertEngine([LOW_SOC], 600, {})
    seq = [(0, 30.0), (10, 19.0), (40, 18.0), (70, 18.5), (100, 17.0),  # raised at 70 (60 s after 10)
           (130, 21.0), (160, 24.9),  # above the threshold but inside the hysteresis band: still active
           (190, 25.0), (220, 26.0), (250, 30.0)]  # cleared at 190
    assert feed(engine, seq) == [(70, "raised"), (190, "cleared")]
    assert not engine.active


def test_a_dip_shorter_than_the_delay_raises_nothing() -> None:
    engine = AlertEngine([LOW_SOC], 600, {})
    assert feed(engine, [(0, 19.0), (30, 19.0), (50, 21.0), (90, 19.0), (140, 19.0)]) == []
    # the pending timer restarted at 90, so it fires 60 s later, not at 60 s after 0
    assert feed(engine, [(150, 19.0)]) == [(150, "raised")]


def test_missing_value_neither_raises_nor_clears() -> None:
    engine = AlertEngine([LOW_SOC], 600, {})
    assert feed(engine, [(0, 10.0), (60, 10.0)]) == [(60, "raised")]
    assert feed(engine, [(90, None), (120, None)]) == []
    assert "low-soc/bank" in engine.active


def test_rule_device_and_wildcard_fields() -> None:
    hot = AlertRule(name="hot", field="temperature_*", above=55, hysteresis=5)
    engine = AlertEngine([hot, LOW_SOC], 600, {})
    events = engine.observe(Sample(0, "battery1", "jbd-bms", {"temperature_1": 20.0, "temperature_2": 58.0,
                                                              "soc": 5.0}), 0)
    assert [(e.change, e.alert.key) for e in events] == [("raised", "hot/battery1")]  # soc rule is for 'bank'
    assert "58" in events[0].alert.text
    assert engine.observe(Sample(0, "battery1", "jbd-bms", {"temperature_2": 52.0}), 5) == []
    assert [e.change for e in engine.observe(Sample(0, "battery1", "jbd-bms", {"temperature_2": 50.0}), 9)] == [
        "cleared"]


def test_protection_flags_are_named() -> None:
    rule = AlertRule(name="protection", field="protection_flags", nonzero=True)
    engine = AlertEngine([rule], 600, {})
    (event,) = engine.observe(Sample(0, "battery2", "jbd-bms", {"protection_flags": 0b10}), 0)
    assert event.change == "raised" and "cell undervoltage" in event.alert.text
    assert engine.observe(Sample(0, "battery2", "jbd-bms", {"protection_flags": 0b11}), 1) == []
    assert [e.change for e in engine.observe(Sample(0, "battery2", "jbd-bms", {"protection_flags": 0}), 2)] == [
        "cleared"]


def test_silent_device_raises_once_and_clears_on_the_next_sample() -> None:
    engine = AlertEngine([], 600, {"mppt": "litime-mppt", "battery1": "jbd-bms"}, now=0)
    assert engine.tick(599) == []
    engine.observe(Sample(0, "battery1", "jbd-bms", {"soc": 50.0}), 500)
    raised = engine.tick(600)
    assert [(e.change, e.alert.key) for e in raised] == [("raised", "silent/mppt")]
    assert engine.tick(700) == []  # once, not at every tick
    assert [e.alert.key for e in engine.tick(1100)] == ["silent/battery1"]
    assert [(e.change, e.alert.key) for e in engine.observe(Sample(0, "mppt", "litime-mppt", {}), 1200)] == [
        ("cleared", "silent/mppt")]


def test_touch_keeps_a_released_device_from_being_silent() -> None:
    engine = AlertEngine([], 600, {"mppt": "litime-mppt"}, now=0)
    engine.touch("mppt", 500)
    assert engine.tick(1000) == []


def test_restored_alerts_clear_but_do_not_raise_again() -> None:
    before = AlertEngine([LOW_SOC], 600, {})
    feed(before, [(0, 10.0), (60, 10.0)])
    saved = [a.to_json() for a in before.active.values()]
    after = AlertEngine([LOW_SOC], 600, {}, [Alert.from_json(o) for o in saved])
    assert feed(after, [(100, 10.0), (200, 10.0)]) == []  # still low after a restart: no second raise
    assert feed(after, [(300, 40.0)]) == [(300, "cleared")]
    assert after.summary() == "OK"


@given(st.lists(st.one_of(st.none(), st.floats(0, 100, allow_nan=False)), max_size=60),
       st.floats(0, 20), st.floats(0, 90))
def test_raises_and_clears_alternate_for_any_sequence(socs: list[float | None], hysteresis: float,
                                                       delay: float) -> None:
    rule = AlertRule(name="low-soc", field="soc", device="bank", below=20, hysteresis=hysteresis, delay=delay)
    engine = AlertEngine([rule], 600, {})
    changes = [c for _, c in feed(engine, [(30.0 * i, v) for i, v in enumerate(socs)])]
    assert all(a != b for a, b in zip(changes, changes[1:], strict=False))  # never twice the same
    assert not changes or changes[0] == "raised"
    assert ("low-soc/bank" in engine.active) == (bool(changes) and changes[-1] == "raised")
