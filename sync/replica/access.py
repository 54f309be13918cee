"""What the door controller needs to decide one presentation, in one read.

``access_context`` gathers, for a credential digest at a door and instant,
every fact the pure decision rules (door_controller) weigh: the matching
credentials, whether each is revoked, the holder, the bookings that open the
door now for the holder's groups (or the visitor code's booking), standing
grants on the door, the policy and the sync state. It decides nothing itself.

It is the hot path of every card tap (docs/benchmarks.md): four indexed
statements, with doors, resources and policy remembered per ``applied_rev``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .queries import door_resources
from .records import Booking, Credential, Door, Grant, Holder, Policy
from .store import Replica, ReplicaCorrupt, SyncState
from .timeutil import to_ts

_ACTIVE = "b.status IN ('confirmed', 'tentative')"
# A booking [s, e) opens a door at t when s - before <= t < e + after.
_WINDOW = "b.end_ts > :lo AND b.end_ts <= :hi_span AND b.start_ts <= :hi"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One credential matching the digest, with what it could open."""

    credential: Credential
    revoked: bool
    holder: Holder | None
    bookings: tuple[
        Booking, ...
    ]  # bookings that open the door now (holder's groups, or the code's)
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

    Two statements, each one consistent snapshot; if another process applied
    central's data between them (``applied_rev`` moved), it reads again, and
    after three such races reads inside one transaction.
    """
    for _ in range(3):
        ctx = _gather(rep, door_id, digest, at)
        if ctx is not None:
            return ctx
    with rep.read():
        ctx = _gather(rep, door_id, digest, at)
    assert ctx is not None  # inside one transaction the rev cannot move
    return ctx


def _gather(rep: Replica, door_id: str, digest: str, at: datetime) -> AccessContext | None:
    rows = rep.conn.execute(
        f"SELECT {Replica.STATE_COLUMNS}, c.data, h.data, EXISTS (SELECT 1 FROM revocations r"
        "  WHERE r.credential = c.id OR r.digest = c.digest)"
        " FROM sync_state s LEFT JOIN credentials c ON c.digest = ?"
        " LEFT JOIN holders h ON h.id = c.holder WHERE s.id = 1",
        [digest],
    ).fetchall()
    if not rows:
        raise ReplicaCorrupt("sync_state row is missing")
    state = Replica.state_from_row(rows[0])
    rev = state.applied_rev
    door = rep.memo(rev, f"door:{door_id}", lambda: rep.get(Door, door_id))
    policy = rep.memo(rev, "policy", rep.policy)
    candidates: list[Candidate] = []
    if door is not None:
        served = rep.memo(rev, f"served:{door_id}", lambda: door_resources(rep, door))
        now = to_ts(at)
        window = {"lo": now - 60 * door.after_minutes, "hi": now + 60 * door.before_minutes}
        window["hi_span"] = window["hi"] + state.max_booking_s
        for row in rows:
            if row[9] is None:
                continue  # no credential has this digest
            cred = rep.decode(Credential, row[9])
            holder = None if row[10] is None else rep.decode(Holder, row[10])
            found = _related(rep, cred, door.id, window, rev)
            if found is None:
                return None  # central's data moved under us: read again
            bookings, grants = found
            opening = [b for b in bookings if not served.isdisjoint(b.resources)]
            if len(opening) > 1:
                opening.sort(key=lambda b: (b.start, b.id))
            candidates.append(Candidate(cred, bool(row[11]), holder, tuple(opening), grants))
    return AccessContext(door, at, tuple(candidates), policy, state)


_REV_SQL = " UNION ALL SELECT 'r', applied_rev FROM sync_state WHERE id = 1"
_CODE_SQL = (
    f"SELECT 'b', b.data FROM bookings b WHERE b.id = :booking AND {_ACTIVE} AND {_WINDOW}"
    + _REV_SQL
)
_HOLDER_SQL = (
    "SELECT 'b', b.data FROM bookings b WHERE b.holder IN"
    " (SELECT :holder UNION ALL SELECT group_id FROM holder_members"
    "  WHERE holder_id = :holder)"
    f" AND {_ACTIVE} AND {_WINDOW}"
    " UNION ALL SELECT 'g', data FROM grants WHERE holder = :holder" + _REV_SQL
)


def _related(
    rep: Replica, cred: Credential, door_id: str, window: dict[str, int], rev: int | None = None
) -> tuple[list[Booking], tuple[Grant, ...]] | None:
    """In one statement: the active bookings in the door window of the code's
    booking, or of the holder and its associations; the holder's grants on the
    door; and ``applied_rev`` to check the snapshot against the first read."""
    sql = _CODE_SQL if cred.kind == "code" else _HOLDER_SQL
    params = {**window, "holder": cred.holder, "booking": cred.booking}
    bookings: list[Booking] = []
    grants: list[Grant] = []
    seen_rev = None
    for kind, data in rep.conn.execute(sql, params):
        if kind == "b":
            bookings.append(rep.decode(Booking, data))
        elif kind == "g":
            g = rep.decode(Grant, data)
            if door_id in g.doors:
                grants.append(g)
        else:
            seen_rev = data
    if rev is not None and seen_rev != rev:
        return None
    return bookings, tuple(grants)
