"""The door controller's database faults, for ``hallvakt status`` and the caretaker view.

A fault of the node database (disk full, the write lock held too long, a row
that no longer validates, a file that cannot be read) must be seen even while
the database cannot be written: the door controller keeps its health in a
small file beside the database, which ``read_door_health`` and
``door_faults`` read.

Rules this module guarantees:
- The file's ``SIZE`` bytes are reserved when it is opened and every write
  overwrites them in place (JSON padded with spaces): it keeps being written
  on a full disk. A reader that meets a half-written file reads it again, and
  gives up (None) rather than guess.
- ``door_faults`` reports a fault only from a file written within
  ``FRESH_S`` (a door controller that stopped says nothing about now; ``status``
  shows it as not running).
- A fault names its kind, what went wrong, since when, and what the door does
  about it (``consequence``); the texts are the operator's, in English.
- ``corrupt_found`` counts, per door controller process (``pid``), the
  decisions that met a stored record that does not decode (``ReplicaCorrupt``),
  with the last one's ``corrupt_detail``: the sync link watches it
  (``corrupt_signal``) and asks central for a snapshot that repairs the row
  (docs/sync.md, "Self-repair"). A file without them reads as 0 and "".
- Another node process that reads the replica (the kiosk) reports the corrupt
  records it meets the same way, in a health file of its own
  (``health_path(database, process)``, written by ``CorruptTally``: no
  faults, only the count), so the link's one watch serves every process.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SIZE = 4096
FRESH_S = 30.0
DOOR = "door"  # the door controller's health file's process name
_PROCESS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

log = logging.getLogger("hallvakt.replica")


class FaultKind(enum.StrEnum):
    READ = "read"  # the replica could not be read: staff grants only
    WRITE = "write"  # records could not be written: they wait in the journal
    JOURNAL = "journal"  # the journal could not take them either: held in memory


CONSEQUENCE = {
    FaultKind.READ: "the door admits staff grants only (the last ones read)",
    FaultKind.WRITE: "events wait in the door's journal and are merged when writes work again",
    FaultKind.JOURNAL: "events are held in the door controller's memory only",
}


@dataclass(frozen=True, slots=True)
class DoorFault:
    kind: FaultKind
    detail: str
    since: datetime

    @property
    def consequence(self) -> str:
        return CONSEQUENCE[self.kind]


@dataclass(frozen=True, slots=True)
class DoorHealth:
    pid: int
    at: datetime
    faults: tuple[DoorFault, ...]
    journalled: int = 0  # records waiting in the journal
    in_memory: int = 0  # records held in memory only
    corrupt_found: int = 0  # decisions that met a record that does not decode
    corrupt_detail: str = ""  # the last such record's problem

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "at": self.at.isoformat(),
            "faults": [
                {"kind": f.kind.value, "detail": f.detail, "since": f.since.isoformat()}
                for f in self.faults
            ],
            "journalled": self.journalled,
            "in_memory": self.in_memory,
            "corrupt_found": self.corrupt_found,
            "corrupt_detail": self.corrupt_detail,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DoorHealth:
        """Raises ``ValueError``/``KeyError``/``TypeError`` for anything else."""
        return cls(
            int(doc["pid"]),
            datetime.fromisoformat(doc["at"]),
            tuple(
                DoorFault(
                    FaultKind(f["kind"]), str(f["detail"]), datetime.fromisoformat(f["since"])
                )
                for f in doc["faults"]
            ),
            int(doc["journalled"]),
            int(doc["in_memory"]),
            int(doc.get("corrupt_found", 0)),
            str(doc.get("corrupt_detail", "")),
        )


def health_path(database: str | Path, process: str = DOOR) -> Path:
    """Where the health file of ``process`` (the door controller's unless
    named: ``kiosk-foyer``) for the database at ``database`` lives; raises
    ``ValueError`` for a name that is not a plain local id."""
    if not _PROCESS.fullmatch(process):
        raise ValueError(f"not a process name: {process!r}")
    return Path(f"{database}-{process}-health")


class HealthFile:
    """The writer's end: reserved once, overwritten in place."""

    def __init__(self, path: str | Path) -> None:
        """Raises ``OSError`` when the file cannot be created or its space reserved."""
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            if os.fstat(self._fd).st_size < SIZE:
                os.posix_fallocate(self._fd, 0, SIZE)
        except OSError:
            os.close(self._fd)
            raise

    def write(self, health: DoorHealth) -> None:
        """Overwrite the file with ``health``; raises ``OSError``. Long texts are
        cut so that the document fits."""
        doc = health.to_json()
        doc["corrupt_detail"] = doc["corrupt_detail"][:500]
        data = json.dumps(doc).encode()
        while len(data) > SIZE and doc["faults"]:
            for f in doc["faults"]:
                f["detail"] = f["detail"][: max(0, len(f["detail"]) // 2)]
            data = json.dumps(doc).encode()
        os.pwrite(self._fd, data.ljust(SIZE, b" "), 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_door_health(database: str | Path, process: str = DOOR) -> DoorHealth | None:
    """What the door controller (or ``process``) last wrote, or None (no
    file, or unreadable)."""
    for _ in range(2):  # a write may be under way: read once more
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            text = health_path(database, process).read_bytes().strip()
            return DoorHealth.from_json(json.loads(text))
    return None


def fresh_door_health(database: str | Path, now: datetime) -> DoorHealth | None:
    """What the door controller wrote within ``FRESH_S`` of ``now``, else None."""
    health = read_door_health(database)
    if health is None or abs((now - health.at).total_seconds()) > FRESH_S:
        return None
    return health


def door_faults(database: str | Path, now: datetime) -> tuple[DoorFault, ...]:
    """The door controller's current database faults (none when it wrote no
    health within ``FRESH_S``)."""
    health = fresh_door_health(database, now)
    return () if health is None else health.faults


def corrupt_signal(database: str | Path, process: str = DOOR) -> tuple[int, int, str] | None:
    """(pid, corrupt_found, corrupt_detail) of the door controller's (or
    ``process``'s) health file for ``database``, whatever its age; None
    without a readable file."""
    health = read_door_health(database, process)
    if health is None:
        return None
    return health.pid, health.corrupt_found, health.corrupt_detail


class CorruptTally:
    """A node process other than the door controller (the kiosk) counting the
    corrupt records it met (``ReplicaCorrupt``) in its own health file, the
    door's format with no faults (module rules). Never raises: a file that
    cannot be made or written is logged and the process goes on."""

    def __init__(self, database: str | Path, process: str) -> None:
        self.count, self.detail = 0, ""
        self._file: HealthFile | None = None
        try:
            self._file = HealthFile(health_path(database, process))
        except (OSError, ValueError) as exc:
            log.error("corrupt records met cannot be reported: %s", exc)

    def met(self, problem: Exception | str, at: datetime) -> None:
        """One more corrupt record met, at ``at``; ``problem`` says which."""
        self.count, self.detail = self.count + 1, str(problem)
        log.error("a stored record does not decode (%d so far): %s", self.count, self.detail)
        if self._file is None:
            return
        health = DoorHealth(
            os.getpid(), at, (), corrupt_found=self.count, corrupt_detail=self.detail
        )
        try:
            self._file.write(health)
        except OSError as exc:
            log.error("corrupt records met cannot be reported: %s", exc)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
