"""The link learns of corrupt records the door controller met at decision time.

The door controller counts every read that met a stored record that does not
decode (``ReplicaCorrupt``) in its health file (``sync.replica.door_health``:
``corrupt_found``, per process ``pid``). ``DoorCorruptWatch`` reads that file
and says when the count has grown, so that the link asks central for a
snapshot, which rewrites every record (docs/sync.md, "Self-repair").

Rules this module guarantees:
- The first reading is the baseline: what the door found before this link
  started is not acted on here (the link's once-per-boot check decodes every
  record and finds it itself).
- After that, a count higher than the last one seen from the same door
  process, or any count above 0 from a new door process, is news: ``poll``
  returns its detail once. A door controller restart resets nothing here
  beyond that.
- News is given at most once per ``HOLD_S`` (a snapshot of a large facility
  costs tens of seconds: a row a snapshot cannot mend, say a local walk-in,
  must not make the link ask for one on every tap); news within the hold is
  kept and given when it ends.
- A missing or unreadable file is no news; nothing here raises.
"""

from __future__ import annotations

from pathlib import Path

from sync.replica.door_health import corrupt_signal

HOLD_S = 300.0


class DoorCorruptWatch:
    """See the module docstring."""

    def __init__(self, database: str | Path, hold_s: float = HOLD_S) -> None:
        self.database, self.hold_s = database, hold_s
        self._seen = corrupt_signal(database)
        self._pending: str | None = None
        self._given = float("-inf")

    def poll(self, mono: float) -> str | None:
        """The detail of a corrupt record the door met (module rules), or None;
        ``mono`` is monotonic time."""
        now = corrupt_signal(self.database)
        if now is not None:
            before, self._seen = self._seen, now
            pid, count, detail = now
            grown = count > before[1] if before is not None and before[0] == pid else count > 0
            if grown:
                self._pending = detail or "a record does not decode"
        if self._pending is None or mono - self._given < self.hold_s:
            return None
        news, self._pending, self._given = self._pending, None, mono
        return news
