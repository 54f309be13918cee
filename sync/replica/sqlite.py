"""SQLite as every Hallvakt database uses it: the node's and central's.

Rules this module guarantees:
- WAL journal and ``synchronous=FULL`` (a commit survives power loss), a
  commit checkpoints the log once it is ``AUTOCHECKPOINT_PAGES`` long, a busy
  timeout, foreign keys on, and (unless ``quick_check=False``) a quick
  integrity check on open: a file that is not a database or is corrupt raises
  ``sqlite3.DatabaseError`` (or what the connection ``factory`` makes of it).
- Migrations (sqlite-utils ``Migrations``) are applied under the write lock,
  so processes opening a new file together migrate it once.
- ``Transactional.write()`` takes the write lock up front (``BEGIN
  IMMEDIATE``): a writer waits for the lock instead of failing on a lock
  upgrade. Nested calls join the outer transaction as a savepoint.
- A writer that finds the lock taken asks again every millisecond (every
  ``LOCK_POLL_LATE_S`` once it has waited ``LOCK_POLL_FAST_S``), up to the
  connection's busy timeout (``take_write_lock``). SQLite's own busy handler
  sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between tries, so
  a writer that arrives while a snapshot stages its short transactions slept
  through the gaps between them and waited up to 1.4 s (docs/replica.md).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Generic, Self, TypeVar

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

BUSY_TIMEOUT_S = 15.0
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
# A commit that leaves the log longer than this checkpoints it (SQLite's own
# default is 1,000 pages): a snapshot's stager lets the log grow to
# ``snapshot_tidy.LOG_FRAMES`` between its own checkpoints, below this, so
# that the door's and the kiosk's commits never have to copy it.
AUTOCHECKPOINT_PAGES = 4_000
LOCK_POLL_S = 0.001  # how often a waiting writer asks for the lock at first
LOCK_POLL_FAST_S = 0.5  # ... for this long; then every LOCK_POLL_LATE_S
LOCK_POLL_LATE_S = 0.01
_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED


def take_write_lock(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, asking again every ``LOCK_POLL_S`` while another
    connection holds the lock (module rules) until the connection's busy
    timeout has passed; then the busy error ``BEGIN IMMEDIATE`` raises."""
    timeout_ms = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        t0 = time.monotonic()
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                waited = time.monotonic() - t0
                code = getattr(exc, "sqlite_errorcode", None)
                if not isinstance(code, int) or code & 0xFF not in _BUSY:
                    raise
                if waited * 1000 >= timeout_ms:
                    raise
            time.sleep(LOCK_POLL_S if waited < LOCK_POLL_FAST_S else LOCK_POLL_LATE_S)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")


def open_database(
    path: str | Path,
    migrations: Migrations,
    *,
    busy_timeout_s: float = BUSY_TIMEOUT_S,
    factory: type[sqlite3.Connection] = sqlite3.Connection,
    quick_check: bool = True,
) -> Database:
    """Open (creating if needed) the database at ``path`` and apply ``migrations``.

    ``":memory:"`` gives a private in-memory database. ``factory``: the
    connection class; ``quick_check=False`` leaves the integrity check to the
    caller (it reads the whole file: about 1 s per GB).
    """
    conn = sqlite3.connect(
        str(path),
        timeout=busy_timeout_s,
        isolation_level=None,
        check_same_thread=False,
        factory=factory,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        if str(path) != ":memory:":
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.DatabaseError(f"{path}: could not enable WAL (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        # After a checkpoint the WAL shrinks back to this size (a 100k-booking
        # snapshot left a 270 MB -wal file behind otherwise).
        conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        if quick_check:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"{path}: database is corrupt: {check}")
        db = Database(conn, execute_plugins=False)
        if migrations.pending(db):
            # apply() re-reads what is pending inside the lock and runs each
            # migration in a savepoint of this transaction.
            conn.execute("BEGIN IMMEDIATE")
            try:
                migrations.apply(db)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return db
    except BaseException:
        conn.close()
        raise


_T = TypeVar("_T", bound="Transactional")
_SAVEPOINTS = tuple(f"hv_write_{depth}" for depth in range(8))


class Transactional:
    """Write and read transactions over ``self.db`` / ``self.conn``."""

    db: Database
    conn: sqlite3.Connection

    def _in_tx(self) -> bool:
        return self.conn.in_transaction

    def _rolled_back(self) -> None:
        """Called after a write transaction (or savepoint) was rolled back."""

    _savepoints = 0  # nested write() calls open now

    def _write_entered(self) -> None:
        """Called as each ``write()`` is entered, before the lock or savepoint
        is taken (raise to refuse it: nothing is begun then)."""

    def _write_left(self) -> None:
        """Called as each ``write()`` is left, however it ended."""

    def write(self) -> _Write[Self]:
        """A write transaction; nested calls join the outer one (as a savepoint)."""
        return _Write(self)

    @contextmanager
    def read(self) -> Iterator[Self]:
        """A consistent read snapshot over several queries."""
        if self._in_tx():
            yield self
            return
        self.conn.execute("BEGIN")
        try:
            yield self
        finally:
            if self._in_tx():
                self.conn.execute("COMMIT")


class _Write(Generic[_T]):
    """``Transactional.write()``: a context manager of its own rather than a
    generator's, because the node appends events one savepoint each and the
    gateway records messages one savepoint each (a generator's enter and exit
    cost several times the statements). A savepoint is named by its depth:
    the same few statements each time, so SQLite's statement cache keeps them
    prepared (a name made fresh for each, as sqlite-utils' ``atomic`` does, is
    compiled every time).

    Outermost: the write lock up front (``take_write_lock``), COMMIT on a
    clean exit, ROLLBACK on an exception. Nested: SAVEPOINT, RELEASE on a
    clean exit, ROLLBACK TO and RELEASE on an exception, unless the error
    destroyed the whole transaction (a RAISE(ROLLBACK) trigger, a full disk),
    which leaves no savepoint to roll back to. Whatever fails, entering or
    leaving, the owner's ``_rolled_back`` is called and the error raised."""

    __slots__ = ("_name", "_owner")

    def __init__(self, owner: _T) -> None:
        self._owner = owner
        self._name: str | None = None

    def __enter__(self) -> _T:
        o = self._owner
        o._write_entered()
        try:
            if o._in_tx():
                depth = o._savepoints
                name = _SAVEPOINTS[depth] if depth < len(_SAVEPOINTS) else f"hv_write_{depth}"
                o.conn.execute(f"SAVEPOINT {name}")
                o._savepoints = depth + 1
                self._name = name
            else:
                take_write_lock(o.conn)
        except BaseException:
            o._rolled_back()
            o._write_left()
            raise
        return self._owner

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        o = self._owner
        name = self._name
        try:
            self._leave(o, name, typ)
        finally:
            o._write_left()

    @staticmethod
    def _leave(o: Transactional, name: str | None, typ: type[BaseException] | None) -> None:
        try:
            if name is not None:
                try:
                    if typ is not None:
                        if o._in_tx():
                            o.conn.execute(f"ROLLBACK TO {name}")
                            o.conn.execute(f"RELEASE {name}")
                    else:
                        o.conn.execute(f"RELEASE {name}")
                finally:
                    o._savepoints -= 1
            elif typ is not None:
                if o._in_tx():
                    o.conn.execute("ROLLBACK")
            else:
                o.conn.execute("COMMIT")
        except BaseException:
            o._rolled_back()
            raise
        if typ is not None:
            o._rolled_back()
