"""Clock integrity: is the system clock trustworthy, and samples held until it is.

Policy: *hold, then restamp*. While the clock is not trusted every sample is kept in
memory with the monotonic time it was taken at. Once the clock is trusted, each held
sample gets ``wall_now - (mono_now - mono_taken)``: the monotonic clock does not jump when
NTP or the RTC sets the wall clock, so the restamped times are right. Dropping would lose
exactly the data of an appliance that boots without network; writing as-is would put it at
1970 or at the last shutdown. Beyond ``hold_max`` samples the oldest are dropped and counted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
import ctypes
import ctypes.util
from dataclasses import dataclass, replace
import functools
import logging
from pathlib import Path
import time
from typing import Final

from .payload import MIN_TS_MS, Sample

_LOGGER = logging.getLogger(__name__)

TIMESYNC_FLAG: Final = Path("/run/systemd/timesync/synchronized")  # touched by timesyncd on sync
RTC: Final = Path("/sys/class/rtc/rtc0/since_epoch")
_STA_UNSYNC: Final = 0x0040  # adjtimex status bit: the kernel clock is not synchronised
_RTC_AGREES: Final = 5.0  # s between RTC and system clock still counted as "set from the RTC"


class _Timex(ctypes.Structure):
    # struct timex of <sys/timex.h>; only 'status' is read, the tail is padding room.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("_rest", ctypes.c_byte * 200)]


@functools.cache
def _libc() -> ctypes.CDLL:
    # find_library runs ldconfig: once per process, not at every check.
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def kernel_synced() -> bool | None:
    """adjtimex(2): True if the kernel clock is NTP-disciplined, None if it cannot be asked."""
    try:
        libc = _libc()
        tx = _Timex()
        if libc.adjtimex(ctypes.byref(tx)) < 0:
            return None
    except (OSError, AttributeError):
        return None
    return not tx.status & _STA_UNSYNC


def rtc_plausible(rtc: Path, now: float) -> bool:
    """A battery-backed RTC that agrees with the system clock and is past 2020.

    A battery-less RTC restarts at 1970 on power loss, so it cannot pass.
    """
    try:
        rtc_s = int(rtc.read_text().strip())
    except (OSError, ValueError):
        return False
    return rtc_s * 1000 >= MIN_TS_MS and abs(rtc_s - now) <= _RTC_AGREES


@dataclass
class ClockCheck:
    """Decides whether the wall clock can be trusted; the probes are replaceable for tests."""

    trust: str = "auto"
    wall: Callable[[], float] = time.time
    kernel: Callable[[], bool | None] = kernel_synced
    flag: Path = TIMESYNC_FLAG
    rtc: Path = RTC

    def synced(self) -> bool:
        """True when the clock is trustworthy (NTP sync, or a plausible RTC, or trust = always)."""
        if self.trust == "always":
            return True
        if self.wall() * 1000 < MIN_TS_MS:
            return False
        return bool(self.kernel()) or self.flag.exists() or rtc_plausible(self.rtc, self.wall())


class SampleHold:
    """Holds samples while the clock is untrusted; releases them restamped."""

    def __init__(self, check: ClockCheck, hold_max: int, mono: Callable[[], float] = time.monotonic) -> None:
        self.check = check
        self.hold_max = hold_max
        self.mono = mono
        self.held: deque[tuple[float, Sample]] = deque()
        self.dropped = 0
        self.restamped = 0
        self.trusted = check.synced()
        if not self.trusted:
            _LOGGER.warning("system clock not synchronised: holding samples until it is")

    def refresh(self) -> list[Sample]:
        """Re-check the clock; when it became trusted, return the held samples restamped."""
        if self.trusted:
            return []
        if not self.check.synced():
            return []
        self.trusted = True
        wall, mono = self.check.wall(), self.mono()
        out = [replace(s, ts_ms=int((wall - (mono - taken)) * 1000)) for taken, s in self.held]
        self.held.clear()
        self.restamped += len(out)
        _LOGGER.warning("system clock synchronised: releasing %d held sample(s) with corrected times", len(out))
        return out

    def admit(self, sample: Sample) -> Sample | None:
        """The sample to publish now, or None if it was held."""
        if self.trusted:
            return sample
        if len(self.held) >= self.hold_max:
            if self.hold_max == 0:
                self.dropped += 1
                return None
            self.held.popleft()
            self.dropped += 1
        self.held.append((self.mono(), sample))
        return None
