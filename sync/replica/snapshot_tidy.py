"""The staging tables' housekeeping (``sync.replica.snapshot``'s rules):
which there are and what is staged, the settings a staging or tidying
transaction runs with and the checkpoints between them, and emptying the
leftovers (the old data after a swap, or a discarded older ``rev``) in short
transactions.

The checkpoints run in a worker thread on a connection of their own, opened
and closed for each (``checkpoint``, ``settle``): a checkpoint syncs the log
and the database file, and on a quiet box that waiting (1.3 s of 7 s at 131k
records) then hides behind the next rows and the link's parsing of the next
part, which hold the GIL while SQLite's checkpoint does not. Whoever stages
or tidies calls ``settle`` before each write transaction.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from .sqlite import AUTOCHECKPOINT_PAGES, JOURNAL_SIZE_LIMIT
from .store import Replica

log = logging.getLogger("hallvakt.replica")

STAGE = "snap_"
TIDY_BUDGET_S = 0.02  # the lock held by one tidy transaction, roughly
TIDY_MAX_ROWS = 20_000  # however quick the last ones were (the budget sizes them first)
# Freeing a leftover table's pages whole: 1.7-2.6 us a page here (86 ms for
# the 44k pages of 500k bookings and their key, 16 ms for 500k booking
# resources' 6k), so a 20 ms budget drops about 8,000 pages at once.
DROP_S_PER_PAGE = 2.5e-6
CACHE_KIB = 32_768  # the staging connection's page cache: big indexes stay in memory
LOG_FRAMES = 3_000  # the log's length at which the stager checkpoints it (pages)
GAP_S = 0.002  # at least this between two of the stager's transactions (``settle``)


@dataclass(frozen=True, slots=True)
class StagedSnapshot:
    """A snapshot being received: ``have`` of the ``parts`` parts of ``rev`` are
    stored (``stage_snapshot`` applies them all when the last one arrives)."""

    rev: int
    have: int
    parts: int


def staged_snapshot(rep: Replica) -> StagedSnapshot | None:
    """The snapshot whose parts are staged now, if any (one ``rev`` at a time)."""
    row = rep.conn.execute(
        "SELECT rev, sum(coalesce(json_extract(body, '$.complete'), 1)), max(parts)"
        " FROM snapshot_parts GROUP BY rev ORDER BY rev DESC LIMIT 1"
    ).fetchone()
    return None if row is None else StagedSnapshot(int(row[0]), int(row[1]), int(row[2]))


def staging_tables(rep: Replica) -> list[str]:
    """Tables named ``snap_*``: being staged, or leftovers (module rules)."""
    rows = rep.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?",
        [len(STAGE), STAGE],
    ).fetchall()
    return sorted(str(r[0]) for r in rows)


@contextmanager
def relaxed(rep: Replica) -> Iterator[None]:
    """One staging or tidying transaction's settings (module rules):
    ``synchronous=NORMAL``, no fsync at each commit (a power cut may lose the
    last of them, whole: parts come again, leftovers are tidied again; never
    anything a later FULL commit synced); a ``CACHE_KIB`` page cache (at
    656k records the indexes outgrow the default 2 MiB and every insert read
    pages back); and the log checkpointed here (``checkpoint``), passively,
    so that it does not reach the ``AUTOCHECKPOINT_PAGES`` at which the next
    committer, maybe the door, would have to checkpoint it inside its own
    commit."""
    conn = rep.conn
    settle(rep)
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA journal_size_limit = 0")  # the log's file is its length: log_pages
    try:
        yield
    finally:
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
    checkpoint(rep)


def checkpoint(rep: Replica) -> None:
    """After each of the stager's commits: once the log holds ``LOG_FRAMES``
    pages (``log_pages``), copy it into the
    database without waiting for anyone (PASSIVE), in the background: each
    checkpoint syncs the log and the database file, and that waiting is done
    beside the next rows and the next part's parsing (the link's), not
    before them. ``settle`` waits for it: before the stager's next
    transaction, so that the log starts again from its beginning (SQLite
    restarts it only when a writer begins after a checkpoint copied all of
    it), under the ``AUTOCHECKPOINT_PAGES`` at which another process's
    commit (the door's) would have to checkpoint it itself. Notes the
    commit's time for ``settle``'s gap."""
    _committed[rep] = time.monotonic()
    _wait_checkpoint(rep)
    if rep.conn.in_transaction:
        return
    if rep.path in ("", ":memory:") or rep.path.startswith("file:"):
        rep.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return
    page_size = int(rep.conn.execute("PRAGMA page_size").fetchone()[0])
    frames = log_pages(rep.path, page_size)
    if frames is not None and frames < LOG_FRAMES:
        return
    _pending[rep] = _checkpointer.submit(_checkpoint_file, rep.path)


def log_pages(path: str, page_size: int) -> int | None:
    """How many pages the log of the database at ``path`` holds, from its
    ``-wal`` file's size (None without one). The stager's connection
    truncates that file whenever it starts the log again
    (``journal_size_limit`` 0 while staging, ``relaxed``), so the size is the
    log's length; if another connection started it, the size is more, and
    the stager checkpoints sooner, never later. The file is only stat'ed:
    closing a descriptor of a database's files, even one opened just to
    read, drops every POSIX lock this process holds on them, SQLite's
    included (https://sqlite.org/howtocorrupt.html, 2.2). Reading the
    WAL-index that way got a link killed by SIGBUS when another process,
    seeing no lock, reset the file under its mapping."""
    try:
        size = os.stat(f"{path}-wal").st_size
    except OSError:
        return None
    return max(0, (size - _WAL_HEADER) // (_FRAME_HEADER + page_size))


_WAL_HEADER = 32  # https://sqlite.org/fileformat.html#the_write_ahead_log
_FRAME_HEADER = 24


def settle(rep: Replica) -> None:
    """Before the stager's next write transaction: wait for the checkpoint
    ``checkpoint`` started in the background, if any, and until ``GAP_S``
    has passed since the stager's last commit, so that a writer waiting for
    the lock (it asks every millisecond, ``sqlite.take_write_lock``) gets it
    between two of ours however quickly the next one is ready."""
    _wait_checkpoint(rep)
    committed = _committed.get(rep)
    if committed is not None:
        rest = committed + GAP_S - time.monotonic()
        if rest > 0:
            time.sleep(rest)


def _wait_checkpoint(rep: Replica) -> None:
    pending = _pending.pop(rep, None)
    if pending is None:
        return
    try:
        busy, frames, copied = pending.result()
    except sqlite3.Error as exc:  # the next one copies what this one did not
        log.warning("background checkpoint failed: %s", exc)
        return
    log.debug("checkpoint: %d of %d frames copied (busy %d)", copied, frames, busy)


def _checkpoint_file(path: str) -> tuple[int, ...]:
    """A PASSIVE checkpoint of ``path`` on a connection of its own (the
    replica's stays free for its thread), closed again: nothing outlives it."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        return tuple(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
    finally:
        conn.close()


_checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallvakt-checkpoint")
_pending: weakref.WeakKeyDictionary[Replica, Future[tuple[int, ...]]] = weakref.WeakKeyDictionary()
_committed: weakref.WeakKeyDictionary[Replica, float] = weakref.WeakKeyDictionary()


def tidy(rep: Replica, budget_s: float = TIDY_BUDGET_S) -> int:
    """Empty and drop leftover staging tables (no parts staged): their indexes
    first, then their rows a key range at a time (each transaction about
    ``budget_s`` long), then the tables. A table whose pages (its primary
    key's index included) SQLite can free within ``budget_s`` is dropped at
    once (``_pages``): freeing whole b-trees writes almost nothing, where a
    range at a time wrote 24 MB to empty 500k booking resources. Returns the
    transactions it took."""
    if staged_snapshot(rep) is not None:
        return 0  # staging is under way: those tables are not leftovers
    done = 0
    with relaxed(rep), fast_delete(rep):
        for table in staging_tables(rep):
            for (index,) in rep.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
                " AND sql IS NOT NULL",
                [table],
            ).fetchall():
                settle(rep)
                with rep.write():
                    rep.conn.execute(f'DROP INDEX IF EXISTS "{index}"')
                checkpoint(rep)
                done += 1
            if _pages(rep, table) * DROP_S_PER_PAGE > budget_s:
                done += _empty(rep, table, budget_s)
            settle(rep)
            with rep.write():
                rep.conn.execute(f"DROP TABLE IF EXISTS {table}")
            checkpoint(rep)
            done += 1
    return done


@contextmanager
def fast_delete(rep: Replica) -> Iterator[None]:
    """``secure_delete=FAST`` while leftovers are dropped: with ``ON`` (Debian's
    default) every freed page is zeroed and written again, which made dropping
    one 3,000-page index hold the lock for 340 ms. The freed pages keep their
    old bytes until reused (the next staging reuses them); rows deleted by
    central's changes are still zeroed (docs/replica.md)."""
    before = int(rep.conn.execute("PRAGMA secure_delete").fetchone()[0])
    rep.conn.execute("PRAGMA secure_delete = FAST")
    try:
        yield
    finally:
        rep.conn.execute(f"PRAGMA secure_delete = {before}")


def _pages(rep: Replica, table: str) -> float:
    """The pages of ``table`` and of its indexes (the explicit ones are
    dropped by now), read from SQLite's ``dbstat`` (without the lock);
    infinite where this SQLite lacks it."""
    try:
        (pages,) = rep.conn.execute(
            "SELECT coalesce(sum(pageno), 0) FROM dbstat"
            " WHERE aggregate = TRUE AND name IN"
            " (SELECT name FROM sqlite_master WHERE tbl_name = ?)",
            [table],
        ).fetchone()
    except sqlite3.Error:  # no dbstat in this build: a range at a time
        return float("inf")
    return float(pages)


def _key(rep: Replica, table: str) -> str:
    """The columns to delete ``table``'s rows by: rowid, or the primary key of
    a WITHOUT ROWID table."""
    without_rowid = rep.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = ? AND sql LIKE '%WITHOUT ROWID%'", [table]
    ).fetchone()
    if not without_rowid:
        return "rowid"
    cols = sorted(
        (int(r[5]), str(r[1])) for r in rep.conn.execute(f"PRAGMA table_info({table})") if r[5]
    )
    return ", ".join(c for _, c in cols)


def _empty(rep: Replica, table: str, budget_s: float) -> int:
    """Delete ``table``'s rows from its first key on, a key range per
    transaction (whole leaf pages at a time), sized to take about ``budget_s``."""
    key = _key(rep, table)
    chunk, done = 200, 0
    while True:
        settle(rep)
        t0 = time.monotonic()
        with rep.write():
            bound = rep.conn.execute(
                f"SELECT {key} FROM {table} ORDER BY {key} LIMIT 1 OFFSET ?", [chunk - 1]
            ).fetchone()
            if bound is None:
                rep.conn.execute(f"DELETE FROM {table}")
            else:
                marks = ", ".join("?" * len(bound))
                rep.conn.execute(f"DELETE FROM {table} WHERE ({key}) <= ({marks})", list(bound))
        took = time.monotonic() - t0
        checkpoint(rep)
        done += 1
        if bound is None:
            return done
        # Aim at the budget: grow (at most 2x) when quick, shrink when slow.
        chunk = max(50, min(chunk * 2, TIDY_MAX_ROWS, int(chunk * budget_s / max(took, 1e-4))))
