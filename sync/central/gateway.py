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
- ``hello``: the node's state is recorded, then it gets its head (retained,
  ``exp`` = now + ``head_lifetime_s``) and what brings it up to date.
- ``events``: stored idempotently with ``through`` in one transaction before the
  ``ack`` is built; the ack carries the verdicts of the batch's walk-ins. A
  walk-in that changed the facility publishes the new head to its nodes.
- ``cursor``: ``applied_rev`` recorded; the node gets the next changes or a
  snapshot (``feed.plan``). At most ``max_batches`` changes messages are in
  flight to a node: a batch sent in the last ``in_flight_s`` above the node's
  ``applied_rev`` is not sent again (a node sends a cursor after each batch it
  applies). A snapshot just sent to a node is not sent again within
  ``snapshot_resend_s`` unless it asks for one. What was sent is kept in the
  store (delivery.py) and decided under the node's lock, so these rules hold
  across several gateways: no gateway keeps state of its own but counters.
- ``status``: the newest by ``iat`` is kept.
- ``tick``: heads for nodes whose facility moved (a mutation in any process)
  or whose head is ``head_resign_s`` old, with the missing changes pushed to
  online nodes; queued commands; and, at their intervals, lease renewal and
  pruning.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.protocol import (
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

log = logging.getLogger("hallvakt.central")


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
    evidence: Evidence = field(default_factory=Evidence)  # retention per municipality


class Central:
    """One gateway's protocol engine over an open ``Store`` (one thread)."""

    def __init__(self, store: Store, signer: feed.Signer, settings: Settings | None = None) -> None:
        self.store = store
        self.signer = signer
        self.settings = settings or Settings()
        self.stats: Counter[str] = Counter()
        self._renewed_at: int | None = None
        self._pruned_at: int | None = None

    def keys(self, node: str) -> dict[str, Ed25519PublicKey]:
        return nodes.node_keys(self.store, node)

    # --- received messages ---------------------------------------------------------

    def handle(self, topic: str, payload: bytes, now: int) -> list[Outgoing]:
        """Gate, record and answer one received message (module rules)."""
        at = from_ts(now)
        res = check(
            topic, payload, self.keys, now=now, clock_trusted=True, expect_direction=Direction.UP
        )
        if isinstance(res, Rejected):
            self._drop(topic, payload, res, at)
            return []
        node, msg = res.node, res.message
        facility = nodes.node_facility(self.store, node)
        self.stats[res.kind.value] += 1
        if facility is None:  # keys without a registration cannot happen; be safe
            return []
        match msg:
            case Hello():
                with self.store.write():  # one commit: the hello, its head, what it gets next
                    nodes.record_hello(self.store, node, msg, res.iat, at)
                    head = nodes.take_head(self.store, node, now)
                    step = self._decide(node, facility, msg.applied_rev, Want.CHANGES, now)
                return [self._head(node, head, now), *self._answer(node, facility, step, now)]
            case Events():
                stored = ev.store_events(self.store, node, facility, msg.epoch, msg.events, at)
                self.stats["events_new"] += stored.new
                out = [self.signer.pack(Ack(msg.epoch, stored.through, stored.verdicts), node, now)]
                if stored.revisions:
                    out += self.heads(now)
                return out
            case Cursor():
                with self.store.write():
                    nodes.record_cursor(self.store, node, msg.applied_rev, at)
                    step = self._decide(node, facility, msg.applied_rev, msg.want, now)
                return self._answer(node, facility, step, now)
            case Status():
                nodes.record_status(self.store, node, msg, res.iat, at)
                return []
        return []  # a down kind cannot pass check(expect_direction=UP)

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
            out = self._changes(node, facility, applied, now)
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

    def _changes(self, node: str, facility: str, applied: int, now: int) -> list[Outgoing] | None:
        """At most ``max_batches`` batches in flight to a node: batches sent within
        ``in_flight_s`` and above its ``applied_rev`` count, and are not sent
        again (a node sends a cursor after every batch it applies). None when a
        revision is too large for a message, or the log no longer reaches back
        (pruned meanwhile). Runs in the caller's write transaction, under the
        node's lock: what was sent is read and recorded in the store."""
        s = self.settings
        kept = delivery.in_flight(delivery.sent(self.store, node), applied, now, s.in_flight_s)
        start = kept[-1][0] if kept else applied
        room = s.max_batches - len(kept)
        if room <= 0:
            return []
        entries = cl.log_after(self.store, facility, start, s.budget * room)
        if not entries:
            return []
        if entries[0].rev != start + 1:
            return None
        packed = feed.pack_changes(self.signer, node, now, entries, start, s.budget)
        if packed is None:
            return None
        packed = packed[:room]
        delivery.record_batches(self.store, node, applied, kept + [(r, now) for r, _ in packed])
        self.stats["changes"] += len(packed)
        return [o for _, o in packed]

    # --- periodic work -------------------------------------------------------------

    def heads(self, now: int) -> list[Outgoing]:
        """Heads that are due (module rules), each claimed by this gateway only;
        an online node behind the new head also gets the changes it lacks at
        once, without waiting for its cursor (it applies a batch whose base is
        its ``applied_rev``; the in-flight rule keeps this from repeating)."""
        out = []
        for node, r in nodes.claim_heads(self.store, now, self.settings.head_resign_s):
            out.append(self._head(node, r, now))
            known = nodes.known_state(self.store, node)  # a first look, without the lock
            if known is None or not known.online or known.facility is None:
                continue
            if feed.plan(known.applied_rev, Want.CHANGES, r) is not feed.Plan.CHANGES:
                continue
            with self.store.write():
                self.store.lock("node", node)
                again = nodes.known_state(self.store, node)  # again, under it
                if (
                    again is not None
                    and again.facility is not None
                    and feed.plan(again.applied_rev, Want.CHANGES, r) is feed.Plan.CHANGES
                ):
                    out += self._changes(node, again.facility, again.applied_rev, now) or []
        return out

    def commands(self, now: int) -> list[Outgoing]:
        out = []
        for q in nodes.take_commands(self.store, from_ts(now)):
            exp = to_ts(q.created) + COMMAND_MAX_LIFETIME
            out.append(self.signer.pack(Command(q.seq, q.cmd, exp, q.args), q.node, now))
        return out

    def tick(self, now: int) -> list[Outgoing]:
        """Periodic work; call about once a second."""
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
        return self.heads(now) + self.commands(now)
