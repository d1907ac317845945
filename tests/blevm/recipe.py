"""Build the ble-vm guest image (Debian rootfs + kernel) once per recipe, cached by its hash.

The cache key is the SHA-256 of this file: any change here rebuilds the image, nothing
else does (the guest init and the tests come from the shared project tree at boot).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import fcntl
import hashlib
import logging
import os
from pathlib import Path
import shutil
import subprocess
import time
from typing import Final

_LOGGER = logging.getLogger(__name__)

SUITE: Final = "bookworm"  # Python 3.11, BlueZ 5.66, Linux 6.1: the oldest we support
MIRROR: Final = os.environ.get("SOLARMON_BLEVM_MIRROR", "http://deb.debian.org/debian")

# Kernel with bluetooth + hci_vhci modules, BlueZ, the D-Bus system bus, mosquitto for the
# collector's real broker, python3 for the venv. kmod/udev for modprobe and /dev nodes.
DEBIAN_PACKAGES: Final = (
    "linux-image-amd64",
    "bluez",
    "dbus",
    "mosquitto",
    "python3",
    "python3-venv",
    "iproute2",
    "kmod",
    "procps",
    "udev",
    "ca-certificates",
)

# The project's runtime deps + the test runner, pinned to the versions the host tiers use,
# so a rebuild is reproducible. The project itself is not installed: the guest runs it
# from the read-only share (PYTHONPATH=src).
PIP_PACKAGES: Final = (
    "bleak==3.1.0",
    "bleak-retry-connector==4.7.1",
    "dbus-fast==5.2.0",
    "paho-mqtt==2.2.0",
    "pydantic==2.14.4",
    "influxdb-client==1.50.0",
    "rich==15.0.0",
    "bumble==0.0.236",  # same pin as the `sim` extra: solarmon.sim.ble patches one internal
    "pytest==9.2.0",
    "pytest-asyncio==1.5.0",
    "hypothesis==6.170.17",  # tests/conftest.py imports it (shared test profile)
)

# Kernel module trees the guest never loads (~60% of /lib/modules); pruning them keeps the
# image small and mkfs fast. The initrd is built before pruning, so it is unaffected.
PRUNE_MODULE_DIRS: Final = (
    "kernel/drivers/gpu",
    "kernel/drivers/media",
    "kernel/drivers/net/wireless",
    "kernel/drivers/net/ethernet",
    "kernel/drivers/infiniband",
    "kernel/drivers/staging",
    "kernel/drivers/scsi",
    "kernel/drivers/iio",
    "kernel/drivers/isdn",
    "kernel/drivers/md",
    "kernel/drivers/mtd",
    "kernel/drivers/usb",
    "kernel/drivers/hwmon",
    "kernel/drivers/input",
    "kernel/drivers/hid",
    "kernel/drivers/platform",
    "kernel/sound",
    "kernel/fs/xfs",
    "kernel/fs/btrfs",
    "kernel/fs/ocfs2",
    "kernel/fs/nfs",
    "kernel/fs/cifs",
    "kernel/fs/smb",
    "kernel/net/wireless",
    "kernel/net/mac80211",
)
PRUNE_PATHS: Final = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
    "var/cache/apt",
    "var/lib/apt/lists",
)

VENV: Final = "/opt/venv"
INIT: Final = "/sbin/solarmon-init"

# PID 1 inside the image: mount the share and hand over to the guest init script in the
# project tree, so editing that script needs no image rebuild.
_INIT_SCRIPT: Final = """#!/bin/sh
mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sys /sys  # the initramfs usually moved them here already
mountpoint -q /dev || mount -t devtmpfs dev /dev
modprobe 9pnet_virtio
mkdir -p /mnt/share
mount -t 9p -o trans=virtio,version=9p2000.L,ro share /mnt/share
exec /bin/sh /mnt/share/tests/blevm/guest_init.sh
"""

BUILD_TIMEOUT: Final = 1200.0  # s; a cold build measures ~3-4 min here


def recipe_hash() -> str:
    """Short hash of this file: the cache key of the image it builds."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def cache_root() -> Path:
    """Where images live; ``SOLARMON_BLEVM_CACHE`` overrides ``~/.cache/solarmon-blevm``."""
    env = os.environ.get("SOLARMON_BLEVM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "solarmon-blevm"


def image_dir() -> Path:
    """Directory of the image for the current recipe (may not exist yet)."""
    return cache_root() / recipe_hash()


def missing_tools() -> list[str]:
    """Host programs the tier needs but cannot find (empty when it can run)."""
    tools = ["qemu-system-x86_64"]
    if not (image_dir() / "ok").exists():
        tools += ["debootstrap", "mkfs.ext4", "chroot"]
    return [t for t in tools if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Two pytest sessions must not build the same image at once.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> None:
    _LOGGER.info("build: %s", " ".join(cmd[:6]) + (" ..." if len(cmd) > 6 else ""))
    subprocess.run(cmd, check=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def _chroot_env() -> dict[str, str]:
    # A clean environment: the host's PIP_FIND_LINKS etc. point at paths the chroot lacks.
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_DEFAULT_TIMEOUT": "120",
        "PIP_CONFIG_FILE": "/dev/null",
    }


def _build_rootfs(root: Path) -> None:
    _run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}", SUITE, str(root), MIRROR],
        timeout=900,
    )
    # pip reaches the index through an intercepting proxy whose CA only the host trusts.
    ca = Path("/etc/ssl/certs/ca-certificates.crt")
    if ca.exists():
        shutil.copy2(ca, root / "etc/ssl/certs/ca-certificates.crt")
    resolv = root / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copy2("/etc/resolv.conf", resolv)
    env = _chroot_env()
    _run(["chroot", str(root), "python3", "-m", "venv", VENV], timeout=120, env=env)
    _run(["chroot", str(root), f"{VENV}/bin/pip", "install", "--no-cache-dir", *PIP_PACKAGES], timeout=600, env=env)
    init = root / INIT.lstrip("/")
    init.write_text(_INIT_SCRIPT)
    init.chmod(0o755)
    for rel in PRUNE_PATHS:
        shutil.rmtree(root / rel, ignore_errors=True)
    for moddir in (root / "lib/modules").iterdir():
        for rel in PRUNE_MODULE_DIRS:
            shutil.rmtree(moddir / rel, ignore_errors=True)
        _run(["chroot", str(root), "depmod", moddir.name], timeout=120, env=env)


def _make_image(root: Path, out: Path) -> None:
    boot = root / "boot"
    shutil.copy2(next(boot.glob("vmlinuz-*")), out / "vmlinuz")
    shutil.copy2(next(boot.glob("initrd.img-*")), out / "initrd.img")
    used = int(subprocess.run(["du", "-sbx", str(root)], check=True, capture_output=True, text=True).stdout.split()[0])
    size_mb = used * 13 // 10 // 2**20 + 256  # headroom: journal, inodes, the guest's /var writes
    _run(["mkfs.ext4", "-q", "-F", "-L", "solarmon", "-d", str(root), str(out / "rootfs.img"), f"{size_mb}M"], timeout=300)


def ensure_image() -> Path:
    """Return the image directory for this recipe, building it first if needed.

    Build happens in a temporary sibling directory that is renamed into place, so an
    interrupted build never leaves a half image that looks valid.
    """
    final = image_dir()
    if (final / "ok").exists():
        return final
    with _locked(cache_root() / ".lock"):
        if (final / "ok").exists():
            return final
        if os.geteuid() != 0:
            raise PermissionError("building the ble-vm image needs root (debootstrap, chroot)")
        started = time.monotonic()
        work = cache_root() / f"{recipe_hash()}.build"
        shutil.rmtree(work, ignore_errors=True)
        (work / "out").mkdir(parents=True)
        try:
            _build_rootfs(work / "root")
            _make_image(work / "root", work / "out")
            (work / "out" / "recipe.py").write_bytes(Path(__file__).read_bytes())
            (work / "out" / "ok").write_text(f"built in {time.monotonic() - started:.0f} s\n")
            shutil.rmtree(final, ignore_errors=True)
            (work / "out").rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _LOGGER.info("ble-vm image %s built in %.0f s", final, time.monotonic() - started)
    return final


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(ensure_image())
