"""Phone-app window: release commands from MQTT or a loopback-only HTTP endpoint for the kiosk.

MQTT: publish the minutes (e.g. ``15``; ``0`` takes the device back) to
``<prefix>/<device-id>/release``, or to ``<prefix>/release`` for every device. The kiosk is
Grafana, which can only open links; so the collector can serve
``http://127.0.0.1:<port>/release?device=<id>&minutes=<n>`` on loopback only (never the
LAN: anyone there could otherwise blind the monitor) and answer with a short page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
import html
import logging
from urllib.parse import parse_qs, urlsplit

from .errors import SolarmonError

_LOGGER = logging.getLogger(__name__)

ALL = "*"
KIOSK_PORT = 8099  # the port the kiosk's "app" button opens; set app_window.http_port to it

Release = Callable[[str, float], list[str]]  # (device id or ALL, minutes) -> devices released


class BadCommand(SolarmonError):
    """A release command that cannot be carried out; the message says why."""


def parse_minutes(payload: bytes | str, max_minutes: float) -> float:
    """Minutes from a command payload: a number 0..max (0 = take back now)."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    try:
        minutes = float(text.strip())
    except ValueError:
        raise BadCommand(f"release wants a number of minutes, not {text.strip()[:40]!r}") from None
    if not 0 <= minutes <= max_minutes:
        raise BadCommand(f"release minutes must be 0..{max_minutes:g}, not {minutes:g}")
    return minutes


def command_target(topic: str, prefix: str) -> str | None:
    """Device id (or ALL) of a release topic, None for other topics."""
    parts = topic.split("/")
    if parts == [prefix, "release"]:
        return ALL
    if len(parts) == 3 and parts[0] == prefix and parts[2] == "release" and parts[1]:
        return parts[1]
    return None


def targets(device: str, known: Iterable[str]) -> list[str]:
    """The devices a command names; ``BadCommand`` for an unknown id."""
    ids = list(known)
    if device == ALL:
        return ids
    if device not in ids:
        raise BadCommand(f"no device {device!r} (known: {', '.join(ids)})")
    return [device]


def _page(status: str, text: str) -> bytes:
    body = (f"<!doctype html><meta charset=utf-8><title>solarmon</title>"
            f"<body style='font:28px sans-serif;background:#111;color:#eee;text-align:center;padding-top:80px'>"
            f"<p>{html.escape(text)}</p><p><a style='color:#8ab8ff' href='javascript:history.back()'>back</a></p>")
    return (f"HTTP/1.0 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body.encode())}\r\nConnection: close\r\n\r\n{body}").encode()


def handle_request(line: str, release: Release, max_minutes: float, default_minutes: float) -> bytes:
    """The HTTP response to one request line (``GET /release?device=..&minutes=.. HTTP/1.1``)."""
    parts = line.split()
    if len(parts) < 2 or parts[0] != "GET":
        return _page("405 Method Not Allowed", "only GET")
    url = urlsplit(parts[1])
    if url.path != "/release":
        return _page("404 Not Found", "unknown path")
    query = parse_qs(url.query)
    device = query.get("device", [ALL])[0]
    try:
        minutes = parse_minutes(query.get("minutes", [str(default_minutes)])[0], max_minutes)
        done = release(device, minutes)
    except BadCommand as err:
        return _page("400 Bad Request", str(err))
    if minutes == 0:
        return _page("200 OK", f"{', '.join(done)}: taken back, reconnecting")
    return _page("200 OK", f"{', '.join(done)}: released for {minutes:g} min; open the phone app now")


async def serve_http(port: int, release: Release, max_minutes: float, default_minutes: float) -> asyncio.Server:
    """Start the loopback-only endpoint (127.0.0.1, never another address)."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 5)).decode("latin-1")
            writer.write(handle_request(line, release, max_minutes, default_minutes))
            await writer.drain()
        except (TimeoutError, ConnectionError) as err:
            _LOGGER.debug("release endpoint: %s", err)
        finally:
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", port)
    _LOGGER.info("phone-app release endpoint on http://127.0.0.1:%d/release", port)
    return server
