"""Central's side of a no-show release at the hall (``booking.released``; docs/reports.md).

Rules this module guarantees:
- A release takes effect when its event does (in seq order, once, with the
  facility locked: events.py), and only when it is right by central's data:
  the booking is an active central booking, every resource of it releases
  (``release_after_minutes``), the event is at least N minutes after the
  start and before the end, and no entry for the booking is on record (from
  any node). Otherwise nothing changes: the evidence still records that the
  node said so (``released_ts``), and reports show it.
- Central then marks the booking: its status becomes ``cancelled`` (its time
  is free; the evidence keeps it as a released no-show, so reports count it
  as booked and not used), and, when the booking is on one resource that
  takes walk-ins, grants the releasing node a lease on the rest of the slot:
  from the first walk-in slot boundary (counted from the booking's start)
  at or after the release, to the booking's end; id ``rl:<booking id>``. The
  lease is left out when the rest is shorter than one slot, or when another
  active booking, or a lease another node holds, overlaps it on a related
  resource. Both in one ``mutate``: one revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sync.protocol.records import Booking, Lease
from sync.protocol.timeutil import from_ts, to_ts
from sync.replica.queries import related_resources

from .. import changelog as cl
from ..leases import RELEASE_PREFIX, bookings_overlapping, tree
from ..store import Store


def release_booking(
    store: Store, node: str, facility: str, body: object, at_ts: int, now: datetime
) -> int | None:
    """Apply one ``booking.released`` (module rules); the new revision, or None."""
    ident = body.get("booking") if isinstance(body, Mapping) else None
    if not isinstance(ident, str) or not cl.is_id(ident):
        return None
    booking = cl.get(store, facility, Booking, ident)
    if booking is None or not booking.active or booking.origin != "central":
        return None
    resources = tree(store, facility)
    ns = [resources[r].release_after_minutes if r in resources else None
          for r in booking.resources]  # fmt: skip
    if not ns or any(n is None for n in ns):
        return None
    n = max(x for x in ns if x is not None)
    start, end = to_ts(booking.start), to_ts(booking.end)
    if not start + n * 60 <= at_ts < end:
        return None
    entered = store.execute(
        "SELECT 1 FROM evidence WHERE facility = ? AND booking_id = ?"
        " AND first_entry_ts IS NOT NULL",
        [facility, ident],
    ).fetchone()
    if entered is not None:
        return None
    cancelled = Booking.from_wire({**booking.to_wire(), "status": "cancelled"})
    ops = [cl.upsert(cancelled)]
    lease = _rest_of_slot(store, node, facility, booking, at_ts)
    if lease is not None:
        ops.append(cl.upsert(lease))
    return cl.mutate(store, facility, ops, now)


def _rest_of_slot(
    store: Store,
    node: str,
    facility: str,
    booking: Booking,
    at_ts: int,
) -> Lease | None:
    if len(booking.resources) != 1:
        return None
    rid = booking.resources[0]
    res = tree(store, facility).get(rid)
    if res is None or res.walkin_slot_minutes is None:
        return None
    step = res.walkin_slot_minutes * 60
    start, end = to_ts(booking.start), to_ts(booking.end)
    first = start + -(-(at_ts - start) // step) * step
    if end - first < step:
        return None
    related = related_resources(tree(store, facility), rid)
    others = [b for b in bookings_overlapping(store, facility, related, (first, end))
              if b.id != booking.id]  # fmt: skip
    if others:
        return None
    marks = ",".join("?" * len(related))
    held = store.execute(
        "SELECT 1 FROM lease_versions WHERE facility = ? AND node <> ?"
        f" AND resource IN ({marks}) AND start_ts < ? AND end_ts > ? AND removed_rev IS NULL",
        [facility, node, *sorted(related), end, first],
    ).fetchone()
    if held is not None:
        return None
    return Lease(f"{RELEASE_PREFIX}{booking.id}"[:128], node, rid, from_ts(first), from_ts(end))
