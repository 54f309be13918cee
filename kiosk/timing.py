"""Time limits on the kiosk: warned before they run out, and extendable.

Rules this module guarantees (WCAG 2.2 SC 2.2.1 Timing Adjustable):
- A limit of ``limit_s`` seconds warns ``warn_s`` seconds before it expires
  (20 s, or half the limit when the limit is shorter than 40 s), and any touch
  or the "more time" button starts it again, as often as wanted.
- Time is monotonic seconds passed in; nothing here reads a clock.
- ``phase`` is a pure function of the last touch and ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

WARN_S = 20.0


class Phase(Enum):
    ACTIVE = "active"
    WARNING = "warning"
    EXPIRED = "expired"


@dataclass(slots=True)
class TimeLimit:
    """One idle limit; ``touch`` restarts it."""

    limit_s: float
    last: float
    extensions: int = 0

    @property
    def warn_s(self) -> float:
        return min(WARN_S, self.limit_s / 2)

    def touch(self, now: float) -> None:
        """A touch anywhere: the limit starts again."""
        self.last = now

    def extend(self, now: float) -> None:
        """The "more time" answer to a warning."""
        self.last = now
        self.extensions += 1

    def remaining(self, now: float) -> float:
        return max(0.0, self.last + self.limit_s - now)

    def phase(self, now: float) -> Phase:
        left = self.remaining(now)
        if left <= 0:
            return Phase.EXPIRED
        if left <= self.warn_s:
            return Phase.WARNING
        return Phase.ACTIVE
