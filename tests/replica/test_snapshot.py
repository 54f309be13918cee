"""Snapshots staged beside the replica and swapped in (sync/replica/snapshot.py).

The rules: the live replica is untouched until the last part is in; the swap
is one transaction that leaves no staging table behind once tidied, the same
schema (names and SQL) as before, and every other connection sees the new
data at its next transaction; leftovers are emptied in many short
transactions; a process SIGKILLed at any moment leaves the old revision or the
new one, never a mix, and staging again completes it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import sync.replica.snapshot as snapshot
import sync.replica.snapshot_tidy as snapshot_tidy
from hallvakt.demo.data import generate
from sync.replica import (
    ApplyOutcome,
    BatchError,
    Booking,
    Replica,
    ReplicaCorrupt,
    SnapshotPart,
    StagedSnapshot,
    stage_snapshot,
    staged_snapshot,
    tidy,
)
from sync.replica.snapshot import HOLD_RECORDS
from sync.replica.sqlite import AUTOCHECKPOINT_PAGES
from sync.replica.store import REPLACED, insert_sql

NOW = datetime(2026, 5, 4, 12, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
STAGER = Path(__file__).with_name("snapshot_stager.py")
KILLS = 12
KILL_HOLD = 120  # records held at a time in the kill test: 750 records make 7 windows


def stage(rep: Replica, msg: dict[str, Any]) -> ApplyOutcome:
    return stage_snapshot(rep, SnapshotPart.from_wire(msg), NOW)


def staging_tables(rep: Replica) -> list[str]:
    rows = rep.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'snap\\_%' ESCAPE '\\'"
    )
    return [r[0] for r in rows]


def schema(rep: Replica) -> list[tuple[str, str, str | None]]:
    """Every object's type, name and SQL (not where its pages are)."""
    rows = rep.conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
    return [tuple(r) for r in rows]


def content(rep: Replica) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a snapshot replaces, sorted."""
    return {t: sorted(tuple(r) for r in rep.conn.execute(f"SELECT * FROM {t}")) for t in REPLACED}


@pytest.fixture
def seeded_file(tmp_path: Path, site: Any) -> Iterator[Path]:
    path = tmp_path / "node.db"
    with Replica.open(path) as rep:
        site.apply(rep, site.changes(0, 1, *site.upserts(site.entities())))
    yield path


def test_the_live_replica_is_untouched_until_the_last_part(seeded_file: Path, site: Any) -> None:
    ents = site.entities()
    ents["holder"] = [h for h in ents["holder"] if h["id"] != "anna"]
    p1, p2, p3 = site.snapshot(5, ents, parts=3)
    with Replica.open(seeded_file) as rep, Replica.open(seeded_file) as other:
        before = content(rep)
        assert stage(rep, p1) is ApplyOutcome.STAGED
        assert stage(rep, p3) is ApplyOutcome.STAGED
        assert content(rep) == before and content(other) == before
        # The twins, and the parts held until they are written into them.
        assert len(staging_tables(rep)) == len(REPLACED) + 1
        assert rep.conn.execute("SELECT count(*) FROM snap_held").fetchone()[0] == 2
        assert stage(rep, p2) is ApplyOutcome.APPLIED
        # The other connection, open all along, reads the new data at once.
        assert other.state().applied_rev == 5
        assert other.conn.execute("SELECT id FROM holders WHERE id = 'anna'").fetchone() is None
        assert content(other) == content(rep) != before


def test_after_the_swap_the_schema_is_as_before_and_sound(seeded_file: Path, site: Any) -> None:
    with Replica.open(seeded_file) as rep:
        before = schema(rep)
        for rev in (5, 6, 7):  # three swaps: no name drifts
            for msg in site.snapshot(rev, site.entities(), parts=2):
                stage(rep, msg)
            assert schema(rep) == before
            assert staging_tables(rep) == []
            assert rep.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        fresh = Replica.open(":memory:")
        assert schema(rep) == schema(fresh)


def test_leftovers_are_emptied_in_short_transactions(seeded_file: Path, site: Any) -> None:
    bookings = [
        site.booking(f"b{i}", ["gym"], "2026-05-04T10:00:00Z", "2026-05-04T11:00:00Z")
        for i in range(3000)
    ]
    with Replica.open(seeded_file) as rep:
        (p1, _) = site.snapshot(5, {**site.entities(), "booking": bookings}, parts=2)
        assert stage(rep, p1) is ApplyOutcome.STAGED
        (newer,) = site.snapshot(6, site.entities())
        assert stage(rep, newer) is ApplyOutcome.APPLIED  # rev 5's staged part is left over
        assert staging_tables(rep) == []
        # Leftovers again, tidied with a budget no transaction can keep to:
        # after its first (200 rows) every transaction deletes the least (50).
        rep.conn.execute("CREATE TABLE snap_bookings AS SELECT * FROM bookings")
        rep.conn.executemany(
            "INSERT INTO snap_bookings (id, start_ts, end_ts, status, origin, data)"
            " VALUES (?, 0, 1, 'confirmed', 'central', '{}')",
            [(f"x{i}",) for i in range(3000)],
        )
        assert tidy(rep, budget_s=1e-9) >= (3000 - 200) // 50
        assert staging_tables(rep) == []
        # Within the budget, a table that small is dropped whole: one transaction.
        rep.conn.execute("CREATE TABLE snap_bookings AS SELECT * FROM bookings")
        rep.conn.executemany(
            "INSERT INTO snap_bookings (id, start_ts, end_ts, status, origin, data)"
            " VALUES (?, 0, 1, 'confirmed', 'central', '{}')",
            [(f"x{i}",) for i in range(3000)],
        )
        assert tidy(rep) == 1
        assert staging_tables(rep) == []


def test_a_part_delivered_again_after_all_were_staged_finishes_the_swap(
    seeded_file: Path, site: Any
) -> None:
    """A process that died between the last part's commit and the swap: the
    next delivery of any part swaps."""
    p1, p2 = site.snapshot(5, site.entities(), parts=2)
    with Replica.open(seeded_file) as rep:
        assert stage(rep, p1) is ApplyOutcome.STAGED

        real = snapshot._swap
        snapshot._swap = lambda *a: (_ for _ in ()).throw(KeyboardInterrupt)  # type: ignore[assignment]
        try:
            with pytest.raises(KeyboardInterrupt):
                stage(rep, p2)
        finally:
            snapshot._swap = real
        assert staged_snapshot(rep) is not None and rep.state().applied_rev == 1
        assert stage(rep, p1) is ApplyOutcome.APPLIED
        assert rep.state().applied_rev == 5


def test_a_stage_made_before_a_migration_is_discarded(seeded_file: Path, site: Any) -> None:
    p1, p2 = site.snapshot(5, site.entities(), parts=2)
    with Replica.open(seeded_file) as rep:
        assert stage(rep, p1) is ApplyOutcome.STAGED
        rep.conn.execute("ALTER TABLE doors ADD COLUMN note TEXT")  # a newer version's migration
        assert stage(rep, p2) is ApplyOutcome.STAGED  # p1 is gone: it must come again
        assert staged_snapshot(rep) is not None and staged_snapshot(rep).have == 1  # type: ignore[union-attr]
        assert stage(rep, p1) is ApplyOutcome.APPLIED
        cols = [r[1] for r in rep.conn.execute("PRAGMA table_info(doors)")]
        assert cols[-1] == "note"


def test_a_migration_by_another_process_after_parts_matched_discards_the_stage(
    seeded_file: Path, site: Any
) -> None:
    """The twins' check is skipped while the schema has not changed since it
    last matched; another process's migration changes it."""
    p1, p2, p3 = site.snapshot(5, site.entities(), parts=3)
    with Replica.open(seeded_file) as rep, Replica.open(seeded_file) as other:
        assert stage(rep, p1) is ApplyOutcome.STAGED
        assert stage(rep, p2) is ApplyOutcome.STAGED  # checked: the twins match
        other.conn.execute("ALTER TABLE doors ADD COLUMN note TEXT")
        assert stage(rep, p3) is ApplyOutcome.STAGED  # p1 and p2 are gone
        assert staged_snapshot(rep) == StagedSnapshot(5, 1, 3)
        assert stage(rep, p1) is ApplyOutcome.STAGED
        assert stage(rep, p2) is ApplyOutcome.APPLIED
        assert [r[1] for r in rep.conn.execute("PRAGMA table_info(doors)")][-1] == "note"


@pytest.mark.parametrize("hold", [HOLD_RECORDS, 1], ids=["held", "written"])
def test_a_record_in_two_parts_is_refused_and_stages_nothing(
    seeded_file: Path, site: Any, dump: Any, hold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The earlier part still held, or written into the staging tables."""
    monkeypatch.setattr(snapshot, "HOLD_RECORDS", hold)
    ents = site.entities()
    p1, p2, p3 = site.snapshot(5, ents, parts=3)
    p2 = {**p2, "entities": {**p2["entities"], "holder": p1["entities"]["holder"][:1]}}
    with Replica.open(seeded_file) as rep:
        assert stage(rep, p1) is ApplyOutcome.STAGED
        held = rep.conn.execute("SELECT count(*) FROM snap_held").fetchone()[0]
        assert held == (1 if hold > 1 else 0)
        before = dump(rep)
        with pytest.raises(BatchError, match=r"holder '[^']+' appears twice"):
            stage(rep, p2)
        assert dump(rep) == before
        assert stage(rep, p3) is ApplyOutcome.STAGED  # the others are taken as before


def test_a_move_stopped_half_way_is_done_again_over_itself(
    seeded_file: Path, site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The held parts are written into the staging tables in several
    transactions; a process stopped after some of them writes them all
    again, and the result is the snapshot's, row for row."""
    ents = {
        **site.entities(),
        "booking": [
            site.booking(f"b{i:04}", ["gym"], "2026-05-04T10:00:00Z", "2026-05-04T11:00:00Z")
            for i in range(600)
        ],
    }
    p1, p2 = site.snapshot(5, ents, parts=2)
    with Replica.open(":memory:") as ref:
        for msg in site.snapshot(5, ents, parts=1):
            stage(ref, msg)
        want = content(ref)
    with Replica.open(seeded_file) as rep:
        monkeypatch.setattr(snapshot, "STAGE_FIRST_ROWS", 100)
        monkeypatch.setattr(snapshot, "STAGE_MAX_ROWS", 100)  # many transactions
        calls = {"n": 0}

        def stop_at_the_third(*a: Any) -> str:
            calls["n"] += a[0] == "bookings"
            if calls["n"] == 3:
                raise KeyboardInterrupt  # stopped in the third transaction of bookings
            return insert_sql(*a)

        assert stage(rep, p1) is ApplyOutcome.STAGED
        monkeypatch.setattr(snapshot, "insert_sql", stop_at_the_third)
        with pytest.raises(KeyboardInterrupt):
            stage(rep, p2)
        monkeypatch.setattr(snapshot, "insert_sql", insert_sql)
        written = rep.conn.execute("SELECT count(*) FROM snap_bookings").fetchone()[0]
        assert 0 < written < 600  # some transactions committed; the held rows are kept
        assert rep.conn.execute("SELECT count(*) FROM snap_held").fetchone()[0] == 2
        assert rep.state().applied_rev == 1
        assert stage(rep, p1) is ApplyOutcome.APPLIED  # any part delivered again
        assert content(rep) == want
        assert staging_tables(rep) == []


@pytest.mark.parametrize("damage", [b"\x00\xff", b"\x81\xa8bookings\x91\x01"])
def test_a_damaged_held_part_discards_the_stage_and_asks_again(
    seeded_file: Path, site: Any, damage: bytes
) -> None:
    """Bytes that are no msgpack, or msgpack of another shape: the staged
    parts are discarded (``ReplicaCorrupt``: the link asks for a snapshot),
    and the snapshot delivered again applies."""
    p1, p2 = site.snapshot(5, site.entities(), parts=2)
    with Replica.open(seeded_file) as rep:
        assert stage(rep, p1) is ApplyOutcome.STAGED
        rep.conn.execute("UPDATE snap_held SET rows = ?", [damage])
        with pytest.raises(ReplicaCorrupt, match="held snapshot part is damaged"):
            stage(rep, p2)
        assert staged_snapshot(rep) is None and rep.state().applied_rev == 1
        assert stage(rep, p1) is ApplyOutcome.STAGED
        assert stage(rep, p2) is ApplyOutcome.APPLIED
        assert staging_tables(rep) == []


def test_parts_an_older_version_staged_are_taken_over(seeded_file: Path, site: Any) -> None:
    p1, p2 = site.snapshot(5, site.entities(), parts=2)
    legacy = [
        [entity, rec] for entity, recs in p1["entities"].items() for rec in recs
    ]  # how parts were stored before: the records themselves
    with Replica.open(seeded_file) as rep:
        rep.conn.execute("INSERT INTO snapshot_parts VALUES (5, 1, 2, ?)", [json.dumps(legacy)])
        assert stage(rep, p2) is ApplyOutcome.APPLIED
        with Replica.open(":memory:") as ref:
            for msg in site.snapshot(5, site.entities(), parts=1):
                stage(ref, msg)
            assert content(rep) == content(ref)


def test_a_pending_walkin_is_kept_and_counted_in_the_longest_booking(
    seeded_file: Path, site: Any
) -> None:
    with Replica.open(seeded_file) as rep:
        b = Booking.from_wire(
            site.booking("w1", ["gym"], "2026-05-04T10:00:00Z", "2026-05-04T19:00:00Z")
        )
        with rep.write():
            rep.put(b)
            rep.conn.execute(
                "INSERT INTO walkins (booking_id, event_id, state, data)"
                " VALUES ('w1', 'e', 'pending', '{}')"
            )
        for msg in site.snapshot(5, site.entities(), parts=2):
            stage(rep, msg)
        assert rep.get(Booking, "w1") == b
        assert rep.state().max_booking_s == 9 * 3600


def test_the_log_starts_again_between_staging_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoints run in the background and are waited for before the
    stager's next transaction, so the log starts again from its beginning:
    it never grows past the pages at which another process's commit (the
    door's) would have to checkpoint it itself (``AUTOCHECKPOINT_PAGES``).
    The stager checkpoints at ``LOG_FRAMES``; here a fifth of that, so that
    this small snapshot reaches it many times."""
    parts = tmp_path / "rev1.jsonl"
    parts_file(parts, 1, seed=3, credentials=1_000, bookings=8_000, n=40)
    db = tmp_path / "node.db"
    wal = Path(f"{db}-wal")
    monkeypatch.setattr(snapshot_tidy, "LOG_FRAMES", snapshot_tidy.LOG_FRAMES // 5)
    limit = snapshot_tidy.LOG_FRAMES + AUTOCHECKPOINT_PAGES // 5  # and a transaction's pages
    checkpoints: list[str] = []
    real = snapshot_tidy._checkpoint_file

    def counted(path: str) -> tuple[int, ...]:
        checkpoints.append(path)
        return real(path)

    monkeypatch.setattr(snapshot_tidy, "_checkpoint_file", counted)
    with Replica.open(db) as rep, parts.open(encoding="utf-8") as f:
        page = rep.conn.execute("PRAGMA page_size").fetchone()[0]
        longest = 0
        for line in f:
            outcome = stage(rep, json.loads(line))
            longest = max(longest, wal.stat().st_size)
        assert outcome is ApplyOutcome.APPLIED
        assert rep.count("booking") == 8_000
    assert 0 < longest <= 32 + limit * (24 + page), longest  # the header, the frames
    assert len(checkpoints) >= 3


# --- SIGKILL at random moments ---------------------------------------------------------


def parts_file(
    path: Path, rev: int, seed: int, *, credentials: int = 150, bookings: int = 600, n: int = 30
) -> dict[str, list[dict[str, Any]]]:
    ents = generate(seed=seed, today=date(2026, 5, 4), credentials=credentials, bookings=bookings)
    flat = [(e, r) for e, recs in ents.items() for r in recs]
    with path.open("w", encoding="utf-8") as f:
        for p in range(n):
            chunk: dict[str, list[dict[str, Any]]] = {}
            for e, r in flat[p::n]:
                chunk.setdefault(e, []).append(r)
            msg = {"rev": rev, "part": p + 1, "parts": n, "entities": chunk}
            f.write(json.dumps(msg) + "\n")
    return ents


def run_stager(db: Path, parts: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(STAGER), str(db), str(parts), str(KILL_HOLD)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def stage_file(db: Path, parts: Path, *, done: tuple[str, ...] = ("applied",)) -> float:
    """Stage every part of ``parts`` in a child to the end; the seconds it took.
    ``done``: the outcomes the last part may have (None: every part skipped)."""
    t0 = time.monotonic()
    proc = run_stager(db, parts)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] in {f"done {d}" for d in done}, out
    return time.monotonic() - t0


def test_a_stager_killed_at_any_moment_leaves_the_old_or_the_new_revision(
    tmp_path: Path,
) -> None:
    old_parts, new_parts = tmp_path / "rev1.jsonl", tmp_path / "rev2.jsonl"
    parts_file(old_parts, 1, seed=1)
    parts_file(new_parts, 2, seed=2)
    base, ref_new = tmp_path / "base.db", tmp_path / "new.db"
    stage_file(base, old_parts)
    shutil.copyfile(base, ref_new)
    full = stage_file(ref_new, new_parts)
    with Replica.open(base) as rep:
        old = content(rep)
    with Replica.open(ref_new) as rep:
        new = content(rep)
    assert old != new
    rng = random.Random(13)
    seen = {1: 0, 2: 0}
    for trial in range(KILLS):
        db = tmp_path / f"trial{trial}.db"
        shutil.copyfile(base, db)
        proc = run_stager(db, new_parts)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        # Spread over the whole run, the swap and the tidy at its end included.
        time.sleep(rng.uniform(0.0, full))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        with Replica.open(db) as rep:
            assert rep.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            rev = rep.state().applied_rev
            assert (rev, content(rep)) in ((1, old), (2, new)), f"trial {trial}: a mix"
            seen[rev] += 1
        stage_file(db, new_parts, done=("applied", "None"))  # delivered again: it completes
        with Replica.open(db) as rep:
            assert rep.state().applied_rev == 2 and content(rep) == new
            assert staging_tables(rep) == []
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert seen[1] > 0, seen  # some kills came before the swap
