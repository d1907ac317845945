"""A persistent bleak connection to one device (never dropped after a poll: bluez#947)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from ..errors import TransportError
from ..link import Link

_LOGGER = logging.getLogger(__name__)

# bleak-retry-connector's own attempts per connect; the collector adds backoff on top.
_CONNECT_ATTEMPTS = 3


def explain(err: BaseException, adapter: str) -> str:
    """A BLE failure in words a user can act on (bleak reports a missing BlueZ as a bare OSError)."""
    if isinstance(err, FileNotFoundError | ConnectionRefusedError):
        return "BlueZ is not reachable over the system D-Bus: is dbus running and bluetooth.service started?"
    text = str(err) or type(err).__name__
    if "No such adapter" in text or ("not found" in text.lower() and adapter in text):
        return f"no Bluetooth adapter {adapter} (check `bluetoothctl list` and collector.adapter)"
    return text


_SCAN_LOCKS: dict[tuple[int, str], asyncio.Lock] = {}


def _scan_lock(adapter: str) -> asyncio.Lock:
    """The discovery lock of ``adapter`` in the running event loop."""
    key = (id(asyncio.get_running_loop()), adapter)
    return _SCAN_LOCKS.setdefault(key, asyncio.Lock())


def adapter_kwargs(adapter: str) -> dict[str, Any]:
    """Select the BlueZ adapter in the form this bleak version wants (3.x: ``bluez=``)."""
    try:
        from bleak.args.bluez import BlueZClientArgs  # noqa: F401  (present from bleak 3.0)
    except ImportError:
        return {"adapter": adapter}
    return {"bluez": {"adapter": adapter}}


class BleakLink(Link):
    """Connects with bleak-retry-connector (BlueZ quirks, service cache) and keeps the link."""

    def __init__(self, address: str, name: str, notify_uuid: str, write_uuid: str, adapter: str = "hci0") -> None:
        super().__init__(address)
        self.name = name
        self.notify_uuid = notify_uuid
        self.write_uuid = write_uuid
        self.adapter = adapter
        self._client: BleakClient | None = None
        self._rssi: int | None = None

    @property
    def is_connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def rssi(self) -> int | None:
        return self._rssi

    async def connect(self, timeout: float) -> None:
        try:
            # BlueZ runs one discovery per adapter: concurrent scans from several device tasks
            # fail with InProgress / "No discovery started", so they take turns.
            async with _scan_lock(self.adapter):
                device = await BleakScanner.find_device_by_address(
                    self.address, timeout=timeout, **adapter_kwargs(self.adapter)
                )
        except (BleakError, OSError) as err:
            raise TransportError(f"{self.address}: scan failed on {self.adapter}: {explain(err, self.adapter)}") from err
        if device is None:
            raise TransportError(
                f"{self.address}: not seen within {timeout:.0f} s (out of range, off, or held by another central)"
            )
        self._rssi = getattr(device, "rssi", None)
        try:
            client = await establish_connection(
                BleakClientWithServiceCache,
                device,
                self.name,
                disconnected_callback=self._disconnected,
                max_attempts=_CONNECT_ATTEMPTS,
            )
            await client.start_notify(self.notify_uuid, self._notified)
        except (BleakError, TimeoutError, OSError) as err:
            raise TransportError(f"{self.address}: connect failed: {err}") from err
        self._client = client
        _LOGGER.debug("%s: connected", self.address)

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except (BleakError, TimeoutError, OSError) as err:
                _LOGGER.debug("%s: disconnect: %s", self.address, err)

    async def write(self, data: bytes) -> None:
        if self._client is None or not self._client.is_connected:
            raise TransportError(f"{self.address}: not connected")
        try:
            # response=None: bleak prefers write-with-response where the characteristic has it
            # (LiTime ffe1) and uses write-without-response otherwise (JBD ff02).
            await self._client.write_gatt_char(self.write_uuid, data, response=None)
        except (BleakError, TimeoutError, OSError) as err:
            raise TransportError(f"{self.address}: write failed: {err}") from err

    def _notified(self, _char: object, data: bytearray) -> None:
        self.on_notify(bytes(data))

    def _disconnected(self, _client: BleakClient) -> None:
        _LOGGER.debug("%s: disconnected", self.address)
        # Keep the client: only its disconnect() closes its D-Bus connection, and until then BlueZ
        # keeps its StartNotify session, doubling every notification after a reconnect (bleak#2002).
        self.on_disconnect()
