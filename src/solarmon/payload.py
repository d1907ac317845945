"""The MQTT message contract between collector and bridge (pure functions, no I/O).

State topic ``<prefix>/<device-id>/state``, QoS 1, JSON::

    {"ts": <epoch ms>, "device": "<id>", "kind": "litime-mppt" | "jbd-bms", "fields": {...}}

Field names, types and nulls ("no sensor") follow the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import math
from typing import Any, Final

from . import catalog
from .errors import SolarmonError

#: Timestamps outside this range are certainly wrong (clock not set, or ms/s confusion).
MIN_TS_MS: Final = 1_577_836_800_000  # 2020-01-01
MAX_TS_MS: Final = 4_102_444_800_000  # 2100-01-01

FieldValue = float | int | bool | str | None


class BadPayload(SolarmonError):
    """An MQTT message that does not follow the contract; ``reason`` is a short class for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of one device: what a poll produces and the bridge stores."""

    ts_ms: int
    device: str
    kind: str
    fields: dict[str, FieldValue]


def state_topic(prefix: str, device: str) -> str:
    """Topic a device's samples are published on."""
    return f"{prefix}/{device}/state"


def availability_topic(prefix: str, device: str) -> str:
    """Retained online/offline topic of a device (``collector`` for the collector itself)."""
    return f"{prefix}/{device}/availability"


def encode(sample: Sample) -> bytes:
    """Serialise a sample to the wire JSON (compact, keys in catalog order)."""
    return json.dumps(
        {"ts": sample.ts_ms, "device": sample.device, "kind": sample.kind, "fields": sample.fields},
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode()


def decode(data: bytes | str, topic_device: str | None = None) -> Sample:
    """Parse and validate a state message against the catalog.

    Unknown fields, wrong types, non-finite numbers, implausible timestamps and a device id
    that differs from the topic's raise ``BadPayload``: a wrong number is never stored.
    """
    try:
        obj: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadPayload("not-json", str(err)) from None
    if not isinstance(obj, dict):
        raise BadPayload("not-object", type(obj).__name__)
    missing = {"ts", "device", "kind", "fields"} - obj.keys()
    if missing:
        raise BadPayload("missing-key", ", ".join(sorted(missing)))
    ts, device, kind_name, fields = obj["ts"], obj["device"], obj["kind"], obj["fields"]
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise BadPayload("bad-ts", repr(ts))
    if not MIN_TS_MS <= ts <= MAX_TS_MS:
        raise BadPayload("bad-ts", f"{ts!r} is not epoch milliseconds between 2020 and 2100")
    if not isinstance(device, str) or not device:
        raise BadPayload("bad-device", repr(device))
    if topic_device is not None and device != topic_device:
        raise BadPayload("bad-device", f"payload says {device!r}, topic says {topic_device!r}")
    try:
        kind = catalog.kind(kind_name) if isinstance(kind_name, str) else None
    except KeyError:
        kind = None
    if kind is None:
        raise BadPayload("unknown-kind", repr(kind_name))
    if not isinstance(fields, dict) or not fields:
        raise BadPayload("bad-fields", "fields must be a non-empty object")
    clean: dict[str, FieldValue] = {}
    index = catalog.field_index(kind.name)  # one dict lookup per field: this is the bridge's hot path
    floats = catalog.float_fields(kind.name)
    for name, value in fields.items():
        # Fast path, no call: a finite float for a float field (inf - inf and nan - nan are nan).
        if type(value) is float and name in floats and value - value == 0:
            clean[name] = value
            continue
        field = index.get(name)
        if field is None:
            raise BadPayload("unknown-field", f"{kind.name} has no field {name!r}")
        try:
            clean[name] = field.coerce(value)
        except (TypeError, ValueError) as err:
            raise BadPayload("bad-value", str(err)) from None
    return Sample(int(ts), device, kind.name, clean)
