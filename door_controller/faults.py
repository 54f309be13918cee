"""The door controller's database faults: logged once, shown, cleared when they end.

Rules this module guarantees:
- ``FaultBoard.set`` logs a fault the first time it is seen (and again only
  when its text changes), never once per tap; ``clear`` logs that it ended.
- The board is shared by the loop thread (read faults) and the recorder
  thread (write faults): every method takes its lock.
- ``health`` is what ``hallvakt status`` and the caretaker view read
  (``sync.replica.door_health``); ``changed`` says whether it must be written.
- ``corrupt`` counts every read that met a record that does not decode; the
  health file carries the count, and the sync link asks for a snapshot when it
  grows (docs/sync.md, "Self-repair").
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime

from sync.replica.door_health import DoorFault, DoorHealth, FaultKind

log = logging.getLogger(__name__)


class FaultBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[FaultKind, DoorFault] = {}
        self._counts = (0, 0)  # journalled, in memory
        self._corrupt = (0, "")  # reads that met a corrupt record, the last one's problem
        self.changed = True

    def set(self, kind: FaultKind, detail: str, at: datetime) -> None:
        """Report a fault; logged when new or when its text changes."""
        with self._lock:
            old = self._faults.get(kind)
            if old is not None and old.detail == detail:
                return
            self._faults[kind] = DoorFault(kind, detail, old.since if old else at)
            self.changed = True
        log.error("database fault (%s): %s; %s", kind.value, detail, self._faults[kind].consequence)

    def corrupt(self, detail: str) -> None:
        """A read met a stored record that does not decode (``ReplicaCorrupt``)."""
        with self._lock:
            self._corrupt = (self._corrupt[0] + 1, detail)
            self.changed = True

    def clear(self, kind: FaultKind) -> None:
        with self._lock:
            old = self._faults.pop(kind, None)
            if old is None:
                return
            self.changed = True
        log.warning("database fault (%s) ended: %s", kind.value, old.detail)

    def counts(self, journalled: int, in_memory: int) -> None:
        with self._lock:
            if (journalled, in_memory) != self._counts:
                self._counts = (journalled, in_memory)
                self.changed = True

    def active(self, kind: FaultKind) -> bool:
        with self._lock:
            return kind in self._faults

    def faults(self) -> tuple[DoorFault, ...]:
        with self._lock:
            return tuple(self._faults[k] for k in FaultKind if k in self._faults)

    def health(self, at: datetime) -> DoorHealth:
        """The board as the health file holds it; resets ``changed``."""
        with self._lock:
            self.changed = False
            faults = tuple(self._faults[k] for k in FaultKind if k in self._faults)
            return DoorHealth(os.getpid(), at, faults, *self._counts, *self._corrupt)
