"""Queries the door controller and the kiosk need, typed and indexed.

Rules this module guarantees:
- Instant ranges are half-open [start, end) and compared in UTC; "today" and
  weekly windows are facility time (``Replica.tz``), so a DST day has 23 or 25
  hours and the schedule of that day covers exactly them.
- A divisible hall and its sections conflict: a booking on either blocks the
  other (``related_resources``). A door serving a resource serves bookings on
  the resources related to it.
- Only active bookings (confirmed, tentative) hold time or open doors.
- Time-range scans are bounded by the longest booking ever stored, so they read
  only the rows near the instant asked about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sync.protocol.records import Booking, Credential, Door, Grant, Holder, Lease, Resource
from sync.protocol.timeutil import day_bounds, from_ts, to_ts

from .store import Replica


def resource_tree(rep: Replica) -> dict[str, Resource]:
    """Every resource by id."""
    return {r.id: r for r in rep.all(Resource)}


def ancestors(resources: dict[str, Resource], rid: str) -> frozenset[str]:
    """``rid`` and the resources it is a part of (section -> hall)."""
    out = {rid}
    cur = resources.get(rid)
    while cur is not None and cur.parent is not None and cur.parent not in out:
        out.add(cur.parent)
        cur = resources.get(cur.parent)
    return frozenset(out)


def descendants(resources: dict[str, Resource], rid: str) -> frozenset[str]:
    """The resources that are parts of ``rid`` (hall -> sections), not ``rid`` itself."""
    out: set[str] = set()
    frontier = [rid]
    while frontier:
        parent = frontier.pop()
        for r in resources.values():
            if r.parent == parent and r.id not in out and r.id != rid:
                out.add(r.id)
                frontier.append(r.id)
    return frozenset(out)


def related_resources(resources: dict[str, Resource], rid: str) -> frozenset[str]:
    """``rid``, its ancestors and its descendants: everything a booking of ``rid``
    conflicts with in a divisible hall."""
    return ancestors(resources, rid) | descendants(resources, rid)


def bookings_overlapping(
    rep: Replica,
    resource_ids: Iterable[str],
    lo: datetime,
    hi: datetime,
    *,
    active_only: bool = True,
) -> list[Booking]:
    """Bookings on any of ``resource_ids`` that overlap [lo, hi), by start time."""
    ids = sorted(set(resource_ids))
    if not ids:
        return []
    lo_ts, hi_ts = to_ts(lo), to_ts(hi)
    span = rep.state().max_booking_s
    marks = ",".join("?" * len(ids))
    rows = rep.conn.execute(
        "SELECT DISTINCT b.data FROM booking_resources br JOIN bookings b ON b.id = br.booking_id"
        f" WHERE br.resource_id IN ({marks}) AND br.end_ts > ? AND br.end_ts <= ?"
        " AND br.start_ts < ?"
        + (" AND b.status IN ('confirmed', 'tentative')" if active_only else ""),
        [*ids, lo_ts, hi_ts + span, hi_ts],
    )
    return sorted(rep.decode_rows(Booking, rows), key=lambda b: (b.start, b.id))


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One line of a resource's day: a booking in facility time."""

    booking: Booking
    resource: str  # the resource this line is shown under
    via: str | None  # the related resource the booking is on, if not ``resource``
    start_local: datetime
    end_local: datetime
    label: str  # public: the booking title or an organisation's name, never a person's


def public_label(booking: Booking, holder: Holder | None) -> str:
    """What a public screen may say about a booking: never a person's name."""
    if booking.title:
        return booking.title
    if holder is not None and holder.kind != "person":
        return holder.display_name
    return ""


def day_schedule(rep: Replica, day: date) -> dict[str, list[ScheduleEntry]]:
    """Each resource's active bookings overlapping the facility-local ``day``.

    A resource's list includes bookings on its ancestors (a whole-hall booking
    shows on every section) with ``via`` set. Resources come in display order.
    """
    tz = rep.tz
    lo, hi = day_bounds(day, tz)
    with rep.read():
        resources = resource_tree(rep)
        holders: dict[str, Holder | None] = {}
        out: dict[str, list[ScheduleEntry]] = {}
        for res in sorted(resources.values(), key=lambda r: (r.sort, r.name, r.id)):
            above = ancestors(resources, res.id)
            entries = []
            for b in bookings_overlapping(rep, above, lo, hi):
                if b.holder is not None and b.holder not in holders:
                    holders[b.holder] = rep.get(Holder, b.holder)
                on = res.id if res.id in b.resources else next(r for r in b.resources if r in above)
                entries.append(
                    ScheduleEntry(
                        b,
                        res.id,
                        None if on == res.id else on,
                        b.start.astimezone(tz),
                        b.end.astimezone(tz),
                        public_label(b, holders.get(b.holder) if b.holder else None),
                    )
                )
            out[res.id] = entries
    return out


def door_resources(rep: Replica, door: Door) -> frozenset[str]:
    """Every resource whose bookings open ``door`` (served ones and related)."""
    resources = resource_tree(rep)
    out: set[str] = set()
    for rid in door.resources:
        out |= related_resources(resources, rid)
    return frozenset(out)


def bookings_at_door(
    rep: Replica, door: Door, at: datetime, holders: Iterable[str] | None = None
) -> list[Booking]:
    """Active bookings that make ``door`` open at ``at``: on a resource the door
    serves, from ``before_minutes`` before the start to ``after_minutes`` after
    the end. ``holders`` narrows to bookings of those holders."""
    # A booking [s, e) opens the door when s - before <= at < e + after, i.e.
    # it overlaps [at - after, at + before] — note the swap of the margins.
    found = bookings_overlapping(
        rep,
        door_resources(rep, door),
        at - timedelta(minutes=door.after_minutes),
        at + timedelta(minutes=door.before_minutes, seconds=1),
    )
    if holders is not None:
        wanted = set(holders)
        found = [b for b in found if b.holder in wanted]
    return found


def credentials_by_digest(rep: Replica, digest: str) -> list[Credential]:
    """Credentials with this digest (a card, PIN or visitor code)."""
    rows = rep.conn.execute("SELECT data FROM credentials WHERE digest = ?", [digest])
    return rep.decode_rows(Credential, rows)


def pin_matches(rep: Replica, holder_id: str, digest: str, at: datetime) -> bool:
    """Whether ``digest`` is a PIN of ``holder_id`` valid at ``at`` and not revoked."""
    return any(
        cred.kind == "pin"
        and cred.holder == holder_id
        and cred.valid_at(at)
        and not is_revoked(rep, cred)
        for cred in credentials_by_digest(rep, digest)
    )


def is_revoked(rep: Replica, credential: Credential) -> bool:
    """Whether a revocation names this credential by id or by digest."""
    row = rep.conn.execute(
        "SELECT 1 FROM revocations WHERE credential = ? OR digest = ? LIMIT 1",
        [credential.id, credential.digest],
    ).fetchone()
    return row is not None


def holder_groups(rep: Replica, holder_id: str) -> frozenset[str]:
    """The holder itself and the associations it is a member of."""
    rows = rep.conn.execute("SELECT group_id FROM holder_members WHERE holder_id = ?", [holder_id])
    return frozenset([holder_id, *(r[0] for r in rows)])


def grants_for(rep: Replica, holder_id: str, door_id: str) -> list[Grant]:
    """Standing grants of ``holder_id`` that name ``door_id``."""
    rows = rep.conn.execute("SELECT data FROM grants WHERE holder = ?", [holder_id])
    return [g for g in rep.decode_rows(Grant, rows) if door_id in g.doors]


def held_leases(
    rep: Replica, node: str, resource_id: str, lo: datetime, hi: datetime
) -> list[Lease]:
    """Leases of ``node`` on ``resource_id`` overlapping [lo, hi), by start."""
    rows = rep.conn.execute(
        "SELECT data FROM leases WHERE resource = ? AND node = ? AND end_ts > ? AND start_ts < ?"
        " ORDER BY start_ts",
        [resource_id, node, to_ts(lo), to_ts(hi)],
    )
    return rep.decode_rows(Lease, rows)


@dataclass(frozen=True, slots=True)
class Slot:
    """A free walk-in slot [start, end) inside ``lease``."""

    resource: str
    start: datetime
    end: datetime
    lease: str


def free_slots(rep: Replica, node: str, resource_id: str, lo: datetime, hi: datetime) -> list[Slot]:
    """Free walk-in slots on ``resource_id`` within [lo, hi) inside leases ``node``
    holds. Slots are ``walkin_slot_minutes`` long, aligned to the lease start; a
    slot is free when no active booking on a related resource overlaps it."""
    with rep.read():
        resources = resource_tree(rep)
        res = resources.get(resource_id)
        if res is None or res.walkin_slot_minutes is None:
            return []
        step = timedelta(minutes=res.walkin_slot_minutes)
        related = related_resources(resources, resource_id)
        out: list[Slot] = []
        for lease in held_leases(rep, node, resource_id, lo, hi):
            busy = [
                (b.start, b.end) for b in bookings_overlapping(rep, related, lease.start, lease.end)
            ]
            t = lease.start
            while t + step <= lease.end:
                if t >= lo and t + step <= hi and not any(s < t + step and t < e for s, e in busy):
                    out.append(Slot(resource_id, t, t + step, lease.id))
                t += step
        return out


def outbox_age(rep: Replica) -> datetime | None:
    """When the oldest unacknowledged event was recorded."""
    row = rep.conn.execute("SELECT min(at_ts) FROM outbox").fetchone()
    return None if row[0] is None else from_ts(row[0])
