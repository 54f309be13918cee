"""Staff only: what the door keeps of the replica for when it cannot read it.

PROTOCOL.md §7 and docs/door.md: when the replica cannot be read at all (a
corrupt file, an I/O error), the door falls back to the standing staff grants
it last read successfully, held in memory and in a small file beside the
database, and fails secure for everyone else.

Rules this module guarantees:
- ``read_staff`` reads, in one read transaction, every standing grant, the
  card credentials of their holders, which of those are revoked, and the doors;
  it raises what the replica raises (``ReplicaCorrupt``, ``sqlite3.Error``).
- ``save_staff`` writes the file atomically (temp file, fsync, rename), mode
  0600; a failed save leaves the previous file whole. ``load_staff`` returns
  None for a missing or unreadable file: then nobody opens.
- ``fallback_context`` is pure: an ``AccessContext`` with ``source ==
  "fallback"``, holding only the staff candidates for the digest (no
  bookings), never-confirmed sync state (so stale), and the default policy.
- The file also keeps the lockdown, so a restart on an unreadable database
  still holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sync.protocol.records import Credential, Door, Grant, Policy

from .access import AccessContext, Candidate
from .door_records import Lockdown, lockdown_state
from .store import Replica, SyncState


@dataclass(frozen=True, slots=True)
class StaffMemory:
    rev: int  # the replica's applied_rev when it was read
    doors: tuple[Door, ...]
    grants: tuple[Grant, ...]
    credentials: tuple[Credential, ...]  # the cards of the grants' holders
    revoked: frozenset[str]  # ids of those credentials that are revoked
    lockdown: Lockdown | None = None


def staff_path(database: str | Path) -> Path:
    """Where the staff file of the database at ``database`` lives (beside it)."""
    return Path(f"{database}-door-staff.json")


def read_staff(rep: Replica) -> StaffMemory:
    """The staff grants, their holders' cards and the doors, in one read."""
    with rep.read():
        rev = rep.state().applied_rev
        grants = tuple(rep.all(Grant))
        holders = sorted({g.holder for g in grants})
        marks = ",".join("?" * len(holders)) or "NULL"
        creds = rep.decode_rows(
            Credential,
            rep.conn.execute(
                f"SELECT data FROM credentials WHERE holder IN ({marks}) ORDER BY id", holders
            ),
        )
        cards = tuple(c for c in creds if c.kind == "card")
        revoked = frozenset(
            c.id
            for c in cards
            if rep.conn.execute(
                "SELECT 1 FROM revocations WHERE credential = ? OR digest = ? LIMIT 1",
                [c.id, c.digest],
            ).fetchone()
        )
        return StaffMemory(rev, tuple(rep.all(Door)), grants, cards, revoked, lockdown_state(rep))


def fallback_context(mem: StaffMemory, door_id: str, digest: str, at: datetime) -> AccessContext:
    """The facts for ``digest`` at ``door_id`` from the staff memory alone (pure)."""
    door = next((d for d in mem.doors if d.id == door_id), None)
    candidates = tuple(
        Candidate(
            c,
            c.id in mem.revoked,
            (),
            tuple(g for g in mem.grants if g.holder == c.holder and door_id in g.doors),
        )
        for c in mem.credentials
        if c.digest == digest
    )
    state = SyncState(0, mem.rev, 0, 0, None, None, None, None, 0)
    return AccessContext(door, at, candidates, Policy("default"), state, source="fallback")


def _wire(mem: StaffMemory) -> dict[str, Any]:
    lock = mem.lockdown
    return {
        "rev": mem.rev,
        "doors": [d.to_wire() for d in mem.doors],
        "grants": [g.to_wire() for g in mem.grants],
        "credentials": [c.to_wire() for c in mem.credentials],
        "revoked": sorted(mem.revoked),
        "lockdown": None
        if lock is None
        else {"active": lock.active, "by": lock.by, "since": lock.since.isoformat()},
    }


def save_staff(path: str | Path, mem: StaffMemory) -> None:
    """Write ``mem`` to ``path`` atomically; raises ``OSError`` (the old file stays)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps(_wire(mem), separators=(",", ":")).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_staff(path: str | Path) -> StaffMemory | None:
    """The staff memory saved at ``path``, or None when there is none readable."""
    try:
        doc = json.loads(Path(path).read_text("utf-8"))
        lock = doc.get("lockdown")
        return StaffMemory(
            int(doc["rev"]),
            tuple(Door.from_wire(d) for d in doc["doors"]),
            tuple(Grant.from_wire(g) for g in doc["grants"]),
            tuple(Credential.from_wire(c) for c in doc["credentials"]),
            frozenset(str(r) for r in doc["revoked"]),
            None
            if lock is None
            else Lockdown(
                bool(lock["active"]), str(lock["by"]), datetime.fromisoformat(lock["since"])
            ),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
