"""Group commit on the real process: a gateway killed while its batch waits stores nothing.

Real parts: a private Mosquitto, central's store on PostgreSQL (the engine
where a batch can wait for another writer's advisory lock while holding its
own), a ``hallvakt central`` process and a paho peer speaking for four nodes.
The test holds one node's lock, so the gateway's batch (four nodes' events,
received together) is open and waiting; then the gateway is killed with
SIGKILL. Nothing of the batch may be in the store, and nothing was
acknowledged: restarted, the gateway gets every message again from its
session, stores each once and acknowledges each (sync/central/gateway.py,
link.py: nothing is answered or acknowledged before the commit).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync.central import changelog as cl
from sync.central import nodes
from sync.central.store import Store
from sync.central.testing import FakeNode, acks, plain_event
from sync.protocol import Outgoing, sign
from sync.protocol.testing import private_key
from tests.support.broker import PrivateBroker
from tests.support.fleet.processes import Gateway, write_config

FAC = "fac1"
NODES = ("b0.hall", "b1.hall", "b2.hall", "b3.hall")
LATE = "b9.hall"  # a node whose message keeps the gateway waiting first
CENTRAL = {"central-1": private_key("central").public_key()}
WAIT = 10.0


def waiting(store: Store, event: str) -> bool:
    """A server process waits for a lock: ``advisory`` or ``transactionid`` (a row)."""
    sql = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = ?"
    return int(store.execute(sql, [event]).scalar()) > 0


def until(condition: Callable[[], bool], gw: Gateway) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, gw.log()[-2000:]
        time.sleep(0.01)


def seeded_gateway(store_url: str, site: Any, broker: PrivateBroker, tmp_path: Path) -> Path:
    """The facility's data and every node registered in the store at
    ``store_url``; the config of gateway ``central-1`` on ``broker``, whose
    session keeps receiving while it is stopped."""
    now = datetime.now(UTC)
    with Store.open(store_url) as s:
        cl.mutate(s, FAC, site.central_ops(), now)
        for n in (*NODES, LATE):
            nodes.register_node(
                s, n, FAC, private_key(n).public_key().public_bytes_raw(), "k1", now
            )
    assert broker.unix_socket is not None
    return write_config(
        tmp_path / "gw",
        store=store_url,
        broker_url=f"unix://{broker.unix_socket}",
        client_id="central-1",
        key=private_key("central"),
        leave_shared_on_stop=False,
    )


def test_a_gateway_killed_while_its_batch_waits_stored_nothing_and_gets_it_all_again(
    broker: PrivateBroker, mqtt: Callable[..., Any], pg_url: str, site: Any, tmp_path: Path
) -> None:
    cfg = seeded_gateway(pg_url, site, broker, tmp_path)
    peer = mqtt("peer", broker.unix_socket)
    assert peer.subscribe("hallvakt/v1/+/dn/ack") == [1]
    fakes = {n: FakeNode(n, private_key(n), "k1", CENTRAL) for n in (*NODES, LATE)}

    def ack_throughs(want: tuple[str, ...]) -> dict[str, int]:
        """The next ack of each node of ``want`` (acks of other nodes are skipped)."""
        got: dict[str, int] = {}
        while set(got) != set(want):
            m = peer.expect_message(WAIT)
            node = m.topic.split("/")[2]
            out = Outgoing(m.topic, m.payload, m.retain)
            (a,) = acks(fakes[node].take([out], int(time.time())))
            if node in want:
                got[node] = a.through
        return got

    gw = Gateway(cfg, tmp_path / "central-1.log").start()
    gw.wait_connected()
    marker = fakes[LATE].events(int(time.time()), [plain_event(1)])
    deadline = time.monotonic() + WAIT
    while True:  # until answered (its subscription may come a moment after CONNACK)
        peer.publish(marker.topic, marker.payload)
        with contextlib.suppress(AssertionError):
            peer.expect_message(0.5)
            break
        assert time.monotonic() < deadline, gw.log()[-2000:]
    epoch = str(fakes["b2.hall"].epoch)
    with Store.open(pg_url) as holder, Store.open(pg_url) as rows, Store.open(pg_url) as watch:
        with rows.write():
            # b2's stream row, not committed: b2's message will wait for it
            rows.execute("INSERT INTO event_streams VALUES (?, ?, 0)", ["b2.hall", epoch])
            with holder.write():
                holder.lock("node", LATE)  # the gateway's next batch waits at its first lock
                late = fakes[LATE].events(int(time.time()), [plain_event(2)])
                peer.publish(late.topic, late.payload)
                until(lambda: waiting(watch, "advisory"), gw)
                for n in NODES:  # these reach the gateway's socket while it waits
                    o = fakes[n].events(int(time.time()), [plain_event(q) for q in range(1, 5)])
                    peer.publish(o.topic, o.payload)
                time.sleep(1.0)  # the broker forwards them (no observable sign of it)
            # LATE's batch commits; the four come in one batch, which stores b0's
            # and b1's events, then waits for b2's row
            until(lambda: waiting(watch, "transactionid"), gw)
            gw.kill()
            got = watch.execute("SELECT node, count(*) FROM events GROUP BY node").fetchall()
            assert sorted(got) == [(LATE, 2)]  # nothing of the batch that was open
        gw = Gateway(cfg, tmp_path / "central-1.log").start()  # Restart=always
    try:
        assert ack_throughs(NODES) == dict.fromkeys(NODES, 4)
        with Store.open(pg_url) as s:
            rows = s.execute("SELECT node, count(*), count(DISTINCT id) FROM events GROUP BY node")
            assert sorted(rows) == [*((n, 4, 4) for n in NODES), (LATE, 2, 2)]
    finally:
        gw.stop()
    assert "Traceback" not in gw.log()


def test_a_backlog_with_garbage_forgeries_and_duplicates_is_one_batch_that_keeps_the_rest(
    broker: PrivateBroker, mqtt: Callable[..., Any], store_url: str, site: Any, tmp_path: Path
) -> None:
    """Every kind of bad message waits in the gateway's session among good ones
    and duplicates, then reaches the restarted process together: the good ones
    are stored once each and acknowledged (a duplicate gets the same
    ``through``), each bad one is quarantined or logged and changes nothing,
    and the broker got a PUBACK for every one (a third start gets nothing)."""
    cfg = seeded_gateway(store_url, site, broker, tmp_path)
    peer = mqtt("peer", broker.unix_socket)
    assert peer.subscribe("hallvakt/v1/+/dn/ack") == [1]
    fakes = {n: FakeNode(n, private_key(n), "k1", CENTRAL) for n in (*NODES, LATE)}
    log = tmp_path / "central-1.log"

    def marker(seq: int) -> int:
        """Until LATE's events ``seq`` are acked: the gateway has subscribed and
        handled everything published before. The copies published."""
        o = fakes[LATE].events(int(time.time()), [plain_event(seq)])
        deadline, copies = time.monotonic() + WAIT, 0
        while True:
            peer.publish(o.topic, o.payload)
            copies += 1
            with contextlib.suppress(AssertionError):
                while True:
                    m = peer.expect_message(0.5)
                    node = m.topic.split("/")[2]
                    got = acks(
                        fakes[node].take([Outgoing(m.topic, m.payload, m.retain)], int(time.time()))
                    )
                    if node == LATE and got and got[0].through >= seq:
                        return copies
            assert time.monotonic() < deadline, log.read_text()[-2000:]

    gw = Gateway(cfg, log).start()
    gw.wait_connected()
    copies = marker(1)
    assert gw.stop() == 0
    t = int(time.time())
    b0 = fakes["b0.hall"].events(t, [plain_event(q) for q in range(1, 5)])
    b1 = fakes["b1.hall"].events(t, [plain_event(q) for q in range(1, 4)])
    b3 = fakes["b3.hall"].events(t, [plain_event(q) for q in range(1, 3)])
    mallory = FakeNode("b2.hall", private_key("mallory"), "k1", CENTRAL)
    bad_claims = {"v": 1, "kind": "events", "node": "b3.hall", "iat": t, "epoch": 1}
    backlog = [
        (b0.topic, b0.payload),
        ("hallvakt/v1/b1.hall/up/evt", b"\x00 not a token"),  # garbage: malformed
        (b0.topic, b0.payload),  # a duplicate in the same batch
        (mallory.events(t, [plain_event(1)]).topic, mallory.events(t, [plain_event(1)]).payload),
        (
            "hallvakt/v1/b3.hall/up/evt",
            sign({**bad_claims, "events": "x"}, "k1", private_key("b3.hall")),
        ),
        (b1.topic, b1.payload),
        (b3.topic, b3.payload),
        (b3.topic, b3.payload),
    ]
    for topic, payload in backlog:
        assert peer.publish(topic, payload) == 0
    gw = Gateway(cfg, log).start()
    try:
        got: list[tuple[str, int]] = []
        deadline = time.monotonic() + WAIT
        while len(got) < 5:  # b0 twice, b1, b3 twice; nothing for the bad ones
            m = peer.expect_message(max(0.01, deadline - time.monotonic()))
            node = m.topic.split("/")[2]
            out = Outgoing(m.topic, m.payload, m.retain)
            answers = acks(fakes[node].take([out], int(time.time())))
            if node != LATE:  # a late copy of the first marker may come from the session too
                got += [(node, a.through) for a in answers]
        assert sorted(got) == [
            ("b0.hall", 4),
            ("b0.hall", 4),
            ("b1.hall", 3),
            ("b3.hall", 2),
            ("b3.hall", 2),
        ]
        copies += marker(2)
    finally:
        assert gw.stop() == 0
    with Store.open(store_url) as s:
        rows = s.execute("SELECT node, count(*), count(DISTINCT id) FROM events GROUP BY node")
        assert sorted(rows) == [
            ("b0.hall", 4, 4),
            ("b1.hall", 3, 3),
            ("b3.hall", 2, 2),
            (LATE, 2, 2),
        ]
        q = s.execute("SELECT topic, reason FROM quarantine ORDER BY id").fetchall()
        assert q == [
            ("hallvakt/v1/b1.hall/up/evt", "malformed"),
            ("hallvakt/v1/b3.hall/up/evt", "malformed"),
        ]
        sec = s.execute("SELECT node, reason FROM security_log").fetchall()
        assert sec == [("b2.hall", "bad_signature")]
    # the second start received the backlog (8) and the marker in fewer transactions
    stops = re.findall(
        r"stopping: (\d+) messages received in (\d+) store transactions", log.read_text()
    )
    assert len(stops) == 2
    received, transactions = map(int, stops[1])
    assert received >= 9 and transactions < received, stops
    # every one was acknowledged to the broker: a third start is handed nothing again
    gw = Gateway(cfg, log).start()
    try:
        gw.wait_connected(count=3)
        copies += marker(3)
    finally:
        assert gw.stop() == 0
    third = int(re.findall(r"stopping: (\d+) messages", log.read_text())[-1])
    # only LATE's markers: its own, and late copies of the earlier ones (one
    # copy of each earlier marker was handled before)
    assert 1 <= third <= copies - 2, (third, copies, log.read_text()[-3000:])
    assert "Traceback" not in log.read_text()
