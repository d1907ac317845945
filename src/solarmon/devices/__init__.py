"""Device drivers: one module per device kind, all on the same Device base."""

from __future__ import annotations

from typing import Final

from ..config import Config, read_secret
from ..config import Device as DeviceConfig
from ..link import Link
from .base import Device
from .jbd_bms import JbdBms
from .litime_mppt import LitimeMppt

__all__ = ["DRIVERS", "Device", "JbdBms", "LitimeMppt", "create"]

DRIVERS: Final[dict[str, type[Device]]] = {d.kind: d for d in (LitimeMppt, JbdBms)}


def create(dev_cfg: DeviceConfig, link: Link, cfg: Config) -> Device:
    """The driver for a configured device on ``link`` (reads its password file, if any)."""
    timeout = cfg.collector.timeout
    if dev_cfg.kind == "jbd-bms":
        password = read_secret(dev_cfg.password_file) if dev_cfg.password_file else None
        return JbdBms(dev_cfg.id, link, timeout=timeout, auth=dev_cfg.auth, password=password)
    return DRIVERS[dev_cfg.kind](dev_cfg.id, link, timeout=timeout)
