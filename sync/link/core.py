"""The node's end of the sync contract, sans-I/O: inputs in, MQTT actions out.

``LinkCore.handle(input, moment) -> [output]`` (inputs and outputs in
``sync.link.events``). The core reads and writes the node database through
``sync.replica``, and nothing else: no socket, no clock (time comes in a
``Moment``), no paho. Rules it guarantees:

- Connect (PROTOCOL.md §2, §5): on every ``Connected`` it subscribes to its
  ``dn/#``, then publishes ``hello`` before any other message, then the
  retained ``status`` online, then events from the first unacknowledged seq.
- Events (§5): at most ``max_batches`` batches of at most ``batch_events``
  events in flight, each at most 256 KiB (a batch that ``pack`` finds
  ``TooLarge`` is halved); a batch not acknowledged within ``resend_after``
  seconds is sent again (the timeout doubles per attempt up to ``resend_max``).
  Outbox rows are deleted only by ``acknowledge`` up to central's ``through``;
  no seq at or below an acknowledged ``through`` is sent after the ack.
- Every received message passes ``sync.protocol.check`` with central's pinned
  keys. Dropped messages change nothing but their record: a security reason
  appends one ``security.rejected`` event (at most ``SECURITY_EVENTS_PER_MIN``
  a minute; the next one counts the ones left out), ``malformed`` and
  ``unknown_kind`` are quarantined (§4).
- ``head`` (§6) passes ``HeadGuard`` (rollback, stale by ``exp``) and is
  recorded with ``record_head`` (§7 freshness); a head above ``applied_rev``
  asks for changes (at once if it is above every revision known before, else
  as ``CursorPacer`` allows). ``changes`` apply through ``apply_changes`` in one
  transaction (APPLIED and GAP send a cursor; DUPLICATE is ignored);
  ``snapshot`` parts are staged (APPLIED sends a cursor). A corrupt replica
  (``ReplicaCorrupt``) or a ``resync`` command asks for a snapshot, and while
  one is wanted ``changes`` are not applied.
- ``command`` (§6) passes ``CommandGuard`` and is queued in the database
  (``queue_command`` persists its seq first: at most once). ``resync`` is
  carried out here; door commands by the door controller; ``message`` by the
  kiosk. An ``unlock`` received while the clock is untrusted ends at once as
  ``failed`` (docs/protocol.md: its ``exp`` cannot be judged).
- ``AckInbound`` for a received message comes after the commit of its effect,
  or after the decision to drop it. A message whose handling raises is kept
  and retried (later messages wait behind it, so PUBACKs stay in order); after
  ``MAX_ATTEMPTS`` it is quarantined as ``unprocessable``. A disconnect forgets
  unacknowledged messages: the broker delivers them again.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.protocol import (
    Accepted,
    Ack,
    Changes,
    Clock,
    Cmd,
    Command,
    CommandGuard,
    Cursor,
    Direction,
    Head,
    HeadGuard,
    Hello,
    KioskText,
    Message,
    OutboxRange,
    Rejected,
    RejectReason,
    Snapshot,
    State,
    Status,
    Unlock,
    Want,
    check,
    node_subscriptions,
    pack,
)
from sync.protocol.timeutil import from_ts
from sync.protocol.wire import MAX_BATCH
from sync.replica import (
    AckError,
    ApplyOutcome,
    BatchError,
    CommandRefused,
    Replica,
    ReplicaCorrupt,
    acknowledge,
    append_event,
    apply_changes,
    backlog,
    finish_command,
    last_command_seq,
    pending_commands,
    quarantine,
    queue_command,
    stage_snapshot,
    staged_snapshot,
)
from sync.replica.integrity import scan_records

from .events import (
    AckInbound,
    Connected,
    Disconnected,
    Input,
    LinkStats,
    MessageIn,
    Moment,
    OutboxGrew,
    Output,
    Publish,
    PublishRefused,
    Subscribe,
    Tick,
    Wakeup,
)
from .outgoing import EventSender
from .pacing import CursorPacer, DropLimit
from .window import Window

log = logging.getLogger("hallvakt.sync")

MAX_ATTEMPTS = 5  # tries at one received message before it is quarantined
RETRY_S = 1.0  # wait between those tries
SECURITY_EVENTS_PER_MIN = 30
HELLO_REPEAT_S = 10.0  # no word from central this long after a hello: say it again
HELLO_REPEAT_MAX_S = 300.0
UNTRUSTED_UNLOCK = "refused: the node's clock is not trusted"


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Who the node is and how the link paces itself."""

    node: str
    kid: str  # the node's key id (central's registry), see sync.link.shell.node_kid
    key: Ed25519PrivateKey
    central_keys: Mapping[str, Ed25519PublicKey]
    software: str
    boot_id: str
    max_batches: int = 4
    batch_events: int = MAX_BATCH
    resend_after: float = 10.0
    resend_max: float = 300.0
    cursor_retry: float = 10.0
    cursor_retry_max: float = 300.0


class LinkCore:
    """The node's sync link without I/O (module rules). One per process."""

    def __init__(self, rep: Replica, settings: LinkSettings) -> None:
        if not 1 <= settings.batch_events <= MAX_BATCH:
            raise ValueError(f"batch_events must be 1..{MAX_BATCH}")
        self.rep = rep
        self.s = settings
        self.epoch = rep.state().epoch
        self.connected = False
        self.window = Window(
            max_batches=settings.max_batches,
            resend_after=settings.resend_after,
            resend_max=settings.resend_max,
        )
        self.sender = EventSender(rep, self.window, settings.batch_events, self._publish)
        self.want_snapshot = False
        self.cursors = CursorPacer(settings.cursor_retry, settings.cursor_retry_max)
        self._gap_rev = 0  # the rev of the newest batch that did not fit
        self._inbound: deque[MessageIn] = deque()
        self._inbound_failures = 0
        self._inbound_retry_at: float | None = None
        self._drops = DropLimit(SECURITY_EVENTS_PER_MIN)
        self.rejected: collections.Counter[str] = collections.Counter()
        self.quarantined = 0
        self.connects = 0
        self.refused_publishes = 0
        self.last_refusal: tuple[str, datetime] | None = None
        self._heard = False  # a verified message from central since the last connect
        self._hello_at: float | None = None
        self._hello_wait = HELLO_REPEAT_S

    # --- the one entry point ----------------------------------------------------------

    def handle(self, event: Input, at: Moment) -> list[Output]:
        """Feed one input; return what to do, in order. The database effects of
        the input are committed when this returns."""
        out: list[Output] = []
        match event:
            case Connected():
                self._on_connected(at, out)
            case Disconnected():
                self._on_disconnected(event)
            case MessageIn():
                self._inbound.append(event)
            case PublishRefused():
                self.refused_publishes += 1
                self.last_refusal = (f"{event.topic}: {event.reason}", at.wall)
            case Tick() | OutboxGrew():
                pass
        self._drain_inbound(at, out)
        if self.connected:
            self._repeat_hello(at, out)
            self._cursor_timer(at, out)
            out.extend(self.sender.pump(self.epoch, at))
        wake = self.next_wakeup()
        if wake is not None:
            out.append(Wakeup(wake))
        return out

    def next_wakeup(self) -> float | None:
        """The earliest monotonic time a ``Tick`` has something to do."""
        times = [self._inbound_retry_at] if self._inbound else []
        if self.connected:
            times += [self.window.next_deadline(), self.cursors.retry_at]
            if not self._heard:
                times.append(self._hello_at)
        return min((t for t in times if t is not None), default=None)

    def will(self, at: Moment) -> Publish:
        """The signed Will (status offline, §5), to set before each CONNECT."""
        return self._publish(Status(State.OFFLINE, self.epoch), at)

    def goodbye(self, at: Moment) -> Publish:
        """Status offline, published on a clean stop before disconnecting."""
        return self._publish(Status(State.OFFLINE, self.epoch), at)

    def check_replica(self) -> bool:
        """Decode every record once (a chunk at a time); a corrupt replica asks
        for a snapshot. True if sound. The daemon runs the same check in the
        background instead (``sync.link.shell.IntegrityWatch``)."""
        found = scan_records(self.rep)
        if found is not None:
            self.replica_corrupt(found)
        return found is None

    def replica_corrupt(self, detail: str, at: Moment | None = None) -> list[Output]:
        """A stored record does not decode: ask for a snapshot (now, if connected
        and ``at`` is given; else at the next connect)."""
        log.error("replica is corrupt, asking for a snapshot: %s", detail)
        self.want_snapshot = True
        out: list[Output] = []
        if at is not None:
            self._ask(Want.SNAPSHOT, at, out, force=True)
        return out

    def stats(self, at: Moment) -> LinkStats:
        st = self.rep.state()
        age = None if st.head_seen_at is None else (at.wall - st.head_seen_at).total_seconds()
        return LinkStats(
            node=self.s.node,
            epoch=self.epoch,
            connected=self.connected,
            in_flight_batches=len(self.window.flights),
            in_flight_events=self.window.events_in_flight,
            acked_through=st.acked_through,
            last_seq=st.last_seq,
            backlog=backlog(self.rep),
            applied_rev=st.applied_rev,
            head_rev=st.head_rev,
            last_head_age_s=age,
            want_snapshot=self.want_snapshot,
            rejected=dict(self.rejected),
            quarantined=self.quarantined,
            resent_batches=self.sender.resent_batches,
            connects=self.connects,
            refused_publishes=self.refused_publishes,
            last_refusal=None if self.last_refusal is None else self.last_refusal[0],
            last_refusal_at=None if self.last_refusal is None else self.last_refusal[1],
        )

    # --- connection ---------------------------------------------------------------------

    def _repeat_hello(self, at: Moment, out: list[Output]) -> None:
        """Central may not have heard our hello (it subscribed after we sent it,
        e.g. right after a broker restart: Mosquitto 2.0.11 does not restore
        shared subscriptions). Until any verified message from central comes,
        say hello again with a doubling wait; unacknowledged events go again
        on their own resend timeout."""
        if self._heard or self._hello_at is None or at.mono < self._hello_at:
            return
        self._hello_wait = min(self._hello_wait * 2, HELLO_REPEAT_MAX_S)
        out.append(self._hello(at))
        self._hello_at = at.mono + self._hello_wait

    def _hello(self, at: Moment) -> Publish:
        """Hello (PROTOCOL.md §5) with the replica's and the outbox's state now."""
        st = self.rep.state()
        hello = Hello(
            epoch=self.epoch,
            boot_id=self.s.boot_id,
            applied_rev=st.applied_rev,
            outbox=OutboxRange(st.first_unacked, st.last_seq),
            software=self.s.software,
            clock=Clock(at.trusted, at.source),
        )
        return self._publish(hello, at)

    def _on_connected(self, at: Moment, out: list[Output]) -> None:
        self.connected = True
        self.connects += 1
        st = self.rep.state()
        self.window.restart(st.acked_through)
        self.cursors.reset()
        out.append(Subscribe(tuple(node_subscriptions(self.s.node))))
        out.append(self._hello(at))  # PROTOCOL.md §5: before anything else
        out.append(self._publish(Status(State.ONLINE, self.epoch), at))
        self._heard = False
        self._hello_wait = HELLO_REPEAT_S
        self._hello_at = at.mono + self._hello_wait
        if self.want_snapshot:
            self._ask(Want.SNAPSHOT, at, out)

    def _on_disconnected(self, event: Disconnected) -> None:
        self.connected = False
        self._hello_at = None
        self.window.flights.clear()
        # Unacknowledged messages come again on the next connection (the session
        # keeps them); their refs of this connection are dead.
        self._inbound.clear()
        self._inbound_failures, self._inbound_retry_at = 0, None

    # --- incoming messages --------------------------------------------------------------

    def _drain_inbound(self, at: Moment, out: list[Output]) -> None:
        while self._inbound:
            if self._inbound_retry_at is not None and at.mono < self._inbound_retry_at:
                return
            msg = self._inbound[0]
            try:
                self._receive(msg, at, out)
            except Exception as exc:  # a transient database error, or a bug: retry, then give up
                self._inbound_failures += 1
                n = self._inbound_failures
                log.exception("handling a message on %s failed (try %d)", msg.topic, n)
                if self._inbound_failures < MAX_ATTEMPTS:
                    self._inbound_retry_at = at.mono + RETRY_S
                    # Its effect may be committed already: the next try is a redelivery.
                    self._inbound[0] = dataclasses.replace(msg, dup=True)
                    return
                try:
                    self._quarantine(msg, "unprocessable", repr(exc), at)
                except Exception:
                    log.exception("cannot quarantine the message either; retrying it")
                    self._inbound_retry_at = at.mono + RETRY_S
                    return
            self._inbound.popleft()
            self._inbound_failures, self._inbound_retry_at = 0, None
            if msg.ref is not None:
                out.append(AckInbound(msg.ref))

    def _receive(self, msg: MessageIn, at: Moment, out: list[Output]) -> None:
        result = check(
            msg.topic,
            msg.payload,
            self.s.central_keys,
            now=at.unix,
            clock_trusted=at.trusted,
            expect_direction=Direction.DOWN,
            expect_node=self.s.node,
        )
        if isinstance(result, Rejected):
            self._drop(msg, result, at)
            return
        self._heard = True  # central (or at least its key) answers: no more hello repeats
        self.window.central_heard(at.mono)  # what went before it answered goes again now
        try:
            self._accept(msg, result, at, out)
        except ReplicaCorrupt as exc:
            log.error("replica is corrupt, asking for a snapshot: %s", exc)
            self.want_snapshot = True
            self._ask(Want.SNAPSHOT, at, out)

    def _accept(self, msg: MessageIn, acc: Accepted, at: Moment, out: list[Output]) -> None:
        m: Message = acc.message
        match m:
            case Ack():
                self._on_ack(msg, m, at)
            case Head():
                self._on_head(msg, m, at, out)
            case Changes():
                self._on_changes(m, at, out)
            case Snapshot():
                self._on_snapshot(msg, m, at, out)
            case Command():
                self._on_command(msg, m, acc.iat, at, out)
            case _:  # pragma: no cover - check() admits only dn/ kinds
                self._drop(msg, Rejected(RejectReason.WRONG_TOPIC, f"{acc.kind} on dn/"), at)

    def _on_ack(self, msg: MessageIn, ack: Ack, at: Moment) -> None:
        try:
            acknowledge(self.rep, ack.epoch, ack.through, ack.verdicts)
        except AckError as exc:
            self._drop(msg, Rejected(RejectReason.MALFORMED, str(exc)), at)
            return
        if ack.epoch != self.epoch:
            log.info("ack for epoch %d ignored (ours is %d)", ack.epoch, self.epoch)
            return
        self.window.acknowledge(ack.through, at.mono)

    def _on_head(self, msg: MessageIn, head: Head, at: Moment, out: list[Output]) -> None:
        st = self.rep.state()
        rejected = HeadGuard(st.applied_rev, st.head_rev or 0).admit(
            head, now=at.unix, clock_trusted=at.trusted
        )
        if rejected is not None:
            self._drop(msg, rejected, at)
            return
        newer = head.rev > self._known_rev()  # central moved on: ask now, not at the retry
        self.rep.record_head(head.rev, head.oldest_rev, at.wall)
        if head.rev > st.applied_rev:
            self._ask(Want.CHANGES, at, out, force=newer)

    def _on_changes(self, ch: Changes, at: Moment, out: list[Output]) -> None:
        if self.want_snapshot:
            log.info("changes %d->%d ignored: waiting for a snapshot", ch.batch.base, ch.batch.rev)
            return
        outcome = apply_changes(self.rep, ch.batch, at.wall)
        if outcome is ApplyOutcome.APPLIED:
            self._ask(Want.CHANGES, at, out, force=True)
        elif outcome is ApplyOutcome.GAP:
            self._gap_rev = max(self._gap_rev, ch.batch.rev)
            if not self._ask(Want.CHANGES, at, out):
                self.cursors.gap(at.mono)  # held back: the timer asks within 1 s

    def _on_snapshot(self, msg: MessageIn, sn: Snapshot, at: Moment, out: list[Output]) -> None:
        staged = staged_snapshot(self.rep)
        if (
            not self.want_snapshot
            and sn.part.rev <= self.rep.state().applied_rev
            and (staged is None or staged.rev != sn.part.rev)
        ):
            return  # the rest of a snapshot applied already (or one not asked for)
        try:
            outcome = stage_snapshot(self.rep, sn.part, at.wall)
        except BatchError as exc:
            self._drop(msg, Rejected(RejectReason.MALFORMED, str(exc)), at)
            return
        if outcome is ApplyOutcome.APPLIED:
            self.want_snapshot = False
            log.info("snapshot rev %d applied", sn.part.rev)
            self._ask(Want.CHANGES, at, out, force=True)

    def _on_command(
        self, msg: MessageIn, cmd: Command, iat: int, at: Moment, out: list[Output]
    ) -> None:
        last = last_command_seq(self.rep)
        rejected = CommandGuard(last).admit(cmd, iat=iat, now=at.unix, clock_trusted=at.trusted)
        if rejected is not None:
            if rejected.reason is RejectReason.REPLAYED and msg.dup and cmd.seq == last:
                # The broker's redelivery of the command we took last (we stopped
                # between our commit and the PUBACK): finish what was started.
                log.info("command %d delivered again; already taken", cmd.seq)
                self._finish_resync(cmd, at, out)
                return
            self._drop(msg, rejected, at)
            return
        args: dict[str, object] = {}
        if isinstance(cmd.args, Unlock):
            args = {"door": cmd.args.door, "seconds": cmd.args.seconds}
        elif isinstance(cmd.args, KioskText):
            args = {"text": cmd.args.text}
        try:
            with self.rep.write():
                queue_command(self.rep, cmd.seq, cmd.cmd.value, args, from_ts(cmd.exp), at.wall)
                if cmd.cmd is Cmd.UNLOCK and not at.trusted:
                    # docs/protocol.md "Replays": with an untrusted clock a withheld
                    # unlock could be released late; refuse it (its seq is taken).
                    finish_command(self.rep, cmd.seq, "failed", UNTRUSTED_UNLOCK, at.wall)
        except CommandRefused as exc:  # another writer took the seq meanwhile
            self._drop(msg, Rejected(RejectReason.REPLAYED, str(exc)), at)
            return
        log.info("command %d %s taken", cmd.seq, cmd.cmd)
        self._finish_resync(cmd, at, out)

    def _finish_resync(self, cmd: Command, at: Moment, out: list[Output]) -> None:
        if cmd.cmd is not Cmd.RESYNC:
            return
        if not any(c.seq == cmd.seq for c in pending_commands(self.rep, frozenset({"resync"}))):
            return
        self.want_snapshot = True
        self._ask(Want.SNAPSHOT, at, out)
        finish_command(self.rep, cmd.seq, "done", "snapshot requested", at.wall)

    # --- cursors ------------------------------------------------------------------------

    def _needs_data(self) -> bool:
        applied = self.rep.state().applied_rev
        return self.want_snapshot or self._known_rev() > applied

    def _known_rev(self) -> int:
        """The newest revision central is known to have: its head, or a batch seen."""
        return max(self.rep.state().head_rev or 0, self._gap_rev)

    def _ask(self, want: Want, at: Moment, out: list[Output], *, force: bool = False) -> bool:
        """Send a cursor as ``CursorPacer`` allows; ``force``: there is news (a new
        ``applied_rev`` to report, or a head above every revision known before),
        or the retry timer decided. True if one was sent."""
        if not self.connected:
            return True  # the next connection asks (hello, the retained head, want_snapshot)
        key = (self.rep.state().applied_rev, Want.SNAPSHOT if self.want_snapshot else want)
        if not self.cursors.may_send(key, at.mono, force=force):
            return False
        out.append(self._publish(Cursor(*key), at))
        self.cursors.sent(key, at.mono, missing=self._needs_data())
        return True

    def _cursor_timer(self, at: Moment, out: list[Output]) -> None:
        if not self.cursors.due(at.mono):
            return
        if self._needs_data():
            key = self.cursors.key
            self._ask(key[1] if key else Want.CHANGES, at, out, force=True)
        else:
            self.cursors.retry_at = None

    # --- dropped messages ---------------------------------------------------------------

    def _drop(self, msg: MessageIn, rejected: Rejected, at: Moment) -> None:
        self.rejected[rejected.reason.value] += 1
        if rejected.quarantine:
            self._quarantine(msg, rejected.reason.value, rejected.detail, at)
            return
        reason, detail = rejected.reason, rejected.detail
        log.warning("dropped a message on %s: %s (%s)", msg.topic[:200], reason, detail)
        left_out = self._drops.admit(at.mono)
        if left_out is None:
            return
        body = rejected.event_body(msg.topic)
        if left_out:
            body["suppressed"] = left_out
        append_event(self.rep, "security.rejected", body, at.wall)

    def _quarantine(self, msg: MessageIn, reason: str, detail: str, at: Moment) -> None:
        log.warning("quarantined a message on %s: %s (%s)", msg.topic[:200], reason, detail)
        quarantine(self.rep, msg.topic, reason, detail, msg.payload, at.wall)
        self.quarantined += 1

    # --- signing ------------------------------------------------------------------------

    def _publish(self, m: Message, at: Moment) -> Publish:
        o = pack(m, node=self.s.node, iat=at.unix, kid=self.s.kid, key=self.s.key)
        return Publish(o.topic, o.payload, o.retain)
