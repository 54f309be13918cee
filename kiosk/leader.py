"""Leader check-in and attendance: a leader taps a card, sees the team's
booking, enters the headcount at the common start and confirms it at the end.

Rules this module guarantees:
- The flow is one explicit table ``(state, event) -> state``; other pairs raise.
- A leader sees only bookings of the associations the card's holder is a
  member of (and the holder's own), today, in facility time.
- The headcount is entered from ``EARLY`` before the start until the end
  window opens; the end window runs from ``EARLY`` before the end to
  ``LATE`` after it. Each submission is one ``attendance.reported`` event
  (PROTOCOL.md §5) with ``stage`` ``start`` or ``end``: counts only, no
  children's personal data ever reaches the node.
- The start count is stored in the node database with its event
  (``report_attendance``) and read back by ``start_report``: the end
  confirmation shows it and starts from it, also after a kiosk restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sync.replica import (
    Booking,
    Resource,
    StartReport,
    bookings_overlapping,
    checked_in,
    day_bounds,
    leaders_in,
    local_day,
    report_attendance,
    resource_tree,
    start_report,
)
from sync.replica.queries import public_label

from .identity import Identity
from .services import Services

EARLY = timedelta(minutes=15)
LATE = timedelta(minutes=60)
MAX_PARTICIPANTS = 999
MAX_LEADERS = 50


class L(Enum):
    SHOW = "show"
    COUNT = "count"
    DONE = "done"
    CLOSED = "closed"


class LE(Enum):
    COUNT = "count"
    SUBMIT = "submit"
    BACK = "back"
    CANCEL = "cancel"
    TIMEOUT = "timeout"


TABLE: dict[tuple[L, LE], L] = {
    (L.SHOW, LE.COUNT): L.COUNT,
    (L.SHOW, LE.CANCEL): L.CLOSED,
    (L.SHOW, LE.TIMEOUT): L.CLOSED,
    (L.COUNT, LE.SUBMIT): L.DONE,
    (L.COUNT, LE.BACK): L.SHOW,
    (L.COUNT, LE.CANCEL): L.CLOSED,
    (L.COUNT, LE.TIMEOUT): L.CLOSED,
    (L.DONE, LE.CANCEL): L.CLOSED,
    (L.DONE, LE.TIMEOUT): L.CLOSED,
}


class LeaderTransition(Exception):
    pass


def lstep(state: L, event: LE) -> L:
    try:
        return TABLE[(state, event)]
    except KeyError:
        raise LeaderTransition(f"{event.value} is not allowed in {state.value}") from None


@dataclass(frozen=True, slots=True)
class LeaderView:
    state: L
    team: str  # the association's public name
    booking: str | None
    title: str
    resource_name: str
    start: datetime | None  # facility-local
    end: datetime | None
    stage: str  # none, early, start, end, over
    checked_in: datetime | None  # first entry at a door (facility-local)
    leader_in: bool
    start_report: StartReport | None  # the headcount reported at the start
    participants: int
    leaders: int
    error: str | None
    field: str = "p"  # the count the number pad types into: "p" participants, "l" leaders
    saved: tuple[int, int] | None = None  # the counts saved (shown and spoken by "Thank you!")
    resource: str | None = None  # the booked room (the screen shows its day)


def stage_at(booking: Booking | None, now: datetime) -> str:
    """``none``, ``early``, ``start`` (headcount), ``end`` (confirm) or ``over``."""
    if booking is None:
        return "none"
    if now < booking.start - EARLY:
        return "early"
    if now < booking.end - EARLY:
        return "start"
    if now <= booking.end + LATE:
        return "end"
    return "over"


class LeaderFlow:
    """One leader at the kiosk."""

    def __init__(self, svc: Services, who: Identity) -> None:
        self.svc, self.who = svc, who
        self.state = L.SHOW
        self.error: str | None = None
        self.booking = self._find()
        draft = start_report(svc.rep, self.booking.id) if self.booking else None
        self.participants = draft.participants if draft else 0
        self.leaders = draft.leaders if draft else 1
        self.field = "p"
        self.fresh = True  # the next digit replaces the count instead of extending it
        self.saved: tuple[int, int] | None = None

    def _find(self) -> Booking | None:
        rep, now = self.svc.rep, self.svc.clock.now()
        lo, hi = day_bounds(local_day(now, rep.tz), rep.tz)
        groups = {self.who.holder.id, *(g.id for g in self.who.groups)}
        with rep.read():
            mine = [
                b
                for b in bookings_overlapping(rep, resource_tree(rep), lo, hi)
                if b.holder in groups
            ]
        # The booking now or next; else the last one that ended today.
        live = [b for b in mine if b.end + LATE >= now]
        return live[0] if live else (mine[-1] if mine else None)

    def _go(self, event: LE) -> None:
        self.state = lstep(self.state, event)

    def view(self) -> LeaderView:
        rep, now, b = self.svc.rep, self.svc.clock.now(), self.booking
        tz = rep.tz
        team = self.who.groups[0].display_name if self.who.groups else ""
        if b is None:
            return LeaderView(
                self.state, team, None, "", "", None, None, "none", None, False, None, 0, 1,
                self.error, self.field, self.saved,
            )  # fmt: skip
        res = rep.get(Resource, b.resources[0])
        owner = next((g for g in self.who.groups if g.id == b.holder), None)
        seen = checked_in(rep, b.id)
        return LeaderView(
            self.state,
            owner.display_name if owner else team,
            b.id,
            public_label(b, owner),
            res.name if res else b.resources[0],
            b.start.astimezone(tz),
            b.end.astimezone(tz),
            stage_at(b, now),
            seen.astimezone(tz) if seen else None,
            b.id in leaders_in(rep, [b.id]),
            start_report(rep, b.id),
            self.participants,
            self.leaders,
            self.error,
            self.field,
            self.saved,
            b.resources[0],
        )

    # --- the number pad -------------------------------------------------------

    def select(self, field: str) -> None:
        """Type into ``p`` (participants) or ``l`` (leaders) next."""
        if field not in ("p", "l"):
            raise ValueError(f"no count {field!r}")
        self.field, self.fresh, self.error = field, True, None

    def digit(self, d: str) -> None:
        """A digit on the number pad: the first after selecting replaces the count."""
        if len(d) != 1 or not d.isdigit():
            raise ValueError(f"not a digit: {d!r}")
        value = self.participants if self.field == "p" else self.leaders
        value = int(d) if self.fresh else value * 10 + int(d)
        self.fresh = False
        most = MAX_PARTICIPANTS if self.field == "p" else MAX_LEADERS
        if value > most:
            self.error = "count_range"
            return
        self._set(value)

    def erase(self) -> None:
        value = self.participants if self.field == "p" else self.leaders
        self.fresh = False
        self._set(value // 10)

    def _set(self, value: int) -> None:
        if self.field == "p":
            self.participants = value
        else:
            self.leaders = value
        self.error = None

    def start_count(self) -> None:
        if stage_at(self.booking, self.svc.clock.now()) not in ("start", "end"):
            raise LeaderTransition("no headcount outside the booking")
        self._go(LE.COUNT)
        self.error = None

    def set_counts(self, participants: int, leaders: int) -> None:
        if not (0 <= participants <= MAX_PARTICIPANTS and 1 <= leaders <= MAX_LEADERS):
            self.error = "count_range"
            return
        self.participants, self.leaders, self.error = participants, leaders, None

    def submit(self) -> None:
        """Record ``attendance.reported`` for the current stage."""
        now, b = self.svc.clock.now(), self.booking
        stage = stage_at(b, now)
        if b is None or self.state is not L.COUNT or stage not in ("start", "end"):
            raise LeaderTransition("nothing to report")
        if not (0 <= self.participants <= MAX_PARTICIPANTS and 1 <= self.leaders <= MAX_LEADERS):
            self.error = "count_range"
            return
        report_attendance(
            self.svc.rep, b, stage, self.participants, self.leaders, self.who.credential, now
        )
        self.saved = (self.participants, self.leaders)
        self._go(LE.SUBMIT)

    def back(self) -> None:
        self._go(LE.BACK)

    def cancel(self) -> None:
        self._go(LE.CANCEL)

    def timeout(self) -> None:
        self._go(LE.TIMEOUT)
