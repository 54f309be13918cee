"""The door's pieces of the node database: its records, the journal beside the
database, the staff fallback file, the health file, and migration 0008.

The journal's promise, "nothing lost or duplicated", is checked by Hypothesis
over random runs of appends, merges, failed merges, failed resets, torn
writes and reopenings (a crash at each of those points), against a model that
is only the list of records ``append`` acknowledged.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from sync.replica import AccessRecord, Replica, pending_events
from sync.replica.door_fallback import (
    StaffMemory,
    fallback_context,
    load_staff,
    read_staff,
    save_staff,
    staff_path,
)
from sync.replica.door_health import (
    SIZE,
    DoorFault,
    DoorHealth,
    FaultKind,
    HealthFile,
    door_faults,
    health_path,
    read_door_health,
)
from sync.replica.door_journal import Journal, JournalError, JournalFull, journal_path
from sync.replica.door_records import (
    AccessRecorded,
    CommandFinished,
    DoorRecord,
    DoorStateRecorded,
    EventRecorded,
    KioskTapRecorded,
    Lockdown,
    LockdownRecorded,
    ReaderStateRecorded,
    from_json,
    lockdown_state,
    to_json,
    write_records,
)
from sync.replica.schema import MIGRATIONS

NOW = datetime(2026, 5, 4, 10, 0, 0, 123456, tzinfo=UTC)

RECORDS: list[DoorRecord] = [
    AccessRecorded(
        AccessRecord("main", "r1", "A" * 43, True, "booking", "anna-card", "b1", None, 7),
        NOW,
    ),
    AccessRecorded(
        AccessRecord("main", "r1", None, False, "unknown_credential", fallback=True), NOW
    ),
    EventRecorded(
        "door.fire_release", {"door": "main", "input": "reader:r1:2", "active": True}, NOW
    ),
    DoorStateRecorded("main", "fire_release", NOW),
    ReaderStateRecorded("r1", False, "link lost", NOW),
    LockdownRecorded(True, "central command 4", NOW),
    CommandFinished(3, "done", "lockdown: 1 doors", NOW),
    KioskTapRecorded("foyer", "k1", "B" * 43, NOW),
]


@pytest.mark.parametrize("rec", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_survives_the_journal_form(rec: DoorRecord) -> None:
    assert from_json(json.loads(json.dumps(to_json(rec)))) == rec


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.sampled_from(RECORDS), st.text(max_size=10), json_values)
def test_a_record_with_any_field_spoilt_is_refused_with_value_error(
    rec: DoorRecord, key: str, value: Any
) -> None:
    doc = to_json(rec)
    doc[key if key in doc or not doc else sorted(doc)[len(key) % len(doc)]] = value
    try:
        back = from_json(doc)
    except ValueError:
        return  # the only way it refuses
    assert type(back) is type(rec)  # else a record of its declared types, for good
    assert from_json(json.loads(json.dumps(to_json(back)))) == back


def test_records_write_all_or_nothing(seeded: Replica, dump: Any) -> None:
    before = dump(seeded)
    bad = EventRecorded("door.exploded", {}, NOW)
    with pytest.raises(ValueError):
        write_records(seeded, [RECORDS[2], RECORDS[3], bad])
    assert dump(seeded) == before
    write_records(seeded, RECORDS)
    # (command 3 was never queued here: finishing it records nothing)
    assert [e.type for e in pending_events(seeded)] == [
        "access.granted",
        "access.denied",
        "door.fire_release",
    ]
    assert pending_events(seeded)[1].body["replica"] == "unreadable"
    assert lockdown_state(seeded) == Lockdown(True, "central command 4", NOW.replace(microsecond=0))


def test_migration_0008_on_a_database_from_before(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    conn = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS.apply(Database(conn), stop_before="0008_door_memory")
    conn.execute("INSERT INTO door_status VALUES ('main', 'forced', 1)")
    conn.close()
    with Replica.open(path) as rep:
        assert "0008_door_memory" in [m.name for m in MIGRATIONS.applied(rep.db)]
        assert lockdown_state(rep) is None
        with rep.write():
            write_records(rep, [LockdownRecorded(True, "kiosk staff1-card", NOW)])
        assert lockdown_state(rep) == Lockdown(
            True, "kiosk staff1-card", NOW.replace(microsecond=0)
        )


# --- the journal ---------------------------------------------------------------------


def event(i: int) -> EventRecorded:
    return EventRecorded("door.opened", {"door": "main", "state": "open", "i": i}, NOW)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(journal_path(tmp_path / "node.db"), capacity=64 * 1024) as j:
        yield j


def test_the_journal_reserves_its_space_and_is_private(journal: Journal) -> None:
    st_ = os.stat(journal.path)
    assert st_.st_size == 64 * 1024 and st_.st_blocks * 512 >= 64 * 1024
    assert stat.S_IMODE(st_.st_mode) == 0o600


def test_appended_records_survive_a_reopen_in_order(journal: Journal) -> None:
    journal.append([event(1), event(2)])
    journal.append([event(3), KioskTapRecorded("foyer", "k1", "B" * 43, NOW)])  # taps left out
    journal.close()
    with Journal.open(journal.path) as again:
        assert list(again.pending().records) == [event(1), event(2), event(3)]


def test_a_batch_that_does_not_fit_writes_nothing(journal: Journal) -> None:
    journal.append([event(0)])
    big = EventRecorded("door.opened", {"door": "main", "pad": "x" * 70_000}, NOW)
    with pytest.raises(JournalFull):
        journal.append([event(1), big])
    assert list(journal.pending().records) == [event(0)]


def test_a_torn_or_spoilt_tail_ends_the_journal_there(journal: Journal) -> None:
    journal.append([event(1)])
    end = journal._end
    journal.append([event(2)])
    journal.close()
    with open(journal.path, "r+b") as f:  # flip one byte of the second record
        f.seek(end + 12)
        byte = f.read(1)
        f.seek(end + 12)
        f.write(bytes([byte[0] ^ 0xFF]))
    with Journal.open(journal.path) as again:
        assert list(again.pending().records) == [event(1)]
        again.append([event(3)])  # written over the spoilt one
    with Journal.open(journal.path) as again:
        assert list(again.pending().records) == [event(1), event(3)]


def test_a_torn_header_starts_a_new_generation(journal: Journal) -> None:
    journal.append([event(1)])
    journal.close()
    with open(journal.path, "r+b") as f:
        f.write(b"\0\0\0")
    with Journal.open(journal.path) as again:
        assert len(again) == 0


def test_an_unreservable_journal_is_a_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError):
        Journal.open(tmp_path / "no-such-dir" / "journal")


def test_merge_writes_once_even_when_the_reset_fails(
    journal: Journal, seeded: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal.append([event(1), event(2)])

    def broken_reset() -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(journal, "_reset", broken_reset)
    with pytest.raises(JournalError, match="reset"):
        journal.merge_into(seeded)
    monkeypatch.undo()
    journal.close()
    with Journal.open(journal.path) as again:  # after a crash: the same generation
        assert len(again) == 2
        again.append([event(3)])
        assert again.merge_into(seeded) == 1  # only the one not merged before
        assert len(again) == 0
    assert [e.body["i"] for e in pending_events(seeded) if e.type == "door.opened"] == [1, 2, 3]


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 4)),
        st.just(("merge",)),
        st.just(("merge_locked",)),
        st.just(("merge_reset_fails",)),
        st.just(("torn",)),
        st.just(("reopen",)),
    ),
    max_size=25,
)


@settings(max_examples=40)
@given(OPS)
def test_nothing_is_lost_or_merged_twice(tmp_path_factory: Any, ops: list[tuple[Any, ...]]) -> None:
    root = tmp_path_factory.mktemp("journal")
    rep = Replica.open(root / "node.db")
    other = sqlite3.connect(root / "node.db", isolation_level=None)
    j = Journal.open(journal_path(root / "node.db"), capacity=256 * 1024)
    acknowledged: list[int] = []
    n = 0
    try:
        for op in ops:
            if op[0] == "append":
                batch = [event(n + k) for k in range(op[1])]
                j.append(batch)
                acknowledged += [n + k for k in range(op[1])]
                n += op[1]
            elif op[0] == "merge":
                j.merge_into(rep)
            elif op[0] == "merge_locked":  # the database refuses: nothing merged
                other.execute("BEGIN IMMEDIATE")
                rep.conn.execute("PRAGMA busy_timeout = 0")
                if len(j):
                    with pytest.raises(sqlite3.OperationalError, match="locked"):
                        j.merge_into(rep)
                other.execute("ROLLBACK")
            elif op[0] == "merge_reset_fails":  # crash after the commit, before the reset
                real = j._reset
                j._reset = _fail  # type: ignore[method-assign]
                with contextlib.suppress(JournalError):
                    j.merge_into(rep)
                j._reset = real  # type: ignore[method-assign]
                j.close()
                j = Journal.open(j.path)
            elif op[0] == "torn":  # a crash in the middle of an append
                os.pwrite(j._fd, b"\x40\0\0\0garbage", j._end)
                j.close()
                j = Journal.open(j.path)
            else:
                j.close()
                j = Journal.open(j.path)
        j.merge_into(rep)
        merged = [e.body["i"] for e in pending_events(rep, limit=1000) if e.type == "door.opened"]
        assert merged == acknowledged
    finally:
        j.close()
        other.close()
        rep.close()


def _fail() -> None:
    raise OSError("crash")


# --- the staff fallback ------------------------------------------------------------------


def test_staff_memory_round_trip_and_fallback(seeded: Replica, site: Any, tmp_path: Path) -> None:
    from sync.replica import card_digest

    write_records(seeded, [LockdownRecorded(True, "central command 1", NOW)])
    mem = read_staff(seeded)
    assert [g.id for g in mem.grants] == ["g-staff1"]
    assert [c.id for c in mem.credentials] == ["staff1-card"]  # only the grant holders' cards
    assert mem.lockdown is not None and mem.lockdown.active
    path = staff_path(tmp_path / "node.db")
    save_staff(path, mem)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_staff(path) == mem
    staff = fallback_context(mem, "main", card_digest(site.key, site.staff_card), NOW)
    assert staff.source == "fallback" and [g.id for g in staff.candidates[0].grants] == ["g-staff1"]
    anna = fallback_context(mem, "main", card_digest(site.key, site.anna_card), NOW)
    assert anna.candidates == ()  # nobody but staff is known on the fallback
    path.write_text("{not json")
    assert load_staff(path) is None
    assert load_staff(tmp_path / "missing.json") is None


def test_a_failed_save_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "staff.json"
    mem = StaffMemory(3, (), (), (), frozenset())
    save_staff(path, mem)
    (tmp_path / "staff.json.tmp").mkdir()  # the temp file cannot be written
    with pytest.raises(OSError):
        save_staff(path, StaffMemory(4, (), (), (), frozenset()))
    assert load_staff(path) == mem


# --- the health file ------------------------------------------------------------------------


def test_health_is_written_in_place_and_read_back(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    f = HealthFile(health_path(db))
    fault = DoorFault(FaultKind.WRITE, "database or disk is full", NOW)
    f.write(DoorHealth(123, NOW, (fault,), journalled=4))
    assert os.path.getsize(health_path(db)) == SIZE
    health = read_door_health(db)
    assert health == DoorHealth(123, NOW, (fault,), 4, 0)
    assert door_faults(db, NOW + timedelta(seconds=10)) == (fault,)
    assert door_faults(db, NOW + timedelta(minutes=5)) == ()  # a stopped door says nothing
    huge = DoorFault(FaultKind.READ, "x" * 10_000, NOW)
    f.write(DoorHealth(123, NOW, (huge,)))
    back = read_door_health(db)
    assert back is not None and back.faults[0].kind is FaultKind.READ
    assert os.path.getsize(health_path(db)) == SIZE
    f.close()
    health_path(db).write_bytes(b'{"pid": 1, "at"')
    assert read_door_health(db) is None
    assert read_door_health(tmp_path / "other.db") is None
