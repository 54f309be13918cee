"""The Today view-model: every room's status at a glance, its day as a
timeline, the walk-in times that can be sold, and whether the data can be
trusted.

Rules this module guarantees:
- Only public labels reach the screen (``ScheduleEntry.label``: a booking's
  title or an organisation's name, never a person's).
- Each row has a ``Status``: busy until the time the room is free again
  (back-to-back bookings joined) with the current booking's public label, or
  free until the next booking starts (or for the rest of the day).
- A divisible hall is shown as such: the hall first, its sections after it
  with ``level`` 1; a whole-hall booking shows on each section marked
  ``via_hall``.
- Free slots are those ``free_slots`` gives inside this node's leases, from
  the slot in progress to the end of the facility day. The slot in progress
  is offered from now, rounded down to 5 minutes, to its end
  (``round_down``); its ``Slot.start`` is that instant.
- Walk-in windows are runs of consecutive free slots of one lease. A slot is
  sellable only when ``walkin_access`` (sync.replica.walkin_rule, PROTOCOL.md
  §7), asked at the walk-in's start with the clock state the kiosk knows,
  says the door opens for it; otherwise the row says why (``refusal``).
- The banner says ``never`` (no head ever seen), ``stale`` (older than
  ``policy.max_offline_hours``, PROTOCOL.md §7) or ``offline`` (no head for
  ``OFFLINE_AFTER``: central re-signs its head at least hourly), with the age.
- The timeline spans from the hour before now to the end of the last booking
  or lease of the day (at least ``MIN_SPAN``, at most midnight).
- Building a view reads the replica in one snapshot and never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from firmware_config.vocabulary import DEFAULT_TZ
from sync.replica import (
    Booking,
    Lease,
    Replica,
    ReplicaCorrupt,
    Resource,
    ScheduleEntry,
    Slot,
    SyncState,
    day_bounds,
    day_schedule,
    free_slots,
    local_day,
    resource_tree,
    walkin_states,
)
from sync.replica.walkin_rule import WalkinAccess, walkin_access

OFFLINE_AFTER = timedelta(minutes=75)  # central re-signs its head at least hourly (§6)
ROUND = timedelta(minutes=5)  # the slot in progress is sold from now, to 5 minutes
MIN_SPAN = timedelta(hours=6)


def round_down(at: datetime, step: timedelta = ROUND) -> datetime:
    """``at`` rounded down to ``step`` (whole minutes since the hour)."""
    base = at.replace(second=0, microsecond=0)
    minutes = int(step.total_seconds() // 60)
    return base - timedelta(minutes=base.minute % minutes)


@dataclass(frozen=True, slots=True)
class Health:
    """How far the node's data can be trusted (the banner)."""

    level: str  # "ok", "offline", "stale", "never", "unreadable" (a record does not decode)
    age: timedelta | None  # since the last verified head

    @property
    def banner(self) -> bool:
        return self.level != "ok"


def data_health(state: SyncState, max_offline_hours: int, now: datetime) -> Health:
    """``never``, ``stale`` past the policy limit, ``offline`` past ``OFFLINE_AFTER``."""
    if state.head_seen_at is None:
        return Health("never", None)
    age = max(timedelta(0), now - state.head_seen_at)
    if age > timedelta(hours=max_offline_hours):
        return Health("stale", age)
    if age > OFFLINE_AFTER:
        return Health("offline", age)
    return Health("ok", age)


@dataclass(frozen=True, slots=True)
class Entry:
    """One booking line under a resource, in facility time."""

    booking: str
    start: datetime
    end: datetime
    label: str  # public; "" = a private booking: the screen says only "booked"
    tentative: bool
    via_hall: bool  # a booking of the whole hall shown under a section
    walkin: str | None  # a walk-in's state: pending, accepted, rejected


@dataclass(frozen=True, slots=True)
class Status:
    """A room's state now, for the glance: busy or free, and until when."""

    busy: bool
    until: datetime | None  # facility-local; None: for the rest of the day
    label: str  # the current booking's public label ("" when free or private)
    via_hall: bool


@dataclass(frozen=True, slots=True)
class Window:
    """Consecutive free walk-in slots of one lease (facility-local times)."""

    start: datetime
    end: datetime
    first: Slot  # the slot a touch on the window picks
    sellable: bool


@dataclass(frozen=True, slots=True)
class Row:
    resource: str
    name: str
    level: int  # 0 a hall or room, 1 a section of the hall above
    parent_name: str | None
    entries: tuple[Entry, ...]
    now: Entry | None
    next: Entry | None
    free: tuple[Slot, ...]  # sellable free slots, the one in progress first
    walkins: bool  # the resource takes walk-ins at all
    slot_minutes: int | None
    max_slots: int
    status: Status
    windows: tuple[Window, ...]
    refusal: str | None  # why free slots cannot be sold (a WalkinAccess value)
    parent: str | None = None
    divisible: bool = False  # a hall with sections
    at: datetime | None = None  # facility-local now

    @property
    def book_now(self) -> Slot | None:
        """The slot in progress (or starting within 5 minutes), if it can be sold."""
        first = self.free[0] if self.free else None
        if first is None or self.at is None or first.start > self.at + ROUND:
            return None
        return first


@dataclass(frozen=True, slots=True)
class TodayView:
    facility: str
    day: date
    now: datetime  # facility-local
    rows: tuple[Row, ...]
    health: Health
    span: tuple[datetime, datetime]  # the timeline's hours, facility-local
    clock_trusted: bool = True

    def row(self, resource: str) -> Row:
        """The row of ``resource``; raises ``KeyError``."""
        for r in self.rows:
            if r.resource == resource:
                return r
        raise KeyError(resource)


def _depth(resources: dict[str, Resource], rid: str) -> int:
    depth, cur = 0, resources.get(rid)
    while cur is not None and cur.parent is not None and depth < 8:
        depth, cur = depth + 1, resources.get(cur.parent)
    return depth


def _entry(e: ScheduleEntry, walkins: dict[str, tuple[str, str]]) -> Entry:
    state = walkins.get(e.booking.id)
    return Entry(
        e.booking.id,
        e.start_local,
        e.end_local,
        e.label,
        e.booking.status == "tentative",
        e.via is not None,
        state[0] if state else None,
    )


def status_of(entries: tuple[Entry, ...], now: datetime) -> Status:
    """Busy until free again (adjacent bookings joined), or free until the next."""
    ordered = sorted(entries, key=lambda e: e.start)
    current = next((e for e in ordered if e.start <= now < e.end), None)
    if current is None:
        upcoming = next((e for e in ordered if e.start > now), None)
        return Status(False, upcoming.start if upcoming else None, "", False)
    until = current.end
    for e in ordered:
        if e.start <= until < e.end:
            until = e.end
    return Status(True, until, current.label, current.via_hall)


def sell_check(
    rep: Replica, node: str, slot: Slot, *, clock_trusted: bool, at: datetime | None = None
) -> WalkinAccess:
    """Whether the door would open for a walk-in of ``slot`` at its start."""
    probe = Booking(
        "probe", (slot.resource,), slot.start, slot.end, None, "", "confirmed", "walkin",
        slot.lease, node,
    )  # fmt: skip
    lease = rep.get(Lease, slot.lease)
    return walkin_access(
        probe, lease, node=node, at=slot.start if at is None else at, clock_trusted=clock_trusted
    )


def open_slots(
    rep: Replica, node: str, rid: str, minutes: int, now: datetime, hi: datetime
) -> list[Slot]:
    """Free slots from the one in progress (its start moved to now, rounded
    down to 5 minutes) to ``hi``."""
    step = timedelta(minutes=minutes)
    out = []
    for s in free_slots(rep, node, rid, now - step, hi):
        if s.end <= now:
            continue
        if s.start < now:
            s = Slot(s.resource, max(s.start, round_down(now)), s.end, s.lease)
        out.append(s)
    return out


def _windows(slots: list[Slot], sellable: set[Slot], tz: tzinfo) -> tuple[Window, ...]:
    out: list[Window] = []
    for s in slots:
        start, end = s.start.astimezone(tz), s.end.astimezone(tz)
        last = out[-1] if out else None
        if last is not None and last.end == start and last.first.lease == s.lease:
            out[-1] = Window(last.start, end, last.first, last.sellable)
        else:
            out.append(Window(start, end, s, s in sellable))
    return tuple(out)


def build_today(rep: Replica, node: str, now: datetime, *, clock_trusted: bool = True) -> TodayView:
    """The Today screen's state at ``now`` (aware UTC)."""
    tz = rep.tz
    day = local_day(now, tz)
    _, day_end = day_bounds(day, tz)
    local_now = now.astimezone(tz)
    last_end = local_now
    with rep.read():
        facility = rep.facility()
        resources = resource_tree(rep)
        schedule = day_schedule(rep, day)
        walkins = walkin_states(rep)
        health = data_health(rep.state(), rep.policy().max_offline_hours, now)
        rows: list[Row] = []
        for rid, items in schedule.items():
            res = resources[rid]
            entries = tuple(_entry(e, walkins) for e in items)
            current = next((e for e in entries if e.start <= local_now < e.end), None)
            upcoming = next((e for e in entries if e.start > local_now), None)
            slots: list[Slot] = []
            sellable: list[Slot] = []
            refusal: str | None = None
            if res.walkin_slot_minutes is not None:
                slots = open_slots(rep, node, rid, res.walkin_slot_minutes, now, day_end)
                for s in slots:
                    verdict = sell_check(rep, node, s, clock_trusted=clock_trusted)
                    if verdict is WalkinAccess.OPENS:
                        sellable.append(s)
                    elif refusal is None:
                        refusal = verdict.value
            for e in entries:
                last_end = max(last_end, e.end)
            for s in slots:
                last_end = max(last_end, s.end.astimezone(tz))
            parent = resources.get(res.parent) if res.parent else None
            rows.append(
                Row(
                    rid,
                    res.name,
                    min(1, _depth(resources, rid)),
                    parent.name if parent else None,
                    entries,
                    current,
                    upcoming,
                    tuple(sellable),
                    res.walkin_slot_minutes is not None,
                    res.walkin_slot_minutes,
                    res.walkin_max_slots,
                    status_of(entries, local_now),
                    _windows(slots, set(sellable), tz),
                    refusal,
                    res.parent,
                    any(r.parent == rid for r in resources.values()),
                    local_now,
                )
            )
    # A hall's sections follow the hall, whatever their sort keys say.
    ordered: list[Row] = []
    for row in rows:
        if row.level == 0:
            ordered.append(row)
            ordered.extend(
                r for r in rows if r.level == 1 and resources[r.resource].parent == row.resource
            )
    ordered.extend(r for r in rows if r not in ordered)
    name = facility.name if facility else ""
    start = local_now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    start = max(start, day_bounds(day, tz)[0].astimezone(tz))
    end = max(last_end, start + MIN_SPAN)
    if end.minute or end.second:
        end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    end = min(end, day_end.astimezone(tz))
    return TodayView(name, day, local_now, tuple(ordered), health, (start, end), clock_trusted)


def unreadable_today(rep: Replica, now: datetime, *, clock_trusted: bool = True) -> TodayView:
    """Today when its data does not decode (``ReplicaCorrupt``) at the kiosk's
    start: no rows, and the banner that the bookings are being fetched again
    (the kiosk has reported it; the link asks central for a snapshot that
    mends it, and the poll after that reads the data again)."""
    try:
        tz = rep.tz
    except ReplicaCorrupt:
        tz = ZoneInfo(DEFAULT_TZ)
    local_now = now.astimezone(tz)
    day = local_day(now, tz)
    start = local_now.replace(minute=0, second=0, microsecond=0)
    return TodayView(
        "", day, local_now, (), Health("unreadable", None), (start, start + MIN_SPAN), clock_trusted
    )
