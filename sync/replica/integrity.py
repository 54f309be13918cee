"""Is the node database sound? The full checks, once per boot.

Rules this module guarantees (the cheap check on every open is
``sync.replica.opening``):
- ``quick_check`` (SQLite's ``PRAGMA quick_check``) reads the whole file, about
  a second per GB: it is not run on open. ``BootCheck`` remembers, in
  ``<database dir>/run/integrity.json``, the boot and the file (device, inode)
  it last ran on and what it found, so that it runs once per boot, in one
  process (the sync link, in the background); ``hallvakt status`` reads the
  file. A check that found a corrupt record runs again at the next start (a
  snapshot may have replaced it); another file (one moved into place) is
  checked afresh.
- ``scan_records`` decodes every stored record once, a chunk at a time (memory
  stays flat whatever the replica's size), and returns the first one that does
  not decode or validate; damage inside a row passes ``quick_check``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sync.protocol.records import ENTITIES

from .errors import ReplicaCorrupt, ReplicaDamaged, ReplicaError
from .store import TABLES, Replica

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
SCAN_CHUNK = 2_000


def quick_check(rep: Replica) -> str | None:
    """SQLite's ``quick_check``: None when sound, else its first finding."""
    try:
        rows = rep.conn.execute("PRAGMA quick_check(20)").fetchall()
    except ReplicaDamaged as exc:
        return str(exc)
    findings = [str(r[0]) for r in rows if r[0] != "ok"]
    return "; ".join(findings) if findings else None


def scan_records(rep: Replica, *, pause: Callable[[], object] | None = None) -> str | None:
    """Decode every stored record, ``SCAN_CHUNK`` rows at a time (each chunk its
    own read, ``pause()`` between chunks). None when all decode, else the first
    damage found (``ReplicaCorrupt``'s message)."""
    for entity, cls in ENTITIES.items():
        table = TABLES[entity]
        last = -1
        while True:
            try:
                rows = rep.conn.execute(
                    f"SELECT rowid, data FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    [last, SCAN_CHUNK],
                ).fetchall()
                for _, data in rows:
                    rep.decode(cls, data)
            except ReplicaCorrupt as exc:
                return f"{entity}: {exc}"
            if len(rows) < SCAN_CHUNK:
                break
            last = rows[-1][0]
            if pause is not None:
                pause()
    return None


def current_boot_id() -> str:
    """The kernel's id of this boot ("" where there is none)."""
    try:
        return BOOT_ID_FILE.read_text(encoding="ascii").strip()
    except OSError:
        return ""


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """What the last full check found (``run/integrity.json``)."""

    boot_id: str
    file: str  # "<device>:<inode>" of the database checked
    at: float  # Unix seconds
    seconds: float
    damaged: str | None  # quick_check's finding: the file must be replaced
    corrupt: str | None  # a record that does not decode: a snapshot mends it


class BootCheck:
    """The once-per-boot full check of the database at ``db_path`` (module rules)."""

    def __init__(self, db_path: str | Path, boot_id: str | None = None) -> None:
        self.db_path = Path(db_path)
        self.path = self.db_path.parent / "run" / "integrity.json"
        self.boot_id = current_boot_id() if boot_id is None else boot_id

    def last(self) -> CheckRecord | None:
        """The last check recorded, if the file is there and readable."""
        try:
            doc: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
            return CheckRecord(**doc)
        except (OSError, ValueError, TypeError):
            return None

    def file_id(self) -> str:
        try:
            st = self.db_path.stat()
        except OSError:
            return ""
        return f"{st.st_dev}:{st.st_ino}"

    def due(self) -> bool:
        """Whether this file still needs its check in this boot (module rules)."""
        last = self.last()
        return (
            last is None
            or not self.boot_id
            or last.boot_id != self.boot_id
            or last.file != self.file_id()
            or last.corrupt is not None
        )

    def run(self, rep: Replica, *, pause: Callable[[], object] | None = None) -> CheckRecord:
        """Check ``rep`` (its own connection: the check reads for a while) and record it."""
        t0 = time.monotonic()
        damaged = quick_check(rep)
        corrupt = None
        if damaged is None:
            try:
                corrupt = scan_records(rep, pause=pause)
            except ReplicaDamaged as exc:
                damaged = str(exc)
            except ReplicaError as exc:
                corrupt = str(exc)
        rec = CheckRecord(
            self.boot_id, self.file_id(), time.time(), time.monotonic() - t0, damaged, corrupt
        )
        self.record(rec)
        return rec

    def record(self, rec: CheckRecord) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text(json.dumps(asdict(rec)) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # the check ran; only its memory is lost (it runs again next start)
