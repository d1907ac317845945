"""A device on a link: one request in flight, replies reassembled from notifications."""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
import logging
from typing import Any, ClassVar, Protocol

from ..errors import DeviceTimeout, ProtocolError
from ..link import Link
from ..payload import FieldValue


class Assembler(Protocol):
    """What the protocols' FrameAssembler classes provide."""

    def reset(self) -> None: ...  # noqa: D102

    def feed(self, chunk: bytes) -> bytes | None: ...  # noqa: D102


class DeviceLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every line with the device id and the last MAC digits."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{self.extra['prefix']}] {msg}", kwargs


class Device(ABC):
    """Base of the device drivers; subclasses say how to set up and how to poll."""

    kind: ClassVar[str]
    service_uuid: ClassVar[str]
    notify_uuid: ClassVar[str]
    write_uuid: ClassVar[str]

    def __init__(self, device_id: str, link: Link, *, timeout: float = 5.0) -> None:
        self.id = device_id
        self.link = link
        self.timeout = timeout
        self.log = DeviceLog(logging.getLogger(f"solarmon.devices.{self.kind}"), {"prefix": f"{device_id} {link.address[-5:]}"})
        self._assembler = self._make_assembler()
        self._lock = asyncio.Lock()
        self._reply: asyncio.Future[bytes] | None = None
        link.on_notify = self._on_notify

    @abstractmethod
    def _make_assembler(self) -> Assembler:
        """The protocol's frame assembler."""

    @abstractmethod
    async def setup(self) -> None:
        """Run once after every (re)connect: authentication, static information."""

    @abstractmethod
    async def poll(self) -> dict[str, FieldValue]:
        """Read the device once; catalog field names to values."""

    async def request(self, frame: bytes, timeout: float | None = None) -> bytes:
        """Send ``frame`` and return the complete reply frame.

        One request is in flight at a time. ``DeviceTimeout`` when no complete reply
        arrives in time; a ``ProtocolError`` from reassembly fails the request at once.
        """
        limit = timeout or self.timeout
        async with self._lock:
            loop = asyncio.get_running_loop()
            self._assembler.reset()
            reply = self._reply = loop.create_future()

            async def exchange() -> bytes:
                await self.link.write(frame)
                return await reply

            try:
                # One deadline for write and reply: on a hung link bleak retries the write itself.
                return await asyncio.wait_for(exchange(), limit)
            except TimeoutError:
                raise DeviceTimeout(f"{self.id}: no complete reply within {limit:.1f} s") from None
            finally:
                self._reply = None

    def _on_notify(self, chunk: bytes) -> None:
        # Never raise from a notification callback: hand errors to the waiting request.
        waiter = self._reply
        try:
            frame = self._assembler.feed(chunk)
        except ProtocolError as err:
            self.log.debug("bad notification %s: %s", chunk.hex(), err)
            if waiter is not None and not waiter.done():
                waiter.set_exception(err)
            return
        if frame is None:
            return
        if waiter is None or waiter.done():
            self.log.debug("unsolicited frame %s", frame.hex())
            return
        waiter.set_result(frame)
