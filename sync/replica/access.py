"""What the door controller needs to decide one presentation, in one read.

``access_context`` gathers, for a credential digest at a door and instant,
every fact the pure decision rules (door_controller) weigh: the matching
credentials, whether each is revoked, the holder groups, the bookings that
open the door now, standing grants, the policy and the sync state. It decides
nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .queries import bookings_at_door, credentials_by_digest, grants_for, holder_groups, is_revoked
from .records import Booking, Credential, Door, Grant, Holder, Policy
from .store import Replica, SyncState


@dataclass(frozen=True, slots=True)
class Candidate:
    """One credential matching the digest, with what it could open."""

    credential: Credential
    revoked: bool
    holder: Holder | None
    bookings: tuple[
        Booking, ...
    ]  # bookings of the holder's groups (or the code's booking) at the door now
    grants: tuple[Grant, ...]  # standing grants of the holder on this door


@dataclass(frozen=True, slots=True)
class AccessContext:
    door: Door | None
    at: datetime
    candidates: tuple[Candidate, ...]
    policy: Policy
    state: SyncState


def access_context(rep: Replica, door_id: str, digest: str, at: datetime) -> AccessContext:
    """Gather the facts for ``digest`` presented at ``door_id`` at ``at``."""
    with rep.read():
        door = rep.get(Door, door_id)
        candidates: list[Candidate] = []
        if door is not None:
            for cred in credentials_by_digest(rep, digest):
                holder = rep.get(Holder, cred.holder) if cred.holder else None
                if cred.kind == "code":
                    booking = rep.get(Booking, cred.booking) if cred.booking else None
                    open_now = bookings_at_door(rep, door, at) if booking else []
                    bookings = tuple(b for b in open_now if booking and b.id == booking.id)
                    grants: tuple[Grant, ...] = ()
                else:
                    groups = holder_groups(rep, cred.holder) if cred.holder else frozenset()
                    bookings = tuple(bookings_at_door(rep, door, at, groups))
                    grants = tuple(grants_for(rep, cred.holder, door.id)) if cred.holder else ()
                candidates.append(Candidate(cred, is_revoked(rep, cred), holder, bookings, grants))
        return AccessContext(door, at, tuple(candidates), rep.policy(), rep.state())
