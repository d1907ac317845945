"""Sample -> InfluxDB line protocol, typed by the catalog (pure functions, no I/O)."""

from __future__ import annotations

import re
from typing import Final

from .. import catalog
from ..payload import Sample

#: The bridge writes with millisecond precision: the collector's timestamps are epoch ms.
PRECISION: Final = "ms"

_MEASUREMENT_ESCAPES: Final = str.maketrans({",": r"\,", " ": r"\ ", "\\": "\\\\"})
_KEY_ESCAPES: Final = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\"})
_STRING_ESCAPES: Final = str.maketrans({'"': r"\"", "\\": "\\\\"})


def _float(value: float | int | bool | str) -> str:
    return repr(float(value))


def _int(value: float | int | bool | str) -> str:
    return f"{int(value)}i"


def _bool(value: float | int | bool | str) -> str:
    return "true" if value else "false"


def _str(value: float | int | bool | str) -> str:
    return '"' + str(value).translate(_STRING_ESCAPES) + '"'


# The catalog type decides, not the Python type: a JSON 12 for a float field must still be
# written as a float, or Influx would see a field type conflict.
_FORMAT: Final = {
    catalog.ValueType.FLOAT: _float,
    catalog.ValueType.INT: _int,
    catalog.ValueType.BOOL: _bool,
    catalog.ValueType.STR: _str,
}

#: kind -> field name -> (escaped key with "=", formatter); built once (this is the hot path).
_ENCODERS: Final = {
    k.name: {f.name: (f.name.translate(_KEY_ESCAPES) + "=", _FORMAT[f.type]) for f in k.fields}
    for k in catalog.KINDS.values()
}


def to_line(sample: Sample) -> str | None:
    """One line of line protocol for a validated sample; None when every field is null.

    Measurement = device kind, tags ``device`` and ``kind`` (sorted, as Influx prefers),
    fields in the order the sample has them, timestamp in ms.
    """
    encoders = _ENCODERS[sample.kind]
    fields = []
    for name, value in sample.fields.items():
        if value is not None:
            key, fmt = encoders[name]
            # repr of a float is what _float gives it, without two calls (hot path)
            fields.append(key + (repr(value) if fmt is _float and type(value) is float else fmt(value)))
    if not fields:
        return None
    return (f"{sample.kind.translate(_MEASUREMENT_ESCAPES)},device={sample.device.translate(_KEY_ESCAPES)},"
            f"kind={sample.kind.translate(_KEY_ESCAPES)} {','.join(fields)} {sample.ts_ms}")


# --- the way back: the bridge's own lines -> Sample (for re-aggregating late points) --------


class BadLine(ValueError):
    """A queued line that is not one ``to_line`` wrote (unknown kind or field, broken syntax)."""


# Line protocol as to_line writes it; a backslash escapes the next character everywhere.
_SERIES: Final = re.compile(r"((?:[^ \\]|\\.)+) ")
_TAG: Final = re.compile(r",((?:[^,=\\]|\\.)+)=((?:[^,\\]|\\.)*)")
_FIELD: Final = re.compile(r'((?:[^,=\\ ]|\\.)+)=("(?:[^"\\]|\\.)*"|[^,"]*)(,|$)')
_ESCAPED: Final = re.compile(r"\\(.)")


def _unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text) if "\\" in text else text


def _value(field: catalog.Field, text: str) -> float | int | bool | str:
    kind = field.type
    if kind is catalog.ValueType.FLOAT:
        return float(text)
    if kind is catalog.ValueType.INT:
        if not text.endswith("i"):
            raise BadLine(f"{field.name}: not an integer: {text[:40]!r}")
        return int(text[:-1])
    if kind is catalog.ValueType.BOOL:
        if text not in ("true", "false"):
            raise BadLine(f"{field.name}: not a boolean: {text[:40]!r}")
        return text == "true"
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise BadLine(f"{field.name}: not a string: {text[:40]!r}")
    return _unescape(text[1:-1])


def series_of(line: str) -> str:
    """The measurement+tags part of a line: the series it belongs to (before the first space)."""
    m = _SERIES.match(line)
    if m is None:
        raise BadLine(f"no field set: {line[:80]!r}")
    return m.group(1)


def timestamp_of(line: str) -> int:
    """The timestamp (ms) of a line; ``BadLine`` if it has none."""
    try:
        return int(line[line.rindex(" ") + 1 :])
    except ValueError:
        raise BadLine(f"no timestamp: {line[:80]!r}") from None


def from_line(line: str) -> Sample:
    """The inverse of ``to_line``: the sample a queued line came from, typed by the catalog."""
    key = series_of(line)
    comma = _TAG.search(key)
    measurement = key[: comma.start()] if comma else key
    tags = {_unescape(k): _unescape(v) for k, v in _TAG.findall(key)}
    kind_name = _unescape(measurement)
    kind = catalog.KINDS.get(kind_name)
    if kind is None or tags.get("kind") != kind_name or "device" not in tags:
        raise BadLine(f"not a solarmon sample: {key[:80]!r}")
    rest = line[len(key) + 1 :]
    cut = rest.rfind(" ")
    if cut <= 0:
        raise BadLine(f"no timestamp: {line[:80]!r}")
    text = rest[:cut]
    fields: dict[str, float | int | bool | str | None] = {}
    pos = 0
    try:
        while pos < len(text):
            m = _FIELD.match(text, pos)
            if m is None:
                raise BadLine(f"not key=value at {text[pos:pos + 40]!r}")
            name = _unescape(m.group(1))
            fields[name] = _value(kind.field(name), m.group(2))
            pos = m.end()
            if not m.group(3) and pos < len(text):
                raise BadLine(f"junk after a field: {text[pos:pos + 40]!r}")
    except KeyError as err:
        raise BadLine(f"{kind_name} has no field {err}") from None
    except ValueError as err:
        raise BadLine(str(err)) from None
    if not fields:
        raise BadLine(f"no field set: {line[:80]!r}")
    return Sample(timestamp_of(line), tags["device"], kind_name, fields)
