"""What the door controller needs to decide one presentation, in one read.

``access_context`` gathers, for a credential digest at a door and instant,
every fact the pure decision rules (door_controller) weigh: the matching
credentials, whether each is revoked, the bookings that open the door now for
the credential's holder and the associations it leads (or the visitor code's
booking), standing grants on the door, the policy and the sync state. It
decides nothing itself.

It is the hot path of every card tap (docs/benchmarks.md): two statements
in one read transaction, with doors, resources and policy remembered per
``applied_rev``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sync.protocol.records import Booking, Credential, Door, Grant, Policy
from sync.protocol.timeutil import to_ts

from .queries import door_resources
from .store import Replica, ReplicaCorrupt, SyncState

_ACTIVE = "b.status IN ('confirmed', 'tentative')"
# A booking [s, e) opens a door at t when s - before <= t < e + after.
_WINDOW = "b.end_ts > ? AND b.end_ts <= ? AND b.start_ts <= ?"  # lo, hi + span, hi


@dataclass(frozen=True, slots=True)
class Candidate:
    """One credential matching the digest, with what it could open."""

    credential: Credential
    revoked: bool
    # bookings that open the door now (the holder's and its groups', or the code's)
    bookings: tuple[Booking, ...]
    grants: tuple[Grant, ...]  # standing grants of the holder on this door


@dataclass(frozen=True, slots=True)
class AccessContext:
    door: Door | None
    at: datetime
    candidates: tuple[Candidate, ...]
    policy: Policy
    state: SyncState


def access_context(rep: Replica, door_id: str, digest: str, at: datetime) -> AccessContext:
    """Gather the facts for ``digest`` presented at ``door_id`` at ``at``.

    Two statements inside one read transaction, so both see the same snapshot
    even when another process applies central's data in between.
    """
    with rep.read():  # joins the caller's transaction if there is one
        return _gather(rep, door_id, digest, at)


_FIRST_SQL = (
    f"SELECT {Replica.STATE_COLUMNS}, c.data, EXISTS (SELECT 1 FROM revocations r"
    "  WHERE r.credential = c.id OR r.digest = c.digest)"
    " FROM sync_state s LEFT JOIN credentials c ON c.digest = ?"
    " WHERE s.id = 1"
)


def _gather(rep: Replica, door_id: str, digest: str, at: datetime) -> AccessContext:
    rows = rep.conn.execute(_FIRST_SQL, [digest]).fetchall()
    if not rows:
        raise ReplicaCorrupt("sync_state row is missing")
    state = Replica.state_from_row(rows[0])
    rev = state.applied_rev
    door = rep.memo(rev, f"door:{door_id}", lambda: rep.get(Door, door_id))
    policy = rep.memo(rev, "policy", rep.policy)
    candidates: list[Candidate] = []
    if door is not None and rows[0][9] is not None:
        served = rep.memo(rev, f"served:{door_id}", lambda: door_resources(rep, door))
        now = to_ts(at)
        lo, hi = now - 60 * door.after_minutes, now + 60 * door.before_minutes
        window = (lo, hi + state.max_booking_s, hi)
        for row in rows:
            cred = rep.decode(Credential, row[9])
            bookings, grants = _related(rep, cred, door.id, window)
            opening = [b for b in bookings if not served.isdisjoint(b.resources)]
            if len(opening) > 1:
                opening.sort(key=lambda b: (b.start, b.id))
            candidates.append(Candidate(cred, bool(row[10]), tuple(opening), grants))
    return AccessContext(door, at, tuple(candidates), policy, state)


_CODE_SQL = f"SELECT b.data FROM bookings b WHERE b.id = ? AND {_ACTIVE} AND {_WINDOW}"
# The holder's and its associations' bookings in the door window (holder-first
# on ``bookings_holder_end``), then the holder's grants.
_HOLDER_SQL = (
    "SELECT b.data, NULL FROM bookings b WHERE b.holder IN"
    " (SELECT ?1 UNION ALL SELECT group_id FROM holder_members WHERE holder_id = ?1)"
    f" AND {_ACTIVE} AND b.end_ts > ?2 AND b.end_ts <= ?3 AND b.start_ts <= ?4"
    " UNION ALL SELECT NULL, data FROM grants WHERE holder = ?1"
)


def _related(
    rep: Replica,
    cred: Credential,
    door_id: str,
    window: tuple[int, int, int],
) -> tuple[list[Booking], tuple[Grant, ...]]:
    """In one statement: the active bookings in the door window of the code's
    booking, or of the holder and the associations it leads; and the holder's
    grants on the door. ``window`` is (lo, hi_span, hi) for ``_WINDOW``."""
    if cred.kind == "code":
        rows = rep.conn.execute(_CODE_SQL, (cred.booking, *window))
        return [rep.decode(Booking, data) for (data,) in rows], ()
    bookings: list[Booking] = []
    grants: list[Grant] = []
    for booking, grant in rep.conn.execute(_HOLDER_SQL, (cred.holder, *window)):
        if booking is not None:
            bookings.append(rep.decode(Booking, booking))
        else:
            g = rep.decode(Grant, grant)
            if door_id in g.doors:
                grants.append(g)
    return bookings, tuple(grants)
