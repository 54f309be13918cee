"""The one rule for whether a walk-in this node sold opens its door. Pure.

PROTOCOL.md §7: a node that cannot trust its data (no fresh head for
``policy.max_offline_hours``) admits standing staff grants only, with one
exception, because a lease is the node's own authority: with a trusted clock,
a walk-in that the node itself sold inside a lease it holds is honoured until
that lease's end, however long central has been silent. A kiosk never sells a
walk-in that the door would refuse at its start: the door controller and the
kiosk both ask ``walkin_access`` and nothing else.

Rules this module guarantees:
1. An untrusted clock refuses every walk-in (``clock_untrusted``): a wrong
   clock could stretch any window.
2. Only a walk-in of *this* node, naming a lease that this node holds on the
   booked resource and lying inside it, is covered (``not_ours``, ``no_lease``,
   ``outside_lease``).
3. From the lease's end on, the exception no longer holds (``lease_ended``).
4. A walk-in has no leader: ``policy.codes_after_leader`` never applies to it.
Nothing here reads a clock or the database: the booking, its lease and the
instant come in.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sync.protocol.records import Booking, Lease


class WalkinAccess(enum.StrEnum):
    """Whether a walk-in's code is honoured on a node's own authority, and if not, why."""

    OPENS = "opens"
    CLOCK_UNTRUSTED = "clock_untrusted"
    NOT_OURS = "not_ours"
    NO_LEASE = "no_lease"
    OUTSIDE_LEASE = "outside_lease"
    LEASE_ENDED = "lease_ended"


def walkin_access(
    booking: Booking,
    lease: Lease | None,
    *,
    node: str,
    at: datetime,
    clock_trusted: bool,
) -> WalkinAccess:
    """Whether ``booking`` is honoured at ``at`` under the lease exception of §7.

    ``lease`` is the replica's lease named by ``booking.lease`` (None when the
    replica holds none). Returns ``OPENS`` or the first rule that refuses. It
    says nothing of the door's booking window: the caller still checks that
    ``at`` lies inside the window the door grants around the booking.
    """
    if not clock_trusted:
        return WalkinAccess.CLOCK_UNTRUSTED
    if booking.origin != "walkin" or booking.node != node or booking.lease is None:
        return WalkinAccess.NOT_OURS
    if lease is None or lease.id != booking.lease or lease.node != node:
        return WalkinAccess.NO_LEASE
    if booking.resources != (lease.resource,):
        return WalkinAccess.NO_LEASE
    if not (lease.start <= booking.start and booking.end <= lease.end):
        return WalkinAccess.OUTSIDE_LEASE
    if at >= lease.end:
        return WalkinAccess.LEASE_ENDED
    return WalkinAccess.OPENS
