"""The last recovery step: restart bluetoothd through systemd's D-Bus API (where allowed)."""

from __future__ import annotations

import asyncio
import logging

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from ..errors import TransportError
from .adapter import BluezAdapter

_LOGGER = logging.getLogger(__name__)

UNIT = "bluetooth.service"
_SETTLE = 3.0  # s for bluetoothd to re-register the adapter before reconnects start


class RecoveringAdapter(BluezAdapter):
    """A BlueZ adapter that can also restart the Bluetooth daemon.

    Needs polkit (or root) permission for ``org.freedesktop.systemd1.manage-units`` on
    ``bluetooth.service``; without it systemd answers AccessDenied, reported as such.
    """

    async def restart_stack(self) -> None:
        """RestartUnit(bluetooth.service, replace), then give BlueZ a moment."""
        try:
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (OSError, ValueError) as err:
            raise TransportError(f"cannot reach the system D-Bus to restart {UNIT}: {err}") from err
        try:
            reply = await bus.call(Message(
                destination="org.freedesktop.systemd1",
                path="/org/freedesktop/systemd1",
                interface="org.freedesktop.systemd1.Manager",
                member="RestartUnit",
                signature="ss",
                body=[UNIT, "replace"],
            ))
        finally:
            bus.disconnect()
        if reply is None or reply.message_type == MessageType.ERROR:
            name = reply.error_name if reply is not None else "no reply"
            raise TransportError(f"restarting {UNIT} refused: {name} (allow it with a polkit rule, or "
                                 "set collector.restart_bluetoothd = false)")
        await asyncio.sleep(_SETTLE)
