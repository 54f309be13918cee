"""The door's database faults in process: the recorder's journal and memory,
the facts' staff fallback, and how each fault is logged once and shown.

A real node database in a temp file; "another process" is a second sqlite3
connection holding ``BEGIN IMMEDIATE``; a corrupt row is written with SQL;
an unreadable database is a file that is no database. The real door process
under these faults is tests/system/test_door_faults.py.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from door_controller.core import DoorCore, LockCommand, ReaderSite
from door_controller.facts import ReplicaFacts
from door_controller.faults import FaultBoard
from door_controller.readers.events import CardPresented, KeyPressed
from door_controller.testing import FakeClock, site_ops
from sync.replica import ChangeBatch, Replica, apply_changes, pending_events
from sync.replica.door_fallback import load_staff, staff_path
from sync.replica.door_health import FaultKind, door_faults
from sync.replica.door_journal import journal_path
from tests.support.door_node import DoorNode

KEY = bytes(range(32))
CARD = (bytes.fromhex("0ABCDE40"), 26)
STAFF_CARD = (bytes.fromhex("11223344"), 32)
T0 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
OPEN = LockCommand("d1", False)


def make_core() -> DoorCore:
    return DoorCore(
        node="test.hall.n1",
        facility_id="f1",
        credential_key=KEY,
        readers={"r1": ReaderSite("d1"), "r2": ReaderSite("d1", "out")},
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "node.db"
    with Replica.open(path) as rep:
        ops = site_ops(KEY, T0)
        apply_changes(rep, ChangeBatch.from_wire({"base": 0, "rev": 5, "ops": ops}), T0)
        rep.record_head(5, 1, T0)
    yield path


@pytest.fixture
def node(db: Path) -> Iterator[DoorNode]:
    n = DoorNode(db, make_core(), FakeClock(T0 + timedelta(minutes=5)))
    n.start()
    try:
        yield n
    finally:
        n.close()


def access_events(db: Path) -> list[tuple[str, str]]:
    with Replica.open(db) as rep:
        return [
            (e.type, str(e.body["reason"]))
            for e in pending_events(rep, limit=10_000)
            if e.type.startswith("access.")
        ]


def tap(node: DoorNode, card: tuple[bytes, int] = STAFF_CARD, reader: str = "r2") -> bool:
    return OPEN in node.feed(CardPresented(reader, *card)).effects


def test_a_held_write_lock_journals_then_merges_in_order(
    node: DoorNode, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a big snapshot elsewhere
    node.recorder.rep.conn.execute("PRAGMA busy_timeout = 0")  # type: ignore[union-attr]
    with caplog.at_level(logging.ERROR, logger="door_controller.faults"):
        for i in range(5):
            assert tap(node, STAFF_CARD if i % 2 == 0 else CARD)  # relay first, always
    assert len(node.recorder.journal or ()) > 0 and node.faults_active(FaultKind.WRITE)
    assert len(caplog.records) == 1 and "locked" in caplog.records[0].message  # logged once
    assert access_events(db) == []  # nothing in the outbox yet
    faults = door_faults(db, node.clock.now())
    assert [f.kind for f in faults] == [FaultKind.WRITE] and "locked" in faults[0].detail
    other.execute("ROLLBACK")
    other.close()
    node.clock.advance(2)
    node.tick()  # the merge is due
    assert len(node.recorder.journal or ()) == 0 and not node.faults_active(FaultKind.WRITE)
    assert access_events(db) == [
        ("access.granted", "grant"),
        ("access.granted", "booking"),  # the leader on the way out: no PIN
        ("access.granted", "grant"),
        ("access.granted", "booking"),
        ("access.granted", "grant"),
    ]
    assert door_faults(db, node.clock.now()) == ()


def test_without_a_journal_records_wait_in_memory(node: DoorNode, db: Path) -> None:
    assert node.recorder.journal is not None
    node.recorder.journal.close()
    node.recorder.journal = None  # as if it could not be created (a full disk at start)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    node.recorder.rep.conn.execute("PRAGMA busy_timeout = 0")  # type: ignore[union-attr]
    assert tap(node) and tap(node)
    assert len(node.recorder.unwritten()) >= 2
    other.execute("ROLLBACK")
    other.close()
    node.clock.advance(2)
    node.tick()
    assert node.recorder.unwritten() == []
    assert access_events(db) == [("access.granted", "grant")] * 2


def test_a_kiosk_tap_is_dropped_not_journalled(db: Path) -> None:
    core = DoorCore(
        node="n", facility_id="f1", credential_key=KEY, readers={}, kiosk_readers={"k1": "foyer"}
    )
    n = DoorNode(db, core, FakeClock(T0))
    n.start()
    try:
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        n.recorder.rep.conn.execute("PRAGMA busy_timeout = 0")  # type: ignore[union-attr]
        n.feed(CardPresented("k1", *CARD))
        assert n.recorder.unwritten() == []
        other.execute("ROLLBACK")
        other.close()
    finally:
        n.close()


def test_a_corrupt_row_costs_only_its_holder_and_is_shown_until_it_reads_well(
    node: DoorNode, db: Path
) -> None:
    with sqlite3.connect(db, isolation_level=None) as conn:  # damaged JSON in the leader's card
        conn.execute('UPDATE credentials SET data = \'{"id": "c1", "kind"\' WHERE id = \'c1\'')
    assert not tap(node, CARD)  # fails secure, staff only for this presentation
    assert tap(node, STAFF_CARD)  # others read well
    assert [f.kind for f in door_faults(db, node.clock.now())] == [FaultKind.READ]
    assert access_events(db) == [
        ("access.denied", "replica_unreadable"),
        ("access.granted", "grant"),
    ]
    with Replica.open(db) as rep:  # central's next snapshot repairs the row
        ops = site_ops(KEY, T0)
        apply_changes(rep, ChangeBatch.from_wire({"base": 5, "rev": 6, "ops": ops}), T0)
    node.feed(CardPresented("r1", *CARD))
    assert OPEN in [e for k in "4321#" for e in node.feed(KeyPressed("r1", k)).effects]
    node.tick()
    assert door_faults(db, node.clock.now()) == ()


def test_an_unreadable_database_admits_the_staff_last_read(node: DoorNode, db: Path) -> None:
    node.tick()  # the refresh saves the staff file
    assert load_staff(staff_path(db)) is not None
    facts = ReplicaFacts(_broken_replica(db), FaultBoard(), staff_file=str(staff_path(db)))
    node.daemon.facts = facts  # the loop's connection stops working
    assert tap(node, STAFF_CARD)
    assert not tap(node, CARD)
    assert facts.faults.active(FaultKind.READ)
    assert access_events(db)[-2:] == [
        ("access.granted", "grant"),
        ("access.denied", "replica_unreadable"),
    ]


def _broken_replica(db: Path) -> Replica:
    rep = Replica.open(db)
    rep.conn.close()  # every statement now raises sqlite3.ProgrammingError
    return rep


def test_a_database_that_cannot_be_opened_starts_staff_only(
    node: DoorNode, db: Path, tmp_path: Path
) -> None:
    node.tick()  # the staff file exists from an earlier run
    node.close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is no database" * 100)
    staff = staff_path(db).read_bytes()
    staff_path(garbage).write_bytes(staff)
    n = DoorNode(garbage, make_core(), FakeClock(T0 + timedelta(minutes=5)))
    try:
        n.start()  # does not raise: the door runs
        assert OPEN in n.feed(CardPresented("r2", *STAFF_CARD)).effects
        assert OPEN not in n.feed(CardPresented("r2", *CARD)).effects
        assert len(n.recorder.unwritten()) > 0  # journalled beside the broken file
        assert journal_path(garbage).exists()
        kinds = {f.kind for f in door_faults(garbage, n.clock.now())}
        assert {FaultKind.READ, FaultKind.WRITE} <= kinds
    finally:
        n.close()
