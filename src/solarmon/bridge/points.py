"""Sample -> InfluxDB line protocol, typed by the catalog (pure functions, no I/O)."""

from __future__ import annotations

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
            fields.append(key + fmt(value))
    if not fields:
        return None
    return (f"{sample.kind.translate(_MEASUREMENT_ESCAPES)},device={sample.device.translate(_KEY_ESCAPES)},"
            f"kind={sample.kind.translate(_KEY_ESCAPES)} {','.join(fields)} {sample.ts_ms}")
