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
  keys. Received messages wait, are retried, acknowledged and dropped as
  ``sync.link.inbound`` says (``AckInbound`` after the commit of their effect,
  PUBACKs in order; a ``security.rejected`` event or the quarantine for a drop).
- ``ack`` (§6) moves the outbox here; ``head``, ``changes``, ``snapshot`` and
  ``command`` go into the replica as ``sync.link.downstream`` says, which also
  paces the cursors. A corrupt replica (``ReplicaCorrupt``) asks for a snapshot.

The module is the link's state and dispatch; its seams are the outbound window
(``sync.link.window``, ``sync.link.outgoing``), the inbound queue
(``sync.link.inbound``) and central's data coming down (``sync.link.downstream``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.protocol import (
    Accepted,
    Ack,
    Changes,
    Clock,
    Command,
    Direction,
    Events,
    Head,
    Hello,
    Message,
    OutboxRange,
    Rejected,
    RejectReason,
    Snapshot,
    State,
    Status,
    Want,
    check,
    node_subscriptions,
    pack,
    pack_events,
)
from sync.protocol.wire import MAX_BATCH
from sync.replica import (
    AckError,
    Replica,
    ReplicaCorrupt,
    acknowledge,
    backlog,
)
from sync.replica.integrity import scan_records

from .downstream import Downstream
from .events import (
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
    Received,
    Subscribe,
    Tick,
    Wakeup,
)
from .inbound import Inbound
from .outgoing import EventSender
from .window import Window

log = logging.getLogger("hallvakt.sync")

HELLO_REPEAT_S = 10.0  # no word from central this long after a hello: say it again
HELLO_REPEAT_MAX_S = 300.0


# Batches in flight at most: 64 of at most 256 KiB each stay within the 32 MiB a
# broker queues per client (hallvakt/demo/broker/config.py MAX_QUEUED_BYTES).
MAX_WINDOW = 64


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Who the node is and how the link paces itself."""

    node: str
    kid: str  # the node's key id (central's registry), see sync.link.shell.node_kid
    key: Ed25519PrivateKey
    central_keys: Mapping[str, Ed25519PublicKey]
    software: str
    boot_id: str
    max_batches: int = 16
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
        if not 1 <= settings.max_batches <= MAX_WINDOW:
            raise ValueError(f"max_batches must be 1..{MAX_WINDOW}")
        self.rep = rep
        self.s = settings
        self.epoch = rep.state().epoch
        self.connected = False
        self.window = Window(
            max_batches=settings.max_batches,
            resend_after=settings.resend_after,
            resend_max=settings.resend_max,
        )
        self.sender = EventSender(
            rep, self.window, settings.batch_events, self._publish, self._publish_events
        )
        self.inbound = Inbound(rep)
        self.down = Downstream(
            rep,
            sign=self._publish,
            drop=self.inbound.drop,
            connected=lambda: self.connected,
            cursor_retry=settings.cursor_retry,
            cursor_retry_max=settings.cursor_retry_max,
        )
        self.connects = 0
        self.refused_publishes = 0
        self.last_refusal: tuple[str, datetime] | None = None
        self._heard = False  # a verified message from central since the last connect
        self._hello_at: float | None = None
        self._hello_wait = HELLO_REPEAT_S

    @property
    def want_snapshot(self) -> bool:
        """A snapshot is wanted (a corrupt replica, a ``resync``): no changes apply."""
        return self.down.want_snapshot

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
                self.inbound.push(event)
            case Received():
                for m in event.messages:
                    self.inbound.push(m)
            case PublishRefused():
                self.refused_publishes += 1
                self.last_refusal = (f"{event.topic}: {event.reason}", at.wall)
            case Tick() | OutboxGrew():
                pass
        self.inbound.drain(self._receive, at, out)
        self.down.expire_messages(at)
        if self.connected:
            self._repeat_hello(at, out)
            self.down.cursor_timer(at, out)
            out.extend(self.sender.pump(self.epoch, at))
        wake = self.next_wakeup()
        if wake is not None:
            out.append(Wakeup(wake))
        return out

    def next_wakeup(self) -> float | None:
        """The earliest monotonic time a ``Tick`` has something to do."""
        times = [self.inbound.next_wakeup()]
        if self.down.message_due is not None and self.down.message_due != float("inf"):
            times.append(self.down.message_due)
        if self.connected:
            times += [self.window.next_deadline(), self.down.cursors.retry_at]
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
        self.down.want_snapshot = True
        out: list[Output] = []
        if at is not None:
            self.down.ask(Want.SNAPSHOT, at, out, force=True)
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
            rejected=dict(self.inbound.rejected),
            quarantined=self.inbound.quarantined,
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
        out.append(Subscribe(tuple(node_subscriptions(self.s.node))))
        out.append(self._hello(at))  # PROTOCOL.md §5: before anything else
        out.append(self._publish(Status(State.ONLINE, self.epoch), at))
        self._heard = False
        self._hello_wait = HELLO_REPEAT_S
        self._hello_at = at.mono + self._hello_wait
        self.down.on_connected(at, out)

    def _on_disconnected(self, event: Disconnected) -> None:
        self.connected = False
        self._hello_at = None
        self.window.flights.clear()
        self.inbound.forget()  # they come again on the next connection (the session keeps them)

    # --- incoming messages --------------------------------------------------------------

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
            self.inbound.drop(msg, result, at)
            return
        if not msg.retained:  # a retained head comes from the broker, not from central now
            self._heard = True  # central answers: no more hello repeats
            self.window.central_heard(at.mono)  # what went before it answered goes again now
        try:
            self._accept(msg, result, at, out)
        except ReplicaCorrupt as exc:
            log.error("replica is corrupt, asking for a snapshot: %s", exc)
            self.down.want_snapshot = True
            self.down.ask(Want.SNAPSHOT, at, out)

    def _accept(self, msg: MessageIn, acc: Accepted, at: Moment, out: list[Output]) -> None:
        m: Message = acc.message
        match m:
            case Ack():
                self._on_ack(msg, m, at)
            case Head():
                self.down.on_head(msg, m, at, out)
            case Changes():
                self.down.on_changes(m, at, out)
            case Snapshot():
                self.down.on_snapshot(msg, m, at, out)
            case Command():
                self.down.on_command(msg, m, acc.iat, at, out)
            case _:  # pragma: no cover - check() admits only dn/ kinds
                rejected = Rejected(RejectReason.WRONG_TOPIC, f"{acc.kind} on dn/")
                self.inbound.drop(msg, rejected, at)

    def _on_ack(self, msg: MessageIn, ack: Ack, at: Moment) -> None:
        try:
            acknowledge(self.rep, ack.epoch, ack.through, ack.verdicts)
        except AckError as exc:
            self.inbound.drop(msg, Rejected(RejectReason.MALFORMED, str(exc)), at)
            return
        if ack.epoch != self.epoch:
            log.info("ack for epoch %d ignored (ours is %d)", ack.epoch, self.epoch)
            return
        self.window.acknowledge(ack.through, at.mono)

    # --- signing ------------------------------------------------------------------------

    def _publish(self, m: Message, at: Moment) -> Publish:
        o = pack(m, node=self.s.node, iat=at.unix, kid=self.s.kid, key=self.s.key)
        return Publish(o.topic, o.payload, o.retain)

    def _publish_events(self, m: Events, bodies: Sequence[str], at: Moment) -> Publish:
        """``_publish`` of an ``events`` message with its bodies' canonical texts."""
        s = self.s
        o = pack_events(m, bodies, node=s.node, iat=at.unix, kid=s.kid, key=s.key)
        return Publish(o.topic, o.payload, o.retain)
