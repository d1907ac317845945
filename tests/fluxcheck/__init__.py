"""Offline Flux checker: parse and type-check Flux with the pinned flux-lsp-browser WASM in Node."""

from __future__ import annotations

from collections.abc import Mapping
import json
import logging
import os
from pathlib import Path
import re
import shutil
import subprocess

__all__ = [
    "GRAFANA_V_STUB",
    "STRICT_ENV",
    "available",
    "flux_errors",
    "grafana_source",
    "require",
    "unavailable_reason",
]

_LOGGER = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
_SCRIPT = HERE / "check.mjs"
_PACKAGE = HERE / "node_modules" / "@influxdata" / "flux-lsp-browser" / "flux-lsp-browser_bg.wasm"

#: Grafana defines ``v`` for Flux queries (its macros); the checker needs a stand-in of the same types.
GRAFANA_V_STUB = (
    "v = {timeRangeStart: 2026-01-01T00:00:00Z, timeRangeStop: 2026-01-02T00:00:00Z, "
    'windowPeriod: 1m, defaultBucket: "solar_raw", organization: "solarmon"}\n'
)

# Grafana template variables: $name, ${name} and ${name:format}.
_GRAFANA_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def _install() -> str | None:
    """Run ``npm ci`` if the package is missing; return why the checker cannot run, or None."""
    if shutil.which("node") is None:
        return "node is not installed (the Flux checker runs flux-lsp-browser in Node)"
    if _PACKAGE.exists():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return f"{_PACKAGE.parent} is missing and npm is not installed (run `npm ci` in {HERE})"
    _LOGGER.info("installing the Flux checker: npm ci in %s", HERE)
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or not _PACKAGE.exists():
        return f"`npm ci` in {HERE} failed: {proc.stderr.strip()[-500:]}"
    return None


def unavailable_reason() -> str | None:
    """Why the checker cannot run here (for ``pytest.skip``), or None when it can."""
    return _install()


def available() -> bool:
    """True when node and the pinned package are present (installing it with npm if needed)."""
    return _install() is None


#: Set (e.g. in CI) to make a missing checker a test failure instead of a skip.
STRICT_ENV = "SOLARMON_REQUIRE_FLUX"


def require() -> None:
    """Skip the calling test with the reason when the checker cannot run here.

    With ``SOLARMON_REQUIRE_FLUX=1`` in the environment it fails instead, so CI cannot pass
    by silently skipping every Flux check.
    """
    import pytest  # only tests call this; the module itself stays importable without pytest

    reason = _install()
    if reason is None:
        return
    if os.environ.get(STRICT_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} ({STRICT_ENV} is set)")
    pytest.skip(reason)


def flux_errors(sources: Mapping[str, str]) -> dict[str, list[str]]:
    """Check Flux sources in one Node process; name -> error messages (empty list = fine).

    Warnings and hints (e.g. "Avoid using `task` as an identifier") are not errors.
    """
    reason = _install()
    if reason is not None:
        raise RuntimeError(reason)
    if not sources:
        return {}
    proc = subprocess.run(
        ["node", str(_SCRIPT)],
        input=json.dumps(dict(sources)),
        capture_output=True,
        text=True,
        cwd=HERE,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"flux checker failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    result: dict[str, list[str]] = json.loads(proc.stdout)
    if set(result) != set(sources):
        raise RuntimeError(f"flux checker answered for {sorted(result)}, asked {sorted(sources)}")
    return result


def grafana_source(query: str, variables: Mapping[str, str] | None = None) -> str:
    """A dashboard query as Grafana sends it: template variables substituted, ``v`` defined
    (after the imports, which Flux wants first).

    Every ``$var`` in the query must be in ``variables``: Grafana would otherwise send it
    verbatim and Flux would read ``${var}`` inside a string as interpolation.
    """
    values = dict(variables or {})

    def substitute(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"query uses template variable ${name} with no value given")
        return values[name]

    text = _GRAFANA_VAR.sub(substitute, query)
    # Imports must stay first in a Flux file: the stub goes after them.
    lines = text.splitlines(keepends=True)
    head = 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(("import ", "//")) or not stripped:
            if stripped.startswith("import "):
                head = i + 1
            continue
        break
    return "".join(lines[:head]) + GRAFANA_V_STUB + "".join(lines[head:])
