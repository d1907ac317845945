"""Every .nix file in the repository parses (``nix-instantiate --parse``).

Nix cannot build or evaluate the flake here (no nixpkgs); parsing at least catches
syntax errors in every module, host, package and VM test before CI or a user does.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
import re
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


def _eval_json(exe: str, expr: str) -> object:
    env = dict(os.environ, NIX_CONFIG="build-users-group =")
    out = subprocess.run(
        [exe, "--eval", "--strict", "--json", "--expr", expr],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (ROOT / "tests" / "nixos").glob("*.nix") if p.name != "common-node.nix"),
    ids=lambda p: p.name,
)
def test_vm_test_script_is_valid_python(path: Path) -> None:
    """The testScript of each NixOS VM test compiles (the driver would only find out in a VM)."""
    exe = shutil.which("nix-instantiate")
    if exe is None:
        pytest.skip("nix-instantiate is not installed (apt-get install nix-bin)")
    test = _eval_json(exe, f'builtins.removeAttrs (import {path} {{ pkgs = {{ }}; lib = {{ }}; }}) [ "nodes" ]')
    assert isinstance(test, dict)
    assert test["name"].startswith("solarmon-")
    ast.parse(test["testScript"], filename=f"{path.name}:testScript")


def test_flake_lock_pins_every_input_by_revision() -> None:
    """flake.lock is a version-7 lock whose nodes are locked to a revision with a hash."""
    lock = json.loads((ROOT / "flake.lock").read_text())
    assert lock["version"] == 7
    root = lock["nodes"][lock["root"]]
    assert set(root["inputs"]) == {"nixpkgs", "nixos-hardware"}
    for name in root["inputs"]:
        locked = lock["nodes"][name]["locked"]
        assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"]), name
        assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked["narHash"]), name
        assert isinstance(locked["lastModified"], int), name
    assert "nixos-26.05" in lock["nodes"]["nixpkgs"]["original"]["url"]
    assert lock["nodes"]["nixos-hardware"]["inputs"] == {"nixpkgs": ["nixpkgs"]}
