"""Writes queued points to InfluxDB: batching, backoff, Retry-After, splitting and dead letters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum
import logging
import threading
import time
from typing import Final, Generic, TypeVar

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
import urllib3

from .backfill import Backfill, Sorted, sort
from .points import PRECISION, BadLine, timestamp_of
from .queue import PointQueue, Row

_LOGGER = logging.getLogger(__name__)

#: Rejections that will fail the same way on every retry: 400 bad line protocol or field type
#: conflict, 422 points outside the bucket's retention. 413 is handled by splitting first.
PERMANENT: Final = frozenset({400, 413, 422})
#: Never sleep longer than this on a server's Retry-After, whatever it says.
MAX_RETRY_AFTER: Final = 3600.0
FIRST_BACKOFF: Final = 1.0


class Verdict(Enum):
    """What became of one write request."""

    OK = "ok"
    RETRY = "retry"  # transient: wait and send the same batch again
    REJECTED = "rejected"  # permanent for at least one line of the batch


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one HTTP write."""

    verdict: Verdict
    status: int | None = None  # HTTP status; None when no response (refused, timeout)
    reason: str = ""
    retry_after: float | None = None  # seconds the server asked us to wait


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, min(float(value), MAX_RETRY_AFTER))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when - (time.time() if now is None else now), MAX_RETRY_AFTER))


class InfluxWriter:
    """One sync HTTP write per call to ``/api/v2/write``; classifies the answer, never raises."""

    def __init__(self, url: str, org: str, bucket: str, token: str, timeout: float) -> None:
        self.bucket = bucket
        self.org = org
        # retries=False: this module decides when to retry, with the queue as the buffer.
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=int(timeout * 1000), retries=False)
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        assert PRECISION == "ms"

    def write(self, lines: list[str], bucket: str | None = None) -> Result:
        """Send ``lines`` as one request (to the raw bucket unless ``bucket`` is given)."""
        try:
            self._api.write(bucket=bucket or self.bucket, org=self.org, record="\n".join(lines), write_precision=WritePrecision.MS)
        except ApiException as err:
            status = int(err.status or 0)
            reason = _error_text(err)
            retry_after = retry_after_seconds(_header(err, "Retry-After"))
            if status in PERMANENT:
                return Result(Verdict.REJECTED, status, reason)
            return Result(Verdict.RETRY, status, reason, retry_after)
        except (urllib3.exceptions.HTTPError, OSError) as err:
            return Result(Verdict.RETRY, None, f"{type(err).__name__}: {err}")
        return Result(Verdict.OK, 204)

    def close(self) -> None:
        """Release the HTTP pool."""
        self._client.close()


def _line(row: Row) -> str:
    return row.line


def _timestamp_or_zero(line: str) -> int:
    try:
        return timestamp_of(line)
    except BadLine:
        return 0


def _header(err: ApiException, name: str) -> str | None:
    headers = err.headers
    if headers is None:
        return None
    if hasattr(headers, "get"):
        value = headers.get(name)
        return str(value) if value is not None else None
    for key, value in headers:
        if key.lower() == name.lower():
            return str(value)
    return None


def _error_text(err: ApiException) -> str:
    body = err.body.decode("utf-8", "replace") if isinstance(err.body, bytes) else str(err.body or "")
    text = f"HTTP {err.status} {err.reason or ''}".strip()
    return f"{text}: {body.strip()[:300]}" if body.strip() else text


T = TypeVar("T")


@dataclass
class Split(Generic[T]):
    """What ``write_split`` did with a list of items."""

    written: list[T]
    refused: list[tuple[T, Result]]  # refused for good, each alone
    retry: Result | None  # the transient failure that stopped it; the rest was not sent
    requests: int
    latency_ms: float | None  # of the last successful request


def write_split(writer: InfluxWriter, items: list[T], line: Callable[[T], str], bucket: str | None = None,
                stop: threading.Event | None = None) -> Split[T]:
    """Write ``items`` in one request; when InfluxDB refuses it for good, halve the batch until
    the offending single items are found, and write everything else. Stops at the first
    transient failure (or when ``stop`` is set), so what is left can be sent again in order."""
    out: Split[T] = Split([], [], None, 0, None)
    pending = [items] if items else []
    while pending and not (stop is not None and stop.is_set()):
        batch = pending.pop(0)
        started = time.monotonic()
        result = writer.write([line(item) for item in batch], bucket)
        out.requests += 1
        if result.verdict is Verdict.OK:
            out.written += batch
            out.latency_ms = (time.monotonic() - started) * 1000
        elif result.verdict is Verdict.REJECTED and len(batch) > 1:
            half = len(batch) // 2
            pending[:0] = [batch[:half], batch[half:]]
        elif result.verdict is Verdict.REJECTED:
            out.refused.append((batch[0], result))
        else:
            out.retry = result
            break
    return out


@dataclass
class WriterStats:
    """Counters the status line and topic report."""

    written: int = 0
    late: int = 0  # points moved to the backfill table
    requests: int = 0
    dead_lettered: int = 0
    last_latency_ms: float | None = None
    last_error: str | None = None
    failing_since: float | None = None


class QueueWriter:
    """Drains a PointQueue into InfluxDB in arrival order, in its own thread.

    A batch is sent when ``batch_size`` rows are queued or the oldest has waited
    ``flush_interval``. Rows are removed only after a 2xx. Transient failures back off
    exponentially up to ``max_backoff`` (or honour Retry-After) and retry the same batch, so
    order is kept. A permanent rejection is narrowed down by splitting the batch until the
    offending single lines are found; those go to the dead-letter table with the reason,
    everything else is written (rewriting a point Influx already has is harmless).

    With a ``Backfill``, points too late for the downsampling tasks are also kept for it
    (and not sent at all when the raw retention no longer holds them); its windows are
    aggregated and written whenever the raw queue has no full batch waiting.
    """

    def __init__(
        self,
        queue: PointQueue,
        writer: InfluxWriter,
        batch_size: int,
        flush_interval: float,
        max_backoff: float,
        backfill: Backfill | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue = queue
        self.backfill = backfill
        self.clock = clock
        # False while the backfill table is known to be empty: spares the hot path its queries.
        self._backfill_pending = backfill is not None and queue.backfill_depth() > 0
        self._backfill_after = 0.0
        self._backfill_backoff = min(FIRST_BACKOFF, max_backoff)
        self.writer = writer
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_backoff = max_backoff
        self.stats = WriterStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = min(FIRST_BACKOFF, max_backoff)
        self._waiting_since: float | None = None

    def notify(self) -> None:
        """New rows were committed (called by the MQTT side)."""
        self._wake.set()

    def start(self) -> None:
        """Run the drain loop in a thread."""
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        """False once the drain thread has died."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the request in flight (if any) and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
        except Exception:  # a bug here must be loud, the supervisor restarts us
            _LOGGER.exception("writer thread crashed")
            raise
        finally:
            self.queue.close()

    def step(self) -> None:
        """Send at most one batch, or aggregate late windows, or wait for a batch to be due."""
        now = time.monotonic()
        if not self.queue.has(self.batch_size):
            if not self.queue.has(1):
                self._waiting_since = None
                if not self._backfill_step():
                    self._wake.wait(self.flush_interval)
                    self._wake.clear()
                return
            if self._waiting_since is None:
                self._waiting_since = now
            due = self._waiting_since + self.flush_interval
            if now < due:
                if not self._backfill_step():
                    self._wake.wait(due - now)
                    self._wake.clear()
                return
        self._waiting_since = None
        self._send(self.queue.peek(self.batch_size))

    def _send(self, rows: list[Row]) -> None:
        s = Sorted(rows, [], {}, []) if self.backfill is None else sort(self.backfill.routing, rows, self.clock())
        out = write_split(self.writer, s.send, _line, stop=self._stop)
        self.stats.requests += out.requests
        if out.latency_ms is not None:
            self.stats.last_latency_ms = out.latency_ms
            if self.stats.failing_since is not None:
                _LOGGER.info("InfluxDB writes work again after %.0f s", time.monotonic() - self.stats.failing_since)
            self.stats.failing_since = None
            self.stats.last_error = None
            self._backoff = min(FIRST_BACKOFF, self.max_backoff)
        # One transaction for the whole batch, however it was split (fsyncs are slow on SD
        # cards). A crash before this only means some points are written twice: harmless.
        refused_late = [row for row, _result in out.refused if row.id in s.late]  # safe in the backfill table
        dead = [(row, result) for row, result in out.refused if row.id not in s.late]
        done = out.written + refused_late + s.held
        late = [s.late[r.id] for r in done if r.id in s.late]
        self.queue.settle(done, [(row, result.reason, result.status) for row, result in dead]
                          + [(row, reason, None) for row, reason in s.unreadable], late)
        self.stats.written += len(out.written)
        self.stats.late += len(late)
        self._backfill_pending = self._backfill_pending or bool(late)
        self.stats.dead_lettered += len(dead) + len(s.unreadable)
        if dead:
            _LOGGER.warning("dead-lettered %d point(s) InfluxDB rejects for good, first (%s): %.200s",
                            len(dead), dead[0][1].reason, dead[0][0].line)
        if out.retry is not None:
            self._retry_later(out.retry)  # what is left is peeked again after the wait, in order

    def _backfill_step(self) -> bool:
        """Aggregate and write the next ready late windows; False when none was ready (or
        the last attempt failed recently: the backfill backs off on its own, so raw points
        keep flowing if only the tier buckets are unwritable)."""
        if self.backfill is None or not self._backfill_pending or time.monotonic() < self._backfill_after:
            return False
        # While late rows still wait in the queue, more rows of the same windows may follow:
        # then only windows a later window of the same series has closed are aggregated.
        now = self.clock()
        head = self.queue.peek(1)
        everything = not head or not self.backfill.routing.is_late(_timestamp_or_zero(head[0].line), now)
        batch = self.backfill.next_batch(now, everything)
        if not batch.groups:
            return False
        for bucket, lines in batch.lines.items():
            for i in range(0, len(lines), self.batch_size):
                failed = self._write_tier(bucket, lines[i : i + self.batch_size])
                if failed is not None:  # nothing dropped: the same windows are aggregated again
                    if failed.reason != self.backfill.stats.error:
                        _LOGGER.warning("writing late points to tier bucket %s failed, will retry: %s",
                                        bucket, failed.reason)
                    self.backfill.stats.error = failed.reason
                    delay = failed.retry_after if failed.retry_after is not None else self._backfill_backoff
                    self._backfill_after = time.monotonic() + delay
                    self._backfill_backoff = min(self._backfill_backoff * 2, self.max_backoff)
                    return False
        self.backfill.stats.error = None
        self._backfill_backoff = min(FIRST_BACKOFF, self.max_backoff)
        self.queue.backfill_done(batch.groups, batch.bad)
        self._backfill_pending = self.queue.backfill_depth() > 0
        self.backfill.stats.windows += len(batch.groups)
        self.stats.dead_lettered += len(batch.bad)
        if batch.bad:
            _LOGGER.warning("dead-lettered %d late point(s) that cannot be aggregated, first: %s",
                            len(batch.bad), batch.bad[0][1])
        return True

    def _write_tier(self, bucket: str, lines: list[str]) -> Result | None:
        """Write tier lines, splitting around lines refused for good; the failure to retry, if any."""
        assert self.backfill is not None
        out = write_split(self.writer, lines, str, bucket)
        self.stats.requests += out.requests
        self.backfill.stats.tier_points += len(out.written)
        self.backfill.stats.rejected += len(out.refused)
        for line, result in out.refused:
            _LOGGER.warning("InfluxDB refused a late tier point for good (%s): %.200s", result.reason, line)
        return out.retry

    def _retry_later(self, result: Result) -> None:
        if self.stats.failing_since is None:
            self.stats.failing_since = time.monotonic()
        if result.reason != self.stats.last_error:
            hint = " (check influx.token_file and the token's write permission on the bucket)" \
                if result.status in (401, 403) else ""
            _LOGGER.warning("InfluxDB write failed, points stay queued: %s%s", result.reason, hint)
        self.stats.last_error = result.reason
        if result.retry_after is not None:
            delay = result.retry_after
        else:
            delay = self._backoff
            self._backoff = min(self._backoff * 2, self.max_backoff)
        self._stop.wait(delay)
