"""Tier windows computed in Python, exactly as the Flux tasks compute them (pure, no I/O).

Used only for points the bridge delivers too late for the tasks (see ``backfill``). The
output matches what the task's ``to()`` writes: measurement = method, tags ``device`` and
``kind``, one field per catalog field, timestamp = window start, and the same value types
(``mean`` is always a float; ``min``/``max``/``last`` keep the field's type; ``bit_or`` is
an integer).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import Final

from .. import catalog
from ..payload import Sample
from .points import _FORMAT, _KEY_ESCAPES

_FLOAT: Final = _FORMAT[catalog.ValueType.FLOAT]
_INT: Final = _FORMAT[catalog.ValueType.INT]


def merge_duplicates(samples: Iterable[Sample]) -> dict[int, dict[str, object]]:
    """ts -> fields, as InfluxDB stores them: a second point at the same time overwrites
    the fields it carries and keeps the others (input in arrival order). Nulls are dropped."""
    by_ts: dict[int, dict[str, object]] = {}
    for s in samples:
        by_ts.setdefault(s.ts_ms, {}).update({k: v for k, v in s.fields.items() if v is not None})
    return by_ts


def windows(kind: catalog.DeviceKind, samples: Iterable[Sample], span_s: int) -> dict[int, dict[str, dict[str, object]]]:
    """Window start (ms) -> method -> field -> value, for the samples of one series."""
    span_ms = span_s * 1000
    grouped: dict[int, list[tuple[int, dict[str, object]]]] = {}
    for ts, fields in sorted(merge_duplicates(samples).items()):
        grouped.setdefault(ts - ts % span_ms, []).append((ts, fields))
    out: dict[int, dict[str, dict[str, object]]] = {}
    for start, rows in grouped.items():
        methods: dict[str, dict[str, object]] = {}
        for f in kind.fields:
            values = [fields[f.name] for _ts, fields in rows if f.name in fields]  # rows are in time order
            if not values:
                continue  # no point in the window: the task writes nothing either (createEmpty: false)
            if f.aggregation is catalog.Aggregation.GAUGE:
                mean = sum(values) / len(values)  # type: ignore[arg-type]
                for method, value in (("mean", mean), ("min", min(values)), ("max", max(values))):  # type: ignore[type-var]
                    methods.setdefault(method, {})[f.name] = value
            elif f.aggregation is catalog.Aggregation.STATE:
                methods.setdefault("last", {})[f.name] = values[-1]
            else:
                methods.setdefault("bit_or", {})[f.name] = reduce(or_, (int(v) for v in values), 0)  # type: ignore[call-overload]
        out[start] = methods
    return out


def tier_lines(kind: catalog.DeviceKind, device: str, samples: Iterable[Sample], span_s: int) -> list[str]:
    """Line protocol for every window of ``span_s`` the samples of one series touch."""
    tags = f",device={device.translate(_KEY_ESCAPES)},kind={kind.name.translate(_KEY_ESCAPES)} "
    lines = []
    for start, methods in sorted(windows(kind, samples, span_s).items()):
        for method in catalog.METHODS:
            fields = methods.get(method)
            if not fields:
                continue
            parts = []
            for name, value in fields.items():
                if method == "mean":
                    text = _FLOAT(value)  # type: ignore[arg-type]
                elif method == "bit_or":
                    text = _INT(value)  # type: ignore[arg-type]
                else:
                    text = _FORMAT[kind.field(name).type](value)  # type: ignore[arg-type]
                parts.append(name.translate(_KEY_ESCAPES) + "=" + text)
            lines.append(f"{method}{tags}{','.join(parts)} {start}")
    return lines
