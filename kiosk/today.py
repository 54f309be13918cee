"""The Today view-model: every resource's day, now/next, free walk-in slots,
and whether the data can be trusted.

Rules this module guarantees:
- Only public labels reach the screen (``ScheduleEntry.label``: a booking's
  title or an organisation's name, never a person's).
- A divisible hall is shown as such: the hall first, its sections after it
  with ``level`` 1; a whole-hall booking shows on each section marked
  ``via_hall``.
- Free slots are those ``free_slots`` gives inside this node's leases, from
  now to the end of the facility day; a resource without walk-ins has none.
- The banner says ``never`` (no head ever seen), ``stale`` (older than
  ``policy.max_offline_hours``, PROTOCOL.md §7) or ``offline`` (no head for
  ``OFFLINE_AFTER``: central re-signs its head at least hourly), with the age.
- Building a view reads the replica in one snapshot and never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sync.replica import (
    Replica,
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

OFFLINE_AFTER = timedelta(minutes=75)  # central re-signs its head at least hourly (§6)


@dataclass(frozen=True, slots=True)
class Health:
    """How far the node's data can be trusted (the banner)."""

    level: str  # "ok", "offline", "stale", "never"
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
class Row:
    resource: str
    name: str
    level: int  # 0 a hall or room, 1 a section of the hall above
    parent_name: str | None
    entries: tuple[Entry, ...]
    now: Entry | None
    next: Entry | None
    free: tuple[Slot, ...]
    walkins: bool  # the resource takes walk-ins at all
    slot_minutes: int | None
    max_slots: int


@dataclass(frozen=True, slots=True)
class TodayView:
    facility: str
    day: date
    now: datetime  # facility-local
    rows: tuple[Row, ...]
    health: Health

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


def build_today(rep: Replica, node: str, now: datetime) -> TodayView:
    """The Today screen's state at ``now`` (aware UTC)."""
    tz = rep.tz
    day = local_day(now, tz)
    _, day_end = day_bounds(day, tz)
    local_now = now.astimezone(tz)
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
            free: tuple[Slot, ...] = ()
            if res.walkin_slot_minutes is not None:
                free = tuple(free_slots(rep, node, rid, now, day_end))
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
                    free,
                    res.walkin_slot_minutes is not None,
                    res.walkin_slot_minutes,
                    res.walkin_max_slots,
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
    return TodayView(name, day, local_now, tuple(ordered), health)
