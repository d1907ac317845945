"""JBD BMS driver: password authentication per adapter generation, basic info and cells."""

from __future__ import annotations

from ..config import AuthMode
from ..errors import DeviceTimeout, NoAuthReply, PairingRequired, ProtocolError, TransportError, WrongPassword
from ..link import Link
from ..payload import FieldValue
from ..protocols import jbd as proto
from .base import Assembler, Device

# Password steps answer within ~150 ms; silence for a second means the adapter does not
# take this sequence (wrong generation or wrong password): give up rather than loop.
AUTH_TIMEOUT = 1.0


class JbdBms(Device):
    """Reads 0x03 (basic info) and 0x04 (cells) each poll; 0x05 (hardware) once per connect."""

    kind = "jbd-bms"
    service_uuid = proto.SERVICE_UUID
    notify_uuid = proto.NOTIFY_UUID
    write_uuid = proto.WRITE_UUID

    def __init__(
        self,
        device_id: str,
        link: Link,
        *,
        timeout: float = 5.0,
        auth: AuthMode = AuthMode.AUTO,
        password: str | None = None,
        root: bool = False,
    ) -> None:
        super().__init__(device_id, link, timeout=timeout)
        self.auth = auth
        self._password = password  # never logged
        self.root = root  # also send the root password (only writes need it)
        self.hardware_version: str | None = None

    def _make_assembler(self) -> Assembler:
        return proto.FrameAssembler()

    async def _read(self, register: proto.Register, timeout: float | None = None) -> bytes:
        req = proto.read_request(register)
        frame = await self.request(req, timeout)
        if frame == req:
            raise PairingRequired(
                f"{self.id}: the adapter echoes requests: it is the passkey-pairing generation; "
                f"pair it once (solarmon pair {self.id} / bluetoothctl) and set auth = 'none'"
            )
        return frame

    async def _reads_work(self) -> bool:
        try:
            await self._read(proto.Register.BASIC_INFO, AUTH_TIMEOUT)
        except DeviceTimeout:
            if not self.link.is_connected:
                # Silence because the link dropped says nothing about passwords.
                raise TransportError(f"{self.id}: link lost while probing for authentication") from None
            return False
        return True

    async def _auth_step(self, frame: bytes, cmd: proto.AuthCmd, what: str) -> int:
        try:
            reply = await self.request(frame, AUTH_TIMEOUT)
        except DeviceTimeout:
            raise NoAuthReply(
                f"{self.id}: no answer to the {what} within {AUTH_TIMEOUT} s: this adapter does not take "
                "JBD password frames (try auth = 'none'), is another generation, or the link hangs"
            ) from None
        if reply == frame:
            raise PairingRequired(
                f"{self.id}: the adapter echoes password frames: it is the passkey-pairing generation; "
                f"pair it once (solarmon pair {self.id} / bluetoothctl) and set auth = 'none'"
            )
        return proto.parse_auth_reply(reply, cmd)

    async def authenticate(self) -> None:
        """App key, then random + first-level password, stopping as soon as reads work."""
        if not self._password:
            raise WrongPassword(f"{self.id}: the BMS needs a password: set password_file for this device")
        if await self._auth_step(proto.app_key_request(self._password), proto.AuthCmd.APP_KEY, "app key") != 0:
            raise WrongPassword(f"{self.id}: the BMS rejected the BLE password (check password_file)")
        if not self.root and await self._reads_work():
            self.log.debug("unlocked by the app key alone")
            return
        rnd = await self._auth_step(proto.random_request(), proto.AuthCmd.GET_RANDOM, "random request")
        if await self._auth_step(proto.first_level_request(rnd, self.link.address), proto.AuthCmd.FIRST_LEVEL,
                                 "first-level password") != 0:
            raise WrongPassword(f"{self.id}: first-level password rejected (adapter generation not supported?)")
        if self.root:
            rnd = await self._auth_step(proto.random_request(), proto.AuthCmd.GET_RANDOM, "random request")
            if await self._auth_step(proto.root_request(rnd, self.link.address), proto.AuthCmd.ROOT,
                                     "root password") != 0:
                raise WrongPassword(f"{self.id}: root password rejected")
        self.log.debug("unlocked by the password sequence")

    async def setup(self) -> None:
        """Unlock per ``auth`` mode, then read the hardware version once."""
        if self.auth is AuthMode.PASSWORD:
            await self.authenticate()
        elif self.auth is AuthMode.AUTO and not await self._reads_work():
            if not self._password:
                raise WrongPassword(
                    f"{self.id}: the BMS does not answer reads; it probably needs a password: set password_file"
                )
            await self.authenticate()
        try:
            self.hardware_version = proto.decode_hardware(await self._read(proto.Register.HARDWARE))[
                "hardware_version"
            ]
        except (DeviceTimeout, ProtocolError) as err:
            self.log.debug("hardware version not available: %s", err)

    async def poll(self) -> dict[str, FieldValue]:
        """Basic info and cell voltages in one sample."""
        fields: dict[str, FieldValue] = dict(proto.decode_basic_info(await self._read(proto.Register.BASIC_INFO)))
        fields.update(proto.decode_cells(await self._read(proto.Register.CELLS)))
        if self.hardware_version:
            fields["hardware_version"] = self.hardware_version
        return fields
