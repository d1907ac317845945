"""Every .nix file in the repository parses (``nix-instantiate --parse``).

Nix cannot build or evaluate the flake here (no nixpkgs); parsing at least catches
syntax errors in every module, host, package and VM test before CI or a user does.
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.nix

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", "node_modules", ".venv", "result", ".cache"}


def nix_files() -> list[Path]:
    """All tracked-looking .nix files below the repository root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith("result")]
        found += [Path(dirpath) / f for f in filenames if f.endswith(".nix")]
    return sorted(found)


def test_there_are_nix_files() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in nix_files()}
    assert "flake.nix" in names
    assert "modules/lib/render-config.nix" in names


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_parses(path: Path) -> None:
    exe = shutil.which("nix-instantiate")
    if exe is None:
        pytest.skip("nix-instantiate is not installed (apt-get install nix-bin)")
    env = dict(os.environ, NIX_CONFIG="build-users-group =")
    out = subprocess.run([exe, "--parse", str(path)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
