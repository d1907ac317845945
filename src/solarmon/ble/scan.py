"""Find supported devices nearby: LiTime controllers by name, JBD BMS by service UUID."""

from __future__ import annotations

from dataclasses import dataclass

from bleak import BleakScanner
from bleak.exc import BleakError

from ..errors import TransportError
from ..protocols import jbd, litime
from .link import adapter_kwargs, explain


@dataclass(frozen=True, slots=True)
class Found:
    """One supported device seen advertising."""

    address: str
    name: str
    kind: str
    rssi: int | None


def classify(name: str | None, service_uuids: list[str]) -> str | None:
    """Device kind from advertisement data, or None if not supported."""
    if name and name.startswith(litime.NAME_PREFIX):
        return "litime-mppt"
    if jbd.SERVICE_UUID in (u.lower() for u in service_uuids):
        return "jbd-bms"
    return None


async def scan(timeout: float = 10.0, adapter: str = "hci0") -> list[Found]:
    """Scan for ``timeout`` seconds; supported devices, strongest signal first."""
    try:
        seen = await BleakScanner.discover(timeout=timeout, return_adv=True, **adapter_kwargs(adapter))
    except (BleakError, OSError) as err:
        raise TransportError(f"scan on {adapter} failed: {explain(err, adapter)}") from err
    found = []
    for device, adv in seen.values():
        name = adv.local_name or device.name or ""
        kind = classify(name, list(adv.service_uuids))
        if kind:
            found.append(Found(device.address, name, kind, adv.rssi))
    return sorted(found, key=lambda f: -(f.rssi if f.rssi is not None else -999))
