"""Fakes of our own ports, for tests and the simulator. They speak real bytes
where the real port does (see ``outputs.relay`` for the relay board).

``FakeFacts`` is the core's ``Facts`` port over records held in memory: the
replica's answers without a database, so the core is tested without one.

``FakeClock`` is the node's one fake clock (``sync.replica.testing``), named
here too because the door's and the kiosk's tests have always imported it
from here."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sync.replica import (
    Booking,
    Credential,
    Door,
    Grant,
    Holder,
    Lease,
    Policy,
    Record,
    Resource,
    Revocation,
    card_digest,
    code_digest,
    format_instant,
    pin_digest,
    zone,
)
from sync.replica.access import AccessContext, Candidate
from sync.replica.door_fallback import StaffMemory, fallback_context
from sync.replica.queries import related_resources
from sync.replica.store import SyncState
from sync.replica.testing import FakeClock

from .outputs.relay import RelayFrameParser, RelaySet, command


@dataclass(slots=True)
class FakeRelayBoard:
    """The input side of an LCUS relay board: parses the bytes it is sent and
    keeps the channel states, exactly as the hardware would act on them."""

    channels: int = 8
    state: dict[int, bool] = field(default_factory=dict)
    garbage: list[bytes] = field(default_factory=list)
    _parser: RelayFrameParser = field(default_factory=RelayFrameParser)

    def set(self, channel: int, on: bool) -> None:
        """The daemon's ``RelayBoard.set``, as the frame it would send arrives."""
        self.receive(command(channel, on))

    def close(self) -> None:
        """Nothing to close: the daemon closes its boards when it stops."""

    def receive(self, data: bytes) -> None:
        for ev in self._parser.feed(data):
            if isinstance(ev, RelaySet) and ev.channel <= self.channels:
                self.state[ev.channel] = ev.on
            elif not isinstance(ev, RelaySet):
                self.garbage.append(ev.raw)


def site_ops(key: bytes, t0: datetime) -> list[dict[str, object]]:
    """A small facility as ``changes`` ops: hall door ``d1``; leader ``p1`` of
    ``ik`` with card ``0ABCDE40/26`` and PIN 4321; staff ``s1`` with card
    ``11223344/32`` (Mon-Fri 06-22); bookings ``b1`` [t0, t0+1h) and ``b2``
    [t0+2h, t0+3h) of ``ik``; visitor code 246810 for ``b1``; 3 PIN attempts."""

    def up(entity: str, data: dict[str, object]) -> dict[str, object]:
        return {"op": "upsert", "entity": entity, "id": data["id"], "data": data}

    iso = format_instant
    return [
        up("facility", {"id": "f1", "name": "Hallen"}),
        up("resource", {"id": "hall", "name": "Hall", "kind": "hall"}),
        up("door", {"id": "d1", "name": "Entré", "resources": ["hall"], "unlock_seconds": 5}),
        up("holder", {"id": "ik", "kind": "association", "display_name": "IK Test"}),
        up("holder", {"id": "p1", "kind": "person", "display_name": "Anna", "member_of": ["ik"]}),
        up("holder", {"id": "s1", "kind": "staff", "display_name": "Vaktmästare"}),
        up(
            "credential",
            {"id": "c1", "holder": "p1", "kind": "card", "digest": card_digest(key, "0ABCDE40/26")},
        ),
        up(
            "credential",
            {"id": "c1p", "holder": "p1", "kind": "pin", "digest": pin_digest(key, "p1", "4321")},
        ),
        up(
            "credential",
            {"id": "c9", "holder": "s1", "kind": "card", "digest": card_digest(key, "11223344/32")},
        ),
        up(
            "grant",
            {
                "id": "g1",
                "holder": "s1",
                "doors": ["d1"],
                "windows": [{"days": [1, 2, 3, 4, 5], "from": "06:00", "to": "22:00"}],
            },
        ),
        up(
            "booking",
            {
                "id": "b1",
                "resources": ["hall"],
                "start": iso(t0),
                "end": iso(t0 + timedelta(hours=1)),
                "holder": "ik",
            },
        ),
        up(
            "booking",
            {
                "id": "b2",
                "resources": ["hall"],
                "start": iso(t0 + timedelta(hours=2)),
                "end": iso(t0 + timedelta(hours=3)),
                "holder": "ik",
            },
        ),
        up(
            "credential",
            {
                "id": "v1",
                "kind": "code",
                "booking": "b1",
                "digest": code_digest(key, "f1", "246810"),
            },
        ),
        up("policy", {"id": "default", "pin_max_attempts": 3, "pin_lockout_seconds": 60}),
    ]


class FakeFacts:
    """``core.Facts`` over records in memory.

    Gathers what ``sync.replica.access`` gathers (credentials by digest,
    revocations, the holder's and its groups' active bookings, or the code's
    booking and its lease, the holder's grants on the door, the resources the
    door serves), without its coarse time filter: deciding is the core's.
    ``unreadable`` makes every answer the staff fallback's (``staff``), as
    ``ReplicaFacts`` answers when the database cannot be read.
    """

    def __init__(
        self,
        records: Iterable[Record],
        *,
        head_seen: datetime | None,
        rev: int = 1,
        policy: Policy | None = None,
        tz: str = "Europe/Stockholm",
    ) -> None:
        self.by_type: dict[type[Record], dict[str, Record]] = {}
        for rec in records:
            self.by_type.setdefault(type(rec), {})[rec.id] = rec
        self.head_seen, self.rev = head_seen, rev
        self._policy = policy or Policy("default")
        self._tz = zone(tz)
        self.leaders: set[str] = set()
        self.unreadable = False
        self.staff: StaffMemory | None = None

    def _all(self, cls: type[Record]) -> list[Record]:
        return list(self.by_type.get(cls, {}).values())

    def _get(self, cls: type[Record], ident: str | None) -> Record | None:
        return self.by_type.get(cls, {}).get(ident or "")

    def access(self, door: str, digest: str, at: datetime) -> AccessContext:
        if self.unreadable:
            empty = StaffMemory(0, (), (), (), frozenset())
            return fallback_context(self.staff or empty, door, digest, at)
        state = SyncState(1, self.rev, 0, 0, self.rev, 1, self.head_seen, self.head_seen, 0)
        d = self._get(Door, door)
        if not isinstance(d, Door):
            return AccessContext(None, at, (), self._policy, state)
        resources = {r.id: r for r in self._all(Resource) if isinstance(r, Resource)}
        served = frozenset(x for rid in d.resources for x in related_resources(resources, rid))
        revoked = {
            (r.credential, r.digest) for r in self._all(Revocation) if isinstance(r, Revocation)
        }
        bookings = [b for b in self._all(Booking) if isinstance(b, Booking) and b.active]
        candidates = []
        for c in self._all(Credential):
            if not isinstance(c, Credential) or c.digest != digest:
                continue
            is_revoked = any(rc == c.id or rd == c.digest for rc, rd in revoked)
            if c.kind == "code":
                mine = [b for b in bookings if b.id == c.booking]
                leases = tuple(
                    le for b in mine if isinstance(le := self._get(Lease, b.lease), Lease)
                )
                candidates.append(Candidate(c, is_revoked, tuple(mine), (), leases))
                continue
            holder = self._get(Holder, c.holder)
            groups = {c.holder, *(holder.member_of if isinstance(holder, Holder) else ())}
            mine = sorted(
                (b for b in bookings if b.holder in groups), key=lambda b: (b.start, b.id)
            )
            grants = tuple(
                g
                for g in self._all(Grant)
                if isinstance(g, Grant) and g.holder == c.holder and door in g.doors
            )
            candidates.append(Candidate(c, is_revoked, tuple(mine), grants))
        return AccessContext(d, at, tuple(candidates), self._policy, state, served)

    def pin_matches(self, holder: str, digest: str, at: datetime) -> bool | None:
        if self.unreadable:
            return None
        return any(
            isinstance(c, Credential)
            and c.kind == "pin"
            and c.holder == holder
            and c.digest == digest
            and c.valid_at(at)
            for c in self._all(Credential)
        )

    def leaders_in(self, bookings: Collection[str]) -> frozenset[str]:
        return frozenset(b for b in bookings if b in self.leaders)

    def door(self, door: str) -> Door | None:
        d = self._get(Door, door)
        return d if isinstance(d, Door) else None

    def policy(self) -> Policy:
        return self._policy

    def tz(self) -> ZoneInfo:
        return self._tz


__all__ = ["FakeClock", "FakeFacts", "FakeRelayBoard", "site_ops"]
