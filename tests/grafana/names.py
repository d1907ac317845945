"""Find the buckets, measurements, kinds, methods and fields a Flux query names, and check them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import re
from typing import Any

from solarmon import catalog
from solarmon.tiers import Tier

_BUCKET = re.compile(r'bucket:\s*"([^"]*)"')
_MEASUREMENT = re.compile(r'_measurement\s*==\s*"([^"]*)"')
_KIND = re.compile(r'(?:r\.kind\s*==\s*|\bkind:\s*)"([^"]*)"')
_METHOD = re.compile(r'\bmethod:\s*"([^"]*)"')
_FIELD = re.compile(r'r\._field\s*==\s*"([^"]*)"')
# Inside a tier read: measurement = kind in the raw bucket, the method in the tiers.
_PICK = re.compile(r'if \w+\.raw then "([^"]*)" else "([^"]*)"')
# A tier read: both measurements named (kind for raw, method for tiers), then the window reducer.
_READ = re.compile(
    r'\(r\._measurement == "([^"]*)" or r\._measurement == "([^"]*)"\) and r\.kind == "([^"]*)" and ([^\n]*)\)\n'
    r"\s*\|> aggregateWindow\(every: [^,]+, fn: (\w+)"
)


def unknown_names(text: str, tiers: Sequence[Tier]) -> list[str]:
    """Every name in ``text`` that the catalog or the tier list does not have, explained."""
    problems = []
    buckets = {t.bucket for t in tiers}
    problems += [f"bucket {b!r}" for b in _BUCKET.findall(text) if b not in buckets]
    picked = _PICK.findall(text)
    kinds = set(_KIND.findall(text)) | {k for k, _ in picked}
    methods = set(_METHOD.findall(text)) | {m for _, m in picked}
    problems += [f"kind {k!r}" for k in sorted(kinds) if k not in catalog.KINDS]
    problems += [f"method {m!r}" for m in sorted(methods) if m not in catalog.METHODS]
    for m in _MEASUREMENT.findall(text):
        if m not in catalog.KINDS and m not in catalog.METHODS:
            problems.append(f"measurement {m!r}")
        if m in catalog.KINDS:
            kinds.add(m)
    known = {f.name for k in kinds if k in catalog.KINDS for f in catalog.KINDS[k].fields} if kinds \
        else catalog.all_field_names()
    problems += [f"field {f!r}" for f in _FIELD.findall(text) if f not in known]
    problems += _raw_clauses(text)
    problems += _reads(text)
    return problems


def _raw_clauses(text: str) -> list[str]:
    """In ``r._measurement == "<kind>" and ...`` clauses, each field must be of that kind."""
    problems = []
    for clause in re.split(r"(?=r\._measurement ==)", text)[1:]:
        clause = re.split(r"\|>|\bor \(r\._measurement", clause)[0]
        m = _MEASUREMENT.search(clause)
        if m is None or m.group(1) not in catalog.KINDS:
            continue
        kind = catalog.KINDS[m.group(1)]
        problems += [f"field {f!r} is not a {kind.name} field" for f in _FIELD.findall(clause) if f not in kind]
    return problems


def _reads(text: str) -> list[str]:
    """In tier reads, each field must be of the kind and stored under the method."""
    problems = []
    for kind_name, method, kind_tag, pred, _fn in _READ.findall(text):
        kind = catalog.KINDS.get(kind_name)
        if kind_tag != kind_name:
            problems.append(f"read of measurement {kind_name!r} filters kind {kind_tag!r}")
        if kind is None:
            continue
        for name in _FIELD.findall(pred):
            if name not in kind:
                problems.append(f"field {name!r} is not a {kind_name} field")
            elif method not in kind.field(name).aggregation.methods:
                problems.append(f"{kind_name}.{name} is {kind.field(name).aggregation.value}, not in {method!r}")
    return problems


def read_calls(text: str) -> list[tuple[str, str, str, str]]:
    """(kind, method, fn, pred) of every tier read in a query."""
    return [(kind, method, fn, pred) for kind, method, _tag, pred, fn in _READ.findall(text)]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside a JSON value, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
