"""The central gateway against a real Mosquitto (sync/central/link.py over hallvakt/demo/broker/).

A fake node written here speaks the contract with ``sync.protocol`` (``pack``
to sign, ``check`` to gate, via sync/central/testing.py's ``FakeNode``) over a
plain paho client (tests/system/conftest.py ``mqtt``). Each "nothing else
happened" is shown by a later message being answered first, never by a sleep:
one gateway handles one node's messages in the order they were published.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from firmware_config.values import parse_central_key
from hallvakt.cli import main
from sync.central import changelog as cl
from sync.central import nodes
from sync.central.admin import run_gateway
from sync.central.config import load_central_config
from sync.central.db import Store
from sync.central.feed import Signer
from sync.central.gateway import Central, Settings
from sync.central.link import STATUS_REFRESH_S, BrokerSettings, Link
from sync.central.nodes import b64url
from sync.central.testing import FakeNode, acks, as_dict, plain_event, replica_records
from sync.protocol import (
    Accepted,
    Ack,
    Cmd,
    Command,
    Head,
    Kind,
    Outgoing,
    State,
    Want,
    node_subscriptions,
    sign,
)
from sync.protocol.testing import private_key
from sync.replica import Replica
from tests.support.broker import PrivateBroker

FAC, N1 = "fac1", "n1.hall"
CENTRAL_KEYS = {"central-1": private_key("central").public_key()}
WAIT = 5.0

Mqtt = Callable[..., Any]


class Crash(BaseException):
    """A gateway that dies in the middle of handling a message (not an Exception)."""


class DiesAfterTakingCommands(Central):
    """Dies right after taking the queued commands, before publishing them."""

    def commands(self, now: int) -> list[Outgoing]:
        if super().commands(now):
            raise Crash
        return []


class CrashingCentral(Central):
    """Dies after storing an ``events`` message, inside the batch's transaction."""

    def _apply(self, item: Any, now: int) -> Any:
        done = super()._apply(item, now)
        if item.topic.endswith("/up/evt"):
            raise Crash
        return done


@dataclass
class Gateway:
    link: Link
    stop: threading.Event
    thread: threading.Thread
    store: Store

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        self.store.close()


@pytest.fixture
def db(store_url: str, site: Any) -> str:
    """The store (each engine) with the test site and node n1 registered."""
    with Store.open(store_url) as s:
        cl.mutate(s, FAC, site.central_ops(), datetime.now(UTC))
        nodes.register_node(
            s, N1, FAC, private_key(N1).public_key().public_bytes_raw(), "k1", datetime.now(UTC)
        )
    return store_url


@pytest.fixture
def start_gateway(db: str) -> Iterator[Callable[..., Gateway]]:
    made: list[Gateway] = []

    def start(
        broker: BrokerSettings,
        cls: type[Central] = Central,
        settings: Settings | None = None,
        status_refresh_s: float = STATUS_REFRESH_S,
    ) -> Gateway:
        store = Store.open(db)
        central = cls(
            store,
            Signer("central-1", private_key("central")),
            settings or Settings(renew_every_s=10**9),
        )
        link = Link(central, broker, tick_every_s=0.1, status_refresh_s=status_refresh_s)
        stop = threading.Event()

        def run() -> None:
            with contextlib.suppress(Crash):
                link.run(stop)

        t = threading.Thread(target=run, name="gateway", daemon=True)
        gw = Gateway(link, stop, t, store)
        made.append(gw)
        t.start()
        return gw

    try:
        yield start
    finally:
        for gw in made:
            if gw.thread.is_alive() or not gw.stop.is_set():
                gw.close()


def unix(broker: PrivateBroker, client_id: str = "central-1") -> BrokerSettings:
    assert broker.unix_socket is not None
    return BrokerSettings(
        "unix",
        path=str(broker.unix_socket),
        client_id=client_id,
        reconnect_min_s=0.05,
        reconnect_max_s=0.5,
    )


def mqtts(broker: PrivateBroker, identity: Callable[..., Any], gateway: str) -> BrokerSettings:
    """Settings for the production TLS listener as ``gateway``: its client id
    and its certificate's CN (the broker names the session after the CN)."""
    tls = identity(gateway)
    assert broker.tls_address is not None and tls.cert is not None
    return BrokerSettings(
        "mqtts",
        host="localhost",
        port=broker.tls_address[1],
        ca=tls.ca,
        cert=tls.cert.cert,
        key=tls.cert.key,
        client_id=gateway,
        reconnect_min_s=0.05,
        reconnect_max_s=0.5,
    )


def ready(gw: Gateway) -> Gateway:
    assert gw.link.subscribed.wait(WAIT), "the gateway did not subscribe"
    return gw


class NodePeer:
    """The fake node on the wire: a paho peer plus ``FakeNode`` for signing and gating."""

    def __init__(self, peer: Any, fake: FakeNode) -> None:
        self.peer, self.fake = peer, fake
        assert peer.subscribe(node_subscriptions(fake.node)[0]) == [1]

    def send(self, out: Outgoing) -> None:
        assert self.peer.publish(out.topic, out.payload, retain=out.retain) in (0, 0x10)

    def receive(self, kind: Kind, fake: FakeNode | None = None, wait: float = WAIT) -> Accepted:
        """The next message of ``kind``; others are gated (and applied to the
        replica of ``fake``, by default this node's own) on the way."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            m = self.peer.expect_message(timeout=max(0.01, deadline - time.monotonic()))
            out = Outgoing(m.topic, m.payload, m.retain)
            (acc,) = (fake or self.fake).take([out], int(time.time()))
            if acc.kind is kind:
                return acc
        raise AssertionError(f"no {kind} within {wait} s")


@pytest.fixture
def node(tmp_path: Path, mqtt: Mqtt, broker: PrivateBroker) -> Iterator[NodePeer]:
    rep = Replica.open(tmp_path / "node.db")
    try:
        yield NodePeer(
            mqtt(N1, broker.unix_socket), FakeNode(N1, private_key(N1), "k1", CENTRAL_KEYS, rep)
        )
    finally:
        rep.close()


def now() -> int:
    return int(time.time())


def test_hello_gets_a_retained_head_and_a_snapshot(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], node: NodePeer, db: str
) -> None:
    ready(start_gateway(unix(broker)))
    node.send(node.fake.hello(now()))
    head = node.receive(Kind.HEAD)
    assert isinstance(head.message, Head) and head.message.rev == 1
    node.receive(Kind.SNAPSHOT)
    assert node.fake.applied_rev == 1
    with Store.open(db) as s:
        assert node.fake.replica is not None
        assert replica_records(node.fake.replica) == as_dict(cl.all_records(s, FAC))
        assert s.execute("SELECT epoch, hello_ts IS NOT NULL FROM node_state").fetchone() == (
            str(node.fake.epoch),
            1,
        )


def test_events_get_an_ack_and_duplicates_the_same_through(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], node: NodePeer, db: str
) -> None:
    ready(start_gateway(unix(broker)))
    fake = FakeNode(N1, private_key(N1), "k1", CENTRAL_KEYS)  # events not from a replica outbox
    batch = [plain_event(s) for s in range(1, 4)]
    for _ in range(2):
        node.send(fake.events(now(), batch))
        (got,) = acks([node.receive(Kind.ACK, fake)])
        assert (got.epoch, got.through) == (fake.epoch, 3)
    with Store.open(db) as s:
        assert s.execute("SELECT count(*) FROM events").fetchone() == (3,)


def test_forged_and_misaddressed_messages_are_logged_and_change_nothing(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], node: NodePeer, db: str
) -> None:
    ready(start_gateway(unix(broker)))
    mallory = FakeNode(N1, private_key("mallory"), "mallory", CENTRAL_KEYS)
    node.send(mallory.events(now(), [plain_event(1)]))
    node.send(mallory.hello(now()))
    # the real node's key, but a node claim naming another node
    claims = {
        "v": 1,
        "kind": "events",
        "node": "n2.hall",
        "iat": now(),
        "epoch": 1,
        "events": [plain_event(1).to_wire()],
    }
    assert node.peer.publish(f"hallvakt/v1/{N1}/up/evt", sign(claims, "k1", private_key(N1))) == 0
    # the marker: a genuine request for a snapshot is answered (only it makes one),
    # so everything published before it was handled
    node.send(node.fake.cursor(now(), want=Want.SNAPSHOT))
    node.receive(Kind.SNAPSHOT)
    with Store.open(db) as s:
        log = s.execute("SELECT node, reason FROM security_log ORDER BY id").fetchall()
        assert log == [(N1, "unknown_key"), (N1, "unknown_key"), (N1, "wrong_node")]
        assert s.execute("SELECT count(*) FROM events").fetchone() == (0,)
        assert s.execute("SELECT count(*) FROM node_marks").fetchone() == (0,)


def test_a_message_whose_handling_died_is_delivered_again_to_the_next_gateway(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], node: NodePeer, db: str
) -> None:
    first = ready(start_gateway(unix(broker), CrashingCentral))
    fake = FakeNode(N1, private_key(N1), "k1", CENTRAL_KEYS)
    node.send(fake.events(now(), [plain_event(1), plain_event(2)]))
    first.thread.join(WAIT)  # it died in handle(): no commit, no ack
    assert not first.thread.is_alive()
    first.close()
    with Store.open(db) as s:
        assert s.execute("SELECT count(*) FROM events").fetchone() == (0,)
    # same client id, same session (clean_start false, session expiry): the broker
    # delivers the unacknowledged message again
    ready(start_gateway(unix(broker)))
    (got,) = acks([node.receive(Kind.ACK, fake)])
    assert isinstance(got, Ack) and got.through == 2
    with Store.open(db) as s:
        assert s.execute("SELECT count(*) FROM events").fetchone() == (2,)


class StoreDown(Central):
    """Its store takes no write while ``down`` is set (PostgreSQL unreachable, a
    SQLite file locked or on a full disk): every write raises the engine's own
    connection-level error, as the store would."""

    down = threading.Event()

    def __init__(self, store: Store, *args: Any) -> None:
        super().__init__(store, *args)
        write = store.write

        def failing() -> Any:
            if StoreDown.down.is_set():
                if store.engine == "sqlite":
                    raise sqlite3.OperationalError("database or disk is full")
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return write()

        store.write = failing  # type: ignore[method-assign]


def test_a_message_the_store_took_nothing_of_is_not_acknowledged_and_comes_again(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], node: NodePeer, db: str
) -> None:
    """Not even its quarantine could be written: no PUBACK, so the broker keeps
    it; the gateway reconnects and gets it again until the store takes it. The
    node published it once."""
    StoreDown.down.set()
    try:
        gw = ready(start_gateway(unix(broker), StoreDown))
        fake = FakeNode(N1, private_key(N1), "k1", CENTRAL_KEYS)
        node.send(fake.events(now(), [plain_event(1), plain_event(2)]))
        deadline = time.monotonic() + WAIT
        while gw.link.central.stats["not_recorded"] < 2:  # refused, delivered again, refused
            assert time.monotonic() < deadline, "the message was not delivered again"
            time.sleep(0.01)
    finally:
        StoreDown.down.clear()
    (got,) = acks([node.receive(Kind.ACK, fake)])
    assert got.through == 2
    assert gw.link.connects >= 2  # it reconnected for the broker to deliver it again
    with Store.open(db) as s:
        assert s.execute("SELECT count(*) FROM events").fetchone() == (2,)
        assert s.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    gw.close()
    # and it was acknowledged once stored: a new start is handed nothing again
    again = ready(start_gateway(unix(broker)))
    node.send(node.fake.cursor(now(), want=Want.SNAPSHOT))  # the marker: answered last
    node.receive(Kind.SNAPSHOT)
    assert again.link.central.stats["events"] == 0


class StoreGone(Central):
    """Its store answers nothing while ``down`` is set, reads included (the
    server stopped): the batch's key lookup fails first, every time the
    broker delivers the batch again, and so does every tick."""

    down = threading.Event()

    def __init__(self, store: Store, *args: Any) -> None:
        super().__init__(store, *args)
        write, execute = store.write, store.execute

        def fail() -> None:
            if store.engine == "sqlite":
                raise sqlite3.OperationalError("unable to open database file")
            raise psycopg.OperationalError("connection to server failed: Connection refused")

        def failing_write() -> Any:
            if StoreGone.down.is_set():
                fail()
            return write()

        def failing_execute(*a: Any, **kw: Any) -> Any:
            if StoreGone.down.is_set():
                fail()
            return execute(*a, **kw)

        store.write = failing_write  # type: ignore[method-assign]
        store.execute = failing_execute  # type: ignore[method-assign]


def test_a_store_outage_is_logged_once_with_its_cause_not_on_every_redelivery(
    broker: PrivateBroker,
    start_gateway: Callable[..., Gateway],
    node: NodePeer,
    db: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The batch's key lookup fails on every redelivery and the tick every 0.1 s:
    one error with the traceback, no other, then the end of the outage, and
    the message is stored and acknowledged once the store is back."""
    caplog.set_level("INFO", logger="hallvakt.central")
    StoreGone.down.set()
    try:
        gw = ready(start_gateway(unix(broker), StoreGone))
        fake = FakeNode(N1, private_key(N1), "k1", CENTRAL_KEYS)
        node.send(fake.events(now(), [plain_event(1), plain_event(2)]))
        deadline = time.monotonic() + WAIT * 2
        while gw.link.central.stats["not_recorded"] < 3:  # refused, delivered again, twice
            assert time.monotonic() < deadline, "the message was not delivered again"
            time.sleep(0.01)
        assert gw.link.central.outage.failures >= 3  # each one counted
    finally:
        StoreGone.down.clear()
    (got,) = acks([node.receive(Kind.ACK, fake)])
    assert got.through == 2
    gw.close()
    ours = [r for r in caplog.records if r.name.startswith("hallvakt.central")]
    with_trace = [r for r in ours if r.exc_info]
    assert len(with_trace) == 1, [r.getMessage() for r in with_trace]
    first = with_trace[0]
    assert first.levelname == "ERROR" and "the store is unreachable" in first.getMessage()
    assert "broker delivers it again" in first.getMessage()
    errors = [r.getMessage() for r in ours if r.levelname == "ERROR"]
    assert errors == [first.getMessage()], errors  # no error per redelivery or per tick
    back = [r.getMessage() for r in ours if "reachable again" in r.getMessage()]
    assert len(back) == 1 and "failures meanwhile" in back[0]
    with Store.open(db) as s:
        assert s.execute("SELECT count(*) FROM events").fetchone() == (2,)


def test_a_backlog_is_stored_many_messages_per_transaction_and_each_acknowledged(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], node: NodePeer, db: str
) -> None:
    ready(start_gateway(unix(broker))).close()  # a session with the subscriptions, then gone
    fake = FakeNode(N1, private_key(N1), "k1", CENTRAL_KEYS)
    for s in range(1, 201, 5):  # 40 messages wait in its session
        node.send(fake.events(now(), [plain_event(q) for q in range(s, s + 5)]))
    gw = ready(start_gateway(unix(broker)))
    throughs = [a.through for a in acks([node.receive(Kind.ACK, fake) for _ in range(40)])]
    assert throughs == list(range(5, 201, 5))  # in order, each answered after its commit
    stats = gw.link.central.stats
    assert stats["batched"] == 40 and stats["batches"] < 40 and stats["batch_max"] > 1
    gw.close()
    with Store.open(db) as s:
        assert s.execute("SELECT count(*), count(DISTINCT seq) FROM events").fetchone() == (
            200,
            200,
        )
    # every message was acknowledged to the broker: a new session start gets nothing again
    again = ready(start_gateway(unix(broker)))
    node.send(node.fake.cursor(now(), want=Want.SNAPSHOT))  # the marker: answered last
    node.receive(Kind.SNAPSHOT)
    assert again.link.central.stats["events"] == 0


def test_a_command_taken_by_a_gateway_that_died_reaches_the_node_through_the_next(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], node: NodePeer, db: str
) -> None:
    with Store.open(db) as s:
        nodes.queue_command(s, N1, Cmd.UNLOCK, {"door": "main", "seconds": 5}, datetime.now(UTC))
    first = start_gateway(unix(broker), DiesAfterTakingCommands)
    first.thread.join(WAIT)  # it took the command and died before publishing it
    assert not first.thread.is_alive()
    first.close()
    with Store.open(db) as s:
        assert s.execute("SELECT seq, state FROM commands").fetchall() == [(1, "sending")]
    fast = Settings(renew_every_s=10**9, command_resend_s=1)
    ready(start_gateway(unix(broker, "central-2"), settings=fast))
    got = node.receive(Kind.COMMAND, wait=WAIT + 2)
    assert isinstance(got.message, Command) and (got.message.seq, got.message.cmd) == (
        1,
        Cmd.UNLOCK,
    )
    deadline = time.monotonic() + WAIT  # sent once the broker acknowledged it
    with Store.open(db) as s:
        while s.execute("SELECT state FROM commands").scalar() != "sent":
            assert time.monotonic() < deadline, "the command was never marked sent"
            time.sleep(0.02)


def test_messages_sent_while_the_gateway_is_down_wait_in_its_session(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], node: NodePeer
) -> None:
    ready(start_gateway(unix(broker))).close()  # a session with the subscriptions, then gone
    node.send(node.fake.hello(now()))
    ready(start_gateway(unix(broker)))
    node.receive(Kind.SNAPSHOT)  # only an answer to that hello makes one
    assert node.fake.applied_rev == 1


def test_over_tls_with_the_production_acl(
    tls_broker: PrivateBroker,
    start_gateway: Callable[..., Gateway],
    identity: Callable[..., Any],
    mqtt: Mqtt,
    tmp_path: Path,
) -> None:
    addr = tls_broker.tls_address
    assert addr is not None
    ready(start_gateway(mqtts(tls_broker, identity, "central-1")))
    with Replica.open(tmp_path / "n.db") as rep:
        peer = NodePeer(
            mqtt(N1, addr, tls=identity(N1)), FakeNode(N1, private_key(N1), "k1", CENTRAL_KEYS, rep)
        )
        peer.send(peer.fake.hello(now()))
        assert isinstance(peer.receive(Kind.HEAD).message, Head)
        peer.receive(Kind.SNAPSHOT)
        assert peer.fake.applied_rev == 1


def test_hallvakt_central_runs_from_its_config(
    broker: PrivateBroker, mqtt: Mqtt, tmp_path: Path, site: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "central.toml"
    cfg.write_text(
        f'store = "central.db"\n[signing]\nkey = "central.key"\nkid = "central-2026a"\n'
        f'[broker]\nurl = "unix://{broker.unix_socket}"\nclient_id = "central-cli"\n',
        encoding="utf-8",
    )
    data = tmp_path / "site.json"
    data.write_text(json.dumps(site.entities()), encoding="utf-8")
    key = b64url(private_key(N1).public_key().public_bytes_raw())
    assert main(["central", "init", "--config", str(cfg)]) == 0
    pinned = tomllib.loads(capsys.readouterr().out)["central_keys"]
    assert main(["central", "import", "--config", str(cfg), "--facility", FAC, str(data)]) == 0
    reg = ["register-node", "--node", N1, "--facility", FAC, "--public-key", key, "--kid", "k1"]
    assert main(["central", "--config", str(cfg), *reg]) == 0
    keys = {kid: parse_central_key(v).public_key() for kid, v in pinned.items()}
    stop = threading.Event()
    t = threading.Thread(target=run_gateway, args=(load_central_config(cfg), stop), daemon=True)
    t.start()
    try:
        with Replica.open(tmp_path / "n.db") as rep:
            peer = NodePeer(
                mqtt(N1, broker.unix_socket), FakeNode(N1, private_key(N1), "k1", keys, rep)
            )
            deadline = time.monotonic() + WAIT
            while peer.fake.applied_rev == 0 and time.monotonic() < deadline:
                peer.send(peer.fake.hello(now()))  # until the gateway has subscribed
                with contextlib.suppress(AssertionError):
                    peer.receive(Kind.SNAPSHOT, wait=0.5)
            assert peer.fake.applied_rev == 1
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()


def test_two_gateways_share_the_work_and_the_store(
    tls_broker: PrivateBroker,
    start_gateway: Callable[..., Gateway],
    identity: Callable[..., Any],
    mqtt: Mqtt,
    db: str,
) -> None:
    """Two gateways, each with its own identity (certificate CN = client id,
    its own block in the production ACL), consume the shared subscription
    together over the production listener."""
    gateways = [
        ready(start_gateway(mqtts(tls_broker, identity, c))) for c in ("central-1", "central-2")
    ]
    log = tls_broker.log_text()
    for c in ("central-1", "central-2"):  # connected under their own names
        assert re.search(rf" as {c} \(p5, c\d, k\d+, u'{c}'\)", log), c
    fake = FakeNode(N1, private_key(N1), "k1", CENTRAL_KEYS)
    node = NodePeer(mqtt(N1, tls_broker.tls_address, tls=identity(N1)), fake)
    events = [plain_event(s) for s in range(1, 41)]
    for i in range(0, 40, 4):  # ten batches through the shared subscription
        node.send(fake.events(now(), events[i : i + 4]))
    deadline = time.monotonic() + WAIT
    best = 0
    while best < 40 and time.monotonic() < deadline:
        for ack in acks([node.receive(Kind.ACK, fake)]):
            best = max(best, ack.through)
    assert best == 40
    handled = [gw.link.central.stats["events"] for gw in gateways]
    assert sum(handled) == 10 and min(handled) > 0, handled  # each batch once, both worked
    with Store.open(db) as s:
        assert s.execute("SELECT count(*), max(seq) FROM events").fetchone() == (40, 40)


def test_the_gateway_reconnects_after_the_broker_restarts(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], mqtt: Mqtt, tmp_path: Path
) -> None:
    gw = ready(start_gateway(unix(broker)))
    assert gw.link.connects == 1
    broker.restart()  # SIGTERM saves the sessions; the socket path stays
    deadline = time.monotonic() + WAIT
    while gw.link.connects < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gw.link.connects == 2 and gw.link.subscribed.wait(WAIT), "the gateway did not come back"
    with Replica.open(tmp_path / "n.db") as rep:
        peer = NodePeer(
            mqtt(N1, broker.unix_socket), FakeNode(N1, private_key(N1), "k1", CENTRAL_KEYS, rep)
        )
        peer.send(peer.fake.hello(now()))
        peer.receive(Kind.SNAPSHOT)
        assert peer.fake.applied_rev == 1


def test_a_gateway_stopped_with_leave_shared_on_stop_hands_all_up_traffic_to_the_other(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], mqtt: Mqtt, db: str
) -> None:
    """Mosquitto hands a share of a shared subscription to an offline member's
    session; a gateway that leaves the group on a clean stop is not such a member."""
    ready(start_gateway(unix(broker, "central-1")))
    second = ready(start_gateway(replace(unix(broker, "central-2"), leave_shared_on_stop=True)))
    second.close()  # SIGTERM's path: unsubscribe, then disconnect (its session stays)
    fake = FakeNode(N1, private_key(N1), "k1", CENTRAL_KEYS)
    node = NodePeer(mqtt(N1, broker.unix_socket), fake)
    events = [plain_event(s) for s in range(1, 21)]
    for i in range(0, 20, 2):  # ten batches, each answered at once by central-1
        node.send(fake.events(now(), events[i : i + 2]))
        (ack,) = acks([node.receive(Kind.ACK, fake)])
        assert ack.through == i + 2


def test_retained_statuses_come_once_a_session_not_on_every_reconnect(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], node: NodePeer, db: str
) -> None:
    """A gateway's unshared ``status`` subscription takes the retained statuses
    when it is new, and only then (retain handling 1): a gateway coming back
    to its session gets what changed meanwhile from the session, not every
    node's retained status again (with 2,000 nodes that was 2,000 messages
    verified and written by every gateway on every start, docs/benchmarks.md)."""
    t = now()
    node.send(node.fake.status(t - 5))  # retained: the broker keeps it for new subscribers
    first = ready(start_gateway(unix(broker)))
    node.send(node.fake.cursor(t, want=Want.SNAPSHOT))  # the marker, answered after the status
    node.receive(Kind.SNAPSHOT)
    assert first.link.central.stats["status"] == 1  # a new subscription: the retained status
    first.close()
    node.send(node.fake.status(t - 2, State.OFFLINE))  # while it is away: waits in its session
    again = ready(start_gateway(unix(broker)))
    node.send(node.fake.cursor(t, want=Want.SNAPSHOT))
    node.receive(Kind.SNAPSHOT)
    assert again.link.central.stats["status"] == 1  # the one it missed, not the retained again
    with Store.open(db) as s:
        assert s.execute("SELECT status_state, status_iat FROM node_state").fetchone() == (
            "offline",
            t - 2,
        )


def test_a_status_the_session_dropped_is_mended_by_the_periodic_refresh(
    broker: PrivateBroker, start_gateway: Callable[..., Gateway], node: NodePeer, db: str
) -> None:
    """With retain handling 1 the retained statuses come once a session; a
    change the session's queue dropped (a gateway away past
    ``max_queued_messages``) is taken again from the broker's retained status
    by the periodic refresh (``STATUS_REFRESH_S``, here 0.3 s)."""
    t = now()
    gw = ready(start_gateway(unix(broker), status_refresh_s=0.3))
    node.send(node.fake.status(t - 2, State.OFFLINE))  # retained on the broker
    deadline = time.monotonic() + WAIT
    while gw.link.central.stats["status"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    with Store.open(db) as s, s.write():  # as if that message had been dropped from the queue
        s.execute("UPDATE node_state SET status_state = 'online', status_iat = ?", [t - 5])
    seen = gw.link.central.stats["status"]
    state = None
    while time.monotonic() < deadline:
        with Store.open(db) as s:
            state = s.execute("SELECT status_state, status_iat FROM node_state").fetchone()
        if state == ("offline", t - 2):
            break
        time.sleep(0.05)
    assert state == ("offline", t - 2)
    assert gw.link.central.stats["status"] > seen  # the retained status, sent again
