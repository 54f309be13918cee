"""Group commit: a batch of received messages in one store transaction (sync/central/gateway.py).

gateway.py guarantees: ``handle_batch`` records the batch in one write
transaction, each message in order in a savepoint of its own; a message whose
handling fails is rolled back alone and quarantined, the others are kept; an
error that ends the transaction makes each message be handled again on its
own; nothing of a batch that died before its commit is stored; a batch locks
its nodes in sorted order, so two gateways' batches never deadlock. On both
engines (the store fixture runs every test on SQLite and PostgreSQL).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from sync.central import changelog as cl
from sync.central import nodes
from sync.central.db import Store
from sync.central.feed import Signer
from sync.central.gateway import Central, Settings
from sync.central.testing import FakeNode, acks, plain_event
from sync.protocol import Outgoing
from sync.protocol.testing import private_key

NOW = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
T = int(NOW.timestamp())
FAC = "fac1"
NODES = ("b0.hall", "b1.hall", "b2.hall", "b3.hall")
CENTRAL = {"central-1": private_key("central").public_key()}


class Crash(BaseException):
    """The process dies here (not an Exception: nothing catches it)."""


@pytest.fixture
def store(store_url: str, site: Any) -> Iterator[Store]:
    s = Store.open(store_url)
    cl.mutate(s, FAC, site.central_ops(), NOW)
    for n in NODES:
        nodes.register_node(s, n, FAC, private_key(n).public_key().public_bytes_raw(), "k1", NOW)
    try:
        yield s
    finally:
        s.close()


def signer() -> Signer:
    return Signer("central-1", private_key("central"))


def fake(node: str, key: str | None = None) -> FakeNode:
    return FakeNode(node, private_key(key or node), "k1", CENTRAL)


def events(node: str, seqs: range, fake_node: FakeNode | None = None) -> tuple[str, bytes]:
    o = (fake_node or fake(node)).events(T, [plain_event(s) for s in seqs])
    return o.topic, o.payload


def stored(store: Store, node: str) -> int:
    return int(store.execute("SELECT count(*) FROM events WHERE node = ?", [node]).scalar())


def throughs(answers: list[list[Outgoing]], node_of: list[str]) -> list[int | None]:
    """The ack's ``through`` in each message's answers (None: no ack)."""
    out: list[int | None] = []
    for outs, node in zip(answers, node_of, strict=True):
        got = acks(fake(node).take(outs, T))
        out.append(got[0].through if got else None)
    return out


@pytest.fixture
def transactions(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the store's outermost write transactions (one entry each)."""
    count: list[int] = []
    write = store.write

    def counting() -> Any:
        if not store.in_transaction():
            count.append(1)
        return write()

    monkeypatch.setattr(store, "write", counting)
    return count


def test_a_batch_is_one_transaction_with_each_message_answered_in_order(
    store: Store, transactions: list[int]
) -> None:
    central = Central(store, signer(), Settings())
    f0 = fake("b0.hall")
    batch = [
        events("b0.hall", range(3, 5), f0),  # a gap first: through stays 0
        events("b1.hall", range(1, 6)),
        events("b0.hall", range(1, 3), f0),  # then the gap is filled: through 4
        events("b2.hall", range(1, 2)),
    ]
    answers = central.handle_batch(batch, T)
    assert len(transactions) == 1  # one commit for the four
    assert throughs(answers, ["b0.hall", "b1.hall", "b0.hall", "b2.hall"]) == [0, 5, 4, 1]
    assert [stored(store, n) for n in NODES] == [4, 5, 1, 0]


class FailsFor(Central):
    """Handling a message of ``node`` stores it, then fails on the store's own
    check (a duplicate key: a statement error inside the transaction)."""

    node = "b1.hall"

    def _apply(self, item: Any, now: int) -> Any:
        done = super()._apply(item, now)
        if item.topic.split("/")[2] == self.node:
            self.store.execute(
                "INSERT INTO nodes (node, facility, registered_ts) VALUES (?, ?, ?)",
                [self.node, FAC, 0],
            )
        return done


def test_a_message_that_fails_inside_a_batch_is_rolled_back_alone_and_quarantined(
    store: Store, transactions: list[int]
) -> None:
    central = FailsFor(store, signer(), Settings())
    mallory = fake("b2.hall", key="mallory")  # a forged message in the same batch
    batch = [
        events("b0.hall", range(1, 3)),
        events("b1.hall", range(1, 4)),
        events("b2.hall", range(1, 2), mallory),
        events("b3.hall", range(1, 5)),
    ]
    answers = central.handle_batch(batch, T)
    assert len(transactions) == 1  # the batch still commits once
    assert throughs(answers, list(NODES)) == [2, None, None, 4]
    assert [stored(store, n) for n in NODES] == [2, 0, 0, 4]  # b1's rows rolled back
    q = store.execute("SELECT topic, reason, detail FROM quarantine").fetchall()
    assert [(t, r) for t, r, _ in q] == [("hallvakt/v1/b1.hall/up/evt", "internal_error")]
    assert "UniqueViolation" in q[0][2] or "IntegrityError" in q[0][2]
    sec = store.execute("SELECT node, reason FROM security_log").fetchall()
    assert sec == [("b2.hall", "bad_signature")]
    assert central.stats["internal_errors"] == 1


class LosesTransactionOnce(Central):
    """The store reports a failure of the whole transaction (a lost connection,
    a deadlock, a locked file) in the batch's first try, at its second message."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.failed = False

    def _apply(self, item: Any, now: int) -> Any:
        if not self.failed and item.topic.split("/")[2] == "b1.hall":
            self.failed = True
            if self.store.engine == "sqlite":
                raise sqlite3.OperationalError("database is locked")
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return super()._apply(item, now)


def test_a_failed_transaction_is_handled_again_one_message_at_a_time(
    store: Store, transactions: list[int]
) -> None:
    central = LosesTransactionOnce(store, signer(), Settings())
    batch = [events(n, range(1, 3)) for n in NODES]
    answers = central.handle_batch(batch, T)
    assert central.stats["batch_retries"] == 1
    assert len(transactions) == 1 + len(NODES)  # the lost one, then one each
    assert throughs(answers, list(NODES)) == [2, 2, 2, 2]
    assert [stored(store, n) for n in NODES] == [2, 2, 2, 2]
    assert store.execute("SELECT count(*) FROM quarantine").scalar() == 0


class DiesAt(Central):
    """The process dies while handling the third message of a batch."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen = 0

    def _apply(self, item: Any, now: int) -> Any:
        done = super()._apply(item, now)
        self.seen += 1
        if self.seen == 3:
            raise Crash
        return done


def test_a_batch_that_died_before_its_commit_left_nothing_and_is_stored_once_after(
    store: Store,
) -> None:
    f = {n: fake(n) for n in NODES}
    batch = [events(n, range(1, 4), f[n]) for n in NODES]
    with pytest.raises(Crash):
        DiesAt(store, signer(), Settings()).handle_batch(batch, T)
    assert store.execute("SELECT count(*) FROM events").scalar() == 0  # nothing was answered
    # the broker delivers the unacknowledged messages again (or the nodes resend)
    answers = Central(store, signer(), Settings()).handle_batch(batch + batch[:2], T + 1)
    assert throughs(answers, [*NODES, *NODES[:2]]) == [3] * 6
    assert store.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone() == (12, 12)


def test_two_batches_locking_the_same_nodes_in_opposite_orders_never_deadlock(
    pg_url: str, site: Any
) -> None:
    """PostgreSQL runs two gateways' transactions side by side: the first holds
    its nodes' locks while the second, whose messages come in the opposite
    order, waits for them; it never holds one the first needs (sorted locks)."""
    with Store.open(pg_url) as s:
        cl.mutate(s, FAC, site.central_ops(), NOW)
        for n in NODES:
            raw = private_key(n).public_key().public_bytes_raw()
            nodes.register_node(s, n, FAC, raw, "k1", NOW)
    holding, release = threading.Event(), threading.Event()

    class Holds(Central):
        def _apply(self, item: Any, now: int) -> Any:
            done = super()._apply(item, now)
            if not holding.is_set():
                holding.set()  # every node of its batch is locked by now
                assert release.wait(20)
            return done

    f = {n: fake(n) for n in NODES}
    forward = [events(n, range(1, 3), f[n]) for n in NODES]
    backward = [events(n, range(3, 5), f[n]) for n in reversed(NODES)]
    results: dict[str, Any] = {}
    with Store.open(pg_url) as a, Store.open(pg_url) as b, Store.open(pg_url) as watch:
        first = Holds(a, signer(), Settings())
        second = Central(b, signer(), Settings())
        t1 = threading.Thread(target=lambda: results.update(first=first.handle_batch(forward, T)))
        t2 = threading.Thread(
            target=lambda: results.update(second=second.handle_batch(backward, T))
        )
        t1.start()
        assert holding.wait(20)
        t2.start()
        deadline = time.monotonic() + 20
        while (
            watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
            ).scalar()
            == 0
        ):
            assert time.monotonic() < deadline, "the second batch never waited for a lock"
            time.sleep(0.01)
        release.set()
        t1.join(30)
        t2.join(30)
        assert first.stats["batch_retries"] == second.stats["batch_retries"] == 0
        assert throughs(results["first"], list(NODES)) == [2] * 4
        assert throughs(results["second"], list(reversed(NODES))) == [4] * 4
        assert watch.execute("SELECT count(*) FROM events").scalar() == 16


class CannotWrite(Central):
    """Every message's own write fails at the store's level (a lost
    connection, a locked file), as long as ``broken`` is set."""

    broken = True

    def _apply(self, item: Any, now: int) -> Any:
        if self.broken:
            if self.store.engine == "sqlite":
                raise sqlite3.OperationalError("database is locked")
            raise psycopg.OperationalError("the connection is lost")
        return super()._apply(item, now)


def test_writes_failing_at_the_store_are_logged_once_an_outage_not_once_a_message(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Two deliveries of a batch of 4 whose writes all fail: one error with its
    traceback for the whole outage (the rest counted), then one line when a
    write succeeds again; nothing acknowledged is lost (the messages are
    quarantined, the nodes resend their events)."""
    caplog.set_level("INFO", logger="hallvakt.central")
    central = CannotWrite(store, signer(), Settings())
    batch = [events(n, range(1, 3)) for n in NODES]
    for delivery in range(2):
        central.handle_batch(batch, T + delivery)
    assert central.write_outage.failures == 2 * len(NODES)
    assert [stored(store, n) for n in NODES] == [0, 0, 0, 0]
    central.broken = False
    answers = central.handle_batch(batch, T + 2)
    assert throughs(answers, list(NODES)) == [2, 2, 2, 2]
    assert not central.write_outage.down
    ours = [r for r in caplog.records if r.name.startswith("hallvakt.central")]
    assert len([r for r in ours if r.exc_info]) == 1
    assert len([r for r in ours if r.levelname == "ERROR"]) == 1
    assert any("reachable again" in r.getMessage() for r in ours)
