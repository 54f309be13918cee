"""The link learns of corrupt records the door controller or a kiosk met.

The door controller counts every read that met a stored record that does not
decode (``ReplicaCorrupt``) in its health file (``sync.replica.door_health``:
``corrupt_found``, per process ``pid``); each kiosk counts the ones it meets
the same way in a health file of its own (``CorruptTally``, process
``kiosk-<id>``). ``CorruptWatch`` reads those files and says when a count has
grown, so that the link asks central for a snapshot, which rewrites every
record (docs/sync.md, "Self-repair").

Rules this module guarantees:
- The first reading of each file is its baseline: what a process found before
  this link started is not acted on here (the link's once-per-boot check
  decodes every record and finds it itself).
- After that, a count higher than the last one seen from the same process
  (``pid``), or any count above 0 from a new process, is news: ``poll``
  returns it once, naming who met it. A restart resets nothing here beyond
  that.
- News is given at most once per ``HOLD_S``, whichever process found it (a
  snapshot of a large facility costs tens of seconds: a row a snapshot cannot
  mend, say a local walk-in, must not make the link ask for one on every
  tap); news within the hold is kept and given when it ends (the newest).
- A missing or unreadable file is no news; nothing here raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from sync.replica.door_health import DOOR, corrupt_signal

HOLD_S = 300.0


def watched(kiosks: Iterable[str] = ()) -> dict[str, str]:
    """The processes whose health files the link watches (process name ->
    who, for the log): the door controller and each kiosk of the node."""
    return {DOOR: "the door controller", **{f"kiosk-{k}": f"kiosk {k}" for k in kiosks}}


class CorruptWatch:
    """See the module docstring. ``processes``: process name -> who."""

    def __init__(
        self,
        database: str | Path,
        processes: Mapping[str, str] | None = None,
        hold_s: float = HOLD_S,
    ) -> None:
        self.database, self.hold_s = database, hold_s
        self.processes = dict(processes if processes is not None else watched())
        self._seen = {p: corrupt_signal(database, p) for p in self.processes}
        self._pending: str | None = None
        self._given = float("-inf")

    def poll(self, mono: float) -> str | None:
        """``"<who> met: <detail>"`` for a corrupt record a watched process met
        (module rules), or None; ``mono`` is monotonic time."""
        for process, who in self.processes.items():
            now = corrupt_signal(self.database, process)
            if now is None:
                continue
            before, self._seen[process] = self._seen[process], now
            pid, count, detail = now
            grown = count > before[1] if before is not None and before[0] == pid else count > 0
            if grown:
                self._pending = f"{who} met: {detail or 'a record does not decode'}"
        if self._pending is None or mono - self._given < self.hold_s:
            return None
        news, self._pending, self._given = self._pending, None, mono
        return news
