"""``solarmon collect --config FILE``: poll the configured devices over BLE, publish to MQTT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .. import config
from ..collector import Collector
from ..devices import DRIVERS, create
from ..processor import Processor
from ..publisher import Publisher

_LOGGER = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "collect",
        help="poll the configured BLE devices and publish to MQTT (the service)",
        description="Connect to every configured device over BLE, keep the connections, poll on a fixed "
        "schedule and publish samples to MQTT. Runs until stopped (SIGTERM/SIGINT).",
    )
    p.add_argument("--config", required=True, help="config file (.toml or .json)")
    p.set_defaults(func=run)


async def _serve(cfg: config.Config) -> None:
    from ..ble.link import BleakLink
    from ..ble.recovery import RecoveringAdapter

    devices = []
    for d in cfg.devices:
        drv = DRIVERS[d.kind]
        link = BleakLink(d.address, d.display_name, drv.notify_uuid, drv.write_uuid, cfg.collector.adapter)
        devices.append((d, create(d, link, cfg)))
    loop = asyncio.get_running_loop()
    publisher = Publisher(cfg)
    processor = Processor(cfg, publisher)
    collector = Collector(cfg, devices, processor, RecoveringAdapter(cfg.collector.adapter))
    processor.attach(collector)
    publisher.on_command = lambda device, payload: processor.command(loop, device, payload)
    publisher.start()
    task = asyncio.ensure_future(asyncio.gather(collector.run(), processor.run()))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        for _dc, dev in devices:
            await dev.link.disconnect()
        publisher.stop()
        _LOGGER.info("stopped")


def run(args: argparse.Namespace) -> int:
    """Load the config (exit 2 with every problem listed if it is broken) and serve."""
    cfg = config.load(args.config)
    logging.getLogger().setLevel(cfg.logging.level.upper())
    if not cfg.devices:
        _LOGGER.error("%s lists no devices: nothing to collect", args.config)
        return 2
    problems = config.check_files(cfg)
    if problems:
        raise config.ConfigError(args.config, problems)
    asyncio.run(_serve(cfg))
    return 0
