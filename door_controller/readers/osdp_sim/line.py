"""The device end of a simulated line: raw pty pairs, and one fd several readers share.

Rules this module guarantees:
- ``pty_pair`` gives a pty pair in raw mode on both ends, the device end
  non-blocking; the controller end stays open as long as the pair, so the
  device end never reads EIO. ``PtyPair.close`` is idempotent.
- ``SharedLine`` is an RS-485 line as the readers see it: every byte the
  controller sends reaches every attached reader's inbox (each bounded to
  64 KiB, oldest bytes dropped); a reader reads and flushes only its own
  inbox, and writes go to the line as they come. It never raises: a failed
  read reads nothing, a failed write writes nothing.
- ``LineChannel`` is one reader's libosdp channel on a ``SharedLine``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import tty
from dataclasses import dataclass

import osdp

_INBOX_MAX = 64 * 1024


@dataclass(slots=True)
class PtyPair:
    """A raw pty pair: the controller opens ``controller_path``, the simulator ``device_fd``."""

    controller_path: str
    device_fd: int
    _controller_fd: int  # held open so the device end never reads EIO

    def close(self) -> None:
        """Close both ends; idempotent (a second close must not hit a reused fd)."""
        for fd in (self.device_fd, self._controller_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.device_fd = self._controller_fd = -1

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pty_pair() -> PtyPair:
    """A new raw pty pair (``os.openpty`` + ``tty.setraw`` on both ends)."""
    device, controller = os.openpty()
    pair = PtyPair("", device, controller)
    try:
        tty.setraw(device)
        tty.setraw(controller)
        os.set_blocking(device, False)
        pair.controller_path = os.ttyname(controller)
    except BaseException:
        pair.close()
        raise
    return pair


class SharedLine:
    """One fd shared by several PDs: every PD's inbox gets every byte read."""

    def __init__(self, fd: int) -> None:
        self._fd, self._lock = fd, threading.Lock()
        self._inboxes: list[bytearray] = []

    def attach(self) -> int:
        self._inboxes.append(bytearray())
        return len(self._inboxes) - 1

    def read(self, who: int, max_bytes: int) -> bytes:
        with self._lock:
            try:
                data = os.read(self._fd, 4096)
            except OSError:  # BlockingIOError, or EIO while no controller is attached
                data = b""
            for box in self._inboxes:
                box += data
                del box[:-_INBOX_MAX]
            box = self._inboxes[who]
            out = bytes(box[:max_bytes])
            del box[:max_bytes]
            return out

    def write(self, buf: bytes) -> int:
        with self._lock:
            try:
                return os.write(self._fd, buf)
            except OSError:
                return 0

    def drop_input(self, who: int) -> None:
        with self._lock:
            self._inboxes[who].clear()


class LineChannel(osdp.Channel):  # type: ignore[misc]  # osdp ships no type hints
    def __init__(self, line: SharedLine) -> None:
        super().__init__()
        self._line, self._who = line, line.attach()

    def read(self, max_bytes: int) -> bytes:
        return self._line.read(self._who, max_bytes)

    def write(self, buf: bytes) -> int:
        return self._line.write(buf)

    def flush(self) -> None:
        self._line.drop_input(self._who)
