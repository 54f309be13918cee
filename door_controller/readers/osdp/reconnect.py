"""When to retry a reader that libosdp set offline (pure: time is passed in).

Rules this module guarantees:
- libosdp keeps a failed reader offline for 300 s (``LIBOSDP_OFFLINE_S``);
  with a base delay the reader is instead due for a new attempt after
  ``base_s`` doubling per failure, never later than 300 s. Without one
  (``base_s=None``) it is never due: libosdp's own wait applies.
- The reader's going offline after our own disable (``Phase.DISABLING``) is no
  failure. Each offline period is reported once: ``went_offline`` returns True
  only for the first failure since the reader was last online, and not when
  the decoder already reported it.
- ``retry_now`` (the line came back) forgets the backoff and makes a waiting
  reader due at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

LIBOSDP_OFFLINE_S = 300.0  # OSDP_ONLINE_RETRY_WAIT_MAX_MS in libosdp 3.2.9


class Phase(enum.Enum):
    ATTEMPT = "attempt"  # libosdp is trying to bring the reader online
    ONLINE = "online"
    WAIT = "wait"  # offline; retry at ``until``
    DISABLING = "disabling"  # we asked libosdp to disable it, to enable it again


@dataclass(slots=True)
class Reconnect:
    """When to retry a reader that libosdp set offline (it would wait 300 s)."""

    base_s: float | None  # None: leave it to libosdp
    phase: Phase = Phase.ATTEMPT
    failures: int = 0
    until: float = 0.0
    reported: bool = False  # this offline period has been reported

    def went_online(self) -> None:
        self.phase, self.failures, self.reported = Phase.ONLINE, 0, False

    def went_offline(self, now: float, reported: bool) -> bool:
        """libosdp set the reader offline; True if the caller must report why."""
        if self.phase is Phase.DISABLING:
            return False  # our own disable
        report = not (self.reported or reported)
        self.reported = True
        delay = LIBOSDP_OFFLINE_S if self.base_s is None else self.base_s * 2**self.failures
        self.phase, self.until = Phase.WAIT, now + min(delay, LIBOSDP_OFFLINE_S)
        self.failures = min(self.failures + 1, 16)
        return report

    def retry_now(self, now: float) -> None:
        """Forget the backoff (the line came back): a waiting reader is due at once."""
        self.failures = 0
        if self.phase is Phase.WAIT:
            self.until = now

    def due(self, now: float) -> bool:
        """Time to disable (or enable) the reader to force a new attempt."""
        return self.base_s is not None and self.phase is Phase.WAIT and now >= self.until
