"""Tier windows computed in Python, exactly as the Flux tasks compute them (pure, no I/O).

Used only for points the bridge delivers too late for the tasks (see ``backfill``). The
output matches what the task's ``to()`` writes: measurement = method, tags ``device`` and
``kind``, one field per catalog field, timestamp = window start, and the same value types
(``mean`` is always a float; ``min``/``max``/``last`` keep the field's type; ``bit_or`` is
an integer). Samples are folded into running totals, so memory grows with the number of
windows, not of samples.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .. import catalog
from ..payload import Sample
from .points import _FORMAT, _KEY_ESCAPES

_FLOAT: Final = _FORMAT[catalog.ValueType.FLOAT]
_INT: Final = _FORMAT[catalog.ValueType.INT]

Value = float | int | bool | str


class _Field:
    """Running aggregate of one field in one window."""

    __slots__ = ("count", "total", "low", "high", "last", "bits")

    def __init__(self, value: Value) -> None:
        self.count = 1
        self.total = self.low = self.high = self.last = value
        self.bits = value

    def add(self, value: Value, aggregation: catalog.Aggregation) -> None:
        if aggregation is catalog.Aggregation.GAUGE:
            self.count += 1
            self.total += value  # type: ignore[operator]
            self.low = min(self.low, value)  # type: ignore[type-var]
            self.high = max(self.high, value)  # type: ignore[type-var]
        elif aggregation is catalog.Aggregation.STATE:
            self.last = value
        else:
            self.bits = int(self.bits) | int(value)


class Windows:
    """The windows of one series for several spans, fed one sample at a time.

    Feed samples in time order (ties in arrival order): samples with the same timestamp are
    merged first, as InfluxDB stores them (a later point overwrites the fields it carries).
    """

    def __init__(self, kind: catalog.DeviceKind, spans: Iterable[int]) -> None:
        self.kind = kind
        self.spans = tuple(spans)
        self._aggregation = {f.name: f.aggregation for f in kind.fields}
        #: span -> window start (ms) -> field -> running aggregate
        self.windows: dict[int, dict[int, dict[str, _Field]]] = {s: {} for s in self.spans}
        self._ts: int | None = None
        self._pending: dict[str, Value] = {}

    def add(self, sample: Sample) -> None:
        """Fold in one sample (``ValueError`` if it is older than the previous one)."""
        if sample.ts_ms != self._ts:
            if self._ts is not None and sample.ts_ms < self._ts:
                raise ValueError("samples must come in time order")
            self._flush()
            self._ts = sample.ts_ms
        self._pending.update({k: v for k, v in sample.fields.items() if v is not None})

    def _flush(self) -> None:
        if self._ts is None or not self._pending:
            return
        for span in self.spans:
            span_ms = span * 1000
            window = self.windows[span].setdefault(self._ts - self._ts % span_ms, {})
            for name, value in self._pending.items():
                acc = window.get(name)
                if acc is None:
                    window[name] = _Field(value)
                else:
                    acc.add(value, self._aggregation[name])
        self._pending = {}

    def results(self, span: int) -> dict[int, dict[str, dict[str, Value]]]:
        """Window start (ms) -> method -> field -> value, for one span."""
        self._flush()
        out: dict[int, dict[str, dict[str, Value]]] = {}
        for start, fields in sorted(self.windows[span].items()):
            methods: dict[str, dict[str, Value]] = {}
            for f in self.kind.fields:  # catalog order
                acc = fields.get(f.name)
                if acc is None:
                    continue  # no value in the window: the task writes nothing either
                if f.aggregation is catalog.Aggregation.GAUGE:
                    methods.setdefault("mean", {})[f.name] = acc.total / acc.count  # type: ignore[operator]
                    methods.setdefault("min", {})[f.name] = acc.low
                    methods.setdefault("max", {})[f.name] = acc.high
                elif f.aggregation is catalog.Aggregation.STATE:
                    methods.setdefault("last", {})[f.name] = acc.last
                else:
                    methods.setdefault("bit_or", {})[f.name] = int(acc.bits)
            out[start] = methods
        return out

    def lines(self, device: str, span: int) -> list[str]:
        """Line protocol for every window of ``span``, as the Flux task's ``to()`` writes it."""
        tags = f",device={device.translate(_KEY_ESCAPES)},kind={self.kind.name.translate(_KEY_ESCAPES)} "
        out = []
        for start, methods in self.results(span).items():
            for method in catalog.METHODS:
                fields = methods.get(method)
                if not fields:
                    continue
                parts = []
                for name, value in fields.items():
                    if method == "mean":
                        text = _FLOAT(value)
                    elif method == "bit_or":
                        text = _INT(value)
                    else:
                        text = _FORMAT[self.kind.field(name).type](value)
                    parts.append(name.translate(_KEY_ESCAPES) + "=" + text)
                out.append(f"{method}{tags}{','.join(parts)} {start}")
        return out


def _fed(kind: catalog.DeviceKind, samples: Iterable[Sample], span_s: int) -> Windows:
    w = Windows(kind, (span_s,))
    for s in sorted(samples, key=lambda s: s.ts_ms):  # stable: ties stay in arrival order
        w.add(s)
    return w


def windows(kind: catalog.DeviceKind, samples: Iterable[Sample], span_s: int) -> dict[int, dict[str, dict[str, Value]]]:
    """Window start (ms) -> method -> field -> value, for the samples of one series."""
    return _fed(kind, samples, span_s).results(span_s)


def tier_lines(kind: catalog.DeviceKind, device: str, samples: Iterable[Sample], span_s: int) -> list[str]:
    """Line protocol for every window of ``span_s`` the samples of one series touch."""
    return _fed(kind, samples, span_s).lines(device, span_s)
