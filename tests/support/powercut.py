"""A file system whose power can be cut: ext4 on a loop device.

The node database lives on an ext4 file system in an image file, mounted
through a loop device. The upper file system's page cache holds what was
written but not yet synced; the image file holds only what the file system
sent to its "disk". ``cut()`` copies the image while no process writes: the
copy is the disk as a power cut would leave it (unsynced writes lost, the
ext4 journal mid-flight), and ``mount`` of the copy replays the journal as
the next boot would.

Rules:
- Nothing else writes while ``cut`` copies: the caller stops its writers and
  SIGKILLs the processes first. The kernel's flusher writes back only pages
  dirty for ``dirty_expire_centisecs`` (30 s on Debian) and jbd2 commits every
  ``COMMIT_S`` (a mount option), so a trial shorter than both leaves the
  unsynced writes out of the image; ``canary`` proves it at each cut.
- Needs root, ``losetup``, ``mkfs.ext4`` and ``mount`` (``available``); a test
  skips with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

COMMIT_S = 300  # ext4 journal commit interval (mount option commit=)
SIZE = "48M"


def available() -> str | None:
    """None if a power cut can be simulated here, else why not."""
    if os.geteuid() != 0:
        return "needs root (losetup, mount)"
    for tool in ("losetup", "mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control)"
    return None


def dirty_expire_s() -> float:
    try:
        return int(Path("/proc/sys/vm/dirty_expire_centisecs").read_text()) / 100
    except (OSError, ValueError):
        return 30.0


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


class PowerCutFs:
    """ext4 in ``image``, mounted at ``mountpoint`` (module rules)."""

    def __init__(self, image: Path, mountpoint: Path) -> None:
        self.image, self.mountpoint = image, mountpoint
        self.device: str | None = None
        self.cuts = 0

    def create(self) -> None:
        _run("truncate", "-s", SIZE, str(self.image))
        _run("mkfs.ext4", "-q", "-F", str(self.image))
        self.mount(self.image)

    def mount(self, image: Path) -> None:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.device = _run("losetup", "--find", "--show", str(image))
        _run("mount", "-o", f"commit={COMMIT_S}", self.device, str(self.mountpoint))
        self.image = image

    def unmount(self) -> None:
        if self.device is None:
            return
        subprocess.run(["umount", str(self.mountpoint)], check=False, capture_output=True)
        if os.path.ismount(self.mountpoint):
            subprocess.run(["umount", "-l", str(self.mountpoint)], check=False)
        subprocess.run(["losetup", "-d", self.device], check=False, capture_output=True)
        self.device = None

    def sync(self) -> None:
        """``syncfs``: what is written so far reaches the disk (an installer's
        last step: the node's config and secrets)."""
        _run("sync", "-f", str(self.mountpoint))

    def canary(self) -> Path:
        """A file written and never synced: a cut must lose its content."""
        path = self.mountpoint / f"canary-{self.cuts}"
        path.write_bytes(b"unsynced" * 512)
        return path

    def cut(self) -> Path:
        """The power cut: copy the image as its disk holds it now, unmount the
        old one (its page cache goes with it), mount the copy (the journal
        replays). Returns the copy's path. Callers stop every writer first."""
        self.cuts += 1
        copy = self.image.with_name(f"{self.image.stem}-cut{self.cuts}.img")
        shutil.copyfile(self.image, copy)
        old = self.image
        self.unmount()
        old.unlink()
        self.mount(copy)
        return copy
