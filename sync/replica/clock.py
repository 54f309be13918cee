"""The node's one clock adapter: wall time, monotonic time, and whether wall time is trusted.

Every node process (door controller, sync link, kiosk) reads time through a
``NodeClock``; ``SystemClock`` is the real one, ``sync.replica.testing.FakeClock``
the fake (it can also step wall time alone, as an NTP correction does).

Rules this module guarantees:
- Trust (PROTOCOL.md §4, §5 hello ``clock``, §7): wall time is trusted when the
  kernel says NTP keeps it in step (``adjtimex`` is not ``TIME_ERROR``), source
  ``ntp``; otherwise untrusted, source ``rtc`` when the machine has a hardware
  clock (``/dev/rtc0``), else ``none``. ``assume_trusted`` (``--trust-clock``,
  for demos and tests without NTP) reports trusted with the source found.
- The kernel is asked at most once per ``recheck_s`` (5 s) per clock; libc is
  loaded once per process (``ctypes.util.find_library`` starts a subprocess:
  never on a hot path). A machine without ``adjtimex`` is never trusted.
- ``read()`` reads the wall and monotonic clocks together, so one decision
  sees one instant.
- Test hooks, off unless their environment variable names a file (read when
  the clock is made; a process that has one logs a warning at start):
  ``HALLVAKT_CLOCK_DISTRUST_FILE``: while that file exists, wall time is
  untrusted whatever the kernel or ``assume_trusted`` say (it can only take
  trust away); ``HALLVAKT_CLOCK_OFFSET_FILE``: wall time is the system's plus
  the whole seconds that file holds (``-3600``), read at every reading,
  monotonic time untouched, as an NTP step or a wrong RTC leaves it. The
  fault tests step a running door or link with them (docs/sync.md,
  "Wall-clock steps"); a missing or unreadable offset file, or one beyond a
  century, counts as 0. Unset in production.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sync.protocol.codes import ClockSource

log = logging.getLogger(__name__)

RECHECK_S = 5.0
_TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
DISTRUST_ENV = "HALLVAKT_CLOCK_DISTRUST_FILE"
OFFSET_ENV = "HALLVAKT_CLOCK_OFFSET_FILE"
MAX_OFFSET_S = 100 * 366 * 86400  # a larger offset counts as unreadable (0)


def _distrust_file() -> str | None:
    return os.environ.get(DISTRUST_ENV) or None


def _offset_file() -> str | None:
    return os.environ.get(OFFSET_ENV) or None


@dataclass(frozen=True, slots=True)
class ClockReading:
    """One reading of the clocks: ``wall`` (aware UTC), ``mono`` (seconds, any
    origin, never backwards), whether wall time is trusted, and its source."""

    wall: datetime
    mono: float
    trusted: bool
    source: ClockSource = ClockSource.NONE

    @property
    def unix(self) -> int:
        """Wall time in integer Unix seconds."""
        return int(self.wall.timestamp())


class NodeClock(Protocol):
    """Time as a node process may use it."""

    def read(self) -> ClockReading:
        """Wall time, monotonic time and trust, read together."""
        ...

    def now(self) -> datetime:
        """Wall time, an aware UTC instant."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go backwards (timers)."""
        ...

    def trusted(self) -> bool:
        """Whether wall time is synchronised (PROTOCOL.md §7)."""
        ...


class _Timex(ctypes.Structure):
    # struct timex (Linux): only the leading field we pass; padded generously.
    _fields_ = [("modes", ctypes.c_uint), ("pad", ctypes.c_long * 40)]


@functools.cache
def _adjtimex() -> Callable[..., int] | None:
    """libc's ``adjtimex``, looked up once per process (None when there is none)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fn: Callable[..., int] = ctypes.CDLL(name, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None
    return fn


def kernel_clock_synced() -> bool:
    """Whether the kernel says wall time is NTP-synchronised (adjtimex != TIME_ERROR)."""
    fn = _adjtimex()
    if fn is None:
        return False
    tx = _Timex()  # modes = 0: read only
    try:
        state = int(fn(ctypes.byref(tx)))
    except OSError:
        return False
    return state not in (-1, _TIME_ERROR)


def _rtc_present() -> bool:
    return os.path.exists("/dev/rtc0")


@dataclass(slots=True)
class SystemClock:
    """The real clock. ``synced`` and ``rtc`` are the kernel's answers (injectable)."""

    assume_trusted: bool = False
    recheck_s: float = RECHECK_S
    synced: Callable[[], bool] = kernel_clock_synced
    rtc: Callable[[], bool] = _rtc_present
    distrust_file: str | None = field(default_factory=_distrust_file)
    offset_file: str | None = field(default_factory=_offset_file)
    _checked: float = field(default=float("-inf"), repr=False)
    _state: tuple[bool, ClockSource] = field(default=(False, ClockSource.NONE), repr=False)

    def __post_init__(self) -> None:
        hooks = [f for f in (self.distrust_file, self.offset_file) if f is not None]
        if hooks:
            log.warning("clock test hooks in use (never in production): %s", ", ".join(hooks))

    def _trust(self, mono: float) -> tuple[bool, ClockSource]:
        if self.distrust_file is not None and os.path.lexists(self.distrust_file):
            return (False, self._state[1])
        if mono - self._checked >= self.recheck_s:
            self._checked = mono
            if self.synced():
                self._state = (True, ClockSource.NTP)
            else:
                source = ClockSource.RTC if self.rtc() else ClockSource.NONE
                self._state = (self.assume_trusted, source)
        return self._state

    def _wall(self) -> datetime:
        now = datetime.now(UTC)
        if self.offset_file is None:
            return now
        try:  # read at every reading: a test hook, and a file's mtime is coarse
            with open(self.offset_file, encoding="ascii") as f:
                seconds = int(f.read().strip() or "0")
        except (OSError, ValueError):
            return now
        if abs(seconds) > MAX_OFFSET_S:
            return now
        return now + timedelta(seconds=seconds)

    def read(self) -> ClockReading:
        mono = time.monotonic()
        trusted, source = self._trust(mono)
        return ClockReading(self._wall(), mono, trusted, source)

    def now(self) -> datetime:
        return self._wall()

    def monotonic(self) -> float:
        return time.monotonic()

    def trusted(self) -> bool:
        return self._trust(time.monotonic())[0]
