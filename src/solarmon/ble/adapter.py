"""Power-cycle a BlueZ adapter over D-Bus (org.bluez.Adapter1.Powered).

The seed system hit connections that hang until the adapter is switched off and on
(bluez#947); this is the recovery the collector escalates to.
"""

from __future__ import annotations

import asyncio
import logging

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from ..errors import TransportError
from ..link import Adapter
from .link import explain

_LOGGER = logging.getLogger(__name__)

_OFF_TIME = 1.0  # s between off and on: BlueZ needs a moment to tear connections down


class BluezAdapter(Adapter):
    """The adapter ``hciN`` under BlueZ."""

    def __init__(self, name: str = "hci0") -> None:
        self.name = name
        self.path = f"/org/bluez/{name}"

    async def _set_powered(self, bus: MessageBus, on: bool) -> None:
        reply = await bus.call(
            Message(
                destination="org.bluez",
                path=self.path,
                interface="org.freedesktop.DBus.Properties",
                member="Set",
                signature="ssv",
                body=["org.bluez.Adapter1", "Powered", Variant("b", on)],
            )
        )
        if reply is None or reply.message_type == MessageType.ERROR:
            detail = reply.body[0] if reply is not None and reply.body else "no reply"
            name = reply.error_name if reply is not None else ""
            raise TransportError(f"{self.name}: setting Powered={on} failed: {name} {detail}")

    async def power_cycle(self) -> None:
        """Powered off, wait, on (the collector logs how long it took)."""
        try:
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (OSError, ValueError) as err:
            raise TransportError(f"cannot power-cycle {self.name}: {explain(err, self.name)}") from err
        try:
            await self._set_powered(bus, False)
            await asyncio.sleep(_OFF_TIME)
            await self._set_powered(bus, True)
        finally:
            bus.disconnect()
