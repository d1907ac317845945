"""``pair()`` against a stand-in BlueZ on a private D-Bus daemon: agent, discovery, diagnoses."""

# No "from __future__ import annotations": dbus-fast reads D-Bus signatures from annotations.

import asyncio
from collections.abc import Iterator
from pathlib import Path
import shutil
import subprocess

from dbus_fast import DBusError, Message, MessageType, PropertyAccess
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, dbus_property, method
import pytest

from solarmon.ble.pairing import PairingError, device_path, pair

MAC = "A4:C1:38:00:00:21"
PASSKEY = 135790


class FakeBluez:
    """Just enough of bluetoothd: an adapter, one device that appears on discovery, an agent manager."""

    def __init__(self, bus: MessageBus, *, passkey: int = PASSKEY, visible: bool = True, held: bool = False,
                 paired: bool = False) -> None:
        self.bus = bus
        self.passkey = passkey
        self.visible = visible
        self.held = held
        self.agent: tuple[str, str] | None = None
        self.device = _Device(self, paired)
        self.path = device_path("hci0", MAC)
        self.disconnected = False
        bus.export("/org/bluez", _AgentManager())
        bus.export("/org/bluez/hci0", _Adapter(self))
        bus.add_message_handler(self._see_agent)

    def _see_agent(self, msg: Message) -> None:
        # The agent lives on the caller's connection: remember who registered it.
        if msg.member == "RegisterAgent" and msg.message_type == MessageType.METHOD_CALL:
            self.agent = (msg.sender, msg.body[0])

    def appear(self) -> None:
        if self.visible and self.path not in self.bus._path_exports:  # noqa: SLF001
            self.bus.export(self.path, self.device)


class _AgentManager(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.bluez.AgentManager1")

    @method()
    def RegisterAgent(self, path: "o", capability: "s") -> None:  # noqa: F821, N802
        pass

    @method()
    def UnregisterAgent(self, path: "o") -> None:  # noqa: F821, N802
        pass


class _Adapter(ServiceInterface):
    def __init__(self, fake: FakeBluez) -> None:
        super().__init__("org.bluez.Adapter1")
        self.fake = fake

    @method()
    def StartDiscovery(self) -> None:  # noqa: N802
        asyncio.get_running_loop().call_later(0.3, self.fake.appear)

    @method()
    def StopDiscovery(self) -> None:  # noqa: N802
        pass


class _Device(ServiceInterface):
    def __init__(self, fake: FakeBluez, paired: bool) -> None:
        super().__init__("org.bluez.Device1")
        self.fake = fake
        self._paired = paired
        self._trusted = False

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> "b":  # noqa: F821, N802
        return self._paired

    @dbus_property()
    def Trusted(self) -> "b":  # noqa: F821, N802
        return self._trusted

    @Trusted.setter
    def Trusted(self, value: "b") -> None:  # noqa: F821, N802
        self._trusted = value

    @method()
    async def Pair(self) -> None:  # noqa: N802
        if self.fake.held:
            raise DBusError("org.bluez.Error.ConnectionAttemptFailed", "Page Timeout")
        assert self.fake.agent is not None
        sender, agent_path = self.fake.agent
        reply = await self.fake.bus.call(Message(destination=sender, path=agent_path, interface="org.bluez.Agent1",
                                                 member="RequestPasskey", signature="o", body=[self.fake.path]))
        assert reply is not None
        if reply.message_type == MessageType.ERROR or reply.body[0] != self.fake.passkey:
            raise DBusError("org.bluez.Error.AuthenticationFailed", "Authentication Failed")
        self._paired = True

    @method()
    def Disconnect(self) -> None:  # noqa: N802
        self.fake.disconnected = True


@pytest.fixture
def private_bus(tmp_path: Path) -> Iterator[str]:
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("dbus-daemon is not installed")
    conf = tmp_path / "bus.conf"
    conf.write_text(f"""<busconfig><type>session</type><listen>unix:path={tmp_path}/bus</listen>
<auth>EXTERNAL</auth><policy context="default"><allow send_destination="*" eavesdrop="true"/>
<allow eavesdrop="true"/><allow own="*"/></policy></busconfig>""")
    proc = subprocess.Popen([daemon, f"--config-file={conf}", "--nofork", "--print-address"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    try:
        yield address
    finally:
        proc.terminate()
        proc.wait(5)


async def _bluez(address: str, **kw: object) -> tuple[MessageBus, FakeBluez]:
    bus = await MessageBus(bus_address=address).connect()
    fake = FakeBluez(bus, **kw)  # type: ignore[arg-type]
    await bus.request_name("org.bluez")
    return bus, fake


async def test_pairs_with_the_passkey_after_discovering_and_trusts(private_bus: str) -> None:
    bus, fake = await _bluez(private_bus)
    try:
        result = await pair(MAC, PASSKEY, scan_timeout=5, bus_address=private_bus)
        assert not result.already and fake.device._paired and fake.device._trusted  # noqa: SLF001
        assert fake.disconnected  # left free for the collector
        again = await pair(MAC, PASSKEY, scan_timeout=5, bus_address=private_bus)
        assert again.already
    finally:
        bus.disconnect()


async def test_wrong_passkey_is_named(private_bus: str) -> None:
    bus, _fake = await _bluez(private_bus)
    try:
        with pytest.raises(PairingError, match="passkey is wrong"):
            await pair(MAC, 111111, scan_timeout=5, bus_address=private_bus)
    finally:
        bus.disconnect()


async def test_unknown_mac_is_named(private_bus: str) -> None:
    bus, _fake = await _bluez(private_bus, visible=False)
    try:
        with pytest.raises(PairingError, match="MAC is wrong"):
            await pair(MAC, PASSKEY, scan_timeout=1.5, bus_address=private_bus)
    finally:
        bus.disconnect()


async def test_device_held_by_another_client_is_named(private_bus: str) -> None:
    bus, _fake = await _bluez(private_bus, held=True)
    try:
        with pytest.raises(PairingError, match="another client") as err:
            await pair(MAC, PASSKEY, scan_timeout=5, bus_address=private_bus)
        assert "never asked" not in str(err.value)
    finally:
        bus.disconnect()


async def test_missing_adapter_is_named(private_bus: str) -> None:
    bus = await MessageBus(bus_address=private_bus).connect()
    await bus.request_name("org.bluez")
    bus.export("/org/bluez", _AgentManager())
    try:
        with pytest.raises(PairingError, match="no Bluetooth adapter hci0"):
            await pair(MAC, PASSKEY, scan_timeout=1, bus_address=private_bus)
    finally:
        bus.disconnect()
