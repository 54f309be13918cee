"""The central gateway's core: received messages in, messages to publish out (PROTOCOL.md §5, §6).

Sans-I/O in the sense of the house style: no socket, no MQTT client and no
clock here — ``now`` (Unix seconds) is passed in, and the answers come back as
``Outgoing`` values for the link to publish. The store is the source of truth,
so several gateways may run side by side on one database.

Rules this module guarantees:
- Every message passes ``sync.protocol.check`` with only the sending node's
  registered keys, under central's trusted clock. A dropped message changes no
  state: a security reason goes to ``security_log``, a malformed or unknown one
  to ``quarantine`` (PROTOCOL.md §4).
- Group commit: ``handle_batch`` records a batch of received messages in ONE
  write transaction (one commit, one disk flush), each message in order in a
  savepoint of its own. A message whose handling fails is rolled back alone,
  quarantined (``internal_error``) in the same transaction, and gets no
  answer; the others are kept. An error that ends the transaction itself
  (connection lost, deadlock, disk) rolls back the whole batch, which is then
  handled again one message per transaction. Nothing is answered before the
  commit: the answers are built (signed, snapshots read) after it, so an ack
  never names an event that is not durable, and a batch lost to a crash was
  neither answered nor (the link's rule) acknowledged to the broker. When
  the store takes nothing at all (not even the quarantine of a failed
  message: unreachable, locked, full), ``handle_batch`` raises
  (``NotRecorded``) and the link acknowledges none of the batch.
- Locks: before the first message, the batch locks every sending node, in
  sorted order, then the facilities whose walk-ins it carries, sorted; every
  other multi-node locker (``heads``) locks in the same order, so two
  gateways' batches wait for each other but never in a cycle. Inside, each
  message takes the same locks as when handled alone: its decisions are those
  it would get alone, in the same order.
- ``hello``: the node's state is recorded, then it gets what brings it up to
  date and its head (retained, ``exp`` = now + ``head_lifetime_s``).
- ``events``: stored idempotently with ``through`` before the ``ack`` is
  built; the ack carries the verdicts of the batch's walk-ins. A walk-in that
  changed the facility publishes the new heads to its nodes after the commit.
- ``cursor``: ``applied_rev`` recorded; the node gets the next changes or a
  snapshot (``feed.plan``). At most ``max_batches`` changes messages are in
  flight to a node: a batch sent in the last ``in_flight_s`` above the node's
  ``applied_rev`` is not sent again (a node sends a cursor after each batch it
  applies). A snapshot just sent to a node is not sent again within
  ``snapshot_resend_s`` unless it asks for one. What was sent is kept in the
  store (delivery.py) and decided under the node's lock, so these rules hold
  across several gateways: no gateway keeps state of its own but counters.
- ``status``: the newest by ``iat`` is kept.
- A node's changes go before the head that announces them: a node that
  applied them finds the head current and asks nothing more.
- ``tick``: heads for nodes whose facility moved (a mutation in any process)
  or whose head is ``head_resign_s`` old, with the missing changes pushed to
  online nodes, claimed ``heads_chunk`` nodes at a time and each chunk
  published before the next is claimed (``tick_parts``), so that gateways
  ticking together share a fan-out; queued commands; and, at their
  intervals, lease renewal and pruning.
- Commands are delivered at least once: one is ``sent`` only when the link
  reports the broker's acknowledgement of its publication (``published``);
  until then, any gateway hands it out again after ``command_resend_s``
  (this one died, or lost its connection). A node takes each ``seq`` once; it
  may see one twice only when a gateway died between the broker's receipt
  and its acknowledgement (it then drops the second as replayed).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.protocol import (
    Accepted,
    Ack,
    Command,
    Cursor,
    Direction,
    Events,
    Head,
    Hello,
    Outgoing,
    Rejected,
    RejectReason,
    Status,
    TopicError,
    Want,
    check,
    parse_topic,
)
from sync.protocol.messages import COMMAND_MAX_LIFETIME
from sync.protocol.timeutil import from_ts, to_ts

from . import changelog as cl
from . import delivery, feed, leases, nodes
from . import events as ev
from .db import Store
from .evidence import retention
from .evidence.settings import Evidence
from .outage import StoreOutage

log = logging.getLogger("hallvakt.central")

WALKIN_TYPES = frozenset({"walkin.created", "walkin.cancelled"})
Finish = Callable[[], list[Outgoing]]


@dataclass(frozen=True, slots=True)
class Settings:
    head_lifetime_s: int = 2 * 3600  # PROTOCOL.md §6: a head's exp; re-signed well before
    head_resign_s: int = 30 * 60
    max_batches: int = 8  # changes messages in flight to a node; its cursors ask for more
    in_flight_s: int = 15  # a batch sent longer ago than this counts as lost
    budget: int = feed.BUDGET
    snapshot_resend_s: int = 30
    renew_every_s: int = 15 * 60
    horizon_days: int = leases.HORIZON_DAYS
    prune_every_s: int = 3600
    changelog_keep_days: int = 30
    changelog_keep_revs: int = 10_000
    dropped_keep_days: int = 90
    heads_chunk: int = 500  # nodes whose heads and pushed changes share one transaction
    command_resend_s: int = nodes.COMMAND_RESEND_S
    evidence: Evidence = field(default_factory=Evidence)  # retention per municipality


class NotRecorded(Exception):
    """The store took nothing of a message, not even its quarantine (it is
    unreachable, locked or full): the link must not acknowledge it, so that
    the broker delivers it again (module rules)."""


class StoreUnreachable(NotRecorded):
    """The store failed at a connection level (its senders' keys could not be
    read, or a message could be neither recorded nor quarantined): logged once
    per outage (``StoreOutage``), not per redelivery."""


@dataclass(frozen=True, slots=True)
class _Item:
    """One received message of a batch, gated: ``res`` is ``check``'s verdict and
    ``facility`` the sending node's (None when the gate refused it)."""

    topic: str
    payload: bytes
    res: Accepted | Rejected
    facility: str | None


def _nothing() -> list[Outgoing]:
    return []


class Central:
    """One gateway's protocol engine over an open ``Store`` (one thread)."""

    def __init__(self, store: Store, signer: feed.Signer, settings: Settings | None = None) -> None:
        self.store = store
        self.signer = signer
        self.settings = settings or Settings()
        self.stats: Counter[str] = Counter()
        self._renewed_at: int | None = None
        self._pruned_at: int | None = None
        self._heads_due = False
        self._awaiting: dict[bytes, tuple[str, int, int]] = {}  # command -> node, seq, taken
        self.outage = StoreOutage(log)  # reading a batch's keys, and the tick
        self.write_outage = StoreOutage(log)  # recording messages: a write can fail alone

    def keys(self, node: str) -> dict[str, Ed25519PublicKey]:
        return nodes.node_keys(self.store, node)

    # --- received messages ---------------------------------------------------------

    def handle(self, topic: str, payload: bytes, now: int) -> list[Outgoing]:
        """Gate, record and answer one received message (module rules)."""
        return self.handle_batch([(topic, payload)], now)[0]

    def handle_batch(self, messages: Sequence[tuple[str, bytes]], now: int) -> list[list[Outgoing]]:
        """Gate, record (one transaction) and answer ``messages`` in order: the
        answers of each, in the same order (module rules). Raises
        ``NotRecorded`` when the store cannot even quarantine a failed
        message, and what the store raises when it cannot gate the batch:
        then none of the batch may be acknowledged (some may be stored:
        handled again, they are idempotent)."""
        items = self._gate(messages, now)
        try:
            finishes = self._record(items, now)
        except Exception as exc:
            if len(items) > 1:  # the batch failed as a whole: each message on its own
                self.stats["batch_retries"] += 1
                log.warning("a batch of %d failed (%r): each message on its own", len(items), exc)
                return [self._alone(item, now) for item in items]
            self._failed(items[0], exc, now)
            return [[]]
        self.write_outage.ok()
        out = [self._finish(item, f) for item, f in zip(items, finishes, strict=True)]
        if self._heads_due:  # walk-ins moved a facility: its heads go out now
            self._heads_due = False
            out[-1] = out[-1] + self.heads(now)
        return out

    def _alone(self, item: _Item, now: int) -> list[Outgoing]:
        try:
            finish = self._record([item], now)[0]
        except Exception as exc:
            self._failed(item, exc, now)
            return []
        self.write_outage.ok()
        out = self._finish(item, finish)
        if self._heads_due:
            self._heads_due = False
            out += self.heads(now)
        return out

    def _gate(self, messages: Sequence[tuple[str, bytes]], now: int) -> list[_Item]:
        """``check`` each message with its node's keys, read for the whole batch
        in one query, outside any transaction (no lock is held while verifying)."""
        senders = set()
        for topic, _ in messages:
            with contextlib.suppress(TopicError):
                senders.add(parse_topic(topic)[0])
        try:
            known = nodes.registry(self.store, senders)
        except Exception as exc:
            if not self.store.transaction_failed(exc):
                raise
            self.outage.failed(exc, f"reading the keys of a batch of {len(messages)}")
            raise StoreUnreachable(repr(exc)) from exc
        self.outage.ok()
        items = []
        for topic, payload in messages:
            res = check(
                topic,
                payload,
                lambda n: known[n].keys if n in known else {},
                now=now,
                clock_trusted=True,
                expect_direction=Direction.UP,
            )
            facility = known[res.node].facility if isinstance(res, Accepted) else None
            items.append(_Item(topic, payload, res, facility))
        return items

    def _record(self, items: list[_Item], now: int) -> list[Finish]:
        """The batch's one write transaction (module rules): what to send after it."""
        senders = {i.res.node for i in items if isinstance(i.res, Accepted) and i.facility}
        walkins = {
            i.facility
            for i in items
            if isinstance(i.res, Accepted)
            and isinstance(i.res.message, Events)
            and any(e.type in WALKIN_TYPES for e in i.res.message.events)
        }
        finishes: list[Finish] = []
        with self.store.write():
            self.store.lock_many("node", sorted(senders))
            self.store.lock_many("facility", sorted(f for f in walkins if f is not None))
            for item in items:
                try:
                    with self.store.write():  # a savepoint: a failure undoes this message only
                        finishes.append(self._apply(item, now))
                except Exception as exc:
                    if self.store.transaction_failed(exc):
                        raise  # the whole batch is gone: the caller tries each alone
                    self._failed(item, exc, now)
                    finishes.append(_nothing)
        return finishes

    def _apply(self, item: _Item, now: int) -> Finish:
        """Record one message under its node's lock; what to send once committed."""
        at = from_ts(now)
        res = item.res
        if isinstance(res, Rejected):
            self._drop(item.topic, item.payload, res, at)
            return _nothing
        node, msg, facility = res.node, res.message, item.facility
        self.stats[res.kind.value] += 1
        if facility is None:  # keys without a registration cannot happen; be safe
            return _nothing
        match msg:
            case Hello():
                nodes.record_hello(self.store, node, msg, res.iat, at)
                head = nodes.take_head(self.store, node, now)
                step = self._decide(node, facility, msg.applied_rev, Want.CHANGES, now)
                return lambda: [
                    *self._answer(node, facility, step, now),
                    self._head(node, head, now),
                ]
            case Events():
                stored = ev.store_events(self.store, node, facility, msg.epoch, msg.events, at)
                if stored.revisions:
                    self._heads_due = True

                def ack() -> list[Outgoing]:
                    self.stats["events_new"] += stored.new
                    done = Ack(msg.epoch, stored.through, stored.verdicts)
                    return [self.signer.pack(done, node, now)]

                return ack
            case Cursor():
                nodes.record_cursor(self.store, node, msg.applied_rev, at)
                step = self._decide(node, facility, msg.applied_rev, msg.want, now)
                return lambda: self._answer(node, facility, step, now)
            case Status():
                nodes.record_status(self.store, node, msg, res.iat, at)
        return _nothing  # a down kind cannot pass check(expect_direction=UP)

    def _finish(self, item: _Item, finish: Finish) -> list[Outgoing]:
        """The answers of a committed message. A failure here (a snapshot that
        cannot be read now) loses only the answer: the node asks again."""
        try:
            return finish()
        except Exception:
            log.exception("cannot answer %s", item.topic[:200])
            return []

    def _failed(self, item: _Item, exc: BaseException, now: int) -> None:
        """A message whose handling raised: logged and kept in the quarantine
        (in the running transaction, if any); the protocol recovers it (a node
        resends unacknowledged events, its hello and its cursor)."""
        self.stats["internal_errors"] += 1
        unreachable = self.store.transaction_failed(exc)
        if unreachable:  # the store, not the message: once an outage (StoreOutage)
            self.write_outage.failed(exc, f"recording {item.topic[:200]}")
        else:
            log.error("error handling %s", item.topic[:200], exc_info=exc)
        try:
            nodes.quarantine(
                self.store, item.topic, "internal_error", repr(exc), item.payload, from_ts(now)
            )
        except Exception as again:
            if not self.store.in_transaction():
                lost = StoreUnreachable if unreachable else NotRecorded
                raise lost(f"cannot quarantine it either: {again!r}") from exc
            raise

    def _drop(self, topic: str, payload: bytes, res: Rejected, at: datetime) -> None:
        try:
            node: str | None = parse_topic(topic)[0]
        except TopicError:
            node = None
        if res.security:
            self.stats["security"] += 1
            detail = res.detail
            revoked = node is not None and nodes.is_revoked(self.store, node)
            if res.reason is RejectReason.UNKNOWN_KEY and revoked:
                detail = f"node revoked: {detail}"  # hallvakt central revoke-node
            log.warning("dropped %s: %s (%s)", topic[:200], res.reason.value, detail)
            nodes.log_security(self.store, topic, node, res.reason.value, detail, at)
        else:
            self.stats["quarantined"] += 1
            log.info("quarantined %s: %s (%s)", topic[:200], res.reason.value, res.detail)
            nodes.quarantine(self.store, topic, res.reason.value, res.detail, payload, at)

    def _head(self, node: str, r: cl.Revs, now: int) -> Outgoing:
        return self.signer.pack(
            Head(r.rev, r.oldest_rev, now + self.settings.head_lifetime_s), node, now
        )

    def _decide(
        self, node: str, facility: str, applied: int, want: Want, now: int
    ) -> list[Outgoing] | None:
        """What brings ``node`` from ``applied`` up to date, decided and recorded
        under the node's lock in the caller's write transaction (delivery.py),
        so that of several gateways only one sends each batch or snapshot: the
        messages to send, or None for a snapshot (read by ``_answer`` after the
        commit, in one consistent read)."""
        s = self.settings
        self.store.lock("node", node)
        r = cl.revs(self.store, facility)
        step = feed.plan(applied, want, r)
        if step is feed.Plan.AHEAD:
            log.warning(
                "node %s reports applied_rev %d above %s's rev %d (central restored?)",
                node,
                applied,
                facility,
                r.rev,
            )
            return []
        if step is feed.Plan.UP_TO_DATE:
            return []
        if step is feed.Plan.CHANGES:
            out = self._changes(node, facility, applied, now, delivery.sent(self.store, node))
            if out is not None:
                return out
        last = delivery.sent(self.store, node)
        if (
            want is Want.CHANGES
            and last.snapshot_rev == r.rev
            and last.snapshot_at is not None
            and now - last.snapshot_at < s.snapshot_resend_s
        ):
            return []
        delivery.record_snapshot(self.store, node, r.rev, now)
        return None

    def _answer(
        self, node: str, facility: str, step: list[Outgoing] | None, now: int
    ) -> list[Outgoing]:
        """``step`` of ``_decide``; a snapshot is read now, in one read transaction."""
        if step is not None:
            return step
        with self.store.read():
            r = cl.revs(self.store, facility)
            records = cl.all_records(self.store, facility)
        parts = feed.pack_snapshot(self.signer, node, now, r.rev, records, self.settings.budget)
        self.stats["snapshots"] += 1
        log.info(
            "snapshot rev %d for %s: %d records in %d parts", r.rev, node, len(records), len(parts)
        )
        return parts

    def _changes(
        self,
        node: str,
        facility: str,
        applied: int,
        now: int,
        last: delivery.Sent,
        logs: dict[tuple[str, int, int], list[cl.LogEntry]] | None = None,
        record: list[tuple[str, str]] | None = None,
    ) -> list[Outgoing] | None:
        """At most ``max_batches`` batches in flight to a node: batches sent within
        ``in_flight_s`` and above its ``applied_rev`` count, and are not sent
        again (a node sends a cursor after every batch it applies). None when a
        revision is too large for a message, or the log no longer reaches back
        (pruned meanwhile). Runs in the caller's write transaction, under the
        node's lock; ``last`` is what the store says the node was sent. The
        new chain is written now, or added to ``record`` for the caller to
        write (``delivery.record_many``); ``logs`` caches log reads."""
        s = self.settings
        kept = delivery.in_flight(last, applied, now, s.in_flight_s)
        start = kept[-1][0] if kept else applied
        room = s.max_batches - len(kept)
        if room <= 0:
            return []
        key = (facility, start, s.budget * room)
        entries = logs.get(key) if logs is not None else None
        if entries is None:
            entries = cl.log_after(self.store, facility, start, s.budget * room)
            if logs is not None:
                logs[key] = entries
        if not entries:
            return []
        if entries[0].rev != start + 1:
            return None
        packed = feed.pack_changes(self.signer, node, now, entries, start, s.budget)
        if packed is None:
            return None
        packed = packed[:room]
        chain = delivery.chain_text(applied, kept + [(r, now) for r, _ in packed])
        if record is None:
            delivery.record_many(self.store, [(node, chain)])
        else:
            record.append((node, chain))
        self.stats["changes"] += len(packed)
        return [o for _, o in packed]

    # --- periodic work -------------------------------------------------------------

    def heads(self, now: int) -> list[Outgoing]:
        """Every head that is due now, with the changes pushed (``heads_parts``)."""
        return [o for part in self.heads_parts(now) for o in part]

    def heads_parts(self, now: int) -> Iterator[list[Outgoing]]:
        """Heads that are due (module rules), claimed ``heads_chunk`` nodes at a
        time, each chunk by this gateway only; an online node behind the new
        head also gets the changes it lacks at once, before its head, without
        waiting for its cursor (it applies a batch whose base is its
        ``applied_rev``; the in-flight rule keeps this from repeating). One
        list per chunk, to publish before the next is claimed: the first nodes
        get their changes while later ones are decided, and another gateway
        ticking meanwhile claims the next chunks (a fan-out is shared)."""
        step = self.settings.heads_chunk
        seen: set[str] = set()
        while True:
            claimed = nodes.claim_heads(self.store, now, self.settings.head_resign_s, step)
            fresh = [c for c in claimed if c[0] not in seen]  # a head due again at once: later
            if fresh:
                seen.update(n for n, _ in fresh)
                yield self._push(fresh, now)
            if len(fresh) < step:
                return

    def _push(self, chunk: list[tuple[str, cl.Revs]], now: int) -> list[Outgoing]:
        """Heads for ``chunk`` (sorted by node), with the changes its online nodes
        lack, decided in one write transaction under their locks."""
        changes: dict[str, list[Outgoing]] = {}
        revs = dict(chunk)

        def behind(states: dict[str, nodes.KnownState]) -> list[str]:
            return [
                n
                for n, k in states.items()
                if k.online
                and k.facility is not None
                and feed.plan(k.applied_rev, Want.CHANGES, revs[n]) is feed.Plan.CHANGES
            ]

        first = behind(nodes.known_states(self.store, list(revs)))  # a first look, no lock
        if first:
            with self.store.write():
                self.store.lock_many("node", sorted(first))
                states = nodes.known_states(self.store, first)  # again, under the locks
                sent = delivery.sent_many(self.store, first)
                logs: dict[tuple[str, int, int], list[cl.LogEntry]] = {}
                record: list[tuple[str, str]] = []
                for n in sorted(behind(states)):
                    k = states[n]
                    assert k.facility is not None
                    got = self._changes(n, k.facility, k.applied_rev, now, sent[n], logs, record)
                    changes[n] = got or []
                delivery.record_many(self.store, record)
        return [o for n, r in chunk for o in (*changes.get(n, ()), self._head(n, r, now))]

    def commands(self, now: int) -> list[Outgoing]:
        """Commands to publish now (``nodes.take_commands``); each awaits the
        broker's acknowledgement (``published``) until it is handed out again."""
        resend = self.settings.command_resend_s
        self._awaiting = {p: k for p, k in self._awaiting.items() if k[2] > now - resend}
        out = []
        for q in nodes.take_commands(self.store, from_ts(now), resend_s=resend):
            exp = to_ts(q.created) + COMMAND_MAX_LIFETIME
            o = self.signer.pack(Command(q.seq, q.cmd, exp, q.args), q.node, now)
            self._awaiting[o.payload] = (q.node, q.seq, now)
            out.append(o)
        return out

    def published(self, delivered: Sequence[Outgoing]) -> None:
        """The broker acknowledged the publication of ``delivered`` (PUBACK):
        the commands among them are sent (module rules)."""
        done = [self._awaiting.pop(o.payload) for o in delivered if o.payload in self._awaiting]
        if done:
            nodes.commands_published(self.store, [(n, s) for n, s, _ in done])

    def tick(self, now: int) -> list[Outgoing]:
        """Periodic work; call about once a second."""
        return [o for part in self.tick_parts(now) for o in part]

    def tick_parts(self, now: int) -> Iterator[list[Outgoing]]:
        """``tick`` in parts, each to publish before the next is decided (heads
        a chunk at a time, then commands)."""
        s = self.settings
        at = from_ts(now)
        if self._renewed_at is None or now - self._renewed_at >= s.renew_every_s:
            self._renewed_at = now
            for facility, rev in leases.renew_leases(self.store, at, s.horizon_days).items():
                log.info("leases renewed for %s: rev %d", facility, rev)
        if self._pruned_at is None or now - self._pruned_at >= s.prune_every_s:
            self._pruned_at = now
            moved = cl.prune_log(self.store, at, s.changelog_keep_days, s.changelog_keep_revs)
            for facility, oldest in moved.items():
                log.info("change log of %s pruned: oldest_rev %d", facility, oldest)
            cl.prune_lease_versions(self.store, at, s.changelog_keep_days)
            nodes.prune_dropped(self.store, at, s.dropped_keep_days)
            for facility, n in retention.prune(self.store, at, s.evidence).items():
                log.info("evidence of %s past retention: %d sessions deleted", facility, n)
        yield from self.heads_parts(now)
        yield self.commands(now)
