"""What the door controller needs to decide one presentation, in one read.

``access_context`` gathers, for a credential digest at a door and instant,
every fact the pure decision rules (door_controller.decision) weigh: the
matching credentials, whether each is revoked, the candidate bookings of the
credential's holder and the associations it leads (or the visitor code's own
booking, with its lease when it is a walk-in), standing grants on the door,
the resources the door serves, the policy and the sync state. It decides
nothing itself.

Rules this module guarantees:
- Two statements inside one read transaction, so both see the same snapshot
  even when another process applies central's data in between.
- SQL keeps only a pre-filter, a superset of what can open the door: the
  holder's and its groups' active bookings whose span, widened by the door's
  margins, contains the instant's whole second (on any resource). Whether a
  booking opens *this* door *now* (its exact window and the resources served)
  is decided by ``door_controller.decision``; a visitor code's booking comes
  whatever its time, so a code outside its window is told so.
- Columns are read by name (``sqlite3.Row``), never by position.

It is the hot path of every card tap (docs/benchmarks.md): doors, resources
and policy are remembered per ``applied_rev``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from sync.protocol.records import Booking, Credential, Door, Grant, Lease, Policy
from sync.protocol.timeutil import to_ts

from .queries import door_resources
from .store import Replica, ReplicaCorrupt, SyncState

_ACTIVE = "b.status IN ('confirmed', 'tentative')"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One credential matching the digest, with what it could open."""

    credential: Credential
    revoked: bool
    # the coarse pre-filter's bookings (the holder's and its groups', or the
    # code's own booking), by start: the decision picks those that open the door
    bookings: tuple[Booking, ...]
    grants: tuple[Grant, ...]  # standing grants of the holder on this door
    leases: tuple[Lease, ...] = ()  # the leases its walk-in bookings name


@dataclass(frozen=True, slots=True)
class AccessContext:
    door: Door | None
    at: datetime
    candidates: tuple[Candidate, ...]
    policy: Policy
    state: SyncState
    served: frozenset[str] = frozenset()  # resources whose bookings open the door
    # "replica", or "fallback": the replica could not be read and only the
    # staff grants last read (sync.replica.door_fallback) are here
    source: str = "replica"


def access_context(rep: Replica, door_id: str, digest: str, at: datetime) -> AccessContext:
    """Gather the facts for ``digest`` presented at ``door_id`` at ``at``.

    Raises ``ReplicaCorrupt`` for a row that does not validate and
    ``sqlite3.Error`` when the database cannot be read.
    """
    with rep.read():  # joins the caller's transaction if there is one
        return _gather(rep, door_id, digest, at)


_FIRST_SQL = (
    f"SELECT {Replica.STATE_COLUMNS}, c.data AS credential, EXISTS (SELECT 1 FROM revocations r"
    "  WHERE r.credential = c.id OR r.digest = c.digest) AS revoked"
    " FROM sync_state s LEFT JOIN credentials c ON c.digest = ?"
    " WHERE s.id = 1"
)


def _gather(rep: Replica, door_id: str, digest: str, at: datetime) -> AccessContext:
    cur = rep.conn.cursor()
    cur.row_factory = sqlite3.Row
    rows = cur.execute(_FIRST_SQL, [digest]).fetchall()
    if not rows:
        raise ReplicaCorrupt("sync_state row is missing")
    state = Replica.state_from_row(rows[0])
    rev = state.applied_rev
    door = rep.memo(rev, f"door:{door_id}", lambda: rep.get(Door, door_id))
    policy = rep.memo(rev, "policy", rep.policy)
    if door is None or rows[0]["credential"] is None:
        return AccessContext(door, at, (), policy, state)
    served = rep.memo(rev, f"served:{door_id}", lambda: door_resources(rep, door))
    now = to_ts(at)  # whole seconds, rounded down: widen by one so that nothing is lost
    lo, hi = now - 60 * door.after_minutes, now + 1 + 60 * door.before_minutes
    window = (lo, hi + state.max_booking_s, hi)
    candidates: list[Candidate] = []
    for row in rows:
        cred = rep.decode(Credential, row["credential"])
        bookings, grants, leases = _related(rep, cred, door.id, window)
        if len(bookings) > 1:
            bookings.sort(key=lambda b: (b.start, b.id))
        candidates.append(Candidate(cred, bool(row["revoked"]), tuple(bookings), grants, leases))
    return AccessContext(door, at, tuple(candidates), policy, state, served)


_CODE_SQL = f"SELECT b.data AS booking FROM bookings b WHERE b.id = ? AND {_ACTIVE}"
# The holder's and its associations' bookings near the instant (holder-first on
# ``bookings_holder_end``), then the holder's grants.
_HOLDER_SQL = (
    "SELECT b.data AS booking, NULL AS grant_data FROM bookings b WHERE b.holder IN"
    " (SELECT ?1 UNION ALL SELECT group_id FROM holder_members WHERE holder_id = ?1)"
    f" AND {_ACTIVE} AND b.end_ts > ?2 AND b.end_ts <= ?3 AND b.start_ts <= ?4"
    " UNION ALL SELECT NULL, data FROM grants WHERE holder = ?1"
)


def _related(
    rep: Replica,
    cred: Credential,
    door_id: str,
    window: tuple[int, int, int],
) -> tuple[list[Booking], tuple[Grant, ...], tuple[Lease, ...]]:
    """In one statement: the code's active booking (and the lease a walk-in
    names), or the holder's and its associations' active bookings in the coarse
    ``window`` (lo, hi + longest booking, hi) and the holder's grants on the door."""
    if cred.kind == "code":
        cur = rep.conn.cursor()
        cur.row_factory = sqlite3.Row
        bookings = [
            rep.decode(Booking, r["booking"]) for r in cur.execute(_CODE_SQL, [cred.booking])
        ]
        leases: list[Lease] = []
        for b in bookings:
            if b.origin == "walkin" and b.lease is not None:
                lease = rep.get(Lease, b.lease)
                if lease is not None:
                    leases.append(lease)
        return bookings, (), tuple(leases)
    out: list[Booking] = []
    grants: list[Grant] = []
    cur = rep.conn.cursor()
    cur.row_factory = sqlite3.Row
    for row in cur.execute(_HOLDER_SQL, (cred.holder, *window)):
        if row["booking"] is not None:
            out.append(rep.decode(Booking, row["booking"]))
        else:
            g = rep.decode(Grant, row["grant_data"])
            if door_id in g.doors:
                grants.append(g)
    return out, tuple(grants), ()
