"""The Influx writer against the write-API stand-in: every documented answer handled, nothing dropped."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path
import socket
import time

import pytest

from influx_standin import InfluxStandIn
from solarmon.bridge.mqtt import _ReadBuffer
from solarmon.bridge.queue import PointQueue
from solarmon.bridge.writer import InfluxWriter, QueueWriter, Verdict, retry_after_seconds

TOKEN = "w-token"


@pytest.fixture
def influx():
    with InfluxStandIn(token=TOKEN, max_body=20_000) as s:
        s.add_bucket("raw", 0)
        yield s


def _lines(n: int, start: int = 1_700_000_000_000) -> list[str]:
    return [f"jbd-bms,device=b,kind=jbd-bms soc={i}.5,cycles={i}i {start + i}" for i in range(n)]


def _writer(influx: InfluxStandIn, tmp_path: Path, token: str = TOKEN, batch: int = 50,
            max_backoff: float = 0.2) -> QueueWriter:
    q = PointQueue(tmp_path / "q.sqlite")
    return QueueWriter(q, InfluxWriter(influx.url, "solarmon", "raw", token, 2), batch, 0.05, max_backoff)


def _drain(w: QueueWriter, until, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "writer did not get there"
        w.step()


def test_written_in_order_and_removed_only_after_204(influx: InfluxStandIn, tmp_path: Path) -> None:
    w = _writer(influx, tmp_path)
    w.queue.put(_lines(120))
    _drain(w, lambda: w.queue.depth() == 0)
    assert len(influx.bucket_points("raw")) == 120
    assert influx.statuses == [204, 204, 204]  # 50 + 50 + 20 (the last one after flush_interval)
    assert w.stats.written == 120 and w.stats.last_latency_ms is not None


@pytest.mark.parametrize("status", [401, 403, 404, 500, 503])
def test_transient_failures_keep_points_queued(influx: InfluxStandIn, tmp_path: Path, status: int) -> None:
    influx.fail_next(status, 2)
    w = _writer(influx, tmp_path)
    w.queue.put(_lines(10))
    w.step()
    w.step()  # first two attempts fail, with backoff
    assert w.queue.depth() == 10 and influx.bucket_points("raw") == {}
    assert str(status) in (w.stats.last_error or "")
    _drain(w, lambda: w.queue.depth() == 0)
    assert len(influx.bucket_points("raw")) == 10 and w.stats.last_error is None


def test_wrong_token_is_retried_not_dropped(influx: InfluxStandIn, tmp_path: Path) -> None:
    w = _writer(influx, tmp_path, token="wrong", batch=5)
    w.queue.put(_lines(5))
    w.step()
    assert w.queue.depth() == 5 and "401" in (w.stats.last_error or "")


def test_429_retry_after_is_honoured(influx: InfluxStandIn, tmp_path: Path) -> None:
    influx.fail_next(429, 1, retry_after="1")
    w = _writer(influx, tmp_path, max_backoff=0.05)
    w.queue.put(_lines(5))
    started = time.monotonic()
    _drain(w, lambda: w.queue.depth() == 0)
    assert time.monotonic() - started >= 0.95  # the server's 1 s, not our 0.05 s backoff
    assert influx.statuses == [429, 204]


def test_connection_refused_then_recovery(influx: InfluxStandIn, tmp_path: Path) -> None:
    w = _writer(influx, tmp_path, batch=30)
    w.queue.put(_lines(30))
    influx.down()
    w.step()
    assert w.queue.depth() == 30 and "Connection refused" in (w.stats.last_error or "")
    influx.up()
    _drain(w, lambda: w.queue.depth() == 0)
    assert len(influx.bucket_points("raw")) == 30


def test_413_splits_the_batch(influx: InfluxStandIn, tmp_path: Path) -> None:
    w = _writer(influx, tmp_path, batch=400)  # ~60 B/line: 400 lines exceed the 20 kB limit
    w.queue.put(_lines(400))
    _drain(w, lambda: w.queue.depth() == 0)
    assert len(influx.bucket_points("raw")) == 400
    assert influx.statuses.count(413) >= 1 and w.queue.dead_letter_count() == 0


def test_single_line_too_large_is_dead_lettered(influx: InfluxStandIn, tmp_path: Path) -> None:
    w = _writer(influx, tmp_path)
    w.queue.put([_lines(1)[0], 'jbd-bms,device=b,kind=jbd-bms software_version="' + "x" * 30_000 + '" 1700000000999',
                 *_lines(2, 1_700_000_001_000)])
    _drain(w, lambda: w.queue.depth() == 0)
    assert len(influx.bucket_points("raw")) == 3
    ((line, reason, status),) = w.queue.dead_letters()
    assert status == 413 and "too large" in reason and "x" * 100 in line


def test_field_type_conflict_dead_letters_only_the_bad_point(influx: InfluxStandIn, tmp_path: Path) -> None:
    w = _writer(influx, tmp_path)
    lines = _lines(40)
    lines[17] = "jbd-bms,device=b,kind=jbd-bms soc=17i 1700000000017"  # int where float exists
    w.queue.put(lines)
    _drain(w, lambda: w.queue.depth() == 0)
    assert len(influx.bucket_points("raw")) == 39
    ((line, reason, status),) = w.queue.dead_letters()
    assert line == lines[17] and status == 400 and "field type conflict" in reason


def test_points_beyond_retention_are_dead_lettered(influx: InfluxStandIn, tmp_path: Path) -> None:
    influx.bucket_by_name("raw").retention = 3600
    w = _writer(influx, tmp_path)
    now_ms = int(time.time() * 1000)
    w.queue.put([f"m f=1 {now_ms}", f"m f=2 {now_ms - 7200_000}"])
    _drain(w, lambda: w.queue.depth() == 0)
    (dead,) = w.queue.dead_letters()
    assert dead[2] == 422 and "beyond retention" in dead[1]


def test_retry_after_forms() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("999999") == 3600.0
    assert retry_after_seconds(formatdate(time.time() + 30, usegmt=True)) == pytest.approx(30, abs=2)


def test_write_verdicts(influx: InfluxStandIn) -> None:
    w = InfluxWriter(influx.url, "solarmon", "raw", TOKEN, 2)
    assert w.write(_lines(1)).verdict is Verdict.OK
    assert w.write(["not line protocol"]).verdict is Verdict.REJECTED
    influx.fail_next(503, retry_after="2")
    r = w.write(_lines(1))
    assert (r.verdict, r.status, r.retry_after) == (Verdict.RETRY, 503, 2.0)
    assert InfluxWriter(influx.url, "solarmon", "nope", TOKEN, 2).write(_lines(1)).status == 404


def test_read_buffer_serves_small_reads_from_one_recv() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    buf = _ReadBuffer(a)
    b.sendall(b"\x30\x05hello\x40\x02")
    assert buf.recv(1) == b"\x30" and buf.pending() == 8
    assert buf.recv(1) == b"\x05" and buf.recv(5) == b"hello"
    assert buf.recv(1) == b"\x40" and buf.recv(10) == b"\x02"  # short read at the end, like a socket
    assert buf.pending() == 0
    with pytest.raises(BlockingIOError):
        buf.recv(1)
    b.sendall(b"x" * 100_000)
    got = b""
    deadline = time.monotonic() + 5
    while len(got) < 100_000 and time.monotonic() < deadline:
        try:
            got += buf.recv(3000)
        except BlockingIOError:
            time.sleep(0.01)
    assert got == b"x" * 100_000
    assert buf.fileno() == a.fileno()
    a.close()
    b.close()
