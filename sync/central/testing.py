"""Test helpers that ship with the package (house style: fakes in the package).

- ``FakeNode``: the node end of the contract without MQTT: it signs ``hello``,
  ``events``, ``cursor`` and ``status`` with ``sync.protocol.pack``, gates what
  central sends with ``sync.protocol.check`` against central's pinned key, and
  applies ``changes`` and ``snapshot`` to a real node replica
  (``sync.replica``), so a test can compare the replica with central's store.
- ``walkin_event`` and ``plain_event``: outbox events as a node records them.

Never use the deterministic keys of ``sync.protocol.testing`` outside tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.protocol import (
    Accepted,
    Ack,
    Changes,
    Clock,
    ClockSource,
    Cursor,
    Direction,
    Events,
    Hello,
    OutboxRange,
    Outgoing,
    Rejected,
    Snapshot,
    State,
    Status,
    Want,
    check,
    pack,
)
from sync.protocol.records import Record
from sync.protocol.timeutil import from_ts
from sync.replica import (
    ApplyOutcome,
    OutboxEvent,
    Replica,
    acknowledge,
    apply_changes,
    pending_events,
    stage_snapshot,
    uuid7,
)


def plain_event(seq: int, type_: str = "door.opened", at: int = 1_780_000_000) -> OutboxEvent:
    return OutboxEvent(seq, uuid7(at * 1000), type_, from_ts(at), {"door": "main"})


def walkin_event(seq: int, booking: Mapping[str, Any], at: int = 1_780_000_000) -> OutboxEvent:
    return OutboxEvent(
        seq, uuid7(at * 1000), "walkin.created", from_ts(at), {"booking": dict(booking)}
    )


def cancel_event(seq: int, booking_id: str, at: int = 1_780_000_000) -> OutboxEvent:
    return OutboxEvent(
        seq,
        uuid7(at * 1000),
        "walkin.cancelled",
        from_ts(at),
        {"booking": booking_id, "reason": ""},
    )


@dataclass
class FakeNode:
    """One node: its id, signing key and kid, central's pinned keys, a replica."""

    node: str
    key: Ed25519PrivateKey
    kid: str
    central_keys: Mapping[str, Ed25519PublicKey]
    replica: Replica | None = None
    epoch: int = 0  # 0: the replica's epoch (4711 without a replica)
    outcomes: list[ApplyOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.epoch == 0:
            self.epoch = 4711 if self.replica is None else self.replica.state().epoch

    @property
    def applied_rev(self) -> int:
        return 0 if self.replica is None else self.replica.state().applied_rev

    def sign(self, msg: Any, iat: int, *, node: str | None = None) -> Outgoing:
        return pack(msg, node=node or self.node, iat=iat, kid=self.kid, key=self.key)

    def hello(
        self, iat: int, *, first_unacked: int = 1, last: int = 0, applied: int | None = None
    ) -> Outgoing:
        rev = self.applied_rev if applied is None else applied
        clock = Clock(True, ClockSource.NTP)
        return self.sign(
            Hello(self.epoch, "boot-1", rev, OutboxRange(first_unacked, last), "test", clock), iat
        )

    def outbox(self, iat: int) -> Outgoing | None:
        """The replica's pending events as one ``events`` message (None if none)."""
        assert self.replica is not None
        pending = pending_events(self.replica)
        return self.events(iat, pending) if pending else None

    def events(self, iat: int, events: Iterable[OutboxEvent]) -> Outgoing:
        return self.sign(Events(self.epoch, tuple(events)), iat)

    def cursor(
        self, iat: int, *, want: Want = Want.CHANGES, applied: int | None = None
    ) -> Outgoing:
        rev = self.applied_rev if applied is None else applied
        return self.sign(Cursor(rev, want), iat)

    def status(self, iat: int, state: State = State.ONLINE) -> Outgoing:
        return self.sign(Status(state, self.epoch), iat)

    def gate(self, out: Outgoing, now: int) -> Accepted:
        """What this node's link does with a received message; raises on a rejection."""
        res = check(
            out.topic,
            out.payload,
            self.central_keys,
            now=now,
            clock_trusted=True,
            expect_direction=Direction.DOWN,
            expect_node=self.node,
        )
        if isinstance(res, Rejected):
            raise AssertionError(f"node {self.node} rejected {out.topic}: {res}")
        return res

    def take(self, outs: Iterable[Outgoing], now: int) -> list[Accepted]:
        """Gate every message; apply changes and snapshot parts to the replica."""
        got = []
        for out in outs:
            acc = self.gate(out, now)
            got.append(acc)
            if self.replica is None:
                continue
            msg = acc.message
            if isinstance(msg, Changes):
                self.outcomes.append(apply_changes(self.replica, msg.batch, from_ts(now)))
            elif isinstance(msg, Snapshot):
                self.outcomes.append(stage_snapshot(self.replica, msg.part, from_ts(now)))
            elif isinstance(msg, Ack):
                acknowledge(self.replica, msg.epoch, msg.through, msg.verdicts)
        return got


def acks(got: Iterable[Accepted]) -> list[Ack]:
    return [a.message for a in got if isinstance(a.message, Ack)]


def replica_records(rep: Replica) -> dict[tuple[str, str], dict[str, Any]]:
    """Every record of a node replica as ``{(entity, id): wire}``."""
    from sync.protocol.records import ENTITIES

    out: dict[tuple[str, str], dict[str, Any]] = {}
    for cls in ENTITIES.values():
        for rec in rep.all(cls):
            out[(rec.ENTITY, rec.id)] = rec.to_wire()
    return out


def as_dict(records: Iterable[Record]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.ENTITY, r.id): r.to_wire() for r in records}


__all__ = [
    "FakeNode",
    "acks",
    "as_dict",
    "cancel_event",
    "plain_event",
    "replica_records",
    "walkin_event",
]
