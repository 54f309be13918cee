"""The node database's own errors, and the connection that raises them.

Rules this module guarantees:
- No ``sqlite3`` error crosses the node database's boundary as it is: every
  statement runs on a ``GuardedConnection``, whose ``execute``,
  ``executemany``, ``executescript`` and fetches turn an ``sqlite3.Error``
  into one of the classes below (``raise ... from`` the original).
- A stored text that is not UTF-8 raises ``ReplicaCorrupt`` when the row is
  read, wherever it is read (the connection's text factory), instead of the
  module's ``OperationalError: Could not decode to UTF-8``.
- Each class that stands for an ``sqlite3`` condition is also that ``sqlite3``
  class, so library code running on the same connection (sqlite-utils'
  savepoints and feature probes) keeps its own ``except`` clauses; Hallvakt's
  callers catch the ``Replica*`` classes.

What a caller does with each (docs/replica.md "Errors"):
- ``ReplicaBusy``: the write lock stayed taken for the whole busy timeout; try
  again later.
- ``ReplicaFull``: the disk (or a quota) is full; the write was rolled back.
- ``ReplicaCorrupt``: one stored row does not decode or validate; the link asks
  central for a snapshot, which replaces it.
- ``ReplicaDamaged``: the file itself is damaged (not a database, malformed
  pages, cut short); refuse to run (exit 78), the file must be replaced.
- ``ReplicaUnavailable``: the file or its directory cannot be opened, read or
  written; refuse to run (exit 78).
- ``ReplicaFailure`` (``ReplicaConflict`` for a constraint): anything else
  SQLite reports, a bug; log it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, Self, cast


class ReplicaError(Exception):
    """Base of the node database's own errors."""


class ReplicaCorrupt(ReplicaError):
    """A stored row does not decode or validate: the replica must be rebuilt
    from a snapshot (the sync link asks for one)."""


class ReplicaDamaged(ReplicaError, sqlite3.DatabaseError):
    """The database file is damaged (not a database, a malformed page, a
    truncated file). A snapshot cannot mend it: the file must be replaced."""


class ReplicaBusy(ReplicaError, sqlite3.OperationalError):
    """Another connection held the write lock for the whole busy timeout."""


class ReplicaFull(ReplicaError, sqlite3.OperationalError):
    """The disk is full: the write was rolled back."""


class ReplicaUnavailable(ReplicaError, sqlite3.OperationalError):
    """The database or its directory cannot be opened, read or written
    (missing, permissions, an I/O error, a read-only file system)."""


class ReplicaFailure(ReplicaError, sqlite3.DatabaseError):
    """Any other error SQLite reports (a constraint, a statement that is wrong)."""


class ReplicaConflict(ReplicaFailure, sqlite3.IntegrityError):
    """A constraint failed (a duplicate key, a CHECK)."""


# SQLite's primary result codes (https://sqlite.org/rescode.html).
_BY_CODE: dict[int, type[ReplicaError]] = {
    3: ReplicaUnavailable,  # PERM
    5: ReplicaBusy,  # BUSY
    6: ReplicaBusy,  # LOCKED
    8: ReplicaUnavailable,  # READONLY
    10: ReplicaUnavailable,  # IOERR
    11: ReplicaDamaged,  # CORRUPT
    13: ReplicaFull,  # FULL
    14: ReplicaUnavailable,  # CANTOPEN
    19: ReplicaConflict,  # CONSTRAINT
    26: ReplicaDamaged,  # NOTADB
}


def translate(exc: sqlite3.Error, where: str) -> ReplicaError:
    """The replica's error for ``exc`` (raised on the database at ``where``)."""
    if isinstance(exc, ReplicaError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    cls = _BY_CODE.get(code & 0xFF) if isinstance(code, int) else None
    if cls is None:
        cls = ReplicaConflict if isinstance(exc, sqlite3.IntegrityError) else ReplicaFailure
    out = cls(f"node database {where}: {exc}")
    if isinstance(code, int):
        out.sqlite_errorcode = code  # type: ignore[attr-defined]
    return out


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = raw[:40].decode("utf-8", "replace")
        raise ReplicaCorrupt(f"a stored text is not UTF-8 ({exc.reason}): {shown!r}") from None


class GuardedCursor(sqlite3.Cursor):
    """A cursor whose statements and fetches raise the replica's errors."""

    where = "?"

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise translate(exc, self.where) from exc

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Self:
        try:
            return super().executemany(sql, seq_of_parameters)
        except sqlite3.Error as exc:
            raise translate(exc, self.where) from exc

    def executescript(self, sql_script: str, /) -> Self:
        try:
            return cast(Self, super().executescript(sql_script))
        except sqlite3.Error as exc:
            raise translate(exc, self.where) from exc

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            raise translate(exc, self.where) from exc

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        try:
            return super().fetchmany(size if size is not None else self.arraysize)
        except sqlite3.Error as exc:
            raise translate(exc, self.where) from exc

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            raise translate(exc, self.where) from exc

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as exc:
            raise translate(exc, self.where) from exc


class GuardedConnection(sqlite3.Connection):
    """``sqlite3.connect(path, factory=GuardedConnection)``: every statement on
    it raises the replica's errors (module rules); texts decode strictly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.where = str(args[0] if args else kwargs.get("database", "?"))
        self.text_factory = _text

    def _guarded(self) -> GuardedCursor:
        try:
            cur = self.cursor(GuardedCursor)
        except sqlite3.Error as exc:  # a closed connection
            raise translate(exc, self.where) from exc
        cur.where = self.where
        return cur

    def execute(self, sql: str, parameters: Any = (), /) -> GuardedCursor:
        # ``_guarded().execute(...)`` in one frame: the node appends an event
        # in four statements, and each Python call here cost as much as one.
        try:
            cur = self.cursor(GuardedCursor)
            cur.where = self.where
            sqlite3.Cursor.execute(cur, sql, parameters)
        except sqlite3.Error as exc:
            raise translate(exc, self.where) from exc
        return cur

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> GuardedCursor:
        return self._guarded().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> GuardedCursor:
        return self._guarded().executescript(sql_script)

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            raise translate(exc, self.where) from exc

    def rollback(self) -> None:
        try:
            super().rollback()
        except sqlite3.Error as exc:
            raise translate(exc, self.where) from exc
