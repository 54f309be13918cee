"""The node database file: migrations, connection settings, corruption.

schema.py guarantees WAL, ``synchronous=FULL``, a busy timeout, idempotent
migrations and a random epoch fixed for the life of the file (PROTOCOL.md §5
hello); store.py guarantees that a stored row that no longer validates raises
``ReplicaCorrupt`` instead of reaching a door decision.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from sync.replica import (
    Booking,
    Credential,
    Facility,
    Holder,
    Replica,
    ReplicaCorrupt,
    credentials_by_digest,
    day_schedule,
)
from sync.replica.schema import MIGRATIONS

TABLES = {
    "sync_state",
    "facilities",
    "resources",
    "doors",
    "door_resources",
    "holders",
    "holder_members",
    "credentials",
    "bookings",
    "booking_resources",
    "grants",
    "leases",
    "revocations",
    "policies",
    "outbox",
    "walkins",
    "snapshot_parts",
    "_sqlite_migrations",
}
# Every migration registered, in order (what a new database gets).
ALL_MIGRATIONS = [m.name for m in MIGRATIONS.pending(Database(memory=True))]


def table_names(rep: Replica) -> set[str]:
    rows = rep.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r[0] for r in rows}


def test_new_database_has_every_table_and_a_fresh_state(replica: Replica) -> None:
    assert table_names(replica) >= TABLES  # later migrations may add tables
    st = replica.state()
    assert 1 <= st.epoch < 2**63
    assert (st.applied_rev, st.last_seq, st.acked_through, st.first_unacked) == (0, 0, 0, 1)
    assert st.head_rev is None and st.applied_at is None and st.max_booking_s == 0
    applied = [m.name for m in MIGRATIONS.applied(replica.db)]
    assert applied == ALL_MIGRATIONS and applied[0] == "0001_initial"
    assert MIGRATIONS.pending(replica.db) == []


def test_each_new_database_gets_its_own_epoch(tmp_path: Path) -> None:
    epochs = set()
    for i in range(5):
        with Replica.open(tmp_path / f"n{i}.db") as rep:
            epochs.add(rep.state().epoch)
    assert len(epochs) == 5


def test_reopening_keeps_the_epoch_and_the_data(tmp_path: Path, site: Any) -> None:
    path = tmp_path / "node.db"
    with Replica.open(path) as rep:
        epoch = rep.state().epoch
        site.apply(rep, site.changes(0, 7, *site.upserts(site.entities())))
    with Replica.open(path) as rep:
        assert rep.state().epoch == epoch
        assert rep.state().applied_rev == 7
        assert rep.get(Holder, "ik-fram") == Holder("ik-fram", "association", "IK Fram")
        assert [m.name for m in MIGRATIONS.applied(rep.db)] == ALL_MIGRATIONS


def test_applying_migrations_again_is_a_no_op(
    seeded: Replica, dump: Callable[..., dict[str, Any]]
) -> None:
    before = dump(seeded)
    with seeded.write():
        MIGRATIONS.apply(seeded.db)
    MIGRATIONS.apply(seeded.db)  # outside a transaction too
    assert dump(seeded) == before


def test_pragmas_on_a_file_database(replica: Replica) -> None:
    ex = replica.conn.execute
    assert ex("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ex("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert ex("PRAGMA busy_timeout").fetchone()[0] == 15_000
    assert ex("PRAGMA foreign_keys").fetchone()[0] == 1


def test_busy_timeout_is_configurable(tmp_path: Path) -> None:
    with Replica.open(tmp_path / "node.db", busy_timeout_s=2.5) as rep:
        assert rep.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2_500


def _garbage_over_pages(path: Path) -> None:
    """Keep page 1 (header and schema root), overwrite every other page."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    page = 65_536 if page == 1 else page
    assert len(data) >= 3 * page, "the test database should span several pages"
    rng = random.Random(1234)
    data[page:] = bytes(rng.randrange(256) for _ in range(len(data) - page))
    path.write_bytes(bytes(data))


def _not_a_database(path: Path) -> None:
    path.write_bytes(b"Hallvakt node configuration, not a database.\n" * 100)


@pytest.mark.parametrize("damage", [_garbage_over_pages, _not_a_database])
def test_a_damaged_file_is_refused_and_left_unchanged(
    tmp_path: Path, site: Any, damage: Callable[[Path], None]
) -> None:
    path = tmp_path / "node.db"
    with Replica.open(path) as rep:
        site.apply(rep, site.changes(0, 1, *site.upserts(site.entities())))
    assert not path.with_name("node.db-wal").exists()  # checkpointed on close
    damage(path)
    before = path.read_bytes()
    with pytest.raises(sqlite3.DatabaseError):
        Replica.open(path)
    assert path.read_bytes() == before


def _set_data(rep: Replica, table: str, ident: str, data: str) -> None:
    with rep.write():
        cur = rep.conn.execute(f"UPDATE {table} SET data = ? WHERE id = ?", [data, ident])
        assert cur.rowcount == 1


BAD_HOLDER_ROWS = [
    pytest.param(json.dumps({"id": "ik-fram", "kind": "alien", "display_name": "X"}), id="enum"),
    pytest.param(json.dumps({"id": "ik-fram", "kind": "association"}), id="missing-field"),
    pytest.param('{"id": "ik-fram", "kind": "associ', id="truncated-json"),
    pytest.param(
        '{"id": "ik-fram", "kind": "association", "display_name": "X"} {}', id="text-after"
    ),
    pytest.param("[1, 2, 3]", id="json-array"),
    pytest.param("null", id="json-null"),
    pytest.param(json.dumps({"id": "", "kind": "association", "display_name": "X"}), id="bad-id"),
]


@pytest.mark.parametrize("data", BAD_HOLDER_ROWS)
def test_an_invalid_stored_row_raises_replica_corrupt(seeded: Replica, data: str) -> None:
    _set_data(seeded, "holders", "ik-fram", data)
    with pytest.raises(ReplicaCorrupt, match="stored holder does not validate"):
        seeded.get(Holder, "ik-fram")
    with pytest.raises(ReplicaCorrupt):
        seeded.all(Holder)
    assert seeded.get(Holder, "bk-boll") is not None  # other rows still read


def test_an_invalid_credential_row_stops_a_lookup_by_digest(seeded: Replica, site: Any) -> None:
    cred = seeded.get(Credential, "anna-card")
    assert cred is not None
    wire = cred.to_wire()
    _set_data(seeded, "credentials", "anna-card", json.dumps({**wire, "digest": "short"}))
    with pytest.raises(ReplicaCorrupt):
        credentials_by_digest(seeded, cred.digest)


def test_an_invalid_booking_row_stops_the_schedule(seeded: Replica, site: Any) -> None:
    b = site.booking("b1", ["A"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")
    site.apply(seeded, site.changes(1, 2, site.upsert("booking", b)))
    bad = {**b, "end": "2026-05-04T15:00:00Z"}  # ends before it starts
    _set_data(seeded, "bookings", "b1", json.dumps(bad))
    with pytest.raises(ReplicaCorrupt):
        seeded.get(Booking, "b1")
    with pytest.raises(ReplicaCorrupt):
        day_schedule(seeded, site.now.date())


def test_a_stored_facility_with_a_directory_as_time_zone_is_corrupt(seeded: Replica) -> None:
    # "Europe" names a directory of the tz database, not a zone: reading it back
    # must be ReplicaCorrupt (the door controller's "cannot trust the data" path),
    # not an OSError escaping from zoneinfo.
    fac = {"id": "fac1", "name": "Hallen", "timezone": "Europe"}
    _set_data(seeded, "facilities", "fac1", json.dumps(fac))
    with pytest.raises(ReplicaCorrupt):
        seeded.get(Facility, "fac1")
    with pytest.raises(ReplicaCorrupt):
        _ = seeded.tz


def test_a_missing_sync_state_row_is_corrupt(replica: Replica) -> None:
    with replica.write():
        replica.conn.execute("DELETE FROM sync_state")
    with pytest.raises(ReplicaCorrupt, match="sync_state"):
        replica.state()
