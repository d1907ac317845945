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


def _field_value(field: catalog.Field, value: float | int | bool | str) -> str:
    # The catalog type decides, not the Python type: a JSON 12 for a float field must
    # still be written as a float, or Influx would see a field type conflict.
    if field.type is catalog.ValueType.FLOAT:
        return repr(float(value))
    if field.type is catalog.ValueType.INT:
        return f"{int(value)}i"
    if field.type is catalog.ValueType.BOOL:
        return "true" if value else "false"
    return '"' + str(value).translate(_STRING_ESCAPES) + '"'


def to_line(sample: Sample) -> str | None:
    """One line of line protocol for a validated sample; None when every field is null.

    Measurement = device kind, tags ``device`` and ``kind`` (sorted, as Influx prefers),
    fields in catalog order, timestamp in ms.
    """
    kind = catalog.kind(sample.kind)
    fields = [
        f"{f.name.translate(_KEY_ESCAPES)}={_field_value(f, sample.fields[f.name])}"
        for f in kind.fields
        if sample.fields.get(f.name) is not None
    ]
    if not fields:
        return None
    tags = f"device={sample.device.translate(_KEY_ESCAPES)},kind={sample.kind.translate(_KEY_ESCAPES)}"
    return f"{sample.kind.translate(_MEASUREMENT_ESCAPES)},{tags} {','.join(fields)} {sample.ts_ms}"
