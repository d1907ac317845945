"""MQTT intake: a persistent QoS 1 session whose messages are acked only once they are on disk."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
import logging
import struct
import threading
import time
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..payload import BadPayload, decode
from .points import to_line
from .queue import PointQueue

_LOGGER = logging.getLogger(__name__)

#: Session kept by the broker while the bridge is away (MQTT 5 maximum: never expires).
SESSION_EXPIRY: Final = 0xFFFFFFFF
#: Unacked messages the broker may have in flight to us (MQTT 5 Receive Maximum). Acks wait
#: for a disk commit, so this window must cover rate x commit time; mosquitto's v3.1.1
#: default of 20 would cap the bridge at a few hundred messages per second.
RECEIVE_MAXIMUM: Final = 4000
#: Group commit: one fsync for up to this many messages or this much waiting.
COMMIT_MAX: Final = 2000
COMMIT_DELAY: Final = 0.02
#: Messages held in memory before the network thread stops reading the socket (TCP then
#: pushes back on the broker, which keeps the rest). mosquitto 2.0 was seen sending a
#: backlog far beyond the Receive Maximum; this keeps memory flat whatever the backlog.
MAX_PENDING: Final = 2 * COMMIT_MAX


class _ReadBuffer:
    """A socket whose reads are served from a 64 KiB userspace buffer.

    paho reads every packet with several tiny ``recv`` calls (type byte, each length byte,
    body); at thousands of messages per second those syscalls cost more than the decoding.
    paho already polls ``pending()`` (it does for TLS sockets) before it waits in select, so
    buffered bytes are never left unread. Everything but recv/pending goes to the socket.
    """

    _CHUNK: Final = 65536

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._data):
            data = self._sock.recv(max(bufsize, self._CHUNK))  # BlockingIOError passes through
            if len(data) <= bufsize:
                return data
            self._data, self._pos = data, 0
        end = min(self._pos + bufsize, len(self._data))
        out = self._data[self._pos:end]
        self._pos = end
        return out

    def pending(self) -> int:
        return len(self._data) - self._pos

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


_PUBACK: Final = struct.Struct("!BBH")  # type 0x40, remaining length 2, packet id (MQTT 5: reason 0 omitted)


class _Client(mqtt.Client):
    """paho's client with buffered socket reads (see _ReadBuffer) and batched PUBACKs."""

    def _create_socket(self) -> Any:
        return _ReadBuffer(super()._create_socket())

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK QoS 1 messages with one socket write; paho's ``ack`` costs a wake-up and a
        send per message. The frames are queued through paho's own outgoing packet queue."""
        if not mids:
            return
        frames = b"".join(_PUBACK.pack(PUBACK, 2, mid) for mid in mids)
        self._packet_queue(PUBACK, frames, 0, 1)


@dataclass(frozen=True, slots=True)
class _Pending:
    mid: int
    generation: int
    topic: str
    payload: bytes


class MqttIntake:
    """Subscribes to ``<prefix>/+/state`` and moves each message into the queue.

    paho's network thread only appends to an in-memory list; a committer thread decodes the
    messages (so decoding overlaps paho's socket I/O), writes the points to SQLite in one
    transaction and then sends the PUBACKs, in arrival order. Malformed messages are acked
    without storing: they can never become valid.
    A crash before the commit loses nothing: the broker still holds the unacked messages and
    redelivers them to the resumed session. Acks from an earlier connection are never sent
    on a new one (packet ids are reused); the broker redelivers those messages instead, and
    the duplicate is harmless because Influx keeps one point per series and timestamp.
    """

    def __init__(
        self,
        queue: PointQueue,
        *,
        host: str,
        port: int,
        client_id: str,
        topic_prefix: str,
        keepalive: int = 30,
        username: str | None = None,
        password: str | None = None,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.queue = queue
        self.host, self.port, self.keepalive = host, port, keepalive
        self.prefix = topic_prefix
        self.topic = f"{topic_prefix}/+/state"
        self.status_topic = f"{topic_prefix}/bridge/status"
        self.on_commit = on_commit
        self.received = 0
        self.stored = 0
        self.malformed: Counter[str] = Counter()
        self.peak_pending = 0  # most messages ever held in memory before their commit
        self.subscribed = threading.Event()
        self._pending: list[_Pending] = []
        self._cond = threading.Condition()
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._stop = threading.Event()
        self._committer: threading.Thread | None = None
        self.client = _Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.will_set(self.status_topic, b'{"state":"offline"}', qos=1, retain=True)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Connect (retrying in the background until the broker is there) and start committing."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self._committer = threading.Thread(target=self._commit_loop, name="queue-commit", daemon=True)
        self._committer.start()
        # clean_start=False + a session that never expires = MQTT 3.1.1's clean_session=False.
        self.client.connect_async(self.host, self.port, self.keepalive, clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        """Commit and ack what has arrived, then disconnect (the session stays on the broker)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._committer:
            self._committer.join(30)
        self.client.disconnect()
        self.client.loop_stop()

    def is_alive(self) -> bool:
        """False once the committer thread has died."""
        return self._committer is not None and self._committer.is_alive()

    def publish_status(self, payload: bytes) -> None:
        """Retained status message (best effort: QoS 1, not waited for, skipped while offline)."""
        if self.client.is_connected():
            self.client.publish(self.status_topic, payload, qos=1, retain=True)

    # --- paho callbacks (network thread) -------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            _LOGGER.warning("MQTT broker %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        with self._ack_lock:
            self._generation += 1
        _LOGGER.info("connected to MQTT broker %s:%d (session %s)", self.host, self.port,
                     "resumed" if flags.session_present else "new")
        client.subscribe(self.topic, qos=1)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._ack_lock:
            self._generation += 1
        self.subscribed.clear()
        if not self._stop.is_set():
            _LOGGER.warning("MQTT connection lost (%s); reconnecting", reason)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            _LOGGER.error("broker refused the subscription to %s: %s", self.topic, reasons)
            return
        self.subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        with self._cond:
            self._pending.append(_Pending(msg.mid, self._generation, msg.topic, msg.payload))
            self.peak_pending = max(self.peak_pending, len(self._pending))
            if len(self._pending) == 1 or len(self._pending) >= COMMIT_MAX:
                self._cond.notify_all()
            while len(self._pending) >= MAX_PENDING and not self._stop.is_set():
                self._cond.wait(1.0)  # back-pressure: the committer is behind

    def _to_line(self, topic: str, payload: bytes) -> str | None:
        parts = topic.split("/")
        device = parts[-2] if len(parts) >= 3 else None
        try:
            sample = decode(payload, device)
        except BadPayload as err:
            self._count_malformed(err.reason, str(err), topic)
            return None
        line = to_line(sample)
        if line is None:
            self._count_malformed("all-null", "every field is null", topic)
        return line

    def _count_malformed(self, reason: str, detail: str, topic: str) -> None:
        # Logged once per reason (a broken publisher would otherwise flood the journal).
        if not self.malformed[reason]:
            _LOGGER.warning("dropping malformed message on %s (%s); further ones are only counted", topic, detail)
        self.malformed[reason] += 1

    # --- committer thread ------------------------------------------------------------

    def _commit_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._stop.is_set():
                        self._cond.wait()
                    if not self._pending and self._stop.is_set():
                        return
                # Let a burst gather so one fsync covers many messages.
                deadline = time.monotonic() + COMMIT_DELAY
                with self._cond:
                    while len(self._pending) < COMMIT_MAX and not self._stop.is_set():
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                    batch, self._pending = self._pending[:COMMIT_MAX], self._pending[COMMIT_MAX:]
                    self._cond.notify_all()  # room again for a blocked network thread
                self._commit(batch)
        except Exception:  # e.g. disk full: nothing was acked, the broker keeps the messages
            _LOGGER.exception("cannot store messages in the queue; stopping intake")
            raise
        finally:
            self.queue.close()

    def _commit(self, batch: list[_Pending]) -> None:
        lines = [line for p in batch if (line := self._to_line(p.topic, p.payload)) is not None]
        self.queue.put(lines)  # durable when this returns
        self.stored += len(lines)
        with self._ack_lock:
            self.client.ack_many([p.mid for p in batch if p.generation == self._generation])
        if lines and self.on_commit:
            self.on_commit(len(lines))
