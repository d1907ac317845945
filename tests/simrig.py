"""Test rig: a collector running real drivers against simulators over in-process links."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solarmon import config
from solarmon.collector import Collector, Sink
from solarmon.devices import create
from solarmon.link import SimAir, SimLink
from solarmon.payload import Sample
from solarmon.sim import SimDevice, make_simulator

PASSWORD = "123123"


@dataclass
class ListSink(Sink):
    """Records what the collector emits, in order."""

    samples: list[Sample] = field(default_factory=list)
    availability: list[tuple[str, bool]] = field(default_factory=list)

    def publish(self, sample: Sample) -> None:
        self.samples.append(sample)

    def set_availability(self, device: str, online: bool) -> None:
        self.availability.append((device, online))

    def of(self, device: str) -> list[Sample]:
        return [s for s in self.samples if s.device == device]


def rig_config(tmp: Path, interval: float = 0.5, **collector: Any) -> config.Config:
    """Three devices like the reference system; battery1 needs a password."""
    pw = tmp / "battery1.pw"
    pw.write_text(PASSWORD)
    cfg = config.parse({
        "devices": [
            {"id": "mppt", "kind": "litime-mppt", "address": "C8:47:80:00:00:01"},
            {"id": "battery1", "kind": "jbd-bms", "address": "A4:C1:38:00:00:11", "auth": "password",
             "password_file": str(pw)},
            {"id": "battery2", "kind": "jbd-bms", "address": "A4:C1:38:00:00:12"},
        ],
        "collector": {"timeout": 0.4, "connect_timeout": 5.0, "offline_after": 2, **collector},
    })
    # Below the 2 s a user may configure, so the behaviour tests run quickly; same code path.
    return cfg.model_copy(update={"collector": cfg.collector.model_copy(update={"interval": interval})})


def build(cfg: config.Config, sink: Sink, **sim_options: dict[str, Any]) -> tuple[Collector, dict[str, SimDevice], SimAir]:
    """Collector + simulators (battery1 with a password) on one simulated adapter."""
    air = SimAir()
    sims: dict[str, SimDevice] = {}
    devices = []
    for d in cfg.devices:
        auth = "password" if d.id == "battery1" else "none"
        sims[d.id] = make_simulator(d.kind, d.address, password=PASSWORD, auth=auth, **sim_options.get(d.id, {}))
        devices.append((d, create(d, SimLink(sims[d.id], air=air), cfg)))
    return Collector(cfg, devices, sink, air), sims, air
