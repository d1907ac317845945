"""LiTime MPPT charge controller driver."""

from __future__ import annotations

from ..payload import FieldValue
from ..protocols import litime as proto
from .base import Assembler, Device


class LitimeMppt(Device):
    """Polls the 19-register status block; can read daily history and switch the load."""

    kind = "litime-mppt"
    service_uuid = proto.SERVICE_UUID
    notify_uuid = proto.CHAR_UUID
    write_uuid = proto.CHAR_UUID

    def _make_assembler(self) -> Assembler:
        return proto.FrameAssembler()

    async def setup(self) -> None:
        """Nothing to unlock: the controller has no authentication."""

    async def poll(self) -> dict[str, FieldValue]:
        """One status read."""
        return dict(proto.decode_status(await self.request(proto.status_request())))

    async def history(self, day: int) -> proto.DayHistory:
        """The controller's stored record of ``day`` days ago."""
        return proto.decode_history(await self.request(proto.history_request(day)), day)

    async def set_load(self, on: bool) -> None:
        """Switch the load output; the reply must echo the request."""
        req = proto.load_switch_request(on)
        proto.check_write_echo(await self.request(req), req)
        self.log.info("load output switched %s", "on" if on else "off")
