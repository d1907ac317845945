"""A STAND-IN for InfluxDB 2, not InfluxDB: a small local HTTP server for tests and benchmarks.

InfluxDB 2 cannot be installed on the development machine, so this implements just the
documented contract the bridge and bootstrap rely on, from the public v2 API reference:

- ``POST /api/v2/write?org=&bucket=&precision=``: token auth (401), body size limit (413),
  line protocol parsed and stored per series + timestamp (a rewrite replaces fields, as in
  InfluxDB), field type conflicts rejected with 400 (the other points of the request are
  kept: a "partial write"), points older than the bucket's retention rejected with 422,
  204 on success. Failures can be scripted: the next N requests answer 429/503 with
  Retry-After, and ``down()`` closes the port so clients get "connection refused".
- ``GET /ping``, ``GET /api/v2/orgs``, ``GET|POST /api/v2/buckets``, ``PATCH
  /api/v2/buckets/{id}``, ``GET|POST /api/v2/tasks``, ``PATCH /api/v2/tasks/{id}``: enough
  for an idempotent bootstrap; tasks are stored, never run. ``deny`` makes chosen
  resource+action pairs answer 403 as InfluxDB does for a token without that permission.

What it does not do: query, Flux, tasks running, TSM storage, gzip negotiation beyond
decoding a gzip body. The real InfluxDB path is tested in the NixOS VM test.
"""

from __future__ import annotations

from collections import deque
import contextlib
from dataclasses import dataclass, field
import gzip
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import itertools
import json
import re
import socket
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

FieldValue = float | int | bool | str
SeriesKey = tuple[str, str, tuple[tuple[str, str], ...], int]  # bucket, measurement, tags, ts (ns)

_PRECISION_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


class LineProtocolError(ValueError):
    """A line that InfluxDB would reject as unparsable."""


@dataclass(frozen=True)
class Point:
    """One parsed line."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    ts_ns: int


def _split(text: str, sep: str, *, quotes: bool = False) -> list[str]:
    """Split on unescaped ``sep`` (outside double quotes when ``quotes``), keeping escapes."""
    out, cur, i, in_q = [], [], 0, False
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if quotes and c == '"':
            in_q = not in_q
        if c == sep and not in_q:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    if in_q:
        raise LineProtocolError("unterminated string")
    out.append("".join(cur))
    return out


def _unescape(text: str, chars: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in chars:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _value(raw: str) -> FieldValue:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise LineProtocolError(f"bad string {raw!r}")
        return _unescape(raw[1:-1], '"\\')
    if raw in ("t", "T", "true", "True", "TRUE"):
        return True
    if raw in ("f", "F", "false", "False", "FALSE"):
        return False
    if re.fullmatch(r"-?\d+i", raw):
        return int(raw[:-1])
    if re.fullmatch(r"\d+u", raw):
        return int(raw[:-1])  # stored as int; the bridge never writes uints
    try:
        value = float(raw)
    except ValueError:
        raise LineProtocolError(f"bad field value {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise LineProtocolError(f"non-finite float {raw!r}")
    return value


def field_type(value: FieldValue) -> str:
    """InfluxDB's name for a value's type."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "string"


def _split_key(line: str) -> tuple[str, str, str]:
    """Split at the first unescaped space: measurement and tags before it, the rest after."""
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == " ":
            return line[:i], " ", line[i + 1 :]
        i += 1
    return line, "", ""


def parse_line(line: str, precision: str = "ns", now_ns: int | None = None) -> Point:
    """Parse one line of line protocol (independently of the bridge's serialiser)."""
    # Quotes delimit strings only in the field set: a '"' in a tag value is an ordinary byte.
    key, sep, rest = _split_key(line)
    sections = [key, *_split(rest, " ", quotes=True)] if sep else [key]
    if len(sections) not in (2, 3):
        raise LineProtocolError(f"expected 2 or 3 space-separated sections, got {len(sections)}")
    key_parts = _split(sections[0], ",")
    measurement = _unescape(key_parts[0], ", \\")
    if not measurement:
        raise LineProtocolError("missing measurement")
    tags: dict[str, str] = {}
    for part in key_parts[1:]:
        kv = _split(part, "=")
        if len(kv) != 2 or not kv[0] or not kv[1]:
            raise LineProtocolError(f"bad tag {part!r}")
        tags[_unescape(kv[0], ",= \\")] = _unescape(kv[1], ",= \\")
    fields: dict[str, FieldValue] = {}
    for part in _split(sections[1], ",", quotes=True):
        kv = _split(part, "=", quotes=True)
        if len(kv) != 2 or not kv[0]:
            raise LineProtocolError(f"bad field {part!r}")
        fields[_unescape(kv[0], ",= \\")] = _value(kv[1])
    if not fields:
        raise LineProtocolError("no fields")
    if len(sections) == 3:
        if not re.fullmatch(r"-?\d+", sections[2]):
            raise LineProtocolError(f"bad timestamp {sections[2]!r}")
        ts_ns = int(sections[2]) * _PRECISION_NS[precision]
    else:
        ts_ns = time.time_ns() if now_ns is None else now_ns
    return Point(measurement, tags, fields, ts_ns)


@dataclass
class Bucket:
    """A bucket as the v2 API describes it."""

    id: str
    name: str
    org_id: str
    retention: int  # s, 0 = forever

    def to_json(self) -> dict[str, Any]:
        """The API representation."""
        rules = [{"type": "expire", "everySeconds": self.retention}] if self.retention else []
        return {"id": self.id, "name": self.name, "orgID": self.org_id, "type": "user",
                "retentionRules": rules, "links": {}, "labels": []}


@dataclass
class Task:
    """A stored (never executed) task."""

    id: str
    name: str
    org_id: str
    org: str
    flux: str
    status: str = "active"
    every: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The API representation."""
        return {"id": self.id, "name": self.name, "orgID": self.org_id, "org": self.org, "flux": self.flux,
                "status": self.status, "every": self.every, "labels": [], "links": {}}


@dataclass
class Scripted:
    """A canned failure answer for the next write request(s)."""

    status: int
    retry_after: str | None = None
    body: dict[str, str] = field(default_factory=lambda: {"code": "unavailable", "message": "scripted failure"})


class _Server(ThreadingHTTPServer):
    """Tracks open connections so ``down`` can cut keep-alive clients off too."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.open_conns: set[socket.socket] = set()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.open_conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.open_conns.discard(request)
        super().shutdown_request(request)

    def cut_all(self) -> None:
        for conn in list(self.open_conns):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class InfluxStandIn:
    """The server plus its state. Thread-safe; use as a context manager or ``start``/``close``."""

    def __init__(
        self, token: str = "test-token", org: str = "solarmon", max_body: int = 50_000_000, keep_points: bool = True
    ) -> None:
        self.token = token
        #: False (benchmarks): only count lines and distinct series+timestamp keys, with a cheap
        #: split that assumes no escaped spaces in measurement/tags; no parsing, no type checks.
        self.keep_points = keep_points
        self.distinct: set[int] = set()
        self.org = org
        self.org_id = "0000000000000001"
        self.max_body = max_body
        self.port = 0
        self.lock = threading.Lock()
        self.points: dict[SeriesKey, dict[str, FieldValue]] = {}
        self.field_types: dict[tuple[str, str, str], str] = {}
        self.buckets: dict[str, Bucket] = {}
        self.tasks: dict[str, Task] = {}
        self.deny: set[tuple[str, str]] = set()  # (resource, "read"|"write")
        self.script: deque[Scripted] = deque()
        self.statuses: list[int] = []  # every write request's answer, in order
        self.lines_received = 0
        self.write_delay = 0.0
        self._ids = itertools.count(0x0A00)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- process control ------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL for clients."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (again, on the same port after ``down``)."""
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = _Server(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening: clients get connection refused until ``up``."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server.cut_all()
            self._server = None

    def up(self) -> None:
        """Listen again on the same port."""
        self.start()

    def close(self) -> None:
        """Stop for good."""
        self.down()

    def __enter__(self) -> InfluxStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- test helpers -----------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``count`` write requests with ``status``."""
        with self.lock:
            self.script.extend(Scripted(status, retry_after) for _ in range(count))

    def add_bucket(self, name: str, retention: int) -> Bucket:
        """Create a bucket directly (as an operator would)."""
        with self.lock:
            b = Bucket(self._new_id(), name, self.org_id, retention)
            self.buckets[b.id] = b
            return b

    def bucket_points(self, bucket: str) -> dict[SeriesKey, dict[str, FieldValue]]:
        """Stored points of one bucket (copy)."""
        with self.lock:
            return {k: dict(v) for k, v in self.points.items() if k[0] == bucket}

    def _new_id(self) -> str:
        return f"{next(self._ids):016x}"

    def bucket_by_name(self, name: str) -> Bucket | None:
        """The bucket called ``name``."""
        return next((b for b in self.buckets.values() if b.name == name), None)

    # --- request handling (called from the handler threads) ----------------------------

    def handle_write(self, query: dict[str, str], body: bytes) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        with self.lock:
            if self.script:
                s = self.script.popleft()
                return s.status, s.body, ({"Retry-After": s.retry_after} if s.retry_after else {})
        if len(body) > self.max_body:
            return 413, {"code": "request too large", "message": "unable to read data: request too large"}, {}
        if ("buckets", "write") in self.deny:
            return 403, {"code": "forbidden", "message": "insufficient permissions for write"}, {}
        if query.get("org") not in (self.org, self.org_id) and query.get("orgID") != self.org_id:
            return 404, {"code": "not found", "message": f"organization name \"{query.get('org')}\" not found"}, {}
        bucket = self.bucket_by_name(query.get("bucket", ""))
        if bucket is None:
            return 404, {"code": "not found", "message": f"bucket \"{query.get('bucket')}\" not found"}, {}
        precision = query.get("precision", "ns")
        if precision not in _PRECISION_NS:
            return 400, {"code": "invalid", "message": f"invalid precision {precision!r}"}, {}
        if not self.keep_points:
            lines = body.split(b"\n")
            keys = {hash((line.split(b" ", 1)[0], line.rsplit(b" ", 1)[1])) for line in lines if line.strip()}
            with self.lock:
                self.lines_received += len(lines)
                self.distinct |= keys
            return 204, None, {}
        try:
            text = body.decode("utf-8")
            parsed = [parse_line(line, precision) for line in text.splitlines() if line.strip()
                      and not line.startswith("#")]
        except (UnicodeDecodeError, LineProtocolError) as err:
            return 400, {"code": "invalid", "message": f"unable to parse: {err}"}, {}
        if self.write_delay:
            time.sleep(self.write_delay)
        problems: list[str] = []
        dropped_retention = 0
        horizon = time.time_ns() - bucket.retention * 1_000_000_000 if bucket.retention else None
        with self.lock:
            self.lines_received += len(parsed)
            for p in parsed:
                if horizon is not None and p.ts_ns < horizon:
                    dropped_retention += 1
                    continue
                conflict = next(
                    (f"field type conflict: input field \"{k}\" on measurement \"{p.measurement}\" is type "
                     f"{field_type(v)}, already exists as type {self.field_types[(bucket.name, p.measurement, k)]}"
                     for k, v in p.fields.items()
                     if self.field_types.get((bucket.name, p.measurement, k), field_type(v)) != field_type(v)),
                    None,
                )
                if conflict:
                    problems.append(conflict)
                    continue
                for k, v in p.fields.items():
                    self.field_types[(bucket.name, p.measurement, k)] = field_type(v)
                key = (bucket.name, p.measurement, tuple(sorted(p.tags.items())), p.ts_ns)
                self.points.setdefault(key, {}).update(p.fields)
        if problems:
            return 400, {"code": "invalid", "message": f"partial write: {problems[0]} dropped={len(problems)}"}, {}
        if dropped_retention:
            return 422, {"code": "unprocessable entity",
                         "message": f"failure writing points to database: partial write: points beyond retention "
                                    f"policy dropped={dropped_retention}"}, {}
        return 204, None, {}


class _Handler(BaseHTTPRequestHandler):
    standin: InfluxStandIn
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle + delayed ACK add 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *_args: object) -> None:  # quiet
        pass

    def _reply(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("X-Influxdb-Build", "OSS")
        self.send_header("X-Influxdb-Version", "standin")
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return data

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Token {self.standin.token}":
            return True
        self._reply(401, {"code": "unauthorized", "message": "unauthorized access"})
        return False

    def _denied(self, resource: str, action: str) -> bool:
        if (resource, action) in self.standin.deny:
            self._reply(403, {"code": "forbidden",
                              "message": f"insufficient permissions for {action}:orgs/{self.standin.org_id}/{resource}"})
            return True
        return False

    def do_GET(self) -> None:
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        s = self.standin
        if url.path in ("/ping", "/health"):
            self._reply(204 if url.path == "/ping" else 200, None if url.path == "/ping" else {"status": "pass"})
            return
        if not self._authorized():
            return
        if url.path == "/api/v2/orgs":
            if self._denied("orgs", "read"):
                return
            orgs = [{"id": s.org_id, "name": s.org}] if q.get("org") in (None, s.org) else []
            self._reply(200, {"orgs": orgs, "links": {"self": self.path}})
        elif url.path == "/api/v2/buckets":
            if self._denied("buckets", "read"):
                return
            with s.lock:
                found = [b.to_json() for b in s.buckets.values() if q.get("name") in (None, b.name)]
            offset, limit = int(q.get("offset", 0)), int(q.get("limit", 20))
            self._reply(200, {"buckets": found[offset: offset + limit], "links": {"self": self.path}})
        elif url.path == "/api/v2/tasks":
            if self._denied("tasks", "read"):
                return
            with s.lock:
                found = [t.to_json() for t in sorted(s.tasks.values(), key=lambda t: t.id)
                         if q.get("name") in (None, t.name) and (q.get("after") is None or t.id > q["after"])]
            self._reply(200, {"tasks": found[: int(q.get("limit", 100))], "links": {"self": self.path}})
        else:
            self._reply(404, {"code": "not found", "message": "path not found"})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        s = self.standin
        body = self._body()
        if not self._authorized():
            return
        if url.path == "/api/v2/write":
            status, payload, headers = s.handle_write(q, body)
            with s.lock:
                s.statuses.append(status)
            self._reply(status, payload, headers)
        elif url.path == "/api/v2/buckets":
            if self._denied("buckets", "write"):
                return
            req = json.loads(body)
            rules = req.get("retentionRules") or []
            with s.lock:
                if s.bucket_by_name(req["name"]):
                    self._reply(422, {"code": "conflict", "message": "bucket with name already exists"})
                    return
                b = Bucket(s._new_id(), req["name"], req["orgID"], rules[0]["everySeconds"] if rules else 0)
                s.buckets[b.id] = b
            self._reply(201, b.to_json())
        elif url.path == "/api/v2/tasks":
            if self._denied("tasks", "write"):
                return
            req = json.loads(body)
            flux = req["flux"]
            name = re.search(r'option\s+task\s*=\s*\{[^}]*name:\s*"([^"]+)"', flux)
            every = re.search(r"option\s+task\s*=\s*\{[^}]*every:\s*(\w+)", flux)
            if not name:
                self._reply(400, {"code": "invalid", "message": "task must have a name in option task"})
                return
            with s.lock:
                t = Task(s._new_id(), name.group(1), req.get("orgID") or s.org_id, s.org, flux,
                         req.get("status", "active"), every.group(1) if every else None)
                s.tasks[t.id] = t
            self._reply(201, t.to_json())
        else:
            self._reply(404, {"code": "not found", "message": "path not found"})

    def do_PATCH(self) -> None:
        url = urlparse(self.path)
        s = self.standin
        body = self._body()
        if not self._authorized():
            return
        m = re.fullmatch(r"/api/v2/(buckets|tasks)/([0-9a-f]+)", url.path)
        if not m:
            self._reply(404, {"code": "not found", "message": "path not found"})
            return
        resource, rid = m.groups()
        if self._denied(resource, "write"):
            return
        req = json.loads(body)
        with s.lock:
            if resource == "buckets":
                b = s.buckets.get(rid)
                if b is None:
                    self._reply(404, {"code": "not found", "message": "bucket not found"})
                    return
                if "retentionRules" in req:
                    rules = req["retentionRules"] or []
                    b.retention = rules[0]["everySeconds"] if rules else 0
                if req.get("name"):
                    b.name = req["name"]
                out = b.to_json()
            else:
                t = s.tasks.get(rid)
                if t is None:
                    self._reply(404, {"code": "not found", "message": "task not found"})
                    return
                if req.get("flux"):
                    t.flux = req["flux"]
                if req.get("status"):
                    t.status = req["status"]
                out = t.to_json()
        self._reply(200, out)


def wait_port_closed(port: int, timeout: float = 5.0) -> None:
    """Wait until nothing accepts on ``port`` (after ``down``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
        except OSError:
            return
        time.sleep(0.02)
