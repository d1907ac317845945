"""Phone-app window commands: MQTT topics, payloads, the loopback HTTP endpoint."""

from __future__ import annotations

import asyncio

import pytest

from solarmon import appwindow
from solarmon.appwindow import BadCommand, command_target, handle_request, parse_minutes, targets


def test_topics_and_payloads() -> None:
    assert command_target("solarmon/battery1/release", "solarmon") == "battery1"
    assert command_target("solarmon/release", "solarmon") == appwindow.ALL
    assert command_target("solarmon/battery1/state", "solarmon") is None
    assert command_target("other/battery1/release", "solarmon") is None
    assert parse_minutes(b" 15 ", 120) == 15.0 and parse_minutes("0", 120) == 0.0
    for bad in (b"-1", b"121", b"soon", b""):
        with pytest.raises(BadCommand):
            parse_minutes(bad, 120)
    assert targets(appwindow.ALL, ["a", "b"]) == ["a", "b"]
    with pytest.raises(BadCommand, match="known: a, b"):
        targets("c", ["a", "b"])


def test_http_handler() -> None:
    calls: list[tuple[str, float]] = []

    def release(device: str, minutes: float) -> list[str]:
        calls.append((device, minutes))
        return targets(device, ["mppt", "battery1"])

    ok = handle_request("GET /release?device=mppt&minutes=10 HTTP/1.1", release, 120, 15)
    assert ok.startswith(b"HTTP/1.0 200") and b"released for 10 min" in ok
    assert handle_request("GET /release HTTP/1.1", release, 120, 15).startswith(b"HTTP/1.0 200")
    assert calls == [("mppt", 10.0), ("*", 15.0)]
    assert handle_request("GET /release?device=x HTTP/1.1", release, 120, 15).startswith(b"HTTP/1.0 400")
    assert handle_request("GET /release?minutes=999 HTTP/1.1", release, 120, 15).startswith(b"HTTP/1.0 400")
    assert handle_request("POST /release HTTP/1.1", release, 120, 15).startswith(b"HTTP/1.0 405")
    assert handle_request("GET /admin HTTP/1.1", release, 120, 15).startswith(b"HTTP/1.0 404")
    assert b"<script" not in handle_request("GET /release?device=<script> HTTP/1.1", release, 120, 15)


async def test_endpoint_is_loopback_only() -> None:
    from solarmon.sim.broker import free_port

    port = free_port()
    server = await appwindow.serve_http(port, lambda d, m: [d], 120, 15)
    try:
        assert {s.getsockname()[0] for s in server.sockets} == {"127.0.0.1"}
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /release?device=mppt&minutes=1 HTTP/1.1\r\n\r\n")
        reply = await reader.read()
        writer.close()
        assert reply.startswith(b"HTTP/1.0 200") and b"mppt" in reply
    finally:
        server.close()
        await server.wait_closed()
