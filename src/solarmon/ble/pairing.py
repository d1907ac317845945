"""Passkey pairing through BlueZ over D-Bus: an Agent1 that answers with the passkey, Device1.Pair.

No ``from __future__ import annotations`` here: dbus-fast reads the D-Bus signatures from
the method annotations, which must stay plain strings such as ``"u"``.
"""

import asyncio
import contextlib
from dataclasses import dataclass
import logging
import time
from typing import Any, Final

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method

from ..errors import SolarmonError

_LOGGER = logging.getLogger(__name__)

BLUEZ: Final = "org.bluez"
AGENT_PATH: Final = "/solarmon/pairing_agent"
DEFAULT_PASSKEY: Final = 123456  # what JBD's passkey modules are set to at the factory (change with --passkey)
_REJECTED: Final = "org.bluez.Error.Rejected"


class PairingError(SolarmonError):
    """Pairing failed; the message says why and what to do; ``name`` is BlueZ's error, if any."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


def device_path(adapter: str, mac: str) -> str:
    """BlueZ object path of a device: /org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF."""
    return f"/org/bluez/{adapter}/dev_{mac.upper().replace(':', '_')}"


def parse_passkey(text: str) -> int:
    """A BLE passkey: six decimal digits (leading zeros allowed)."""
    t = text.strip()
    if not (t.isdigit() and len(t) <= 6):
        raise PairingError(f"a passkey is up to six digits, not {t!r}")
    return int(t)


#: BlueZ error name -> what it means for someone pairing a battery.
_DIAGNOSES: Final = {
    "org.bluez.Error.AuthenticationFailed": "the passkey is wrong (the BMS refused it): check --passkey",
    "org.bluez.Error.AuthenticationRejected": "the BMS rejected pairing: wrong passkey, or it is paired to "
    "another phone/host and must be reset (see its manual)",
    "org.bluez.Error.AuthenticationCanceled": "pairing was cancelled (the BMS asked for no passkey or gave up)",
    "org.bluez.Error.AuthenticationTimeout": "the BMS did not answer during pairing: move closer and retry",
    "org.bluez.Error.ConnectionAttemptFailed": "could not connect: the BMS is out of range, or another client "
    "(a phone app, another host, or the running collector) holds it: close the app / stop solarmon-collector",
    "org.bluez.Error.InProgress": "a pairing with this device is already in progress (another tool?)",
    "org.bluez.Error.NotReady": "the Bluetooth adapter is not powered",
    "org.freedesktop.DBus.Error.NoReply": "BlueZ did not answer in time: the BMS may be held by another client",
}


def diagnose(error_name: str, text: str = "") -> str:
    """A plain explanation of a BlueZ pairing error."""
    if error_name == "org.bluez.Error.Failed" and "page timeout" in text.lower():
        return _DIAGNOSES["org.bluez.Error.ConnectionAttemptFailed"]
    return _DIAGNOSES.get(error_name, f"BlueZ said {error_name}: {text}".rstrip(": "))


class PasskeyAgent(ServiceInterface):
    """org.bluez.Agent1 answering passkey requests with one configured passkey."""

    def __init__(self, passkey: int) -> None:
        super().__init__("org.bluez.Agent1")
        self.passkey = passkey
        self.asked: list[str] = []  # which requests BlueZ made (for the diagnosis and tests)

    @method()
    def Release(self) -> None:  # noqa: N802 - D-Bus method names
        self.asked.append("release")

    @method()
    def RequestPasskey(self, device: "o") -> "u":  # type: ignore[name-defined]  # noqa: F821, N802
        self.asked.append("passkey")
        return self.passkey

    @method()
    def RequestPinCode(self, device: "o") -> "s":  # type: ignore[name-defined]  # noqa: F821, N802
        self.asked.append("pin")
        return f"{self.passkey:06d}"

    @method()
    def DisplayPasskey(self, device: "o", passkey: "u", entered: "q") -> None:  # type: ignore[name-defined]  # noqa: F821, N802
        self.asked.append("display")

    @method()
    def RequestConfirmation(self, device: "o", passkey: "u") -> None:  # type: ignore[name-defined]  # noqa: F821, N802
        # Numeric comparison: accept only the passkey we expect.
        self.asked.append("confirm")
        if passkey != self.passkey:
            raise DBusError(_REJECTED, "passkey differs from the configured one")

    @method()
    def RequestAuthorization(self, device: "o") -> None:  # type: ignore[name-defined]  # noqa: F821, N802
        self.asked.append("authorize")

    @method()
    def AuthorizeService(self, device: "o", uuid: "s") -> None:  # type: ignore[name-defined]  # noqa: F821, N802
        self.asked.append("service")

    @method()
    def Cancel(self) -> None:  # noqa: N802
        self.asked.append("cancel")


@dataclass(frozen=True, slots=True)
class PairResult:
    """What happened."""

    already: bool  # it was paired before
    seconds: float


async def _call(bus: MessageBus, path: str, interface: str, member: str, signature: str = "",
                body: list[Any] | None = None, timeout: float = 30.0) -> Message:
    reply = await asyncio.wait_for(bus.call(Message(destination=BLUEZ, path=path, interface=interface, member=member,
                                                    signature=signature, body=body or [])), timeout)
    assert reply is not None
    if reply.message_type == MessageType.ERROR:
        name = reply.error_name or ""
        raise PairingError(diagnose(name, str(reply.body[0]) if reply.body else ""), name)
    return reply


async def _find(bus: MessageBus, adapter: str, path: str, mac: str, timeout: float) -> dict[str, Any]:
    """Device1 properties; discovers for up to ``timeout`` s if BlueZ does not know it yet."""
    adapter_path = f"/org/bluez/{adapter}"

    async def lookup() -> dict[str, Any] | None:
        reply = await _call(bus, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
        objects = reply.body[0]
        if adapter_path not in objects:
            raise PairingError(f"no Bluetooth adapter {adapter} (is bluetoothd running, the adapter present?)")
        return objects.get(path, {}).get("org.bluez.Device1")

    found = await lookup()
    if found is not None:
        return found
    await _call(bus, adapter_path, "org.bluez.Adapter1", "StartDiscovery")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            found = await lookup()
            if found is not None:
                return found
    finally:
        with contextlib.suppress(PairingError):
            await _call(bus, adapter_path, "org.bluez.Adapter1", "StopDiscovery")
    raise PairingError(f"{mac} was not seen in {timeout:.0f} s: the MAC is wrong, the BMS is out of range or "
                       "asleep, or another client is connected to it (connected BMS stop advertising)")


async def pair(mac: str, passkey: int, adapter: str = "hci0", scan_timeout: float = 20.0,
               bus_address: str | None = None) -> PairResult:
    """Pair and trust ``mac`` with ``passkey``; disconnect afterwards so the collector can connect.

    ``bus_address`` selects another bus than the system bus (tests run a private one).
    """
    started = time.monotonic()
    path = device_path(adapter, mac)
    try:
        bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
    except (OSError, ValueError) as err:
        raise PairingError(f"cannot reach the system D-Bus (is this Linux with BlueZ?): {err}") from err
    agent = PasskeyAgent(passkey)
    bus.export(AGENT_PATH, agent)
    try:
        await _call(bus, "/org/bluez", "org.bluez.AgentManager1", "RegisterAgent", "os",
                    [AGENT_PATH, "KeyboardDisplay"])
        try:
            props = await _find(bus, adapter, path, mac, scan_timeout)
            if props.get("Paired", Variant("b", False)).value:
                _LOGGER.info("%s is already paired", mac)
                return PairResult(True, time.monotonic() - started)
            _LOGGER.info("pairing %s ...", mac)
            try:
                await _call(bus, path, "org.bluez.Device1", "Pair", timeout=60)
            except PairingError as err:
                if not agent.asked and err.name.startswith("org.bluez.Error.Authentication"):
                    raise PairingError(f"{err} (BlueZ never asked for a passkey: this BMS may not need pairing "
                                       "at all; try auth = 'auto')") from None
                raise
            await _call(bus, path, "org.freedesktop.DBus.Properties", "Set", "ssv",
                        ["org.bluez.Device1", "Trusted", Variant("b", True)])
            with contextlib.suppress(PairingError):
                await _call(bus, path, "org.bluez.Device1", "Disconnect")
            return PairResult(False, time.monotonic() - started)
        finally:
            with contextlib.suppress(PairingError):
                await _call(bus, "/org/bluez", "org.bluez.AgentManager1", "UnregisterAgent", "o", [AGENT_PATH])
    except TimeoutError:
        raise PairingError(diagnose("org.freedesktop.DBus.Error.NoReply")) from None
    finally:
        bus.disconnect()
