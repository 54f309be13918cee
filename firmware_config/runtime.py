"""What a daemon needs from the appliance it runs on: systemd's notify socket.

``sd_notify`` speaks systemd's notify protocol (sd_notify(3)) without a
dependency: one datagram to ``$NOTIFY_SOCKET``. Outside systemd it does
nothing. ``Notifier`` sends ``READY=1`` once and ``WATCHDOG=1`` at most every
``interval`` seconds, so a loop can call ``alive()`` on every turn.
"""

from __future__ import annotations

import os
import socket
import time


def sd_notify(message: str) -> bool:
    """Send ``message`` to systemd; False when not under systemd or on error."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(addr)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


class Notifier:
    def __init__(self, interval: float | None = None) -> None:
        usec = os.environ.get("WATCHDOG_USEC")
        # Half the watchdog period, as sd_watchdog_enabled(3) advises.
        self.interval = interval if interval is not None else (int(usec) / 2e6 if usec else 5.0)
        self._last = 0.0
        self._ready = False

    def ready(self, status: str = "") -> None:
        if not self._ready:
            self._ready = True
            sd_notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def alive(self, status: str = "") -> bool:
        """Pet the watchdog if it is due; True when a message was sent."""
        now = time.monotonic()
        if now - self._last < self.interval:
            return False
        self._last = now
        return sd_notify("WATCHDOG=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> None:
        sd_notify("STOPPING=1")
