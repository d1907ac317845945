"""Common parts of the protocol-level simulators: fault switches and the device interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
import logging

_LOGGER = logging.getLogger(__name__)


@dataclass
class Faults:
    """Fault injection switches; transports read the link-level ones."""

    delay: float = 0.0  # s before the reply is sent (transport)
    silent: bool = False  # never answer
    bad_crc: bool = False  # damage the checksum of every reply
    drop_chunk: bool = False  # lose one notification of each multi-notification reply (transport)
    drop_link: bool = False  # drop the connection at the next request (transport)
    unreachable: bool = False  # refuse connections (transport)


class SimDevice(ABC):
    """A simulated device at the byte level: request bytes in, reply frames out."""

    kind: str
    service_uuid: str
    write_uuid: str
    notify_uuid: str

    def __init__(self, address: str, name: str) -> None:
        self.address = address.upper()
        self.name = name
        self.faults = Faults()
        self.requests = 0  # how many requests were received (tests, benchmarks)

    def handle(self, request: bytes, now: float) -> list[bytes]:
        """Reply frames for ``request`` received at ``now`` (epoch s), faults applied."""
        self.requests += 1
        if self.faults.silent:
            return []
        replies = self._respond(request, now)
        if self.faults.bad_crc:
            replies = [r[:-2] + bytes(((r[-2] ^ 0x5A), r[-1])) for r in replies]
        return replies

    def on_disconnect(self) -> None:  # noqa: B027 - optional hook, most devices keep no session state
        """The central went away (state such as authentication is lost)."""

    @abstractmethod
    def _respond(self, request: bytes, now: float) -> list[bytes]:
        """Protocol behaviour without faults."""
