"""Serve the protocol simulators as real BLE GATT peripherals with Bumble (extra ``sim``).

One process holds a small Bumble "radio": a software controller that the kernel sees as an
ordinary adapter (through ``/dev/vhci``, so BlueZ manages it as hci0), and one software
controller + Bumble host per simulated device, all on one in-process ``LocalLink``.
Requests written by the central go to ``solarmon.sim``; its reply frames go back as
notifications of at most ATT MTU - 3 bytes (MTU 23 by default, like the real adapters).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
import contextlib
import dataclasses
import json
import logging
import os
import time
from typing import Any, Final

from bumble import hci, ll
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData, PhysicalTransport
from bumble.device import Connection, Device, DeviceConfiguration
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport

_LOGGER = logging.getLogger(__name__)

DEFAULT_MTU: Final = 23  # what the LiTime and JBD adapters negotiate: 20-byte notifications
# Public address of the adapter BlueZ sees. Any non-zero value works; a zero address makes
# the kernel treat the controller as unconfigured.
DEFAULT_ADAPTER_ADDRESS: Final = "00:5A:11:0B:1E:00"

_PROPS = Characteristic.Properties
# GATT layout per kind, from the captured devices (shared/protocols.md): LiTime has one
# characteristic for write + notify; JBD notifies on ff01 and takes write-without-response
# on ff02. Kept exact so the collector's choice of write type is tested too.
_WRITE_PROPS: Final = {
    "litime-mppt": _PROPS.WRITE | _PROPS.WRITE_WITHOUT_RESPONSE | _PROPS.NOTIFY,
    "jbd-bms": _PROPS.WRITE_WITHOUT_RESPONSE,
}
_NOTIFY_PROPS: Final = _PROPS.NOTIFY | _PROPS.READ
# LE event mask bit of the LE Enhanced Connection Complete event (subevent 0x0A -> bit 9).
_ENHANCED_CONN_COMPLETE: Final = 1 << 9


class FixedLocalLink(LocalLink):
    """A ``LocalLink`` that labels LE ACL data with the connection's own address.

    Why: Bumble 0.0.236 stamps LE ACL data with the *sending controller's random address*.
    Our peripherals advertise and connect with their public (configured) MAC, and the
    kernel-facing controller connects with its public address, so the receiver finds no
    connection for that sender ("!!! no connection for ...") and drops every ATT packet:
    bleak then hangs in service discovery. Using the sender's connection ``self_address``
    is what a real link layer does. Remove when Bumble fixes it (hence the pin).
    """

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: PhysicalTransport,
        data: bytes,
    ) -> None:
        """Deliver ACL data to the controller holding the destination address."""
        connection = sender_controller.le_connections.get(destination_address)
        if transport != PhysicalTransport.LE or connection is None:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        destination = self.find_le_controller(destination_address)
        if destination is None:
            return
        source = connection.self_address
        asyncio.get_running_loop().call_soon(destination.on_link_acl_data, source, transport, data)


class SimController(Controller):
    """A Bumble controller that forgets a link once it is gone."""

    def on_le_disconnected(self, connection: Any, reason: int) -> None:
        """Drop the link from ``le_connections`` after reporting it.

        Why: Bumble before 0.0.23x (nixpkgs has 0.0.221) keeps the entry, so the next
        connection to the same peer is refused ("Connection ... already exists?") and a
        dropped link never comes back. Harmless where Bumble already removes it.
        """
        super().on_le_disconnected(connection, reason)
        if self.le_connections.get(connection.peer_address) is connection:
            del self.le_connections[connection.peer_address]


class AdapterController(SimController):
    """The controller the kernel sees, with a "hung adapter" fault.

    ``hung`` models bluez#947 as seen on the Pi: the radio stops moving data (no ACL in
    either direction, no advertisements, so new connections never complete) while HCI
    commands are still answered; only a controller reset (BlueZ powering the adapter off
    and on sends HCI_Reset) brings it back.
    """

    hung: bool = False

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        """Drop ACL from the host while hung; a reset clears connections and the fault."""
        if isinstance(packet, hci.HCI_Reset_Command):
            self._reset_links()
        elif self.hung and isinstance(packet, hci.HCI_AclDataPacket):
            return
        super().on_hci_packet(packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        """Report new connections the way the host asked for.

        Why: the spec says that when the host unmasks LE Enhanced Connection Complete, only
        that event is sent for a new connection; Bumble 0.0.236 always sends the legacy one.
        Linux 6.1 then waits for the enhanced event, times the connect out after a few
        seconds, cancels it, and its HCI command queue stalls: the next Disconnect from
        bluetoothd is only sent ~15 s later.
        """
        if isinstance(packet, hci.HCI_LE_Connection_Complete_Event) and self.le_event_mask & _ENHANCED_CONN_COMPLETE:
            packet = hci.HCI_LE_Enhanced_Connection_Complete_Event(
                status=packet.status,
                connection_handle=packet.connection_handle,
                role=packet.role,
                peer_address_type=packet.peer_address_type,
                peer_address=packet.peer_address,
                local_resolvable_private_address=hci.Address.ANY,
                peer_resolvable_private_address=hci.Address.ANY,
                connection_interval=packet.connection_interval,
                peripheral_latency=packet.peripheral_latency,
                supervision_timeout=packet.supervision_timeout,
                central_clock_accuracy=packet.central_clock_accuracy,
            )
        super().send_hci_packet(packet)

    def on_link_acl_data(self, sender_address: hci.Address, transport: PhysicalTransport, data: bytes) -> None:
        """Drop data from the peripherals while hung."""
        if not self.hung:
            super().on_link_acl_data(sender_address, transport, data)

    def on_advertising_pdu(self, pdu: Any) -> None:
        """Hear no advertisements while hung (scans are empty, connects never complete)."""
        if not self.hung:
            super().on_advertising_pdu(pdu)

    def on_hci_le_create_connection_cancel_command(self, command: hci.HCI_LE_Create_Connection_Cancel_Command) -> Any:
        """Cancel a pending connect properly.

        Why: Bumble 0.0.236 only acknowledges the cancel; the pending connection stays, so
        every later connect is refused with "command disallowed" and BlueZ never reconnects.
        The spec wants the pending attempt dropped and an LE Connection Complete with
        status Unknown Connection Identifier.
        """
        pending = self.pending_le_connection
        self.pending_le_connection = None
        if pending is not None:
            asyncio.get_running_loop().call_soon(self._report_cancelled, pending.peer_address)
        # Bumble's own handler builds the "success" return parameters (bytes before 0.0.23x,
        # a dataclass after): reuse it so this works with the nixpkgs Bumble too.
        return super().on_hci_le_create_connection_cancel_command(command)

    def _report_cancelled(self, peer: hci.Address) -> None:
        self.send_hci_packet(
            hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=peer.address_type,
                peer_address=peer,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
        )

    def _reset_links(self) -> None:
        # A reset controller has no links; tell the peripherals so they advertise again.
        if self.hung:
            _LOGGER.warning("adapter reset by the host: hang cleared")
        self.hung = False
        self.pending_le_connection = None
        for peer, connection in list(self.le_connections.items()):
            with contextlib.suppress(Exception):
                connection.send_ll_control_pdu(ll.TerminateInd(hci.HCI_ErrorCode.REMOTE_USER_TERMINATED_CONNECTION_ERROR))
            del self.le_connections[peer]


@dataclasses.dataclass
class Stats:
    """What a peripheral did, for tests (``status`` on the control socket)."""

    connections: int = 0
    disconnections: int = 0
    requests: int = 0
    replies: int = 0
    notifications: int = 0
    dropped_links: int = 0
    last_service_ms: float = 0.0  # time from write received to last notification sent


class PasskeyDisplay(PairingDelegate):
    """The adapter side of passkey pairing: it "displays" (knows) a fixed passkey; the central types it.

    DisplayOnly against BlueZ's KeyboardDisplay agent gives passkey entry (MITM protection),
    so the resulting keys are authenticated; a wrong passkey fails the SMP confirm check.
    """

    def __init__(self, passkey: int) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY)
        self.passkey = passkey

    async def generate_passkey(self) -> int:
        """The configured passkey (real adapters have it printed or set by the app)."""
        return self.passkey


def chunks(frame: bytes, size: int) -> Iterable[bytes]:
    """Split a frame into notification-sized pieces."""
    return (frame[i : i + size] for i in range(0, len(frame), size)) if frame else ()


class Peripheral:
    """One simulated device: Bumble controller + host + GATT service around a simulator."""

    def __init__(self, device_id: str, simulator: Any, link: LocalLink, mtu: int = DEFAULT_MTU) -> None:
        self.device_id = device_id
        self.sim = simulator
        self.mtu = mtu
        self.stats = Stats()
        self.drop_link_once = False  # set by the "drop-link" fault; cleared when acted on
        self._queue: asyncio.Queue[tuple[Connection, bytes, float]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.controller = SimController(f"sim-{device_id}", link=link, public_address=simulator.address)
        config = DeviceConfiguration()
        config.name = simulator.name
        config.advertising_data = _advertising_data(simulator.name, simulator.service_uuid)
        self.device = Device(config=config, host=Host(self.controller, self.controller))
        self.device.gatt_server.max_mtu = mtu
        self.notify_char, write_char = self._characteristics(simulator)
        chars = [self.notify_char] if write_char is self.notify_char else [self.notify_char, write_char]
        self.device.add_service(Service(short_uuid(simulator.service_uuid), chars))
        self.device.on(Device.EVENT_CONNECTION, self._on_connection)
        self.device.pairing_config_factory = self._pairing_config

    def _pairing_config(self, _connection: Connection) -> PairingConfig:
        # Asked per pairing, so a simulator swapped at run time (the "passkey" fault) counts.
        passkey = getattr(self.sim, "pairing_passkey", None)
        if passkey is None:
            return PairingConfig()  # Bumble's default: Just Works, as before
        return PairingConfig(sc=True, mitm=True, bonding=True, delegate=PasskeyDisplay(passkey))

    def _characteristics(self, simulator: Any) -> tuple[Characteristic[bytes], Characteristic[bytes]]:
        write_props = _WRITE_PROPS.get(simulator.kind, _PROPS.WRITE | _PROPS.WRITE_WITHOUT_RESPONSE)
        value = CharacteristicValue(read=lambda _conn: b"", write=self._on_write)
        perms = Characteristic.Permissions.READABLE | Characteristic.Permissions.WRITEABLE
        if _norm(simulator.write_uuid) == _norm(simulator.notify_uuid):
            char: Characteristic[bytes] = Characteristic(short_uuid(simulator.write_uuid), write_props | _NOTIFY_PROPS, perms, value)
            return char, char
        notify: Characteristic[bytes] = Characteristic(short_uuid(simulator.notify_uuid), _NOTIFY_PROPS, perms, b"")
        write: Characteristic[bytes] = Characteristic(short_uuid(simulator.write_uuid), write_props, perms, value)
        return notify, write

    async def start(self) -> None:
        """Power on and advertise (restarting after every disconnection: one central at a time)."""
        await self.device.power_on()
        await self.device.start_advertising(own_address_type=hci.OwnAddressType.PUBLIC, auto_restart=True)
        self._worker = asyncio.create_task(self._serve(), name=f"sim-{self.device_id}")
        _LOGGER.info("%s: advertising %r as %s", self.device_id, self.sim.name, self.sim.address)

    async def stop(self) -> None:
        """Stop serving."""
        if self._worker:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    def _on_connection(self, connection: Connection) -> None:
        self.stats.connections += 1
        _LOGGER.info("%s: connected by %s", self.device_id, connection.peer_address)
        _call_if_present(self.sim, "on_connect")
        connection.on(connection.EVENT_DISCONNECTION, lambda reason: self._on_disconnection(connection, reason))
        if getattr(self.sim.faults, "unreachable", False):
            # Like a device held by another central: it drops us before we can use it.
            self._background(connection.disconnect())

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        self.stats.disconnections += 1
        _LOGGER.info("%s: disconnected from %s (reason 0x%02X)", self.device_id, connection.peer_address, reason)
        _call_if_present(self.sim, "on_disconnect")

    def drop_link(self) -> None:
        """Disconnect the central now if there is one, else at the next request (once)."""
        connections = list(self.device.connections.values())
        self.drop_link_once = not connections
        for connection in connections:
            self.stats.dropped_links += 1
            _LOGGER.info("%s: fault drop-link: disconnecting", self.device_id)
            self._background(connection.disconnect())

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # keep a reference until done (RUF006)
        task.add_done_callback(self._tasks.discard)

    def _on_write(self, connection: Connection, value: bytes) -> None:
        # Answer the ATT write at once and reply later, as the devices do: a slow reply
        # must not look like a slow write.
        self._queue.put_nowait((connection, bytes(value), time.monotonic()))

    async def _serve(self) -> None:
        # One request at a time, in order: the devices have a single-threaded UART behind BLE.
        while True:
            connection, request, received = await self._queue.get()
            try:
                await self._answer(connection, request, received)
            except Exception:
                _LOGGER.exception("%s: failed to answer %s", self.device_id, request.hex())

    async def _answer(self, connection: Connection, request: bytes, received: float) -> None:
        self.stats.requests += 1
        faults = self.sim.faults
        if self.drop_link_once or getattr(faults, "drop_link", False):
            self.drop_link_once = False
            _set_fault(self.sim, "drop_link", False)
            self.stats.dropped_links += 1
            _LOGGER.info("%s: fault drop-link: disconnecting", self.device_id)
            await connection.disconnect()
            return
        if getattr(faults, "silent", False):
            return
        delay = float(getattr(faults, "delay", 0.0) or 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if hasattr(self.sim, "paired"):
            # Encrypted with a key from an authenticated pairing (Bumble also marks a link
            # authenticated when it is re-encrypted with the bonded key on a reconnect).
            self.sim.paired = bool(connection.is_encrypted and connection.authenticated)
        frames = self.sim.handle(request, time.time())
        size = max(connection.att_mtu, DEFAULT_MTU) - 3
        for frame in frames:
            for index, piece in enumerate(chunks(frame, size)):
                if connection.handle not in self.device.connections:
                    return  # the central went away meanwhile
                if index == 1 and getattr(faults, "drop_chunk", False):
                    continue  # lose the second notification of a multi-notification reply
                await self.device.notify_subscriber(connection, self.notify_char, piece)
                self.stats.notifications += 1
            self.stats.replies += 1
        self.stats.last_service_ms = (time.monotonic() - received) * 1000


def short_uuid(uuid: str) -> UUID:
    """The 16-bit form of a UUID on the Bluetooth base (what the real adapters declare)."""
    full = UUID(uuid).to_bytes(force_128=True)  # little-endian: base tail first
    if full[:12] == UUID.BASE_UUID and full[14:] == b"\0\0":
        return UUID(int.from_bytes(full[12:14], "little"))
    return UUID(uuid)


def _norm(uuid: str) -> str:
    return str(short_uuid(uuid)).upper()


def _advertising_data(name: str, service_uuid: str) -> bytes:
    # Flags + complete name (what the apps and `solarmon scan` match on) + the service UUID
    # when it still fits the 31-byte legacy advertisement.
    flags = AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG | AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG
    fields: list[tuple[int, bytes]] = [
        (AdvertisingData.FLAGS, bytes([flags])),
        (AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()),
    ]
    uuid = short_uuid(service_uuid)
    if len(uuid.uuid_bytes) == 2:
        fields.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, uuid.uuid_bytes))
    data = bytes(AdvertisingData(fields))
    return data if len(data) <= 31 else bytes(AdvertisingData(fields[:2]))


def _call_if_present(obj: Any, name: str) -> None:
    hook: Callable[[], object] | None = getattr(obj, name, None)
    if callable(hook):
        hook()


def _set_fault(sim: Any, field: str, value: object) -> None:
    """Set one field of ``sim.faults`` whether the dataclass is frozen or not."""
    faults = sim.faults
    if not hasattr(faults, field):
        raise ValueError(f"this simulator has no fault {field!r}")
    try:
        setattr(faults, field, value)
    except dataclasses.FrozenInstanceError:
        sim.faults = dataclasses.replace(faults, **{field: value})


async def open_adapter(link: LocalLink, transport: str, address: str = DEFAULT_ADAPTER_ADDRESS) -> tuple[Any, AdapterController]:
    """Open the kernel-facing controller (``vhci`` makes it hciN) on ``link``."""
    opened = await open_transport(transport)
    controller = AdapterController(
        "adapter", host_source=opened.source, host_sink=opened.sink, link=link, public_address=address
    )
    return opened, controller


# --- the whole simulated radio: peripherals from a config file, faults, control socket ----

FAULT_MODES: Final = (
    "silent", "drop-link", "wrong-password", "slow", "bad-crc", "drop-chunk", "unreachable", "hang", "passkey"
)
DEFAULT_PASSKEY: Final = 123456  # "passkey" without a value
DEFAULT_SLOW_DELAY: Final = 1.0  # s added before each reply by "slow" without a value
ADAPTER_TARGET: Final = "adapter"  # fault target of "hang": the kernel-facing controller
# Simulator fault fields set directly by a mode (the others need the transport's help).
_FIELD_OF_MODE: Final = {
    "silent": "silent", "bad-crc": "bad_crc", "drop-chunk": "drop_chunk", "unreachable": "unreachable"
}


def parse_fault(spec: str) -> tuple[str, str, float | None]:
    """``DEVICE_ID:MODE[=VALUE]`` -> (target, mode, value); ``ValueError`` explains a bad one."""
    target, sep, rest = spec.partition(":")
    mode, _eq, raw = rest.partition("=")
    if not sep or not target or mode not in FAULT_MODES:
        raise ValueError(f"{spec!r}: expected DEVICE_ID:MODE with MODE one of {', '.join(FAULT_MODES)}")
    if (mode == "hang") != (target == ADAPTER_TARGET):
        raise ValueError(f"{spec!r}: 'hang' applies to target {ADAPTER_TARGET!r} only, and only 'hang' does")
    value = float(raw) if raw else None
    return target, mode, value


class Simulation:
    """All peripherals of one config file plus the kernel-facing adapter."""

    def __init__(self, factory: Callable[..., Any], devices: list[dict[str, Any]], mtu: int = DEFAULT_MTU) -> None:
        self.link = FixedLocalLink()
        self._factory = factory
        self._specs = {d["id"]: d for d in devices}
        self._mtu = mtu
        self.peripherals: dict[str, Peripheral] = {}
        self.adapter: AdapterController | None = None
        self._transport: Any = None

    def _make_sim(self, spec: dict[str, Any], password: str | None, passkey: int | None = None) -> Any:
        if passkey is None:
            return self._factory(spec["kind"], spec["address"], spec["name"], password=password, auth=spec["auth"])
        return self._factory(spec["kind"], spec["address"], spec["name"], password=password, auth="passkey",
                             passkey=passkey)

    async def start(self, transport: str, adapter_address: str = DEFAULT_ADAPTER_ADDRESS) -> None:
        """Advertise every device, then attach the adapter (the kernel sees it appear)."""
        await self.start_peripherals()
        self._transport, self.adapter = await open_adapter(self.link, transport, adapter_address)

    async def start_peripherals(self) -> None:
        """Power on and advertise every device on the link (no adapter yet)."""
        for device_id, spec in self._specs.items():
            peripheral = Peripheral(device_id, self._make_sim(spec, spec["password"]), self.link, self._mtu)
            await peripheral.start()
            self.peripherals[device_id] = peripheral

    async def wait_closed(self) -> None:
        """Return when the transport goes away (e.g. /dev/vhci closed by the kernel)."""
        await self._transport.source.wait_for_termination()

    async def close(self) -> None:
        """Stop peripherals and close the transport (the kernel removes the adapter)."""
        for peripheral in self.peripherals.values():
            await peripheral.stop()
        if self._transport is not None:
            await self._transport.close()

    def set_fault(self, target: str, mode: str, value: float | None = None) -> None:
        """Switch a fault on (see ``FAULT_MODES``)."""
        if target == ADAPTER_TARGET:
            if self.adapter is None:
                raise ValueError("the adapter is not attached yet")
            self.adapter.hung = True
            _LOGGER.warning("fault: adapter hangs until the host resets it")
            return
        peripheral = self._peripheral(target)
        _LOGGER.info("fault: %s %s%s", target, mode, "" if value is None else f"={value}")
        if mode in _FIELD_OF_MODE:
            _set_fault(peripheral.sim, _FIELD_OF_MODE[mode], True)
        elif mode == "slow":
            _set_fault(peripheral.sim, "delay", DEFAULT_SLOW_DELAY if value is None else value)
        elif mode == "drop-link":
            peripheral.drop_link()
        elif mode == "wrong-password":
            self._swap_sim(target, _wrong(self._specs[target]["password"]))
        elif mode == "passkey":
            # Become the 2026 JBD generation: echo until the link is paired with this passkey.
            if self._specs[target]["kind"] != "jbd-bms":
                raise ValueError(f"'passkey' applies to jbd-bms devices only, not {target!r}")
            passkey = DEFAULT_PASSKEY if value is None else int(value)
            if not 0 <= passkey <= 999999:
                raise ValueError(f"a passkey is six digits, not {passkey}")
            self._swap_sim(target, self._specs[target]["password"], passkey)

    def clear(self, target: str) -> None:
        """Switch every fault of a target (or ``all``) off."""
        if target in (ADAPTER_TARGET, "all") and self.adapter is not None:
            self.adapter.hung = False
        if target == ADAPTER_TARGET:
            return
        for device_id in list(self.peripherals) if target == "all" else [target]:
            peripheral = self._peripheral(device_id)
            peripheral.drop_link_once = False
            self._swap_sim(device_id, self._specs[device_id]["password"])
            peripheral.sim.faults = type(peripheral.sim.faults)()

    def _swap_sim(self, device_id: str, password: str | None, passkey: int | None = None) -> None:
        # A fresh simulator with another password (or the passkey generation); faults carry over.
        peripheral = self._peripheral(device_id)
        fresh = self._make_sim(self._specs[device_id], password, passkey)
        fresh.faults = peripheral.sim.faults
        peripheral.sim = fresh

    def _peripheral(self, device_id: str) -> Peripheral:
        try:
            return self.peripherals[device_id]
        except KeyError:
            raise ValueError(f"no device {device_id!r} (have {', '.join(self.peripherals)})") from None

    def status(self) -> dict[str, Any]:
        """Faults, counters and link state of everything, JSON-ready."""
        devices = {}
        for device_id, p in self.peripherals.items():
            faults = p.sim.faults
            devices[device_id] = {
                "address": p.sim.address,
                "name": p.sim.name,
                "connected": bool(p.device.connections),
                "faults": dataclasses.asdict(faults) if dataclasses.is_dataclass(faults) else {},
                "stats": dataclasses.asdict(p.stats),
            }
        return {"devices": devices, "adapter": {"hung": bool(self.adapter and self.adapter.hung)}}

    def command(self, line: str) -> dict[str, Any]:
        """Run one control command: ``fault ID MODE[=V]``, ``clear ID|all``, ``status``."""
        words = line.split()
        try:
            if words[:1] == ["fault"] and len(words) == 3:
                self.set_fault(*parse_fault(f"{words[1]}:{words[2]}"))
            elif words[:1] == ["clear"] and len(words) == 2:
                self.clear(words[1])
            elif words != ["status"]:
                raise ValueError("commands: 'fault ID MODE[=VALUE]', 'clear ID|all', 'status'")
        except ValueError as err:
            return {"ok": False, "error": str(err)}
        return {"ok": True, **self.status()}


def _wrong(password: str | None) -> str:
    # Any other password will do; the simulator then refuses the one the collector sends.
    return "x" + (password or "000000")[1:] if (password or "0")[0] != "x" else "y" + (password or "")[1:]


async def serve_control(simulation: Simulation, path: str) -> asyncio.AbstractServer:
    """Listen on a unix socket: one command per line, one JSON line back (see ``command``)."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                writer.write(json.dumps(simulation.command(line.decode(errors="replace"))).encode() + b"\n")
                await writer.drain()
        writer.close()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return await asyncio.start_unix_server(client, path)
