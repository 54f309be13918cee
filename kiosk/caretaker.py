"""The caretaker view-model (a staff card with a standing grant opens it).

Rules this module guarantees:
- It shows every door the replica knows with the state the door controller
  last wrote (``door_states``), alarms (forced, held open, fire release,
  power lost, readers offline), readers, sync health (last contact, applied
  rev, outbox backlog and the age of its oldest event), today's check-ins and
  no-shows, walk-ins central rejected, and the door controller's database
  faults (``sync.replica.door_health``: disk full, write lock held, a corrupt
  row, an unreadable file), each an alarm.
- Commands (unlock a door for N seconds, lockdown, release) are never carried
  out here: they are queued with ``queue_local_command`` for the door
  controller, which writes ``command.done`` (an outbox event) when it has.
  Each names the caretaker's credential id. They expire after ``COMMAND_TTL``.
- Lockdown, and releasing it, ask for a second tap (confirm) before it is queued.
- The alarm count is the number of alarms listed (``alarm_lines``): doors in
  an alarm state and readers not connected.
- Readers are named by where they sit (node.toml: door and direction, or
  the kiosk), never by their ids alone.
- No-shows are judged as ``sweep_no_shows`` does: a central booking that ended
  ``policy.no_show_grace_minutes`` ago with nobody entered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sync.replica import (
    DOOR_COMMANDS,
    Booking,
    Door,
    Replica,
    Resource,
    backlog,
    bookings_overlapping,
    checked_in,
    day_bounds,
    door_states,
    local_day,
    pending_commands,
    queue_local_command,
    reader_states,
    resource_tree,
    walkin_states,
)
from sync.replica.door_health import DoorFault, door_faults
from sync.replica.queries import outbox_age

from .identity import Identity
from .services import Services
from .today import Health, data_health

ALARM_STATES = frozenset({"forced", "held_open", "fire_release", "powerless"})
UNLOCK_CHOICES = (5, 30, 60, 300)
COMMAND_TTL = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class DoorLine:
    door: str
    name: str
    state: str  # a door state, or "unknown" before the door controller wrote one
    since: datetime | None
    alarm: bool
    pending: tuple[str, ...]  # commands queued for it, not yet carried out


@dataclass(frozen=True, slots=True)
class ReaderLine:
    reader: str
    online: bool
    detail: str
    since: datetime
    door_name: str | None = None  # where it sits (node.toml's reader -> door)
    direction: str | None = None
    kiosk: str | None = None


@dataclass(frozen=True, slots=True)
class SyncLine:
    health: Health
    last_contact: datetime | None  # facility-local
    applied_rev: int
    backlog: int
    oldest: timedelta | None  # age of the oldest unacknowledged event


@dataclass(frozen=True, slots=True)
class BookingLine:
    booking: str
    resource: str
    start: datetime
    end: datetime
    checked_in: datetime | None
    no_show: bool


@dataclass(frozen=True, slots=True)
class RejectedLine:
    booking: str
    resource: str
    start: datetime
    reason: str

    @classmethod
    def of(cls, rep: Replica, b: Booking, reason: str) -> RejectedLine:
        """A rejected walk-in as listed: where (its first resource's name, or
        its id when that is gone) and when (in the facility's time zone)."""
        res = rep.get(Resource, b.resources[0])
        return cls(b.id, res.name if res else b.resources[0], b.start.astimezone(rep.tz), reason)


@dataclass(frozen=True, slots=True)
class Notice:
    """A message screen: an error code, or walk-ins central rejected (shown to
    the person who booked them at their next tap)."""

    error: str | None
    rejected: tuple[RejectedLine, ...] = ()


@dataclass(frozen=True, slots=True)
class CaretakerView:
    doors: tuple[DoorLine, ...]
    readers: tuple[ReaderLine, ...]
    sync: SyncLine
    today: tuple[BookingLine, ...]
    rejected: tuple[RejectedLine, ...]
    facility_pending: tuple[str, ...]  # lockdown/release queued
    alarms: int
    confirming: str | None  # "lockdown" or "release" while waiting for the second tap
    last: str | None  # the last command queued (cmd name), for the screen to confirm
    alarm_lines: tuple[DoorLine | ReaderLine, ...] = ()  # every alarm counted, listed
    message: str | None = None  # central's message for the caretaker, today
    door_faults: tuple[DoorFault, ...] = ()  # the door controller's database faults (alarms)


class CaretakerModel:
    def __init__(self, svc: Services, who: Identity, message: str | None = None) -> None:
        self.svc, self.who = svc, who
        self.message = message
        self.confirming: str | None = None
        self.last: str | None = None
        self.seconds = UNLOCK_CHOICES[0]  # the unlock length the caretaker picked

    def pick_seconds(self, seconds: int) -> None:
        if seconds not in UNLOCK_CHOICES:
            raise ValueError(f"unlock for one of {UNLOCK_CHOICES} seconds")
        self.seconds = seconds

    def view(self) -> CaretakerView:
        rep, now = self.svc.rep, self.svc.clock.now()
        tz = rep.tz
        with rep.read():
            states = {s.door: s for s in door_states(rep)}
            pending = pending_commands(rep, DOOR_COMMANDS)
            doors = []
            for d in rep.all(Door):
                st = states.get(d.id)
                state = st.state if st else "unknown"
                doors.append(
                    DoorLine(
                        d.id,
                        d.name,
                        state,
                        st.since.astimezone(tz) if st else None,
                        state in ALARM_STATES,
                        tuple(c.cmd for c in pending if c.args.get("door") == d.id),
                    )
                )
            door_names = {d.door: d.name for d in doors}
            places = self.svc.settings.readers
            readers = tuple(
                ReaderLine(
                    r.reader, r.online, r.detail, r.since.astimezone(tz),
                    door_names.get(places[r.reader].door or "") if r.reader in places else None,
                    places[r.reader].direction if r.reader in places else None,
                    places[r.reader].kiosk if r.reader in places else None,
                )
                for r in reader_states(rep)
            )  # fmt: skip
            sync_state, policy = rep.state(), rep.policy()
            oldest = outbox_age(rep)
            seen = sync_state.head_seen_at
            sync = SyncLine(
                data_health(sync_state, policy.max_offline_hours, now),
                seen.astimezone(tz) if seen else None,
                sync_state.applied_rev,
                backlog(rep),
                None if oldest is None else max(timedelta(0), now - oldest),
            )
            today = self._today(now, policy.no_show_grace_minutes)
            rejected = self._rejected()
        alarm_lines: tuple[DoorLine | ReaderLine, ...] = (
            *(d for d in doors if d.alarm),
            *(r for r in readers if not r.online),
        )
        faults = tuple(replace(f, since=f.since.astimezone(tz)) for f in door_faults(rep.path, now))
        return CaretakerView(
            tuple(doors),
            readers,
            sync,
            today,
            rejected,
            tuple(c.cmd for c in pending if "door" not in c.args),
            len(alarm_lines) + len(faults),
            self.confirming,
            self.last,
            alarm_lines,
            self.message,
            faults,
        )

    def _today(self, now: datetime, grace_minutes: int) -> tuple[BookingLine, ...]:
        rep, tz = self.svc.rep, self.svc.rep.tz
        lo, hi = day_bounds(local_day(now, tz), tz)
        names = {r.id: r.name for r in rep.all(Resource)}
        out = []
        for b in bookings_overlapping(rep, resource_tree(rep), lo, hi):
            if b.start > now:
                continue  # not begun: neither a check-in nor a no-show yet
            seen = checked_in(rep, b.id)
            late = b.origin == "central" and now - b.end >= timedelta(minutes=grace_minutes)
            out.append(
                BookingLine(
                    b.id,
                    names.get(b.resources[0], b.resources[0]),
                    b.start.astimezone(tz),
                    b.end.astimezone(tz),
                    seen.astimezone(tz) if seen else None,
                    seen is None and late,
                )
            )
        return tuple(out)

    def _rejected(self) -> tuple[RejectedLine, ...]:
        rep = self.svc.rep
        out = []
        for bid, (state, reason) in sorted(walkin_states(rep).items()):
            b = rep.get(Booking, bid) if state == "rejected" else None
            if b is not None:
                out.append(RejectedLine.of(rep, b, reason))
        return tuple(sorted(out, key=lambda r: r.start))

    # --- commands (outbox-backed, carried out by the door controller) ----------

    def _queue(self, cmd: str, args: dict[str, object]) -> int:
        now = self.svc.clock.now()
        ident = queue_local_command(
            self.svc.rep, cmd, args, self.who.credential, now + COMMAND_TTL, now
        )
        self.last, self.confirming = cmd, None
        return ident

    def unlock(self, door: str, seconds: int | None = None) -> int:
        """Queue ``unlock`` of ``door`` for ``seconds`` (default: the picked
        length); returns the command id."""
        seconds = self.seconds if seconds is None else seconds
        if seconds not in UNLOCK_CHOICES:
            raise ValueError(f"unlock for one of {UNLOCK_CHOICES} seconds")
        if self.svc.rep.get(Door, door) is None:
            raise ValueError(f"unknown door {door!r}")
        return self._queue("unlock", {"door": door, "seconds": seconds})

    def ask_lockdown(self) -> None:
        self.confirming = "lockdown"

    def abort(self) -> None:
        self.confirming = None

    def lockdown(self) -> int:
        """Queue ``lockdown``; only after ``ask_lockdown`` (a second tap)."""
        if self.confirming != "lockdown":
            raise ValueError("lockdown needs a confirmation")
        return self._queue("lockdown", {})

    def ask_release(self) -> None:
        self.confirming = "release"

    def release(self) -> int:
        """Queue ``release``; only after ``ask_release`` (a second tap)."""
        if self.confirming != "release":
            raise ValueError("releasing a lockdown needs a confirmation")
        return self._queue("release", {})
