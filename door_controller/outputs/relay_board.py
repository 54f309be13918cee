"""The relay board driver: lock commands to LCUS frames over a pyserial URL.

Rules this module guarantees:
- The board cannot be read back, so the driver keeps the wanted state of every
  channel and writes the whole of it on open and after any write error
  (commands are idempotent; a board that rebooted is set right on the next one).
- A write failure is translated to ``OutputError`` (the cause chained) and the
  driver reopens the port on the next call; it never blocks longer than the
  port's write timeout.
"""

from __future__ import annotations

import logging
import threading

import serial

from ..serialport import close_quietly
from .relay import command

log = logging.getLogger(__name__)


class OutputError(Exception):
    """A relay board could not be opened or written (the cause is chained)."""


class RelayBoard:
    """One USB relay board on ``port`` (a pyserial URL)."""

    def __init__(self, port: str, channels: int = 8, *, baud: int = 9600) -> None:
        self.port, self.channels, self.baud = port, channels, baud
        self._wanted: dict[int, bool] = {}
        self._link: serial.SerialBase | None = None
        self._lock = threading.Lock()

    def _open(self) -> serial.SerialBase:
        if self._link is None:
            try:
                self._link = serial.serial_for_url(
                    self.port, baudrate=self.baud, timeout=0, write_timeout=1.0
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                raise OutputError(f"relay board {self.port}: {exc}") from exc
            # Bring a board that lost power (or this process) back to the wanted state.
            self._link.write(b"".join(command(ch, on) for ch, on in sorted(self._wanted.items())))
        return self._link

    def set(self, channel: int, on: bool) -> None:
        """Switch ``channel`` on or off; raises ``OutputError``."""
        if not 1 <= channel <= self.channels:
            raise OutputError(f"relay board {self.port}: no channel {channel}")
        with self._lock:
            try:
                link = self._open()  # (re)opening writes what was wanted before
                self._wanted[channel] = on
                link.write(command(channel, on))
                link.flush()
            except (serial.SerialException, OSError, OutputError) as exc:
                self._wanted[channel] = on  # the next (re)open sends it
                self._drop()
                if isinstance(exc, OutputError):
                    raise
                raise OutputError(f"relay board {self.port}: {exc}") from exc

    def wanted(self) -> dict[int, bool]:
        with self._lock:
            return dict(self._wanted)

    def _drop(self) -> None:
        close_quietly(self._link, self.port)
        self._link = None

    def close(self) -> None:
        with self._lock:
            self._drop()
