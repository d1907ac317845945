"""Alert push (ntfy or a JSON webhook), queued on disk while no network path exists.

The queue is one JSON object per line in the state directory; a message leaves it only
after the server answered 2xx, so pushes survive outages and restarts. Delivery runs in a
daemon thread with stdlib urllib: a few messages a day need no HTTP library.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
import threading
from typing import Final
import urllib.error
import urllib.request

from .alerts import Event
from .config import Push, read_secret

_LOGGER = logging.getLogger(__name__)

MAX_QUEUED: Final = 1000  # keep the newest; a year offline must not fill the disk
_TIMEOUT: Final = 15.0  # s per HTTP request


def message(event: Event) -> dict[str, object]:
    """The queued record of an alert change."""
    return {"change": event.change, **event.alert.to_json()}


def request(cfg: Push, record: dict[str, object], token: str | None) -> urllib.request.Request:
    """The HTTP request delivering one record (ntfy: text body with title/tags headers)."""
    headers = {"User-Agent": "solarmon"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cfg.format == "ntfy":
        raised = record["change"] == "raised"
        headers["Title"] = f"solarmon: {'ALERT' if raised else 'cleared'} {record['rule']}"
        headers["Tags"] = "warning" if raised else "white_check_mark"
        headers["Priority"] = "high" if raised else "default"
        body = str(record["text"]).encode()
    else:
        headers["Content-Type"] = "application/json"
        body = json.dumps(record).encode()
    return urllib.request.Request(cfg.url, data=body, headers=headers, method="POST")


class PushQueue:
    """Appends records to ``<state_dir>/push-queue.jsonl`` and delivers them in order."""

    def __init__(self, cfg: Push, state_dir: Path) -> None:
        self.cfg = cfg
        self.path = state_dir / "push-queue.jsonl"
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0

    def put(self, event: Event) -> None:
        """Queue an alert change durably and wake the sender."""
        with self._lock:
            records = self._load() + [message(event)]
            self._save(records[-MAX_QUEUED:])
        self._wake.set()

    def pending(self) -> list[dict[str, object]]:
        """The records not yet delivered, oldest first."""
        with self._lock:
            return self._load()

    def start(self) -> None:
        """Deliver in a daemon thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="alert-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the sender (pending records stay on disk)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=_TIMEOUT + 2)

    def deliver_once(self) -> bool:
        """Send queued records in order; False as soon as one fails (it stays first)."""
        token = read_secret(self.cfg.token_file) if self.cfg.token_file else None
        while records := self.pending():
            try:
                with urllib.request.urlopen(request(self.cfg, records[0], token), timeout=_TIMEOUT) as reply:
                    reply.read()
            except (urllib.error.URLError, OSError, ValueError) as err:
                _LOGGER.info("alert push to %s failed (%s); %d queued, retry in %.0f s",
                             self.cfg.url, err, len(records), self.cfg.retry)
                return False
            with self._lock:
                rest = self._load()
                if rest and rest[0] == records[0]:
                    self._save(rest[1:])
            self.delivered += 1
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            ok = self.deliver_once()
            self._wake.wait(None if ok else self.cfg.retry)
            self._wake.clear()

    def _load(self) -> list[dict[str, object]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                _LOGGER.debug("damaged push queue line dropped: %r", line)  # a torn write at power loss
        return out

    def _save(self, records: list[dict[str, object]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a power cut leaves the old or the new queue
