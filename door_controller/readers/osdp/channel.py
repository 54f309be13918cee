"""libosdp's byte pipe over a pyserial port, for the control panel.

Rules this module guarantees:
- ``SerialChannel`` never raises into libosdp and, on a port opened with
  ``timeout=0`` (as ``OsdpBus`` opens it), never blocks: a real port is
  written through its non-blocking fd (pyserial's own write spins while the
  tty buffer is full), and a full buffer takes nothing (returns 0). Every
  failure (read, write, flush) is counted in ``errors``; a streak of failures
  is logged once and dated (``failing_since``) until a read works again.
- ``reopen`` closes and opens the port again (e.g. after a USB adapter came
  back) and says whether it opened; it never raises either.
- One lock serialises libosdp's calls and ``reopen``.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import osdp
import serial

log = logging.getLogger(__package__)  # the package's logger, named as before the split


class SerialChannel(osdp.Channel):  # type: ignore[misc]  # osdp ships no type hints
    """libosdp's byte pipe over a pyserial port. Never blocks, never raises into libosdp.

    Errors are counted and logged once per streak (``failing_since``); ``reopen``
    closes and opens the port again, e.g. after a USB adapter came back.
    """

    def __init__(self, port: serial.SerialBase) -> None:
        super().__init__()
        self._port, self._lock = port, threading.Lock()
        self._fd = self._raw_fd()
        self.errors = 0
        self.failing_since: float | None = None

    def _raw_fd(self) -> int | None:
        # pyserial's posix write spins while the tty buffer is full even with
        # write_timeout=0; write to its (O_NONBLOCK) fd directly instead.
        return self._port.fileno() if type(self._port) is serial.Serial else None

    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            log.warning("OSDP line %s: %s failed: %s", self._port.port, what, exc)

    def read(self, max_bytes: int) -> bytes:
        with self._lock:
            try:
                data = bytes(self._port.read(max_bytes))
            except Exception as exc:  # SerialException, OSError, PortNotOpenError…
                self._failed("read", exc)
                return b""
            if self.failing_since is not None:
                log.info("OSDP line %s: reads work again", self._port.port)
                self.failing_since = None
            return data

    def write(self, buf: bytes) -> int:
        with self._lock:
            try:
                if self._fd is not None:
                    return os.write(self._fd, buf)
                return int(self._port.write(buf) or 0)
            except BlockingIOError:
                return 0
            except Exception as exc:
                self._failed("write", exc)
                return 0

    def flush(self) -> None:
        # libosdp calls this before each send to drop stale received bytes.
        with self._lock:
            try:
                self._port.reset_input_buffer()
            except Exception as exc:
                self._failed("flush", exc)

    def reopen(self) -> bool:
        """Close and open the port again; True if it opened."""
        with self._lock:
            try:
                self._port.close()
                self._port.open()
                self._fd = self._raw_fd()
            except Exception as exc:
                log.debug("OSDP line %s: reopen failed: %s", self._port.port, exc)
                return False
            log.info("OSDP line %s: reopened", self._port.port)
            self.failing_since = None
            return True
