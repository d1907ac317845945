"""The byte link to one device: the interface, and the in-process link to a simulator.

A link carries whole request frames to the device and hands every notification it gets
back to ``on_notify``, chunk by chunk, exactly as BLE would (20 bytes at ATT MTU 23).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Callable
import logging
import time

from .errors import TransportError
from .sim.base import SimDevice

_LOGGER = logging.getLogger(__name__)

NOTIFY_CHUNK = 20  # ATT MTU 23 minus the 3-byte notification header

NotifyHandler = Callable[[bytes], None]
DisconnectHandler = Callable[[], None]


class Link(ABC):
    """A connection to one device. Handlers must be set before ``connect``."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.on_notify: NotifyHandler = lambda _chunk: None
        self.on_disconnect: DisconnectHandler = lambda: None

    @property
    @abstractmethod
    def is_connected(self) -> bool:
        """True while the link is up."""

    @abstractmethod
    async def connect(self, timeout: float) -> None:
        """Connect and subscribe to notifications; ``TransportError`` on failure."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Close the link (only on shutdown or release; never after a poll: bluez#947)."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Send one request frame; ``TransportError`` if the link is down."""

    @property
    def rssi(self) -> int | None:
        """Last known signal strength in dBm, if the link knows it."""
        return None


class Adapter(ABC):
    """The radio all links share; the collector power-cycles it when devices hang together."""

    @abstractmethod
    async def power_cycle(self) -> None:
        """Switch the adapter off and on again."""


class SimAir(Adapter):
    """The shared 'radio' of in-process links: can be wedged like a hung BlueZ adapter."""

    def __init__(self) -> None:
        self.wedged = False
        self.power_cycles = 0
        self.links: list[SimLink] = []

    async def power_cycle(self) -> None:
        """Unwedge and drop every connection, as a real power-cycle does."""
        self.power_cycles += 1
        self.wedged = False
        for link in self.links:
            link.drop()
        await asyncio.sleep(0)


class SimLink(Link):
    """In-process link to a simulator, carrying the same bytes BLE would."""

    def __init__(
        self,
        sim: SimDevice,
        *,
        air: SimAir | None = None,
        chunk: int = NOTIFY_CHUNK,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(sim.address)
        self.sim = sim
        self.air = air or SimAir()
        self.air.links.append(self)
        self.chunk = chunk
        self.clock = clock
        self._connected = False
        self._pending: list[asyncio.TimerHandle] = []

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, timeout: float) -> None:
        await asyncio.sleep(0)
        if self.sim.faults.unreachable or self.air.wedged:
            await asyncio.sleep(min(timeout, 0.05))
            raise TransportError(f"{self.address}: device not found")
        self._connected = True

    async def disconnect(self) -> None:
        self._close()

    def drop(self) -> None:
        """The link is lost (device moved away, adapter reset)."""
        if self._connected:
            self._close()
            asyncio.get_running_loop().call_soon(self.on_disconnect)

    def _close(self) -> None:
        self._connected = False
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        self.sim.on_disconnect()

    async def write(self, data: bytes) -> None:
        if not self._connected:
            raise TransportError(f"{self.address}: not connected")
        if self.air.wedged:
            return  # the adapter swallows it; no reply will come
        faults = self.sim.faults
        if faults.drop_link:
            self.drop()
            return
        loop = asyncio.get_running_loop()
        # Keep only deliveries still to come (the list would otherwise grow with every reply).
        self._pending = [h for h in self._pending if not h.cancelled() and h.when() > loop.time()]
        for frame in self.sim.handle(bytes(data), self.clock()):
            chunks = [frame[i : i + self.chunk] for i in range(0, len(frame), self.chunk)]
            if faults.drop_chunk and len(chunks) > 1:
                del chunks[1]
            for chunk in chunks:
                self._pending.append(loop.call_later(faults.delay, self._deliver, chunk))

    def _deliver(self, chunk: bytes) -> None:
        if self._connected:
            self.on_notify(chunk)
