"""The collector: one asyncio task per device, fixed-rate polls, self-healing links.

Each device keeps one persistent connection (never dropped after a poll: bluez#947) and is
polled on a fixed schedule (t0 + k * interval, missed slots skipped, no drift). A device
that fails is reported offline and reconnected with backoff; it never stalls the others.
When several devices fail at once the shared adapter is power-cycled.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import logging
import math
import time

from .config import Config
from .config import Device as DeviceConfig
from .devices import Device
from .errors import AuthError, ProtocolError, SolarmonError, TransportError
from .link import Adapter
from .payload import Sample

_LOGGER = logging.getLogger(__name__)

BACKOFF_START = 2.0  # s before the first reconnect attempt
BACKOFF_MAX = 300.0  # s: never wait longer than five minutes for a retry
AUTH_RETRY = 600.0  # s: a rejected password will not fix itself; retry rarely
ADAPTER_COOLDOWN = 120.0  # s between two adapter power-cycles
RECENT_SLOTS = 20  # poll outcomes the success rate is computed over


class Sink:
    """Where samples and availability go (MQTT in production, a list in benchmarks)."""

    def publish(self, sample: Sample) -> None:  # noqa: D102
        raise NotImplementedError

    def set_availability(self, device: str, online: bool) -> None:  # noqa: D102
        raise NotImplementedError

    def publish_alerts(self, alerts: list[dict[str, object]]) -> None:
        """The list of active alerts changed (MQTT: a retained topic); optional."""


@dataclass
class Health:
    """Counters per device, for logs, tests and the health topic."""

    polls: int = 0
    failures: int = 0
    consecutive: int = 0
    reconnects: int = 0
    last_ok: float | None = None
    last_error: str | None = None
    poll_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=100))  # recent round trips, newest last
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=RECENT_SLOTS))  # poll outcomes

    @property
    def success_rate(self) -> float | None:
        """Percent of the recent polls and connects that succeeded; None before any."""
        return 100.0 * sum(self.recent) / len(self.recent) if self.recent else None

    def record_ok(self, seconds: float) -> None:
        """A successful poll that took ``seconds``."""
        self.polls += 1
        self.consecutive = 0
        self.last_ok = time.time()
        self.poll_seconds.append(seconds)
        self.recent.append(True)

    def record_failure(self, error: str) -> None:
        """A failed poll or connect."""
        self.failures += 1
        self.consecutive += 1
        self.last_error = error
        self.recent.append(False)


def next_slot(t0: float, interval: float, now: float) -> float:
    """The first slot ``t0 + k*interval`` strictly after ``now`` (skips missed slots)."""
    k = math.floor((now - t0) / interval) + 1
    return t0 + max(k, 1) * interval


class DeviceRunner:
    """Connects, sets up and polls one device until cancelled."""

    def __init__(self, collector: Collector, dev_cfg: DeviceConfig, device: Device, interval: float) -> None:
        self.c = collector
        self.cfg = dev_cfg
        self.device = device
        self.interval = interval
        self.health = Health()
        self._lost = asyncio.Event()
        self._wake = asyncio.Event()
        self.released_until = 0.0  # monotonic s; the phone app may use the device until then
        device.link.on_disconnect = self._lost.set

    @property
    def released(self) -> bool:
        """True while the device is left to the vendor's phone app."""
        return time.monotonic() < self.released_until

    def release(self, seconds: float) -> None:
        """Disconnect now and stay away for ``seconds`` (0 takes the device back at once)."""
        self.released_until = time.monotonic() + seconds
        self._lost.set()  # ends the poll loop at once
        self._wake.set()  # ends a release or backoff wait early when taken back

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake early on ``release``."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _released(self) -> None:
        await self._disconnect()
        self.device.log.info("released for the phone app for %.0f min", (self.released_until - time.monotonic()) / 60)
        while self.released:
            await self._pause(self.released_until - time.monotonic())
        self.device.log.info("release over; reconnecting")

    @property
    def failing(self) -> bool:
        """True while the device has failed ``offline_after`` times in a row."""
        return self.health.consecutive >= self.c.cfg.collector.offline_after

    async def run(self) -> None:
        """Connect/poll loop with backoff; only cancellation ends it."""
        backoff = BACKOFF_START
        warned_auth = None
        while True:
            if self.released:
                await self._released()
                backoff = BACKOFF_START
            try:
                await self._connect()
            except AuthError as err:
                self._fail(str(err), warn=False)
                if warned_auth != str(err):
                    self.device.log.warning("%s", err)  # once per distinct message, not per retry
                    warned_auth = str(err)
                await self._disconnect()
                await self._pause(AUTH_RETRY)
                continue
            except (TransportError, ProtocolError, TimeoutError) as err:
                self._fail(f"connect: {err or type(err).__name__}")
                self.device.log.info("connect failed (%s); retry in %.1f s", err or type(err).__name__, backoff)
                await self._disconnect()
                await self._pause(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff, warned_auth = BACKOFF_START, None
            await self._poll_until_lost()
            if not self.released:
                self.health.reconnects += 1
            await self._disconnect()

    async def _connect(self) -> None:
        self._lost.clear()
        started = time.monotonic()
        timeout = self.c.cfg.collector.connect_timeout
        await asyncio.wait_for(self.device.link.connect(timeout), timeout + 5)
        await asyncio.wait_for(self.device.setup(), timeout)
        self.device.log.info("connected in %.1f s", time.monotonic() - started)

    async def _disconnect(self) -> None:
        try:
            await asyncio.wait_for(self.device.link.disconnect(), 10)
        except (TimeoutError, SolarmonError) as err:
            self.device.log.debug("disconnect: %s", err)

    async def _poll_until_lost(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        slot = t0
        while True:
            delay = slot - loop.time()
            if delay > 0:
                # Wake at the slot, or at once if the link drops meanwhile.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lost.wait(), delay)
            if self.released:
                return
            if self._lost.is_set() or not self.device.link.is_connected:
                self._fail("link lost")
                self.device.log.info("link lost; reconnecting")
                return
            await self._poll_once(loop.time())
            if self.failing and self.health.consecutive % self.c.cfg.collector.offline_after == 0:
                self.device.log.info("%d polls failed in a row; reconnecting", self.health.consecutive)
                return
            slot = next_slot(t0, self.interval, loop.time())

    async def _poll_once(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            fields = await asyncio.wait_for(self.device.poll(), self.c.cfg.collector.timeout * 3)
        except (TransportError, ProtocolError, TimeoutError, AuthError) as err:
            self._fail(str(err) or type(err).__name__)
            self.device.log.debug("poll failed: %s", err)
            return
        # The sample time is when the reply completed, taken here on the collector.
        ts_ms = int(self.c.clock() * 1000)
        self.health.record_ok(loop.time() - started)
        self.c.unhelped_cycles = 0
        self.c.sink.set_availability(self.cfg.id, True)
        self.c.sink.publish(Sample(ts_ms, self.cfg.id, self.device.kind, fields))

    def _fail(self, error: str, warn: bool = True) -> None:
        self.health.record_failure(error)
        if self.failing:
            if warn and self.health.consecutive == self.c.cfg.collector.offline_after:
                self.device.log.warning("offline after %d failures: %s", self.health.consecutive, error)
            self.c.sink.set_availability(self.cfg.id, False)
            self.c.device_failing()


class Collector:
    """Runs every configured device; escalates to an adapter power-cycle when many fail."""

    def __init__(
        self,
        cfg: Config,
        devices: list[tuple[DeviceConfig, Device]],
        sink: Sink,
        adapter: Adapter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.sink = sink
        self.adapter = adapter
        self.clock = clock
        self.runners = [DeviceRunner(self, dc, dev, cfg.interval_of(dc)) for dc, dev in devices]
        self.adapter_resets = 0
        self.stack_restarts = 0
        self.unhelped_cycles = 0  # power-cycles not followed by any good poll
        self._last_reset = -math.inf
        self._resetting = False
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        """Run until cancelled; a crash in one device task is logged and restarted."""
        async with asyncio.TaskGroup() as tg:
            for r in self.runners:
                self._tasks.append(tg.create_task(self._supervise(r), name=f"device-{r.cfg.id}"))

    async def _supervise(self, runner: DeviceRunner) -> None:
        while True:
            try:
                await runner.run()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not take the other devices down
                _LOGGER.exception("device %s: task crashed; restarting in 10 s", runner.cfg.id)
                await asyncio.sleep(10)

    def device_failing(self) -> None:
        """Called when a device crosses the failure threshold; maybe reset the adapter."""
        if self.adapter is None or self._resetting:
            return
        failing = sum(r.failing for r in self.runners)
        needed = min(self.cfg.collector.adapter_reset_after, len(self.runners))
        now = time.monotonic()
        if failing >= needed and now - self._last_reset >= ADAPTER_COOLDOWN:
            self._last_reset = now
            self._resetting = True
            task = asyncio.get_running_loop().create_task(self._power_cycle(failing))
            self._tasks.append(task)

    async def _power_cycle(self, failing: int) -> None:
        """Escalate: adapter power-cycle; if the last one did not help, restart bluetoothd."""
        assert self.adapter is not None
        started = time.monotonic()
        restart = getattr(self.adapter, "restart_stack", None)
        try:
            if self.unhelped_cycles and self.cfg.collector.restart_bluetoothd and restart is not None:
                _LOGGER.warning("%d device(s) still failing after a power-cycle: restarting bluetoothd", failing)
                await asyncio.wait_for(restart(), 60)
                self.stack_restarts += 1
                _LOGGER.warning("bluetoothd restarted in %.1f s", time.monotonic() - started)
            else:
                _LOGGER.warning("%d device(s) failing together: power-cycling the Bluetooth adapter", failing)
                await asyncio.wait_for(self.adapter.power_cycle(), 30)
                self.adapter_resets += 1
                _LOGGER.warning("adapter power-cycled in %.1f s", time.monotonic() - started)
            self.unhelped_cycles += 1
        except (SolarmonError, TimeoutError) as err:
            _LOGGER.error("adapter recovery failed after %.1f s: %s", time.monotonic() - started, err)
        finally:
            self._resetting = False
