"""Boot the ble-vm guest with qemu, run its pytest session, bring back exit code + logs.

Software emulation only: KVM on this kind of host cannot run ordinary guests (see
shared/notes/ble-vm.md), and TCG with two threads boots in ~25 s. The project tree is
shared read-only over virtio-9p; a second, writable share brings results back.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
from pathlib import Path
import re
import shutil
import subprocess
import sys
import time
from typing import Final

# tests/ has no packages (pytest's rootdir-relative imports): reach the sibling by path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import recipe  # noqa: E402

_LOGGER = logging.getLogger(__name__)

PROJECT: Final = Path(__file__).resolve().parents[2]
GUEST_TESTS: Final = "tests/blevm/guest"
MEMORY_MB: Final = 1536
CPUS: Final = 2
DEFAULT_TIMEOUT: Final = 600.0  # s for the whole boot + tests + power-off (a warm run takes ~4 min)
# pytest's final line, e.g. "==== 7 passed in 95.12s (0:01:35) ====".
_SUMMARY: Final = re.compile(r"^=+ .*\b(passed|failed|error|errors|skipped|no tests ran)\b.* in [0-9.]+s.* =+$")


@dataclass
class GuestResult:
    """What came back from one boot."""

    returncode: int  # the guest pytest's exit code; -1 when the guest never reported one
    summary: str  # the guest pytest's summary line ("" if none)
    out: Path  # directory with console.log, pytest.log, junit.xml and daemon logs
    seconds: float  # wall time of the boot, tests included

    def log_tail(self, lines: int = 60) -> str:
        """End of the guest pytest log, else of the console, for failure messages."""
        for name in ("pytest.log", "console.log"):
            path = self.out / name
            if path.exists() and path.stat().st_size:
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return "(no guest output)"


def qemu_command(image: Path, out: Path, timeout: float) -> list[str]:
    """The qemu invocation (no network, no display, root image never written)."""
    append = " ".join(
        [
            "root=/dev/vda",
            "rw",
            "rootfstype=ext4",
            "console=ttyS0",
            f"init={recipe.INIT}",
            "panic=-1",  # a guest panic powers off instead of hanging until our timeout
            "quiet",
            "loglevel=4",
            f"BLEVM_TIMEOUT={int(timeout)}",  # becomes an environment variable of init
        ]
    )
    return [
        shutil.which("qemu-system-x86_64") or "qemu-system-x86_64",
        "-accel", "tcg,thread=multi",
        "-cpu", "max",
        "-smp", str(CPUS),
        "-m", str(MEMORY_MB),
        "-nodefaults",
        "-no-reboot",
        "-display", "none",
        "-serial", f"file:{out / 'console.log'}",
        "-kernel", str(image / "vmlinuz"),
        "-initrd", str(image / "initrd.img"),
        "-append", append,
        "-drive", f"file={image / 'rootfs.img'},format=raw,if=virtio,snapshot=on",
        "-virtfs", f"local,path={PROJECT},mount_tag=share,security_model=none,readonly=on",
        "-virtfs", f"local,path={out},mount_tag=out,security_model=none",
        "-nic", "none",
    ]  # fmt: skip


def summary_line(log: str) -> str:
    """The last pytest summary line in a log ("" when pytest never finished)."""
    found = [line.strip() for line in log.splitlines() if _SUMMARY.match(line.strip())]
    return found[-1] if found else ""


def prune_old_images(keep: Path) -> None:
    """Delete images of earlier recipes (~0.5 GB each) from the cache."""
    for old in keep.parent.iterdir():
        if old != keep and old.is_dir() and re.fullmatch(r"[0-9a-f]{16}", old.name):
            _LOGGER.info("removing the image of an older recipe: %s", old)
            shutil.rmtree(old, ignore_errors=True)


def run_guest(out: Path, pytest_args: list[str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> GuestResult:
    """Boot once and run ``pytest -m blevm tests/blevm/guest`` (plus ``pytest_args``) inside."""
    image = recipe.ensure_image()
    prune_old_images(image)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("rc", "pytest.log", "junit.xml", "console.log"):
        (out / stale).unlink(missing_ok=True)
    (out / "args").write_text("\n".join(pytest_args or []) + "\n")
    # The guest's own timeout for pytest leaves time to boot before and to power off after.
    guest_timeout = max(60.0, timeout - 60.0)
    started = time.monotonic()
    cmd = qemu_command(image, out, guest_timeout)
    _LOGGER.info("booting: %s", " ".join(cmd))
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        try:
            qemu_out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            qemu_out, _ = proc.communicate()
            _LOGGER.error("qemu killed after %.0f s", timeout)
    (out / "qemu.log").write_bytes(qemu_out or b"")
    rc_file = out / "rc"
    returncode = int(rc_file.read_text().strip() or -1) if rc_file.exists() else -1
    log = (out / "pytest.log").read_text(errors="replace") if (out / "pytest.log").exists() else ""
    return GuestResult(returncode, summary_line(log), out, time.monotonic() - started)


def main(argv: list[str]) -> int:
    """``python tests/blevm/vm.py [OUT_DIR] [-- PYTEST ARGS]``: build if needed, boot, report."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = argv[argv.index("--") + 1 :] if "--" in argv else []
    head = argv[: argv.index("--")] if "--" in argv else argv
    out = Path(head[0]) if head else Path("/tmp/solarmon-blevm-out")
    started = time.monotonic()
    recipe.ensure_image()
    built = time.monotonic() - started
    result = run_guest(out, args)
    print(f"ble-vm: image ready in {built:.0f} s, guest run {result.seconds:.0f} s, exit {result.returncode}")
    rtt = out / "roundtrip.txt"
    if rtt.exists():
        print(rtt.read_text().rstrip())
    print(f"guest pytest: {result.summary or '(no summary line) ' + result.log_tail(20)}")
    return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
