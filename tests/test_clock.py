"""Clock integrity: trust decision and hold-then-restamp of samples."""

from __future__ import annotations

from pathlib import Path

from solarmon.clock import ClockCheck, SampleHold, kernel_synced, rtc_plausible
from solarmon.payload import Sample

NOW = 1_780_000_000.0  # 2026


def check(tmp_path: Path, wall: float = NOW, kernel: bool | None = False, flag: bool = False,
          rtc: str | None = None) -> ClockCheck:
    f = tmp_path / "synchronized"
    if flag:
        f.touch()
    r = tmp_path / "since_epoch"
    if rtc is not None:
        r.write_text(rtc)
    return ClockCheck("auto", wall=lambda: wall, kernel=lambda: kernel, flag=f, rtc=r)


def test_trust_sources(tmp_path: Path) -> None:
    assert not check(tmp_path).synced()
    assert check(tmp_path, kernel=True).synced()
    assert check(tmp_path, flag=True).synced()


def test_rtc_must_be_plausible_and_agree(tmp_path: Path) -> None:
    assert check(tmp_path, rtc=f"{int(NOW) - 2}\n").synced()
    assert not check(tmp_path, rtc="86400\n").synced()  # battery-less RTC restarted at 1970
    assert not check(tmp_path, rtc=f"{int(NOW) - 3600}\n").synced()  # disagrees with the clock
    assert not rtc_plausible(tmp_path / "none", NOW)


def test_a_clock_before_2020_is_never_trusted(tmp_path: Path) -> None:
    assert not check(tmp_path, wall=86400.0, kernel=True).synced()
    assert ClockCheck("always", wall=lambda: 0.0).synced()


def test_kernel_probe_answers_without_crashing() -> None:
    assert kernel_synced() in (True, False, None)


def test_held_samples_are_restamped_by_the_monotonic_clock(tmp_path: Path) -> None:
    wall = [86400.0 * 30]  # January 1970: no RTC, no network yet
    mono = [1000.0]
    synced = [False]
    c = ClockCheck("auto", wall=lambda: wall[0], kernel=lambda: synced[0], flag=tmp_path / "x", rtc=tmp_path / "y")
    hold = SampleHold(c, hold_max=10, mono=lambda: mono[0])
    for i in range(3):
        assert hold.admit(Sample(int(wall[0] * 1000), "mppt", "litime-mppt", {"load_power": float(i)})) is None
        mono[0] += 30
        wall[0] += 30
    assert hold.refresh() == []
    # NTP steps the wall clock to the truth 10 s after the last sample was taken.
    mono[0] += 10
    wall[0], synced[0] = NOW, True
    out = hold.refresh()
    assert [s.ts_ms for s in out] == [int((NOW - 100) * 1000), int((NOW - 70) * 1000), int((NOW - 40) * 1000)]
    assert [s.fields["load_power"] for s in out] == [0.0, 1.0, 2.0]
    later = Sample(int(NOW * 1000), "mppt", "litime-mppt", {})
    assert hold.admit(later) is later and hold.restamped == 3


def test_overflow_drops_the_oldest_with_a_count(tmp_path: Path) -> None:
    hold = SampleHold(check(tmp_path), hold_max=2, mono=lambda: 5.0)
    for i in range(5):
        hold.admit(Sample(i, "mppt", "litime-mppt", {}))
    assert hold.dropped == 3 and [s.ts_ms for _, s in hold.held] == [3, 4]
