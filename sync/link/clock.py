"""The link's clock: wall time, monotonic time, and whether wall time is trusted.

This is I/O (it reads the system clocks); the core only ever sees a ``Moment``.
Trust (PROTOCOL.md §4, §5 hello ``clock``): the kernel says the clock is
NTP-synchronised (``adjtimex`` is not ``TIME_ERROR``) → trusted, source
``ntp``; otherwise untrusted, source ``rtc`` when the machine has a hardware
clock (``/dev/rtc0``), else ``none``. ``assume_trusted`` (``--trust-clock``,
for demos and tests without NTP) reports trusted with the source found.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from firmware_config.runtime import kernel_clock_synced
from sync.protocol import ClockSource

from .events import Moment

RECHECK_S = 10.0  # how often the kernel is asked again


@dataclass(slots=True)
class SystemClock:
    assume_trusted: bool = False
    _checked: float = float("-inf")
    _state: tuple[bool, ClockSource] = (False, ClockSource.NONE)

    def _trust(self, mono: float) -> tuple[bool, ClockSource]:
        if mono - self._checked >= RECHECK_S:
            self._checked = mono
            if kernel_clock_synced():
                self._state = (True, ClockSource.NTP)
            else:
                source = ClockSource.RTC if os.path.exists("/dev/rtc0") else ClockSource.NONE
                self._state = (self.assume_trusted, source)
        return self._state

    def now(self) -> Moment:
        mono = time.monotonic()
        trusted, source = self._trust(mono)
        return Moment(datetime.now(UTC), mono, trusted, source)
