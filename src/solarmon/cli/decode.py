"""``solarmon decode KIND HEX``: decode one reply frame into catalog fields (JSON)."""

from __future__ import annotations

import argparse
import json

from ..errors import SolarmonError
from ..protocols import jbd, litime


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command."""
    p = sub.add_parser(
        "decode",
        help="decode one captured reply frame",
        description="Decode one reply frame given as hex: a LiTime status reply, or a JBD reply to "
        "register 0x03, 0x04 or 0x05. Prints the catalog fields as one JSON object.",
    )
    p.add_argument("kind", choices=["litime-mppt", "jbd-bms"])
    p.add_argument("hex", nargs="+", help="frame bytes as hex (spaces and colons allowed)")
    p.set_defaults(func=run)


def decode(kind: str, text: str) -> dict[str, object]:
    """Decode hex text of one frame; ``SolarmonError`` for anything that is not a good frame."""
    cleaned = "".join(text.split()).replace(":", "").removeprefix("0x")
    try:
        frame = bytes.fromhex(cleaned)
    except ValueError:
        raise SolarmonError(f"not hexadecimal: {text!r}") from None
    if kind == "litime-mppt":
        return dict(litime.decode_status(frame))
    return jbd.decode_any(frame)


def run(args: argparse.Namespace) -> int:
    """Print the fields, or let main() print a one-line error."""
    print(json.dumps(decode(args.kind, " ".join(args.hex)), ensure_ascii=False))
    return 0
