"""``ReplicaFacts``: the door's read side of the node database, with its staff fallback.

The core (``core.Facts``) asks; this answers from a read of the replica on the
loop thread's own connection. In WAL mode a read never waits for a writer,
so a long transaction elsewhere (a big snapshot) never delays a decision.

Rules this module guarantees:
- No method raises. When the replica cannot be read (``ReplicaCorrupt``, any
  ``sqlite3.Error``), the fault is reported once on the ``FaultBoard`` and the
  answer comes from the staff memory (``sync.replica.door_fallback``): the
  standing grants last read, held in memory and in a file beside the database,
  loaded from that file when the database could not be read at all. With no
  memory at all nobody opens.
- A database that cannot be read is a fault until the next successful read.
  A corrupt row (``ReplicaCorrupt``) is a fault until that presentation reads
  well again or central's data changes (``applied_rev``): other presentations
  reading well say nothing about that row. Each such read is also counted on
  the board (``FaultBoard.corrupt``), which the sync link watches to repair.
- ``staff_memory`` is read again when central's data changes
  (``applied_rev``), on ``refresh``, never on the decision path.
- Doors, policy and zone answers are remembered from the last good read, so
  timers and PIN limits keep working on a fallback.
- A database that could not be opened at all is opened again every
  ``REOPEN_S``; until then every answer is the fallback's.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sync.replica import Door, Policy, zone
from sync.replica.access import AccessContext, access_context
from sync.replica.attendance import leaders_in
from sync.replica.commands import DOOR_COMMANDS, QueuedCommand, pending_commands
from sync.replica.device_status import door_states
from sync.replica.door_fallback import StaffMemory, fallback_context, load_staff, read_staff
from sync.replica.door_health import FaultKind
from sync.replica.door_records import Lockdown, lockdown_state
from sync.replica.queries import pin_matches
from sync.replica.store import Replica, ReplicaCorrupt, ReplicaError

from .faults import FaultBoard

log = logging.getLogger(__name__)
DB_ERRORS = (ReplicaError, sqlite3.Error)
REOPEN_S = 5.0
NO_STAFF = StaffMemory(0, (), (), (), frozenset())


class ReplicaFacts:
    """``core.Facts`` over a replica connection, falling back to staff grants."""

    def __init__(
        self,
        source: Replica | Callable[[], Replica],
        faults: FaultBoard,
        *,
        staff_file: str | None = None,
    ) -> None:
        self.faults, self.staff_file = faults, staff_file
        self.rep: Replica | None = source if isinstance(source, Replica) else None
        self._open = None if isinstance(source, Replica) else source
        self._next_open = 0.0
        self.staff: StaffMemory | None = None
        self._failed_on: str | None = None  # the presentation whose read failed
        self._doors: dict[str, Door | None] = {}
        self._policy = Policy("default")
        self._tz: ZoneInfo = zone("Europe/Stockholm")
        self._rev: int | None = None
        self.unsaved: StaffMemory | None = None  # a new staff memory for the file
        if staff_file is not None:
            self.staff = load_staff(staff_file)

    def _conn(self, at: datetime) -> Replica | None:
        """The connection, opened now if it could not be before (every ``REOPEN_S``)."""
        if self.rep is None and self._open is not None and time.monotonic() >= self._next_open:
            self._next_open = time.monotonic() + REOPEN_S
            try:
                self.rep = self._open()
            except DB_ERRORS as exc:
                self._fault(exc, "", at)
        return self.rep

    def _fault(self, exc: BaseException, key: str, at: datetime) -> None:
        # a corrupt row is that presentation's; anything else is the database's ("")
        self._failed_on = key if isinstance(exc, ReplicaCorrupt) else ""
        if isinstance(exc, ReplicaCorrupt):
            self.faults.corrupt(str(exc))  # the link sees it and asks for a snapshot
        self.faults.set(FaultKind.READ, f"cannot read the replica: {exc}", at)

    def _ok(self, key: str) -> None:
        if self._failed_on is not None and self._failed_on in ("", key):
            self._failed_on = None
            self.faults.clear(FaultKind.READ)

    # --- core.Facts --------------------------------------------------------------

    def access(self, door: str, digest: str, at: datetime) -> AccessContext:
        key = f"{door}/{digest}"
        rep = self._conn(at)
        try:
            if rep is None:
                raise ReplicaError("the node database could not be opened")
            ctx = access_context(rep, door, digest, at)
        except DB_ERRORS as exc:
            self._fault(exc, key, at)
            return fallback_context(self.staff or NO_STAFF, door, digest, at)
        self._ok(key)
        if ctx.door is not None:
            self._doors[door] = ctx.door
        self._policy = ctx.policy
        self._rev = ctx.state.applied_rev
        return ctx

    def pin_matches(self, holder: str, digest: str, at: datetime) -> bool | None:
        rep = self._conn(at)
        try:
            if rep is None:
                raise ReplicaError("the node database could not be opened")
            return pin_matches(rep, holder, digest, at)
        except DB_ERRORS as exc:
            self._fault(exc, f"pin/{holder}", at)
            return None

    def leaders_in(self, bookings: Collection[str]) -> frozenset[str]:
        try:
            if self.rep is None:
                return frozenset()
            return leaders_in(self.rep, list(bookings))
        except DB_ERRORS:
            return frozenset()  # fail secure: no leader known

    def door(self, door: str) -> Door | None:
        if door not in self._doors:
            rep = self.rep
            if rep is None:
                return None
            try:
                self._doors[door] = rep.get(Door, door)
            except DB_ERRORS:
                return None
        return self._doors[door]

    def policy(self) -> Policy:
        return self._policy

    def tz(self) -> ZoneInfo:
        return self._tz

    # --- for the daemon -------------------------------------------------------------

    def refresh(self, at: datetime) -> None:
        """Read again what only central's data changes, when ``applied_rev`` moved:
        the staff memory (``unsaved`` then holds it for the file), doors,
        policy, zone. Off the decision path (the daemon calls it on ticks)."""
        rep = self._conn(at)
        if rep is None:
            return
        try:
            rev = rep.state().applied_rev
            if rev == self._rev and self.staff is not None and self.staff.rev == rev:
                return
            with rep.read():
                staff = read_staff(rep)
                self._policy = rep.policy()
                self._tz = rep.tz
                self._doors.clear()
            moved, self._rev = rev != self._rev, rev
        except DB_ERRORS as exc:
            self._fault(exc, "", at)
            return
        if moved or self._failed_on == "":
            self._ok(self._failed_on or "")
        mine = self.staff.lockdown if self.staff is not None else None
        if mine is not None and (staff.lockdown is None or staff.lockdown.since < mine.since):
            staff = replace(staff, lockdown=mine)  # newer than the database (journalled)
        if staff != self.staff:
            self.staff = self.unsaved = staff

    def take_unsaved(self) -> StaffMemory | None:
        """A staff memory newer than the file, once (for the recorder to save)."""
        mem, self.unsaved = self.unsaved, None
        return mem

    def note_lockdown(self, lockdown: Lockdown) -> None:
        """Keep the lockdown in the staff memory (and so in its file)."""
        if self.staff is None:  # nothing read yet: keep the lockdown alone
            self.staff = self.unsaved = replace(NO_STAFF, lockdown=lockdown)
        elif self.staff.lockdown != lockdown:
            self.staff = self.unsaved = replace(self.staff, lockdown=lockdown)

    def restored(self) -> tuple[dict[str, str], Lockdown | None]:
        """The doors' last recorded states and the lockdown, from the replica,
        else from the staff file (doors then unknown)."""
        rep = self.rep or (self._conn(datetime.now(UTC)))
        try:
            if rep is None:
                raise ReplicaError("the node database could not be opened")
            with rep.read():
                return {s.door: s.state for s in door_states(rep)}, lockdown_state(rep)
        except DB_ERRORS as exc:
            log.error("cannot read the doors' last states: %s", exc)
            return {}, self.staff.lockdown if self.staff is not None else None

    def due_commands(self) -> Sequence[QueuedCommand]:
        try:
            return () if self.rep is None else pending_commands(self.rep, DOOR_COMMANDS)
        except DB_ERRORS:
            return ()
