"""Fakes of the replica's own ports, for every package's tests (house style 5).

- ``FakeClock``: a ``NodeClock`` that moves only when told to. ``advance``
  moves wall and monotonic time together (time passing); ``step_wall`` moves
  wall time alone, as an NTP correction or a wrong RTC does (monotonic time
  never jumps); ``is_trusted`` and ``source`` are what the kernel would say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.protocol.codes import ClockSource

from .clock import ClockReading


@dataclass(slots=True)
class FakeClock:
    """A clock that moves only when told to."""

    wall: datetime
    mono: float = 1000.0
    is_trusted: bool = True
    source: ClockSource = ClockSource.NTP

    def read(self) -> ClockReading:
        return ClockReading(self.wall, self.mono, self.is_trusted, self.source)

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def trusted(self) -> bool:
        return self.is_trusted

    def advance(self, seconds: float) -> None:
        """Time passes: wall and monotonic time move together."""
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    def step_wall(self, seconds: float) -> None:
        """Wall time jumps (forwards or backwards); monotonic time does not."""
        self.wall += timedelta(seconds=seconds)
