"""A node database that cannot be used, or holds damage, says so in its own words.

The rules (sync/replica/errors.py, opening.py, integrity.py, refusal.py):
- a missing directory is made (mode 0700) for a daemon, refused for a tool;
- a file that is not a database, is cut short, or has a damaged root page is
  refused on open with ``ReplicaDamaged``, and the open does not run the full
  ``quick_check`` (it reads the whole file);
- damage inside a row (text that is not UTF-8, JSON that does not parse or
  validate) raises ``ReplicaCorrupt`` wherever the row is read;
- SQLite's own errors reach no caller raw: busy, full, damaged, unavailable;
- the full check runs once per boot and remembers what it found.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.replica import (
    Booking,
    Door,
    Replica,
    ReplicaBusy,
    ReplicaCorrupt,
    ReplicaDamaged,
    ReplicaError,
    ReplicaFull,
    ReplicaUnavailable,
    access_context,
    append_event,
    card_digest,
    day_schedule,
    pending_events,
)
from sync.replica.integrity import BootCheck, quick_check, scan_records
from sync.replica.refusal import open_or_exit

NOW = datetime(2026, 5, 4, 16, 30, tzinfo=UTC)
PAGE = 4096


def seeded_file(path: Path, site: Any, bookings: int = 400) -> None:
    """A node database with the site and ``bookings`` bookings, checkpointed
    into the main file (no WAL left)."""
    with Replica.open(path) as rep:
        ops = site.upserts(site.entities())
        for i in range(bookings):
            start = datetime(2026, 5, 4, 8, tzinfo=UTC).replace(minute=0)
            ops.append(
                site.upsert(
                    "booking",
                    site.booking(
                        f"b{i:04}",
                        ["gym"],
                        start.replace(day=1 + i % 28, hour=6 + i % 14),
                        start.replace(day=1 + i % 28, hour=7 + i % 14),
                        holder="ik-fram",
                        title="x" * 100,
                    ),
                )
            )
        site.apply(rep, site.changes(0, 1, *ops))
        rep.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def root_page(path: Path, name: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(
            conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [name]).fetchone()[0]
        )


def overwrite(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)


# --- the directory -----------------------------------------------------------------------


def test_a_missing_directory_is_refused_in_one_line_when_not_to_be_made(tmp_path: Path) -> None:
    path = tmp_path / "var" / "lib" / "hallvakt" / "node.db"
    with pytest.raises(ReplicaUnavailable) as info:
        Replica.open(path)
    assert str(info.value) == (
        f"node database {path}: the directory {path.parent} does not exist"
        " (no node process has run here yet: `hallvakt sync` creates it)"
    )
    assert not path.parent.exists()


def test_a_daemon_makes_the_missing_directory_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "node.db"
    with Replica.open(path, create_dir=True) as rep:
        assert rep.state().applied_rev == 0
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_directory_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(ReplicaUnavailable, match="is not a directory"):
        Replica.open(blocker / "node.db", create_dir=True)
    with pytest.raises(ReplicaUnavailable, match="cannot be created"):
        Replica.open(blocker / "sub" / "node.db", create_dir=True)


def test_open_or_exit_prints_one_line_and_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing" / "node.db"
    with pytest.raises(SystemExit) as info:
        open_or_exit(path, default_tz="Europe/Stockholm", create_dir=False)
    assert info.value.code == 78
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err


# --- a damaged file ----------------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_damaged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "node.db"
    path.write_bytes(b"this is no SQLite database, only text\n" * 200)
    with pytest.raises(ReplicaDamaged, match="file is not a database"):
        Replica.open(path)
    with pytest.raises(SystemExit) as info:
        open_or_exit(path, default_tz="Europe/Stockholm")
    assert info.value.code == 78
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "move the file aside" in err


def test_a_corrupt_header_is_damaged(tmp_path: Path, site: Any) -> None:
    path = tmp_path / "node.db"
    seeded_file(path, site)
    overwrite(path, 0, b"\x00" * 16)  # the magic string
    with pytest.raises(ReplicaDamaged):
        Replica.open(path)


def test_a_file_cut_short_is_damaged(tmp_path: Path, site: Any) -> None:
    path = tmp_path / "node.db"
    seeded_file(path, site)
    size = path.stat().st_size
    os.truncate(path, size // 2 // PAGE * PAGE)
    with pytest.raises(ReplicaDamaged, match="the file is cut short"):
        Replica.open(path)


def test_a_damaged_root_page_is_damaged(tmp_path: Path, site: Any) -> None:
    path = tmp_path / "node.db"
    seeded_file(path, site)
    page = root_page(path, "bookings")
    overwrite(path, (page - 1) * PAGE, b"\xff" * PAGE)
    with pytest.raises(ReplicaDamaged, match="malformed"):
        Replica.open(path)


def test_a_damaged_index_root_is_damaged(tmp_path: Path, site: Any) -> None:
    path = tmp_path / "node.db"
    seeded_file(path, site)
    page = root_page(path, "credentials_digest")
    overwrite(path, (page - 1) * PAGE, b"\x07" * PAGE)
    with pytest.raises(ReplicaDamaged):
        Replica.open(path)


def test_damage_past_the_root_passes_the_open_and_the_boot_check_finds_it(
    tmp_path: Path, site: Any
) -> None:
    """The open does not read the whole file (``quick_check``): a damaged leaf
    page is found by the once-per-boot check, not at every start."""
    path = tmp_path / "node.db"
    seeded_file(path, site, bookings=2000)
    with sqlite3.connect(path) as conn:
        leaf = max(r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name='bookings'"))
    overwrite(path, (leaf - 1) * PAGE, b"\xff" * PAGE)
    with Replica.open(path) as rep:  # opens: the damage is not on the way in
        assert rep.state().applied_rev == 1
        found = quick_check(rep)
        assert found is not None
        check = BootCheck(path, boot_id="boot-1")
        rec = check.run(rep)
    assert rec.damaged is not None and check.last() == rec and not check.due()


# --- damage inside a row -----------------------------------------------------------------


@pytest.fixture
def damaged(replica: Replica, site: Any) -> Replica:
    site.apply(replica, site.changes(0, 1, *site.upserts(site.entities())))
    booking = site.booking("b1", ["gym"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")
    site.apply(
        replica, site.changes(1, 2, site.upsert("booking", {**booking, "holder": "ik-fram"}))
    )
    return replica


def corrupt_utf8(rep: Replica, table: str, ident: str) -> None:
    """Flip a byte of a stored text so that it is no longer UTF-8."""
    rep.conn.execute(
        f"UPDATE {table} SET data = CAST(CAST(data AS BLOB) || x'ff' AS TEXT) WHERE id = ?",
        [ident],
    )


def test_text_that_is_not_utf8_raises_replica_corrupt_wherever_read(
    damaged: Replica, site: Any
) -> None:
    corrupt_utf8(damaged, "bookings", "b1")
    with pytest.raises(ReplicaCorrupt, match="not UTF-8"):
        damaged.get(Booking, "b1")
    with pytest.raises(ReplicaCorrupt):
        damaged.all(Booking)
    with pytest.raises(ReplicaCorrupt):
        day_schedule(damaged, datetime(2026, 5, 4).date())
    assert scan_records(damaged) is not None


def test_a_door_lookup_meeting_a_damaged_row_raises_replica_corrupt(
    damaged: Replica, site: Any
) -> None:
    corrupt_utf8(damaged, "doors", "main")
    damaged.memo(-2, "x", lambda: None)  # forget remembered doors
    digest = card_digest(site.key, "0ABCDE40/26")
    with pytest.raises(ReplicaCorrupt):
        access_context(damaged, "main", digest, NOW)


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"id": "b1"} trailing',
        '{"id": "b1", "resources": ["gym"], "start": "yesterday", "end": "today"}',
        "[]",
    ],
)
def test_json_that_does_not_parse_or_validate_raises_replica_corrupt(
    damaged: Replica, text: str
) -> None:
    damaged.conn.execute("UPDATE bookings SET data = ? WHERE id = 'b1'", [text])
    with pytest.raises(ReplicaCorrupt):
        damaged.get(Booking, "b1")
    found = scan_records(damaged)
    assert found is not None and found.startswith("booking: ")


def test_a_sound_replica_scans_clean(damaged: Replica) -> None:
    assert scan_records(damaged) is None
    assert damaged.get(Door, "main") is not None


def test_a_damaged_outbox_row_still_goes_as_damaged(replica: Replica) -> None:
    for i in range(3):
        append_event(replica, "door.opened", {"door": f"d{i}"}, NOW)
    replica.conn.execute(
        "UPDATE outbox SET body = CAST(x'7b22646f6f72223aff7d' AS TEXT) WHERE seq = 2"
    )
    replica.conn.execute("UPDATE outbox SET type = CAST(x'ff' AS TEXT), id = 'x' WHERE seq = 3")
    first = pending_events(replica)
    again = pending_events(replica)
    assert [e.seq for e in first] == [1, 2, 3]
    assert first[0].body == {"door": "d0"}
    assert first[1].type == "door.opened" and first[1].body["damaged"] is True
    assert first[2].type == "security.rejected" and first[2].body["damaged"] is True
    assert first[2].id == again[2].id != "x"  # a stand-in id, the same at every read


# --- SQLite's errors in the replica's words ---------------------------------------------


def test_a_write_lock_held_too_long_is_replica_busy(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    holder = Replica.open(path)
    waiter = Replica.open(path, busy_timeout_s=0.05)
    holder.conn.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ReplicaBusy, match="database is locked"):
            append_event(waiter, "door.opened", {}, NOW)
    finally:
        holder.conn.execute("ROLLBACK")
        holder.close()
        waiter.close()


def test_a_full_disk_is_replica_full_and_changes_nothing(replica: Replica) -> None:
    pages = replica.conn.execute("PRAGMA page_count").fetchone()[0]
    replica.conn.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(ReplicaFull):
        for _ in range(200):
            append_event(replica, "door.opened", {"pad": "x" * 2000}, NOW)
    replica.conn.execute("PRAGMA max_page_count = 1000000")
    st = replica.state()
    assert st.last_seq == len(pending_events(replica, limit=1000))


def test_every_replica_error_is_a_replica_error() -> None:
    for cls in (ReplicaBusy, ReplicaFull, ReplicaDamaged, ReplicaUnavailable, ReplicaCorrupt):
        assert issubclass(cls, ReplicaError)


def test_an_unreadable_file_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    path.mkdir()  # a directory where the file should be
    with pytest.raises(ReplicaUnavailable):
        Replica.open(path)


# --- the once-per-boot check ---------------------------------------------------------------


def test_the_full_check_runs_once_per_boot_and_file(tmp_path: Path, site: Any) -> None:
    path = tmp_path / "node.db"
    seeded_file(path, site, bookings=10)
    check = BootCheck(path, boot_id="boot-1")
    assert check.due()
    with Replica.open(path) as rep:
        rec = check.run(rep)
    assert rec.damaged is None and rec.corrupt is None and not check.due()
    assert BootCheck(path, boot_id="boot-2").due()  # the next boot checks again
    moved = tmp_path / "node.db.new"
    seeded_file(moved, site, bookings=10)
    os.replace(moved, path)
    assert check.due()  # another file in its place: checked afresh


def test_a_corrupt_record_found_is_looked_for_again(tmp_path: Path, site: Any) -> None:
    path = tmp_path / "node.db"
    seeded_file(path, site, bookings=10)
    check = BootCheck(path, boot_id="boot-1")
    with Replica.open(path) as rep:
        rep.conn.execute("UPDATE bookings SET data = '{' WHERE id = 'b0003'")
        rec = check.run(rep)
    assert rec.corrupt is not None and rec.damaged is None
    assert check.due()  # a snapshot may have mended it by the next start
