"""Protocol-level device simulators (bytes in, bytes out) shared by tests, the demo and the VM tiers."""

from __future__ import annotations

from .base import Faults, SimDevice
from .jbd import JbdSim, SimAuth
from .litime import LitimeSim

__all__ = ["Faults", "JbdSim", "LitimeSim", "SimAuth", "SimDevice", "make_simulator"]


def make_simulator(
    kind: str,
    address: str,
    name: str | None = None,
    *,
    password: str | None = None,
    auth: str = "none",
    **options: object,
) -> SimDevice:
    """Build the simulator of a device kind (``litime-mppt`` or ``jbd-bms``)."""
    if kind == "litime-mppt":
        return LitimeSim(address, name or f"BT-LTMPPT-{address[-5:].replace(':', '')}", **options)  # type: ignore[arg-type]
    if kind == "jbd-bms":
        return JbdSim(
            address,
            name or f"JBD-{address[-5:].replace(':', '')}",
            auth=auth,
            password=password or "123456",
            **options,  # type: ignore[arg-type]
        )
    raise ValueError(f"no simulator for device kind {kind!r}")
