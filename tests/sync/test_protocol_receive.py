"""Topics (PROTOCOL.md §3), the receiver's gate (§4), the head and command guards
(§6), and two endpoints talking through an in-memory broker.

receive.py guarantees: ``check`` accepts a message only from a trusted key for
the topic's node, with a matching ``node`` claim, a kind allowed on the topic, an
unexpired ``exp`` (trusted clock) and a valid body, names the first broken rule
otherwise, and never raises for any topic or bytes; the guards drop rolled-back
heads and replayed or expired commands and change no state when they do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.protocol import (
    Accepted,
    Ack,
    Changes,
    Clock,
    ClockSource,
    Cmd,
    Command,
    CommandGuard,
    Cursor,
    Direction,
    Events,
    Head,
    HeadGuard,
    Hello,
    Kind,
    Message,
    OutboxRange,
    Rejected,
    RejectReason,
    Snapshot,
    State,
    Status,
    Suffix,
    TopicError,
    Unlock,
    Want,
    allowed,
    central_subscriptions,
    check,
    encode,
    node_subscriptions,
    pack,
    parse_topic,
    rule_for,
    sign,
    topic_for,
)
from sync.protocol.envelope import b64url_encode
from sync.protocol.testing import FakeBroker, private_key, ring
from sync.protocol.wire import OutboxEvent
from sync.replica import (
    ApplyOutcome,
    ChangeBatch,
    Replica,
    SnapshotPart,
    acknowledge,
    append_event,
    apply_changes,
    backlog,
    pending_events,
)

NODE, OTHER = "test.hall.n1", "test.hall.n2"
NODE_KID, OTHER_KID, CENTRAL_KID = "test.hall.n1/1", "test.hall.n2/1", "central/1"
CENTRAL_KEYS = ring(CENTRAL_KID)
REGISTRY = {NODE: ring(NODE_KID), OTHER: ring(OTHER_KID)}
NOW = 1_780_000_000
E1 = "01890a5d-ac96-7b4b-bcce-b302099a8057"
AT = datetime(2026, 5, 28, 19, 46, 40, tzinfo=UTC)


def node_keys(node: str) -> dict[str, Any]:
    return REGISTRY.get(node, {})


def down(msg: Message, node: str = NODE, iat: int = NOW, kid: str = CENTRAL_KID) -> bytes:
    return pack(msg, node=node, iat=iat, kid=kid, key=private_key(kid)).payload


def up(msg: Message, node: str = NODE, iat: int = NOW, kid: str = NODE_KID) -> bytes:
    return pack(msg, node=node, iat=iat, kid=kid, key=private_key(kid)).payload


def at_node(topic: str, payload: bytes, *, now: int | None = NOW, trusted: bool = True) -> Any:
    return check(
        topic, payload, CENTRAL_KEYS, now=now, clock_trusted=trusted,
        expect_direction=Direction.DOWN, expect_node=NODE,
    )  # fmt: skip


def at_central(topic: str, payload: bytes, *, now: int | None = NOW) -> Any:
    return check(
        topic, payload, node_keys, now=now, clock_trusted=True, expect_direction=Direction.UP
    )


def t(node: str, suffix: str) -> str:
    return f"hallvakt/v1/{node}/{suffix}"


# --- topics ------------------------------------------------------------------------------


def test_topic_table() -> None:
    expected = {
        Kind.HELLO: ("up/hello", Direction.UP, False),
        Kind.EVENTS: ("up/evt", Direction.UP, False),
        Kind.CURSOR: ("up/cur", Direction.UP, False),
        Kind.STATUS: ("status", Direction.UP, True),
        Kind.HEAD: ("dn/head", Direction.DOWN, True),
        Kind.CHANGES: ("dn/chg", Direction.DOWN, False),
        Kind.SNAPSHOT: ("dn/chg", Direction.DOWN, False),
        Kind.ACK: ("dn/ack", Direction.DOWN, False),
        Kind.COMMAND: ("dn/cmd", Direction.DOWN, False),
    }
    for kind, (suffix, direction, retained) in expected.items():
        assert topic_for(kind, NODE) == f"hallvakt/v1/{NODE}/{suffix}"
        assert parse_topic(topic_for(kind, NODE)) == (NODE, Suffix(suffix))
        rule = rule_for(kind)
        assert (rule.direction, rule.retained) == (direction, retained)
    for suffix in Suffix:
        for kind in Kind:
            assert allowed(suffix, kind) == (expected[kind][0] == suffix.value)


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "hallvakt/v1/",
        "hallvakt/v1/n1",
        "hallvakt/v1/n1/",
        "hallvakt/v2/n1/up/evt",
        "Hallvakt/v1/n1/up/evt",
        "hallvakt/v1/N1/up/evt",
        "hallvakt/v1/+/up/evt",
        "hallvakt/v1/n1/up/#",
        "hallvakt/v1/n1/up/evt/x",
        "hallvakt/v1/n1/up/events",
        "hallvakt/v1/n1/dn",
        "hallvakt/v1//up/evt",
        f"hallvakt/v1/{'n' * 65}/up/evt",
        "$share/central/hallvakt/v1/n1/up/evt",
        "/hallvakt/v1/n1/up/evt",
    ],
)
def test_bad_topics(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(topic)


def test_topic_for_checks_the_node_id() -> None:
    for bad in ("", "N1", "a/b", "+", "#", "n" * 65, "ö"):
        with pytest.raises(TopicError):
            topic_for(Kind.HEAD, bad)
    assert topic_for(Kind.HEAD, "n" * 64).count("/") == 4


def test_subscriptions() -> None:
    assert node_subscriptions(NODE) == [f"hallvakt/v1/{NODE}/dn/#"]
    assert central_subscriptions() == ["$share/central/hallvakt/v1/+/up/#", "hallvakt/v1/+/status"]


# --- the gate: every kind accepted, fed whole ------------------------------------------

UP: list[Message] = [
    Hello(7, "boot", 0, OutboxRange(1, 0), "0.1", Clock(True, ClockSource.NTP)),
    Events(7, (OutboxEvent(1, E1, "door.opened", AT, {"door": "main"}),)),
    Cursor(3, Want.CHANGES),
    Status(State.OFFLINE, 7),
]
DOWN: list[Message] = [
    Head(3, 1, NOW + 3600),
    Changes(ChangeBatch(0, 1, ())),
    Snapshot(SnapshotPart(1, 1, 1, ())),
    Ack(7, 1, {}),
    Command(1, Cmd.UNLOCK, NOW + 60, Unlock("main", 5)),
]


@pytest.mark.parametrize("msg", UP, ids=lambda m: m.KIND)
def test_central_accepts_every_up_kind(msg: Message) -> None:
    got = at_central(topic_for(msg.KIND, NODE), up(msg))
    assert got == Accepted(NODE, msg.KIND, msg, NOW, NODE_KID)


@pytest.mark.parametrize("msg", DOWN, ids=lambda m: m.KIND)
def test_node_accepts_every_down_kind(msg: Message) -> None:
    got = at_node(topic_for(msg.KIND, NODE), down(msg))
    assert got == Accepted(NODE, msg.KIND, msg, NOW, CENTRAL_KID)


# --- the gate: every reason ------------------------------------------------------------

HEAD = Head(3, 1, NOW + 3600)
HEAD_TOKEN = down(HEAD)
HEAD_TOPIC = t(NODE, "dn/head")


def signed(claims: dict[str, Any], kid: str = CENTRAL_KID) -> bytes:
    return sign(claims, kid, private_key(kid))


def head_claims(**changes: Any) -> dict[str, Any]:
    claims = {**encode(HEAD, NODE, NOW), **changes}
    return {k: v for k, v in claims.items() if v is not ...}


def tampered(token: bytes) -> bytes:
    head, body, sig = token.split(b".")
    return b".".join([head, body, sig[:10] + (b"A" if sig[10:11] != b"A" else b"B") + sig[11:]])


def alg_none(token: bytes) -> bytes:
    _, body, sig = token.split(b".")
    head = b64url_encode(b'{"alg":"none","kid":"central/1","typ":"hallvakt+json"}').encode()
    return b".".join([head, body, sig])


REJECTS: list[tuple[str, str, bytes, RejectReason]] = [
    ("other prefix", "hallvakt/v2/test.hall.n1/dn/head", HEAD_TOKEN, RejectReason.WRONG_TOPIC),
    ("unknown suffix", t(NODE, "dn/x"), HEAD_TOKEN, RejectReason.WRONG_TOPIC),
    ("bad node in topic", "hallvakt/v1/N1/dn/head", HEAD_TOKEN, RejectReason.WRONG_TOPIC),
    ("up topic at a node", t(NODE, "up/cur"), HEAD_TOKEN, RejectReason.WRONG_TOPIC),
    ("another node's topic", t(OTHER, "dn/head"), down(HEAD, OTHER), RejectReason.WRONG_TOPIC),
    ("head on dn/chg", t(NODE, "dn/chg"), HEAD_TOKEN, RejectReason.WRONG_TOPIC),
    ("ack on dn/cmd", t(NODE, "dn/cmd"), down(Ack(1, 1, {})), RejectReason.WRONG_TOPIC),
    ("signed by a node key", HEAD_TOPIC, down(HEAD, kid=NODE_KID), RejectReason.UNKNOWN_KEY),
    ("unknown central kid", HEAD_TOPIC, down(HEAD, kid="central/9"), RejectReason.UNKNOWN_KEY),
    ("tampered signature", HEAD_TOPIC, tampered(HEAD_TOKEN), RejectReason.BAD_SIGNATURE),
    ("alg none", HEAD_TOPIC, alg_none(HEAD_TOKEN), RejectReason.BAD_SIGNATURE),
    ("redirected from n2", HEAD_TOPIC, down(HEAD, OTHER), RejectReason.WRONG_NODE),
    ("no node claim", HEAD_TOPIC, signed(head_claims(node=...)), RejectReason.WRONG_NODE),
    ("expired", HEAD_TOPIC, down(Head(3, 1, NOW), iat=NOW - 9), RejectReason.EXPIRED),
    ("long expired", HEAD_TOPIC, down(Head(3, 1, NOW - 1), iat=NOW - 99), RejectReason.EXPIRED),
    ("garbage", HEAD_TOPIC, b"\x00garbage", RejectReason.MALFORMED),
    ("padding", HEAD_TOPIC, HEAD_TOKEN + b"==", RejectReason.MALFORMED),
    ("no kind", HEAD_TOPIC, signed(head_claims(kind=...)), RejectReason.MALFORMED),
    ("kind not text", HEAD_TOPIC, signed(head_claims(kind=3)), RejectReason.MALFORMED),
    ("no iat", HEAD_TOPIC, signed(head_claims(iat=...)), RejectReason.MALFORMED),
    ("v2", HEAD_TOPIC, signed(head_claims(v=2)), RejectReason.MALFORMED),
    ("bad body", HEAD_TOPIC, signed(head_claims(oldest_rev=9)), RejectReason.MALFORMED),
    ("head without exp", HEAD_TOPIC, signed(head_claims(exp=...)), RejectReason.MALFORMED),
    ("unknown kind", HEAD_TOPIC, signed(head_claims(kind="telemetry")), RejectReason.UNKNOWN_KIND),
]


@pytest.mark.parametrize(("topic", "token", "reason"), [r[1:] for r in REJECTS],
                         ids=[r[0] for r in REJECTS])  # fmt: skip
def test_node_gate_rejects(topic: str, token: bytes, reason: RejectReason) -> None:
    got = at_node(topic, token)
    assert isinstance(got, Rejected)
    assert got.reason is reason, got.detail
    assert len(got.detail) <= 200


def test_every_reason_is_covered_and_classified() -> None:
    covered = {r[3] for r in REJECTS} | {RejectReason.ROLLBACK, RejectReason.REPLAYED}
    assert covered == set(RejectReason)
    quarantined = {r for r in RejectReason if not r.security}
    assert quarantined == {RejectReason.MALFORMED, RejectReason.UNKNOWN_KIND}


def test_rejected_event_body() -> None:
    got = at_node(HEAD_TOPIC, tampered(HEAD_TOKEN))
    assert isinstance(got, Rejected) and got.security and not got.quarantine
    body = got.event_body(HEAD_TOPIC)
    assert body == {"topic": HEAD_TOPIC, "reason": "bad_signature", "detail": got.detail}
    assert "A" * 10 not in body["detail"]  # never the token itself


def test_expiry_is_judged_only_with_a_trusted_clock() -> None:
    old = down(Head(3, 1, NOW - 1), iat=NOW - 99)
    assert isinstance(at_node(HEAD_TOPIC, old, trusted=False), Accepted)
    assert isinstance(at_node(HEAD_TOPIC, old, now=None, trusted=False), Accepted)
    assert isinstance(at_node(HEAD_TOPIC, down(Head(3, 1, NOW + 1))), Accepted)
    with pytest.raises(ValueError):
        at_node(HEAD_TOPIC, old, now=None, trusted=True)


def test_optional_exp_is_honoured_too() -> None:
    cur = Cursor(1, Want.CHANGES, exp=NOW)
    got = at_central(t(NODE, "up/cur"), up(cur, iat=NOW - 10))
    assert isinstance(got, Rejected) and got.reason is RejectReason.EXPIRED


def test_central_binds_keys_to_the_topics_node() -> None:
    """Node n2 cannot speak for n1 even on n1's topic with a matching claim."""
    forged = up(Cursor(0, Want.SNAPSHOT), node=NODE, kid=OTHER_KID)
    got = at_central(t(NODE, "up/cur"), forged)
    assert isinstance(got, Rejected) and got.reason is RejectReason.UNKNOWN_KEY
    got = at_central(t(OTHER, "up/cur"), forged)
    assert isinstance(got, Rejected) and got.reason is RejectReason.WRONG_NODE
    got = at_central(t("test.hall.n9", "up/cur"), forged)  # an unregistered node
    assert isinstance(got, Rejected) and got.reason is RejectReason.UNKNOWN_KEY


def test_central_rejects_down_topics_and_central_keys() -> None:
    got = at_central(HEAD_TOPIC, HEAD_TOKEN)
    assert isinstance(got, Rejected) and got.reason is RejectReason.WRONG_TOPIC
    got = at_central(t(NODE, "up/cur"), up(Cursor(1, Want.CHANGES), kid=CENTRAL_KID))
    assert isinstance(got, Rejected) and got.reason is RejectReason.UNKNOWN_KEY
    got = at_central(t(NODE, "up/evt"), up(Cursor(1, Want.CHANGES)))
    assert isinstance(got, Rejected) and got.reason is RejectReason.WRONG_TOPIC


@given(st.text(max_size=80), st.binary(max_size=300))
def test_gate_never_raises_on_any_topic_and_bytes(topic: str, payload: bytes) -> None:
    assert isinstance(at_node(topic, payload), Rejected)
    assert isinstance(at_central(topic, payload), Rejected)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=10,
)  # fmt: skip


@given(
    st.sampled_from(sorted(Suffix)),
    st.sampled_from([*sorted(Kind), "telemetry"]),
    st.dictionaries(st.sampled_from(["v", "iat", "exp", "rev", "oldest_rev", "ops", "base",
                                     "seq", "cmd", "args", "epoch", "through", "verdicts"]),
                    json_values, max_size=6),
)  # fmt: skip
def test_gate_never_raises_on_signed_near_misses(
    suffix: Suffix, kind: str, fields: dict[str, Any]
) -> None:
    claims = {"v": 1, "kind": kind, "node": NODE, "iat": NOW, **fields}
    got = at_node(t(NODE, suffix), signed(claims))
    assert isinstance(got, Accepted | Rejected)


# --- HeadGuard and CommandGuard ----------------------------------------------------------

R, X = RejectReason.ROLLBACK, RejectReason.EXPIRED
HEAD_CASES: list[tuple[str, int, int, int, int, int | None, bool, RejectReason | None, int]] = [
    # name, applied, seen, head rev, exp, now, trusted -> reason, seen after
    ("same rev again (retained)", 5, 5, 5, NOW + 10, NOW, True, None, 5),
    ("newer rev", 5, 5, 9, NOW + 10, NOW, True, None, 9),
    ("first head", 0, 0, 0, NOW + 10, NOW, True, None, 0),
    ("below applied", 5, 5, 4, NOW + 10, NOW, True, R, 5),
    ("below seen", 3, 7, 5, NOW + 10, NOW, True, R, 7),
    ("rolled back to 0", 5, 5, 0, NOW + 10, NOW, True, R, 5),
    ("stale at exp", 5, 5, 6, NOW, NOW, True, X, 5),
    ("stale long ago", 5, 5, 6, NOW - 3600, NOW, True, X, 5),
    ("stale, clock untrusted", 5, 5, 6, NOW - 3600, NOW, False, None, 6),
    ("no clock", 5, 5, 6, NOW - 3600, None, False, None, 6),
    ("rollback, clock untrusted", 5, 5, 4, NOW + 10, None, False, R, 5),
]  # fmt: skip


@pytest.mark.parametrize("case", HEAD_CASES, ids=[c[0] for c in HEAD_CASES])
def test_head_guard(case: tuple[Any, ...]) -> None:
    _, applied, seen, rev, exp, now, trusted, reason, seen_after = case
    guard = HeadGuard(applied_rev=applied, seen_rev=seen)
    got = guard.admit(Head(rev, 0, exp), now=now, clock_trusted=trusted)
    assert (got.reason if got else None) is reason
    assert (guard.applied_rev, guard.seen_rev) == (applied, seen_after)


def test_head_guard_follows_applied_revisions() -> None:
    guard = HeadGuard()
    assert guard.admit(Head(3, 0, NOW + 60), now=NOW, clock_trusted=True) is None
    guard.applied(3)
    guard.applied(2)  # never backwards
    assert guard.applied_rev == 3
    got = guard.admit(Head(2, 0, NOW + 60), now=NOW, clock_trusted=True)
    assert got is not None and got.reason is R and got.security


P, M = RejectReason.REPLAYED, RejectReason.MALFORMED
COMMAND_CASES: list[tuple[str, int, int, int, int, int | None, bool, RejectReason | None, int]] = [
    # name, last seq, seq, iat, exp, now, trusted -> reason, last seq after
    ("next", 0, 1, NOW, NOW + 60, NOW, True, None, 1),
    ("a gap is fine", 5, 9, NOW, NOW + 60, NOW, True, None, 9),
    ("replayed", 5, 5, NOW, NOW + 60, NOW, True, P, 5),
    ("older", 5, 4, NOW, NOW + 60, NOW, True, P, 5),
    ("replayed, clock untrusted", 5, 5, NOW, NOW + 60, None, False, P, 5),
    ("expired", 5, 6, NOW - 400, NOW - 100, NOW, True, X, 5),
    ("expired at exp", 5, 6, NOW - 60, NOW, NOW, True, X, 5),
    ("last second", 5, 6, NOW - 60, NOW + 1, NOW, True, None, 6),
    ("old, clock untrusted", 5, 6, NOW - 400, NOW - 100, NOW, False, None, 6),
    ("lifetime over 300 s", 5, 6, NOW, NOW + 301, NOW, True, M, 5),
    ("exp at iat", 5, 6, NOW, NOW, NOW - 1, True, M, 5),
]  # fmt: skip


@pytest.mark.parametrize("case", COMMAND_CASES, ids=[c[0] for c in COMMAND_CASES])
def test_command_guard(case: tuple[Any, ...]) -> None:
    _, last, seq, iat, exp, now, trusted, reason, last_after = case
    guard = CommandGuard(last_seq=last)
    got = guard.admit(Command(seq, Cmd.RESYNC, exp), iat=iat, now=now, clock_trusted=trusted)
    assert (got.reason if got else None) is reason
    assert guard.last_seq == last_after


def test_a_command_is_taken_once() -> None:
    guard = CommandGuard()
    cmd = Command(1, Cmd.UNLOCK, NOW + 60, Unlock("main", 5))
    assert guard.admit(cmd, iat=NOW, now=NOW, clock_trusted=True) is None
    again = guard.admit(cmd, iat=NOW, now=NOW + 1, clock_trusted=True)
    assert again is not None and again.reason is P


# --- two endpoints over a fake link ------------------------------------------------------


class FakeNode:
    """The node's side of sync/link, minus paho: gate, guards, replica, outbox."""

    def __init__(self, rep: Replica, broker: FakeBroker, now: datetime) -> None:
        self.rep, self.broker, self.now = rep, broker, now
        self.heads = HeadGuard(rep.state().applied_rev)
        self.commands = CommandGuard()
        self.rejected: list[Rejected] = []
        self.executed: list[Command] = []

    @property
    def ts(self) -> int:
        return int(self.now.timestamp())

    def send(self, msg: Message) -> None:
        kid = NODE_KID
        self.broker.publish(pack(msg, node=NODE, iat=self.ts, kid=kid, key=private_key(kid)))

    def connect(self) -> None:
        state = self.rep.state()
        self.send(Status(State.ONLINE, state.epoch))
        outbox = OutboxRange(state.first_unacked, state.last_seq)
        clock = Clock(True, ClockSource.NTP)
        self.send(Hello(state.epoch, "boot-1", state.applied_rev, outbox, "test", clock))

    def flush(self) -> None:
        events = tuple(pending_events(self.rep))
        if events:
            self.send(Events(self.rep.state().epoch, events))

    def pump(self) -> None:
        for topic, payload in self.broker.drain("node", f"hallvakt/v1/{NODE}/dn/"):
            got = at_node(topic, payload, now=self.ts)
            if isinstance(got, Rejected):
                self.rejected.append(got)
            else:
                self.handle(got)

    def handle(self, got: Accepted) -> None:
        msg, applied = got.message, self.rep.state().applied_rev
        match msg:
            case Ack():
                acknowledge(self.rep, msg.epoch, msg.through, msg.verdicts)
            case Head():
                no = self.heads.admit(msg, now=self.ts, clock_trusted=True)
                if no is not None:
                    self.rejected.append(no)
                elif msg.rev > applied:
                    self.send(Cursor(applied, Want.CHANGES))
            case Changes():
                outcome = apply_changes(self.rep, msg.batch, self.now)
                if outcome is ApplyOutcome.APPLIED:
                    self.heads.applied(msg.batch.rev)
                if outcome is not ApplyOutcome.DUPLICATE:
                    self.send(Cursor(self.rep.state().applied_rev, Want.CHANGES))
            case Command():
                no = self.commands.admit(msg, iat=got.iat, now=self.ts, clock_trusted=True)
                if no is not None:
                    self.rejected.append(no)
                else:
                    self.executed.append(msg)


class FakeCentral:
    """The reference central's side: per-node gate, idempotent event store, change log."""

    def __init__(self, broker: FakeBroker, log: list[dict[str, Any]], now: datetime) -> None:
        self.broker, self.log, self.now = broker, log, now
        self.events: dict[tuple[str, int, int], str] = {}
        self.cursors: list[int] = []
        self.statuses: list[State] = []
        self.rejected: list[Rejected] = []
        self.seq = 0

    @property
    def ts(self) -> int:
        return int(self.now.timestamp())

    def send(self, msg: Message) -> None:
        key = private_key(CENTRAL_KID)
        self.broker.publish(pack(msg, node=NODE, iat=self.ts, kid=CENTRAL_KID, key=key))

    def head(self) -> None:
        self.send(Head(self.log[-1]["rev"] if self.log else 0, 0, self.ts + 3600))

    def command(self, cmd: Cmd, args: Unlock | None = None) -> None:
        self.seq += 1
        self.send(Command(self.seq, cmd, self.ts + 60, args))

    def pump(self) -> None:
        for topic, payload in self.broker.drain("central", "hallvakt/v1/"):
            if "/dn/" in topic:
                continue
            got = at_central(topic, payload, now=self.ts)
            if isinstance(got, Rejected):
                self.rejected.append(got)
                continue
            msg = got.message
            match msg:
                case Hello():
                    self.head()
                case Status():
                    self.statuses.append(msg.state)
                case Events():
                    for e in msg.events:
                        self.events.setdefault((got.node, msg.epoch, e.seq), e.id)
                    through = 0
                    while (got.node, msg.epoch, through + 1) in self.events:
                        through += 1
                    self.send(Ack(msg.epoch, through, {}))
                case Cursor():
                    self.cursors.append(msg.applied_rev)
                    for wire in self.log:
                        if wire["base"] >= msg.applied_rev:
                            self.send(Changes(ChangeBatch.from_wire(wire)))


def test_two_endpoints_over_a_fake_link(
    replica: Replica, site: Any, dump: Callable[..., dict[str, Any]]
) -> None:
    now = datetime(2026, 5, 28, 19, 0, tzinfo=UTC)
    broker = FakeBroker()
    log = [site.changes(0, 1, *site.upserts(site.entities()))]
    node, central = FakeNode(replica, broker, now), FakeCentral(broker, log, now)

    node.connect()
    for i in range(3):
        append_event(replica, "door.opened", {"door": "main", "n": i}, now)
    node.flush()
    for _ in range(4):
        central.pump()
        node.pump()

    assert replica.state().applied_rev == 1
    assert backlog(replica) == 0 and replica.state().acked_through == 3
    assert sorted(k[2] for k in central.events) == [1, 2, 3]
    assert central.cursors == [0, 1] and central.statuses == [State.ONLINE]
    assert node.rejected == [] and central.rejected == []
    retained = broker.retained[t(NODE, "dn/head")]
    assert isinstance(at_node(t(NODE, "dn/head"), retained, now=node.ts), Accepted)

    # Replay everything ever published, to both sides: nothing changes.
    before, stored = dump(replica), dict(central.events)
    for topic, payload in list(broker.log):
        broker.inject(topic, payload)
    for _ in range(3):
        node.pump()
        central.pump()
    assert dump(replica) == before and central.events == stored
    assert node.rejected == [] and central.rejected == []

    # Central moves on to rev 2; afterwards a replayed head of rev 1 is a rollback.
    old_head = retained
    log.append(site.changes(1, 2, site.delete("door", "door-a")))
    central.head()
    node.pump()
    central.pump()
    node.pump()
    assert replica.state().applied_rev == 2
    broker.inject(t(NODE, "dn/head"), old_head)
    node.pump()
    assert [r.reason for r in node.rejected] == [RejectReason.ROLLBACK]

    # A command runs once; its replay is dropped; a tampered or forged one never runs.
    central.command(Cmd.UNLOCK, Unlock("main", 5))
    node.pump()
    cmd_token = broker.log[-1][1]
    broker.inject(t(NODE, "dn/cmd"), cmd_token)
    broker.inject(t(NODE, "dn/cmd"), tampered(cmd_token))
    forged = Command(99, Cmd.UNLOCK, node.ts + 60, Unlock("main", 600))
    broker.inject(t(NODE, "dn/cmd"), up(forged, iat=node.ts))  # signed with the node's key
    node.pump()
    assert [c.seq for c in node.executed] == [1]
    assert [r.reason for r in node.rejected[1:]] == [
        RejectReason.REPLAYED,
        RejectReason.BAD_SIGNATURE,
        RejectReason.UNKNOWN_KEY,
    ]
    before = dump(replica)
    last_changes = [p for topic, p in broker.log if topic.endswith("/dn/chg")][-1]
    broker.inject(t(NODE, "dn/chg"), tampered(last_changes))
    node.pump()
    assert dump(replica) == before
