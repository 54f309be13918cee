"""The gateway's protocol engine with a fake node over no broker (sync/central/gateway.py).

gateway.py guarantees: every message is gated with only the sender's keys,
a drop changes no state and is logged (security) or quarantined; hello gets a
head and a catch-up, events an ack after the commit, cursor the next changes
or a snapshot, status is kept newest by iat; tick publishes due heads and
commands. The fake node applies what it gets to a real node replica, and
makes walk-ins with the replica's own API.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync.central import changelog as cl
from sync.central import leases, nodes
from sync.central.db import Store
from sync.central.feed import Signer
from sync.central.gateway import Central, Settings
from sync.central.link import Backoff
from sync.central.testing import FakeNode, acks, as_dict, plain_event, replica_records
from sync.protocol import (
    Changes,
    Clock,
    ClockSource,
    Cmd,
    Command,
    CommandGuard,
    Head,
    HeadGuard,
    Hello,
    Kind,
    OutboxRange,
    State,
    Want,
    sign,
)
from sync.protocol.testing import private_key, ring
from sync.replica import Booking, Replica, create_walkin, walkin_states

NOW = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)  # Monday 08:00 local
T = int(NOW.timestamp())
FAC, N1 = "fac1", "n1.hall"


@pytest.fixture
def store(store_url: str, site: Any) -> Iterator[Store]:
    s = Store.open(store_url)
    cl.mutate(s, FAC, site.central_ops(), NOW)
    nodes.register_node(s, N1, FAC, private_key(N1).public_key().public_bytes_raw(), "k1", NOW)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def central(store: Store) -> Central:
    return Central(
        store, Signer("central-1", private_key("central")), Settings(renew_every_s=10**9)
    )


@pytest.fixture
def node(tmp_path: Path) -> Iterator[FakeNode]:
    rep = Replica.open(tmp_path / "node.db")
    try:
        yield FakeNode(
            N1,
            private_key(N1),
            "k1",
            ring("central") | {"central-1": private_key("central").public_key()},
            rep,
        )
    finally:
        rep.close()


def kinds(outs: list[Any], node: FakeNode, now: int = T) -> list[Kind]:
    return [a.kind for a in node.take(outs, now)]


def gate(node: FakeNode, outs: list[Any]) -> list[Any]:
    """Gate without applying (the events of these tests are not in the node's outbox)."""
    return [node.gate(o, T) for o in outs]


def in_sync(node: FakeNode, store: Store) -> bool:
    assert node.replica is not None
    return replica_records(node.replica) == as_dict(cl.all_records(store, FAC))


def state(store: Store) -> dict[str, Any]:
    tables = ("node_state", "events", "event_streams", "changelog", "commands", "node_marks")
    return {t: store.execute(f"SELECT * FROM {t}").fetchall() for t in tables}


def test_hello_gets_head_and_snapshot_then_changes_after_a_mutation(
    central: Central, store: Store, node: FakeNode, site: Any
) -> None:
    h = node.hello(T)
    outs = central.handle(h.topic, h.payload, T)
    # what brings it up to date first, then the head: the head finds it current
    assert kinds(outs, node) == [Kind.SNAPSHOT, Kind.HEAD]
    head = node.gate(outs[1], T).message
    assert isinstance(head, Head) and (head.rev, head.oldest_rev, head.exp) == (1, 0, T + 7200)
    assert outs[1].retain and not outs[0].retain
    assert node.applied_rev == 1 and in_sync(node, store)
    # the node's cursor right after is answered with nothing: it is up to date
    c = node.cursor(T + 1)
    assert central.handle(c.topic, c.payload, T + 1) == []
    # a central booking elsewhere (another process): tick publishes the head
    leases.book(
        store,
        FAC,
        Booking.from_wire(site.booking("b1", ["gym"], NOW, NOW + timedelta(hours=1))),
        NOW,
    )
    heads = central.tick(T + 2)
    assert [(o.topic, o.retain) for o in heads] == [(f"hallvakt/v1/{N1}/dn/head", True)]
    assert central.tick(T + 3) == []  # claimed once
    guard = HeadGuard(node.applied_rev)
    h = node.gate(heads[0], T + 2).message
    assert isinstance(h, Head) and guard.admit(h, now=T + 2, clock_trusted=True) is None
    assert h.rev == 2 > node.applied_rev
    c = node.cursor(T + 3)
    outs = central.handle(c.topic, c.payload, T + 3)
    assert kinds(outs, node) == [Kind.CHANGES]
    assert node.applied_rev == 2 and in_sync(node, store)
    assert store.execute("SELECT applied_rev FROM node_state").fetchone() == (1,)
    c = node.cursor(T + 4)
    assert central.handle(c.topic, c.payload, T + 4) == []
    assert store.execute("SELECT applied_rev FROM node_state").fetchone() == (2,)


def test_a_node_far_behind_gets_bounded_batches_and_catches_up_by_cursor(
    central: Central, store: Store, node: FakeNode, site: Any
) -> None:
    h = node.hello(T)
    node.take(central.handle(h.topic, h.payload, T), T)
    for i in range(60):
        b = site.booking(
            f"x{i:02d}", ["gym"], NOW + timedelta(hours=i), NOW + timedelta(hours=i, minutes=50)
        )
        cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], NOW)
    small = Central(
        store, central.signer, Settings(budget=1024, max_batches=3, renew_every_s=10**9)
    )
    rounds = 0
    while node.applied_rev < 61:
        c = node.cursor(T + rounds)
        outs = small.handle(c.topic, c.payload, T + rounds)
        assert 1 <= len(outs) <= 3 and kinds(outs, node, T + rounds) == [Kind.CHANGES] * len(outs)
        rounds += 1
    assert rounds >= 5 and in_sync(node, store)


def test_pruned_log_and_want_snapshot_give_snapshots(
    central: Central, store: Store, node: FakeNode, site: Any
) -> None:
    h = node.hello(T)
    node.take(central.handle(h.topic, h.payload, T), T)
    for i in range(5):
        b = site.booking(
            f"x{i}", ["gym"], NOW + timedelta(hours=i), NOW + timedelta(hours=i, minutes=50)
        )
        cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], NOW + timedelta(days=i))
    cl.prune_log(store, NOW + timedelta(days=40), keep_days=30, keep_revs=2)  # oldest_rev 4
    c = node.cursor(T + 1)
    assert kinds(central.handle(c.topic, c.payload, T + 1), node) == [Kind.SNAPSHOT]
    assert node.applied_rev == 6 and in_sync(node, store)
    c = node.cursor(T + 2, want=Want.SNAPSHOT)  # a node that distrusts its replica asks
    assert kinds(central.handle(c.topic, c.payload, T + 2), node) == [Kind.SNAPSHOT]
    # an implicit snapshot is not sent again within snapshot_resend_s of the last
    c0 = node.cursor(T + 3, applied=0)
    assert central.handle(c0.topic, c0.payload, T + 3) == []
    assert kinds(central.handle(c0.topic, c0.payload, T + 32), node) == [Kind.SNAPSHOT]
    assert central.handle(c0.topic, c0.payload, T + 33) == []


def test_events_are_acked_after_storing_and_duplicates_get_the_same_ack(
    central: Central, store: Store, node: FakeNode
) -> None:
    e = [plain_event(s) for s in range(1, 6)]
    first = node.events(T, e[:3])
    got = acks(gate(node, central.handle(first.topic, first.payload, T)))
    assert [(a.epoch, a.through) for a in got] == [(node.epoch, 3)]
    again = acks(gate(node, central.handle(first.topic, first.payload, T + 1)))
    assert [a.through for a in again] == [3]
    gap = node.events(T, e[4:5])
    assert [a.through for a in acks(gate(node, central.handle(gap.topic, gap.payload, T)))] == [3]
    fill = node.events(T, e[3:4])
    assert [a.through for a in acks(gate(node, central.handle(fill.topic, fill.payload, T)))] == [5]
    assert store.execute("SELECT count(*) FROM events").fetchone()[0] == 5


def test_a_walkin_made_on_the_node_is_accepted_and_comes_back_as_centrals(
    central: Central, store: Store, node: FakeNode, site: Any
) -> None:
    leases.set_walkin_windows(
        store, FAC, "A", N1, leases.parse_windows([{"days": [1], "from": "09:00", "to": "12:00"}])
    )
    leases.renew_leases(store, NOW)
    h = node.hello(T)
    node.take(central.handle(h.topic, h.payload, T), T)
    assert node.replica is not None and in_sync(node, store)
    w = Booking.from_wire(
        site.booking(
            "walk1",
            ["A"],
            "2026-05-04T07:00:00Z",
            "2026-05-04T08:00:00Z",
            origin="walkin",
            lease="wl:A:20260504T0700Z",
            node=N1,
        )
    )
    create_walkin(node.replica, N1, w, NOW)
    up = node.outbox(T + 1)
    assert up is not None
    outs = central.handle(up.topic, up.payload, T + 1)
    assert [o.topic.rsplit("/", 1)[1] for o in outs] == ["ack", "head"]
    node.take(outs, T + 1)
    assert walkin_states(node.replica) == {"walk1": ("accepted", "")}
    assert node.outbox(T + 2) is None  # acknowledged: the outbox is empty
    c = node.cursor(T + 2)
    assert kinds(central.handle(c.topic, c.payload, T + 2), node) == [Kind.CHANGES]
    assert in_sync(node, store)
    got = cl.get(store, FAC, Booking, "walk1")
    assert got is not None and got.origin == "walkin" and got.node == N1


def test_dropped_messages_change_nothing_and_are_logged(
    central: Central, store: Store, node: FakeNode
) -> None:
    before = state(store)
    forged = FakeNode(N1, private_key("mallory"), "k1", node.central_keys)  # unknown key, same kid
    unknown = FakeNode(N1, private_key("mallory"), "mallory", node.central_keys)
    other = FakeNode("n2.hall", private_key(N1), "k1", node.central_keys)  # unregistered node
    e = [plain_event(1)]
    for out in (forged.events(T, e), unknown.hello(T), other.events(T, e)):
        assert central.handle(out.topic, out.payload, T) == []
    # n1 signs a message whose node claim is another node, on its own topic
    claims = {
        "v": 1,
        "kind": "cursor",
        "node": "n2.hall",
        "iat": T,
        "applied_rev": 0,
        "want": "changes",
    }
    token = sign(claims, "k1", private_key(N1))
    assert central.handle(f"hallvakt/v1/{N1}/up/cur", token, T) == []
    # and a hello on a down topic, and garbage
    h = node.hello(T)
    assert central.handle(f"hallvakt/v1/{N1}/dn/head", h.payload, T) == []
    assert central.handle(f"hallvakt/v1/{N1}/up/evt", b"not a token", T) == []
    assert state(store) == before
    log = store.execute("SELECT node, reason FROM security_log ORDER BY id").fetchall()
    assert log == [
        (N1, "bad_signature"),
        (N1, "unknown_key"),
        ("n2.hall", "unknown_key"),
        (N1, "wrong_node"),
        (N1, "wrong_topic"),
    ]
    q = store.execute("SELECT reason, payload FROM quarantine").fetchall()
    assert q == [("malformed", b"not a token")]


def test_a_revoked_node_is_refused_and_logged_and_a_new_key_replaces_the_old(
    central: Central, store: Store, node: FakeNode
) -> None:
    e = [plain_event(s) for s in range(1, 4)]
    first = node.events(T, e[:1])
    assert [a.through for a in acks(gate(node, central.handle(first.topic, first.payload, T)))] == [
        1
    ]
    nodes.queue_command(store, N1, Cmd.LOCKDOWN, {}, NOW)
    assert nodes.revoke_node(store, N1, NOW) == 1
    assert nodes.is_revoked(store, N1)
    before = state(store)
    refused = node.events(T, e[1:2])
    assert central.handle(refused.topic, refused.payload, T) == []
    assert state(store) == {
        **before,
        "commands": store.execute("SELECT * FROM commands").fetchall(),
    }
    assert [r[0] for r in store.execute("SELECT state FROM commands").fetchall()] == ["cancelled"]
    log = store.execute("SELECT node, reason, detail FROM security_log ORDER BY id").fetchall()
    assert log[0][:2] == (N1, "revoked")
    assert (
        log[-1][0] == N1 and log[-1][1] == "unknown_key" and log[-1][2].startswith("node revoked")
    )
    with pytest.raises(nodes.RegistryError, match="not registered"):
        nodes.revoke_node(store, "n9.hall", NOW)
    # Provisioned again: the new key replaces the old one, which stays refused.
    new = FakeNode(N1, private_key("n1-again"), "k2", node.central_keys, node.replica)
    raw = private_key("n1-again").public_key().public_bytes_raw()
    assert nodes.replace_key(store, N1, raw, "k2", NOW) == "k2"
    assert not nodes.is_revoked(store, N1)
    old = node.events(T, e[1:2])
    assert central.handle(old.topic, old.payload, T) == []
    ok = new.events(T, e[1:2])
    assert [a.through for a in acks(gate(new, central.handle(ok.topic, ok.payload, T)))] == [2]


def test_status_keeps_the_newest_by_iat(central: Central, store: Store, node: FakeNode) -> None:
    for iat, st in [(T + 10, State.ONLINE), (T + 5, State.OFFLINE), (T + 10, State.OFFLINE)]:
        out = node.status(iat, st)
        assert out.retain
        central.handle(out.topic, out.payload, T + 20)
    row = store.execute("SELECT status_state, status_iat FROM node_state").fetchone()
    assert row == ("offline", T + 10)  # the tie went to the later one; the older was ignored


def test_heads_are_resigned_before_they_go_stale(central: Central, store: Store) -> None:
    assert len(central.tick(T)) == 1
    assert central.tick(T + 1799) == []
    again = central.tick(T + 1800)
    assert len(again) == 1


def test_commands_are_sent_once_with_rising_seq_and_a_short_life(
    central: Central, store: Store, node: FakeNode
) -> None:
    central.tick(T)  # heads out of the way
    nodes.queue_command(store, N1, Cmd.UNLOCK, {"door": "main", "seconds": 8}, NOW)
    nodes.queue_command(store, N1, Cmd.MESSAGE, {"text": "Hallen stänger 21:00"}, NOW)
    outs = central.tick(T + 60)
    cmds = [a for a in node.take(outs, T + 60) if isinstance(a.message, Command)]
    assert [(a.message.seq, a.message.cmd) for a in cmds] == [(1, Cmd.UNLOCK), (2, Cmd.MESSAGE)]
    guard = CommandGuard()
    for a in cmds:
        assert isinstance(a.message, Command)
        assert a.message.exp == T + 300 and a.iat == T + 60
        assert guard.admit(a.message, iat=a.iat, now=T + 60, clock_trusted=True) is None
    assert central.tick(T + 61) == []
    central.published(outs)  # the broker's PUBACKs (sync/central/link.py)
    nodes.queue_command(store, N1, Cmd.RESYNC, {}, NOW)
    assert central.tick(T + 300) == []  # too old to send: expired
    assert store.execute("SELECT seq, state FROM commands ORDER BY seq").fetchall() == [
        (1, "sent"),
        (2, "sent"),
        (3, "expired"),
    ]
    with pytest.raises(nodes.RegistryError, match="seconds"):
        nodes.queue_command(store, N1, Cmd.UNLOCK, {"door": "main", "seconds": 0}, NOW)
    with pytest.raises(nodes.RegistryError, match="not registered"):
        nodes.queue_command(store, "n9", Cmd.LOCKDOWN, {}, NOW)


def test_a_command_without_the_brokers_ack_is_handed_out_again_until_it_expires(
    central: Central, store: Store, node: FakeNode
) -> None:
    central.tick(T)  # heads out of the way
    nodes.queue_command(store, N1, Cmd.UNLOCK, {"door": "main", "seconds": 8}, NOW)
    nodes.queue_command(store, N1, Cmd.LOCKDOWN, {}, NOW)
    first = central.tick(T + 1)  # this gateway dies before the broker's PUBACK of seq 1
    assert len(first) == 2
    central.published(first[1:])  # seq 2's PUBACK came
    other = Central(store, central.signer, Settings(renew_every_s=10**9))  # a second gateway
    assert other.tick(T + 10) == []  # seq 1 is still in another gateway's hands
    again = other.tick(T + 11)  # ... for 10 s: then it is handed out again
    cmds = [a.message for a in node.take(again, T + 11) if isinstance(a.message, Command)]
    assert [(c.seq, c.cmd) for c in cmds] == [(1, Cmd.UNLOCK)]
    assert cmds[0].exp == T + 300  # its lifetime runs from when it was queued
    central.published(first[:1])  # a late PUBACK of the first copy is harmless
    other.published(again)
    assert other.tick(T + 30) == [] and central.tick(T + 40) == []
    assert store.execute("SELECT seq, state FROM commands ORDER BY seq").fetchall() == [
        (1, "sent"),
        (2, "sent"),
    ]
    # one never acknowledged is handed out every 10 s within its lifetime, then expires
    nodes.queue_command(store, N1, Cmd.RESYNC, {}, NOW + timedelta(seconds=100))
    taken = [len(other.tick(t)) for t in range(T + 100, T + 420, 5)]
    assert sum(taken) == 30  # at T+100, 110, ..., 390: while now < created + 300
    assert store.execute("SELECT state FROM commands WHERE seq = 3").scalar() == "expired"


def test_a_node_ahead_of_central_gets_nothing(central: Central, node: FakeNode) -> None:
    c = node.cursor(T, applied=99)
    assert central.handle(c.topic, c.payload, T) == []


def test_tick_renews_leases_and_prunes_at_their_intervals(store: Store, node: FakeNode) -> None:
    day = 86_400
    c = Central(
        store,
        Signer("central-1", private_key("central")),
        Settings(
            renew_every_s=day, prune_every_s=day, changelog_keep_days=1, changelog_keep_revs=0
        ),
    )
    one_day = leases.parse_windows([{"days": [1], "from": "09:00", "to": "12:00"}])
    leases.set_walkin_windows(store, FAC, "A", N1, one_day)
    heads = node.take(c.tick(T), T)
    assert [
        (h.message.rev, h.message.oldest_rev) for h in heads if isinstance(h.message, Head)
    ] == [(2, 0)]
    assert len(cl.records(store, FAC, "lease")) == 2  # this Monday's and next Monday's
    leases.set_walkin_windows(store, FAC, "A", N1, [])
    assert c.tick(T + 60) == []  # not yet time to renew again
    later = T + 2 * day
    heads = node.take(c.tick(later), later)
    # renewed as rev 3 (next Monday's lease removed, Monday's ended over a day ago)
    # and the log pruned of what is older than a day: revisions 1 and 2
    got = [(h.message.rev, h.message.oldest_rev) for h in heads if isinstance(h.message, Head)]
    assert got == [(3, 2)]
    assert cl.revs(store, FAC) == cl.Revs(3, 2) and cl.records(store, FAC, "lease") == []
    # a removed version is forgotten once it ended longer ago than the log is kept:
    # Monday's already; next Monday's (still held until the node applies rev 3) later
    assert store.execute("SELECT count(*) FROM lease_versions").fetchone() == (1,)
    c.tick(T + 20 * day)
    assert store.execute("SELECT count(*) FROM lease_versions").fetchone() == (0,)


def test_a_new_epoch_forgets_the_old_databases_marks(store: Store) -> None:
    def hello(epoch: int, iat: int) -> None:
        h = Hello(epoch, "b", 0, OutboxRange(1, 5), "t", Clock(True, ClockSource.NTP))
        nodes.record_hello(store, N1, h, iat, NOW)

    hello(1, 10)
    hello(1, 11)
    assert store.execute("SELECT count(*) FROM node_marks").fetchone() == (2,)
    hello(2, 12)
    assert store.execute("SELECT epoch FROM node_marks").fetchall() == [("2",)]
    hello(1, 9)  # a late old hello: marks kept, state not moved back
    assert store.execute("SELECT epoch FROM node_state").fetchone() == ("2",)


def test_batches_in_flight_are_not_sent_again_on_each_cursor(
    store: Store, central: Central, node: FakeNode, site: Any
) -> None:
    h = node.hello(T)
    node.take(central.handle(h.topic, h.payload, T), T)
    for i in range(20):
        b = site.booking(
            f"x{i:02d}", ["gym"], NOW + timedelta(hours=i), NOW + timedelta(hours=i, minutes=50)
        )
        cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], NOW)
    c = Central(
        store,
        central.signer,
        Settings(budget=256, max_batches=3, in_flight_s=15, renew_every_s=10**9),
    )

    def batches(outs: list[Any]) -> list[tuple[int, int]]:
        got = [node.gate(o, T).message for o in outs]
        return [(m.batch.base, m.batch.rev) for m in got if isinstance(m, Changes)]

    cur = node.cursor(T)
    first = c.handle(cur.topic, cur.payload, T)
    assert batches(first) == [(1, 2), (2, 3), (3, 4)]
    node.take(first[:1], T)  # the node applied one and reports it
    after_one = node.cursor(T + 1)
    assert batches(c.handle(after_one.topic, after_one.payload, T + 1)) == [(4, 5)]
    assert c.handle(after_one.topic, after_one.payload, T + 2) == []  # three in flight
    # nothing came of them (lost): after in_flight_s they are sent again
    assert batches(c.handle(after_one.topic, after_one.payload, T + 20)) == [(2, 3), (3, 4), (4, 5)]


def test_an_online_node_gets_the_changes_with_the_head(
    central: Central, store: Store, node: FakeNode, site: Any
) -> None:
    h = node.hello(T)
    node.take(central.handle(h.topic, h.payload, T), T)
    for out in (node.status(T), node.cursor(T)):  # online, and at rev 1
        assert central.handle(out.topic, out.payload, T) == []
    central.tick(T)
    gym = site.booking("b1", ["gym"], NOW, NOW + timedelta(hours=1))
    leases.book(store, FAC, Booking.from_wire(gym), NOW)
    assert kinds(central.tick(T + 1), node) == [Kind.CHANGES, Kind.HEAD]
    assert node.applied_rev == 2 and in_sync(node, store)
    # its cursor then finds the batch in flight: nothing is sent twice
    c = node.cursor(T + 2)
    assert central.handle(c.topic, c.payload, T + 2) == []
    # an offline node gets only the head (its session would pile up batches)
    off = node.status(T + 3, State.OFFLINE)
    central.handle(off.topic, off.payload, T + 3)
    leases.book(store, FAC, Booking.from_wire({**gym, "id": "b2", "resources": ["A"]}), NOW)
    assert kinds(central.tick(T + 4), node) == [Kind.HEAD]


def test_reconnect_backoff_is_exponential_with_full_jitter() -> None:
    b = Backoff(1.0, 300.0, random.Random(7))
    caps = [min(300.0, 2.0**n) for n in range(12)]
    waits = [b.next() for _ in caps]
    assert all(0.01 <= w <= cap for w, cap in zip(waits, caps, strict=True))
    assert len(set(waits)) == len(waits)  # jittered
    assert max(b.next() for _ in range(200)) > 150  # reaches the 5-minute cap's range
    b.reset()
    assert b.next() <= 1.0


def test_in_flight_is_a_chain_through_the_nodes_applied_rev() -> None:
    from sync.central.delivery import Sent, in_flight

    chain = Sent(1, ((2, 100), (3, 100), (4, 110)), None, None)
    assert in_flight(chain, 1, 105, 15) == [(2, 100), (3, 100), (4, 110)]
    assert in_flight(chain, 2, 105, 15) == [(3, 100), (4, 110)]  # one applied
    assert in_flight(chain, 3, 116, 15) == [(4, 110)]  # 3 applied; 4 sent 6 s ago
    assert in_flight(chain, 2, 115, 15) == []  # batch 3 lost: it and all after it
    assert in_flight(chain, 5, 105, 15) == []  # a snapshot moved the node off the chain
    assert in_flight(chain, 0, 105, 15) == []


def test_two_gateways_on_one_store_share_what_was_sent(
    store: Store, central: Central, node: FakeNode, site: Any
) -> None:
    """What a node was sent is in the store: the second gateway neither sends a
    batch in flight again nor repeats a snapshot the first one just sent."""
    with Store.open(store.url) as other_store:
        other = Central(other_store, central.signer, Settings(budget=256, renew_every_s=10**9))
        first = Central(store, central.signer, Settings(budget=256, renew_every_s=10**9))
        h = node.hello(T)
        node.take(first.handle(h.topic, h.payload, T), T)
        c0 = node.cursor(T, applied=0)  # an empty replica's cursor, right after its hello
        assert other.handle(c0.topic, c0.payload, T + 1) == []  # the snapshot just went
        for i in range(6):
            b = site.booking(
                f"y{i}", ["gym"], NOW + timedelta(hours=i), NOW + timedelta(hours=i, minutes=50)
            )
            cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], NOW)
        cur = node.cursor(T + 2)
        sent = first.handle(cur.topic, cur.payload, T + 2)
        assert sent and all(node.gate(o, T).kind is Kind.CHANGES for o in sent)
        assert other.handle(cur.topic, cur.payload, T + 3) == []  # in flight, by the other
        node.take(sent, T + 3)
        assert in_sync(node, store)


def test_concurrent_cursors_on_two_gateways_send_each_batch_once(
    store: Store, central: Central, node: FakeNode, site: Any
) -> None:
    """Two gateways answer the same cursor at the same moment (as two consumers of
    the shared subscription would a duplicate): the node's lock lets one decide."""
    h = node.hello(T)
    node.take(central.handle(h.topic, h.payload, T), T)
    for i in range(6):
        b = site.booking(
            f"z{i}", ["gym"], NOW + timedelta(hours=i), NOW + timedelta(hours=i, minutes=50)
        )
        cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], NOW)
    cur = node.cursor(T + 1)
    results: list[list[Any]] = []
    barrier = threading.Barrier(2)

    def answer() -> None:
        with Store.open(store.url) as s:
            gw = Central(s, central.signer, Settings(budget=256, renew_every_s=10**9))
            barrier.wait(5)
            results.append(gw.handle(cur.topic, cur.payload, T + 1))

    threads = [threading.Thread(target=answer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(len(r) for r in results)[0] == 0 and sorted(len(r) for r in results)[1] > 0
