"""The bridge service: wires MQTT intake, durable queue and Influx writer; reports status."""

from __future__ import annotations

import json
import logging
from pathlib import Path
import signal
import sqlite3
import sys
import threading
import time
from typing import Any, Final

from .. import config as config_mod
from ..errors import ConfigError
from ..tiers import raw_tier
from .backfill import Backfill, Routing
from .mqtt import MqttIntake
from .queue import PointQueue
from .writer import InfluxWriter, QueueWriter

_LOGGER = logging.getLogger(__name__)

QUEUE_FILE: Final = "bridge-queue.sqlite"
#: The retained status topic is refreshed at most every STATUS_MIN s when something changed,
#: and at least every STATUS_MAX s; the status log line every LOG_INTERVAL s.
STATUS_MIN: Final = 1.0
STATUS_MAX: Final = 30.0
LOG_INTERVAL: Final = 60.0
GIL_SWITCH_INTERVAL: Final = 0.0005


class Bridge:
    """One running bridge; ``run`` blocks until ``stop`` (or SIGTERM/SIGINT)."""

    def __init__(self, cfg: config_mod.Config) -> None:
        if cfg.influx.token_file is None:
            raise ConfigError("influx.token_file", ["the bridge needs a token with write access to the raw bucket"])
        token = config_mod.read_secret(cfg.influx.token_file)
        password = config_mod.read_secret(cfg.mqtt.password_file) if cfg.mqtt.password_file else None
        self.cfg = cfg
        self.bucket = raw_tier(cfg.tier_list).bucket
        queue_path = config_mod.expand_path(cfg.bridge.state_dir) / QUEUE_FILE
        try:
            self.queue = PointQueue(queue_path)
        except (OSError, sqlite3.Error) as err:
            raise ConfigError("bridge.state_dir", [f"cannot open the queue {queue_path}: {err}"]) from None
        self.backfill = Backfill(self.queue, cfg.tier_list, Routing.for_tiers(cfg.tier_list))
        self.writer = QueueWriter(
            self.queue,
            InfluxWriter(cfg.influx.url, cfg.influx.org, self.bucket, token, cfg.influx.timeout),
            batch_size=cfg.bridge.batch_size,
            flush_interval=cfg.bridge.flush_interval,
            max_backoff=cfg.bridge.max_backoff,
            backfill=self.backfill,
        )
        self.intake = MqttIntake(
            self.queue,
            host=cfg.mqtt.host,
            port=cfg.mqtt.port,
            client_id=cfg.bridge.client_id,
            topic_prefix=cfg.mqtt.topic_prefix,
            keepalive=cfg.mqtt.keepalive,
            username=cfg.mqtt.username,
            password=password,
            on_commit=lambda _n: self.writer.notify(),
        )
        self._stop = threading.Event()

    @property
    def state_dir(self) -> Path:
        """Where the queue lives."""
        return self.queue.path.parent

    def status(self) -> dict[str, Any]:
        """Everything the status topic and log line report."""
        s = self.writer.stats
        return {
            "state": "running" if self.intake.subscribed.is_set() else "connecting",
            "ts": int(time.time() * 1000),
            "queue_depth": self.queue.depth(),
            "received": self.intake.received,
            "stored": self.intake.stored,
            "written": s.written,
            "late": s.late,
            "backfill_depth": self.queue.backfill_depth(),
            "backfilled_windows": self.backfill.stats.windows,
            "backfill_refused": self.backfill.stats.rejected,
            "dead_lettered": self.queue.dead_letter_count(),
            "malformed": dict(self.intake.malformed),
            "write_latency_ms": None if s.last_latency_ms is None else round(s.last_latency_ms, 1),
            "influx_error": s.last_error,
            "backfill_error": self.backfill.stats.error,
        }

    def stop(self) -> None:
        """Ask ``run`` to return."""
        self._stop.set()

    def run(self) -> int:
        """Serve until stopped; 0 on a clean stop, 1 if a worker thread died."""
        _LOGGER.info("bridge: %s -> %s bucket %s, queue %s", self.intake.topic, self.cfg.influx.url,
                     self.bucket, self.queue.path)
        requeued = self.queue.requeue_expired()
        if requeued:
            _LOGGER.info("requeued %d point(s) an older bridge dead-lettered as beyond the raw retention: "
                         "they are aggregated into the tiers now", requeued)
        depth = self.queue.depth()
        if depth:
            _LOGGER.info("replaying %d queued point(s) from the last run", depth)
        self.writer.start()
        self.intake.start()
        rc = 0
        last_sent: dict[str, Any] = {}
        last_at = next_log = 0.0
        try:
            while not self._stop.wait(STATUS_MIN / 2):
                if not (self.writer.is_alive() and self.intake.is_alive()):
                    _LOGGER.error("a bridge worker thread died; exiting so the service manager restarts us")
                    rc = 1
                    break
                now = time.monotonic()
                status = self.status()
                changed = {k: v for k, v in status.items() if k != "ts"} != last_sent
                if (changed and now - last_at >= STATUS_MIN) or now - last_at >= STATUS_MAX:
                    self.intake.publish_status(json.dumps(status, separators=(",", ":")).encode())
                    last_sent, last_at = {k: v for k, v in status.items() if k != "ts"}, now
                    if now >= next_log:
                        _LOGGER.info(
                            "status: queue %d, received %d, written %d, late %d (waiting %d), dead-lettered %d, "
                            "malformed %d, write latency %s ms%s%s",
                            status["queue_depth"], status["received"], status["written"], status["late"],
                            status["backfill_depth"], status["dead_lettered"],
                            sum(status["malformed"].values()), status["write_latency_ms"],
                            f", InfluxDB failing: {status['influx_error']}" if status["influx_error"] else "",
                            f", tier backfill failing: {status['backfill_error']}" if status["backfill_error"] else "",
                        )
                        next_log = now + LOG_INTERVAL
        finally:
            self.writer.stop()
            final = self.status() | {"state": "offline"}
            self.intake.publish_status(json.dumps(final, separators=(",", ":")).encode())
            self.intake.stop()
            self.writer.writer.close()
            self.queue.close()
        return rc


def serve(cfg: config_mod.Config) -> int:
    """Run the bridge in the foreground with SIGTERM/SIGINT as a clean stop."""
    # paho's network thread makes many short syscalls and must get the GIL back quickly
    # while the committer decodes; the default 5 ms hand-over would stall it (convoy effect).
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    bridge = Bridge(cfg)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: bridge.stop())
    return bridge.run()
