"""Alert push: durable queue while offline, delivery in order once a server answers."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, HTTPServer
import json
from pathlib import Path
import threading
from typing import Any

from solarmon.alerts import Alert, Event
from solarmon.config import Push
from solarmon.push import PushQueue, request
from solarmon.sim.broker import free_port


def event(change: str, rule: str = "low-soc") -> Event:
    return Event(change, Alert(rule, "bank", 1.0, 12.0, f"bank: {rule}: soc 12 < 20"))


class Server:
    def __init__(self, port: int) -> None:
        got: list[tuple[dict[str, str], bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_a: Any) -> None:
                pass

        self.got = got
        self.httpd = HTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_queued_while_offline_survives_restart_and_is_delivered_in_order(tmp_path: Path) -> None:
    port = free_port()
    cfg = Push(url=f"http://127.0.0.1:{port}/solar", retry=1)
    q = PushQueue(cfg, tmp_path)
    q.put(event("raised"))
    q.put(event("cleared"))
    assert not q.deliver_once()  # nobody listens
    assert len(PushQueue(cfg, tmp_path).pending()) == 2  # a restart keeps them
    server = Server(port)
    try:
        q2 = PushQueue(cfg, tmp_path)
        assert q2.deliver_once()
        assert q2.pending() == [] and q2.delivered == 2
        titles = [h["Title"] for h, _ in server.got]
        assert titles == ["solarmon: ALERT low-soc", "solarmon: cleared low-soc"]
        assert server.got[0][1] == b"bank: low-soc: soc 12 < 20"
    finally:
        server.close()


def test_json_format_and_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    cfg = Push(url="https://hooks.example/x", format="json", token_file=str(token))
    req = request(cfg, {"change": "raised", **event("raised").alert.to_json()}, "s3cret")
    assert req.get_header("Authorization") == "Bearer s3cret"
    assert json.loads(req.data)["rule"] == "low-soc"  # type: ignore[arg-type]


def test_damaged_line_is_skipped(tmp_path: Path) -> None:
    q = PushQueue(Push(url="http://127.0.0.1:9/x"), tmp_path)
    q.put(event("raised"))
    with q.path.open("a") as f:
        f.write('{"torn": ')
    assert len(q.pending()) == 1
