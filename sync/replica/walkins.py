"""Walk-in bookings made on the node inside a lease (PROTOCOL.md §6 Leases).

Rules this module guarantees:
- A walk-in is created only inside a lease this node holds, only on time free
  on every related resource (a hall and its sections conflict), and only when
  it is whole slots long, within the resource's slot limit; only the slot in
  progress may be joined late, at a 5-minute mark (``LATE_JOIN``), and then
  counts as a whole slot toward the limit.
- The booking, its pending verdict and the ``walkin.created`` event commit in
  one transaction; a refused walk-in writes nothing and raises ``WalkinRefused``.
- A phone booker's keyed digest (never the number) is stored with the walk-in
  in that transaction and is the one the event carries, so
  ``rejected_walkins`` finds the booker again after a kiosk restart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync.protocol.records import Booking, Lease
from sync.protocol.wire import OutboxEvent

from .outbox import append_event
from .queries import bookings_overlapping, related_resources, resource_tree
from .store import Replica, ReplicaError

LATE_JOIN = timedelta(minutes=5)  # the grid the slot in progress is joined on


class WalkinRefused(ReplicaError):
    """The walk-in cannot be made; ``reason`` is a stable code for the kiosk."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


def create_walkin(
    rep: Replica,
    node: str,
    booking: Booking,
    now: datetime,
    extra: Mapping[str, Any] | None = None,
    *,
    phone_digest: str | None = None,
) -> OutboxEvent:
    """Store ``booking`` (origin ``walkin``) and record ``walkin.created``.

    ``extra`` adds fields to the event body (the kiosk's ``code_digest``);
    ``booking`` is always the booking itself. ``phone_digest`` (a private
    person identified by phone, as a keyed digest) is stored with the walk-in
    and added to the body as ``phone_digest``.

    Raises ``WalkinRefused`` with reason ``not_walkin``, ``no_lease``,
    ``outside_lease``, ``not_slots``, ``too_long``, ``in_past`` or ``conflict``.
    """
    if booking.origin != "walkin" or booking.lease is None or booking.node != node:
        raise WalkinRefused("not_walkin", "a walk-in names its lease and this node")
    if len(booking.resources) != 1:
        raise WalkinRefused("not_walkin", "a walk-in books exactly one resource")
    if booking.end <= now:
        raise WalkinRefused("in_past", "the slot has already ended")
    with rep.write():
        lease = rep.get(Lease, booking.lease)
        if lease is None or lease.node != node or lease.resource != booking.resources[0]:
            raise WalkinRefused("no_lease", f"this node holds no lease {booking.lease!r} on it")
        if not (lease.start <= booking.start and booking.end <= lease.end):
            raise WalkinRefused("outside_lease", "the booking is not inside the lease")
        resources = resource_tree(rep)
        res = resources.get(lease.resource)
        if res is None or res.walkin_slot_minutes is None:
            raise WalkinRefused("no_lease", "the resource takes no walk-ins")
        step = timedelta(minutes=res.walkin_slot_minutes)
        # Whole slots, except that the slot in progress may be joined late, at a
        # 5-minute mark after its start (the kiosk sells it from now on).
        offset, end_offset = booking.start - lease.start, booking.end - lease.start
        first = booking.start - offset % step  # the start of the slot it begins in
        if end_offset % step or offset % LATE_JOIN:
            raise WalkinRefused(
                "not_slots", f"walk-ins are whole {res.walkin_slot_minutes}-minute slots"
            )
        if booking.end - first > step * res.walkin_max_slots:
            raise WalkinRefused("too_long", f"at most {res.walkin_max_slots} slots")
        related = related_resources(resources, lease.resource)
        if bookings_overlapping(rep, related, booking.start, booking.end):
            raise WalkinRefused("conflict", "the time is no longer free")
        rep.put(booking)
        body = {**(extra or {}), "booking": booking.to_wire()}
        if phone_digest is not None:
            body["phone_digest"] = phone_digest
        event = append_event(rep, "walkin.created", body, now)
        rep.conn.execute(
            "INSERT INTO walkins (booking_id, event_id, state, data, phone_digest)"
            " VALUES (?, ?, 'pending', ?, ?)",
            [booking.id, event.id, "{}", phone_digest],
        )
    return event


def cancel_walkin(rep: Replica, booking_id: str, now: datetime, reason: str = "") -> OutboxEvent:
    """Cancel a walk-in made on this node and record ``walkin.cancelled``.

    Raises ``WalkinRefused`` with ``unknown`` for a booking that is no walk-in
    of ours and ``not_cancellable`` for one already cancelled or rejected.
    """
    with rep.write():
        row = rep.conn.execute(
            "SELECT state FROM walkins WHERE booking_id = ?", [booking_id]
        ).fetchone()
        booking = rep.get(Booking, booking_id)
        if row is None or booking is None:
            raise WalkinRefused("unknown", f"no walk-in {booking_id!r} on this node")
        if row[0] not in ("pending", "accepted"):
            raise WalkinRefused("not_cancellable", f"walk-in {booking_id!r} is {row[0]}")
        rep.put(Booking.from_wire({**booking.to_wire(), "status": "cancelled"}))
        rep.conn.execute(
            "UPDATE walkins SET state = 'cancelled' WHERE booking_id = ?", [booking_id]
        )
        return append_event(rep, "walkin.cancelled", {"booking": booking_id, "reason": reason}, now)


def walkin_states(rep: Replica) -> dict[str, tuple[str, str]]:
    """Every walk-in of this node: booking id -> (state, reason)."""
    rows = rep.conn.execute("SELECT booking_id, state, reason FROM walkins")
    return {b: (s, r) for b, s, r in rows}


@dataclass(frozen=True, slots=True)
class RejectedWalkin:
    """A walk-in of this node that central rejected, and central's reason."""

    booking: Booking
    reason: str


def rejected_walkins(
    rep: Replica, holders: Collection[str] = (), phone_digest: str | None = None
) -> list[RejectedWalkin]:
    """Rejected walk-ins booked by one of ``holders`` or with ``phone_digest``,
    by start; a walk-in whose booking is gone is left out."""
    if not holders and phone_digest is None:
        return []
    marks = ",".join("?" * len(holders)) or "NULL"
    rows = rep.conn.execute(
        "SELECT b.data, w.reason FROM walkins w JOIN bookings b ON b.id = w.booking_id"
        f" WHERE w.state = 'rejected' AND (b.holder IN ({marks}) OR w.phone_digest = ?)"
        " ORDER BY b.start_ts, b.id",
        [*holders, phone_digest],
    ).fetchall()
    return [RejectedWalkin(rep.decode(Booking, data), reason) for data, reason in rows]
