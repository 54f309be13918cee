"""One simulated facility node that follows PROTOCOL.md, held in memory (sans-I/O).

``SimNode`` is the node end of the contract without a database, so that a
fleet of thousands fits one process: it signs what it sends (``hello``,
``events``, ``cursor``, ``status``) with its own Ed25519 key, gates every
received message with ``sync.protocol.check`` against central's pinned key,
and applies what central sends to an in-memory replica:

- ``hello()`` on every (re)connect: epoch, ``applied_rev``, outbox range.
- ``head``: a head above ``applied_rev`` is answered with a ``cursor``.
- ``changes``: applied only when ``base == applied_rev`` (then a ``cursor``);
  ``rev <= applied_rev`` is a duplicate (ignored); ``base > applied_rev`` a
  gap (a ``cursor``, so central sends from where the node is).
- ``snapshot``: parts staged by ``rev``; when all are in, the replica is
  replaced whole, ``applied_rev`` set, and a ``cursor`` sent.
- ``due(now)`` repeats the ``cursor`` while a head above ``applied_rev`` is
  unanswered (``cursor_retry_s``, doubling), as the node's link does.
- events: ``add_events`` appends to the outbox with rising ``seq``;
  ``due_events(now)`` gives the batches to send (at most ``max_in_flight``
  unacknowledged batches, resent after ``resend_s`` or a reconnect); an
  ``ack`` deletes up to ``through``.
- ``command``: answered with a ``command.done`` event.

Every message in is counted in ``stats``; anything the gate rejects raises
``AssertionError`` (central must never send what a node drops). Nothing here
reads a clock or touches a socket: ``now`` comes in, ``Outgoing`` goes out.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.link.pacing import CursorPacer
from sync.protocol import (
    Ack,
    Changes,
    Clock,
    ClockSource,
    Command,
    Cursor,
    Direction,
    Events,
    Head,
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
from sync.protocol.timeutil import from_ts
from sync.replica import OutboxEvent, uuid7


@dataclass
class SimNode:
    """One node (module docstring). ``central_keys`` are the keys it pins."""

    node: str
    key: Ed25519PrivateKey
    kid: str
    central_keys: Mapping[str, Ed25519PublicKey]
    epoch: int = field(default_factory=lambda: random.getrandbits(63) or 1)
    max_in_flight: int = 4
    batch_size: int = 64
    resend_s: float = 10.0
    applied_rev: int = 0
    replica: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    outbox: dict[int, OutboxEvent] = field(default_factory=dict)
    last_seq: int = 0
    acked: int = 0  # highest ``through`` acknowledged
    stats: Counter[str] = field(default_factory=Counter)
    head_rev: int = 0
    command_seq: int = 0
    cursor_retry_s: float = 10.0  # the node link's pacing (sync/link/pacing.py)
    cursor_retry_max_s: float = 300.0
    pacer: CursorPacer = field(init=False)
    _sent: dict[int, float] = field(default_factory=dict)  # first seq of a batch -> sent at
    _staged: dict[int, dict[int, tuple[Any, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pacer = CursorPacer(self.cursor_retry_s, self.cursor_retry_max_s)

    # --- what the node sends --------------------------------------------------------

    def sign(self, msg: Any, now: float) -> Outgoing:
        self.stats[f"sent_{type(msg).__name__.lower()}"] += 1
        return pack(msg, node=self.node, iat=int(now), kid=self.kid, key=self.key)

    def hello(self, now: float) -> Outgoing:
        """The first message on every connection; everything in flight counts as lost."""
        self._sent.clear()
        self.pacer.reset()
        first = min(self.outbox, default=self.last_seq + 1)
        clock = Clock(True, ClockSource.NTP)
        return self.sign(
            Hello(
                self.epoch,
                "sim",
                self.applied_rev,
                OutboxRange(first, self.last_seq),
                "hallvakt-fleet-sim",
                clock,
            ),
            now,
        )

    def status(self, now: float, state: State = State.ONLINE) -> Outgoing:
        return self.sign(Status(state, self.epoch), now)

    def cursor(self, now: float, want: Want = Want.CHANGES) -> Outgoing:
        """A cursor now, whatever the pacing (a test asking explicitly)."""
        return self.sign(Cursor(self.applied_rev, want), now)

    def _ask(self, now: float, *, force: bool = False) -> list[Outgoing]:
        """A cursor as the node link's ``CursorPacer`` allows: news (``force``)
        always goes; the same request again only after its delay."""
        key = (self.applied_rev, Want.CHANGES)
        if not self.pacer.may_send(key, now, force=force):
            return []
        self.pacer.sent(key, now, missing=self.head_rev > self.applied_rev)
        return [self.cursor(now)]

    def due(self, now: float) -> list[Outgoing]:
        """What to send now unasked: due ``events`` batches, and the cursor again
        while central is known to have more and the last went unanswered for
        its delay (sync/link/pacing.py)."""
        out = self.due_events(now)
        if self.pacer.due(now):
            if self.head_rev > self.applied_rev:
                self.stats["cursor_retries"] += 1
                out += self._ask(now)
            else:
                self.pacer.retry_at = None
        return out

    def add_events(self, n: int, now: float, type_: str = "door.opened") -> None:
        """Record ``n`` events in the outbox (as the door controller would)."""
        at = int(now)
        for _ in range(n):
            self.last_seq += 1
            self.outbox[self.last_seq] = OutboxEvent(
                self.last_seq, uuid7(int(now * 1000)), type_, from_ts(at), {"door": "main"}
            )

    def due_events(self, now: float) -> list[Outgoing]:
        """``events`` messages to send now (module rules)."""
        out: list[Outgoing] = []
        seqs = sorted(self.outbox)
        batches = [seqs[i : i + self.batch_size] for i in range(0, len(seqs), self.batch_size)]
        in_flight = sum(1 for b in batches if now - self._sent.get(b[0], -1e18) < self.resend_s)
        for b in batches:
            if in_flight >= self.max_in_flight:
                break
            if now - self._sent.get(b[0], -1e18) < self.resend_s:
                continue
            if b[0] in self._sent:
                self.stats["resent_batches"] += 1
            self._sent[b[0]] = now
            in_flight += 1
            out.append(self.sign(Events(self.epoch, tuple(self.outbox[s] for s in b)), now))
        return out

    @property
    def backlog(self) -> int:
        return len(self.outbox)

    # --- what the node receives -------------------------------------------------------

    def receive(self, topic: str, payload: bytes, now: float) -> list[Outgoing]:
        """Gate and apply one message from central; return what to send back."""
        res = check(
            topic,
            payload,
            self.central_keys,
            now=int(now),
            clock_trusted=True,
            expect_direction=Direction.DOWN,
            expect_node=self.node,
        )
        if isinstance(res, Rejected):
            raise AssertionError(f"{self.node} dropped {topic}: {res.reason} {res.detail}")
        msg = res.message
        self.stats[f"got_{res.kind.value}"] += 1
        match msg:
            case Head():
                news = msg.rev > self.head_rev
                self.head_rev = max(self.head_rev, msg.rev)
                if msg.rev > self.applied_rev or msg.oldest_rev > self.applied_rev:
                    return self._ask(now, force=news)
                return []
            case Changes():
                b = msg.batch
                if b.rev <= self.applied_rev:
                    self.stats["duplicate_batches"] += 1
                    return []
                if b.base != self.applied_rev:
                    self.stats["gaps"] += 1
                    self.head_rev = max(self.head_rev, b.rev)
                    return self._ask(now)
                for op in b.ops:
                    if op.record is None:
                        self.replica.pop((op.entity, op.id), None)
                    else:
                        self.replica[(op.entity, op.id)] = op.record.to_wire()
                self.applied_rev = b.rev
                self.stats["applied_batches"] += 1
                return self._ask(now, force=True)
            case Snapshot():
                p = msg.part
                if p.rev <= self.applied_rev and self.applied_rev:
                    self.stats["duplicate_snapshots"] += 1
                    return []
                staged = self._staged.setdefault(p.rev, {})
                staged[p.part] = p.records
                if len(staged) < p.parts:
                    return []
                self.replica = {
                    (r.ENTITY, r.id): r.to_wire() for part in staged.values() for r in part
                }
                self.applied_rev = p.rev
                self._staged = {r: s for r, s in self._staged.items() if r > p.rev}
                self.stats["applied_snapshots"] += 1
                return self._ask(now, force=True)
            case Ack():
                if msg.epoch == self.epoch and msg.through > self.acked:
                    for seq in range(self.acked + 1, msg.through + 1):
                        self.outbox.pop(seq, None)
                    self.acked = msg.through
                    self._sent = {s: t for s, t in self._sent.items() if s > self.acked}
                return []
            case Command():
                if msg.seq <= self.command_seq:
                    return []
                self.command_seq = msg.seq
                self.add_events(1, now, "command.done")
                return []
        return []

    def forget_replica(self) -> None:
        """A node whose database was replaced: empty replica, a new epoch."""
        self.replica.clear()
        self.applied_rev = 0
        self._staged.clear()
        self.epoch = random.getrandbits(63) or 1
        self.outbox.clear()
        self.last_seq = self.acked = 0
        self._sent.clear()
