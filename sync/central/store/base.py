"""The store interface central's modules write and read through, on SQLite or PostgreSQL.

Rules this module guarantees (both engines behave the same; the engines are
``sqlite.SQLiteStore`` and ``postgres.PostgresStore``):
- SQL is written once, in the subset both engines speak, with ``?``
  placeholders (the PostgreSQL store turns them into psycopg's ``%s``).
  ``execute`` returns every row at once as a ``Result`` (tuples), so no
  cursor outlives its statement.
- ``write()`` is one transaction; a nested ``write()`` joins it as a savepoint
  (a failing inner step rolls back only itself if the caller catches the
  error). ``read()`` is one consistent snapshot over several statements
  (SQLite: a deferred transaction; PostgreSQL: REPEATABLE READ, READ ONLY).
  Outside both, each ``execute`` is its own transaction (autocommit).
- ``lock(kind, name)`` serialises the writers of one thing (a node, a
  facility, the head claims) until the end of the current write transaction.
  Every decision that reads what it then writes takes the lock of what it
  decides on first. SQLite holds one write lock for the whole file for every
  write transaction (``BEGIN IMMEDIATE``), so there it is a check only; on
  PostgreSQL it is a transaction-scoped advisory lock, and writes of
  different nodes and facilities run side by side. ``lock_many`` takes the
  locks of several things of one kind in the order given (callers give them
  sorted, so two writers that each lock several nodes never wait for each
  other in a cycle); a lock already held in the transaction costs nothing.
- ``transaction_failed(exc)`` tells an error that ended the transaction
  (connection lost, deadlock, lock or disk trouble: try again) from one that
  only the statement's own data caused (a constraint, a bad value).
- Errors of the engine that mean "the store cannot be used" (cannot connect,
  not migrated, corrupt file) are raised as ``StoreError``.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Self

Engine = Literal["sqlite", "postgresql"]
Params = Sequence[Any]
Row = tuple[Any, ...]


class StoreError(Exception):
    """Base of central's own errors; also a store that cannot be opened or used."""


class StoreLocked(StoreError):
    """A lock was asked for outside a write transaction (a programming error)."""


@dataclass(frozen=True, slots=True)
class Result:
    """The rows a statement returned (empty for one that returns none) and the
    number of rows it changed (``rowcount``, -1 when the engine cannot say)."""

    rows: list[Row]
    rowcount: int

    def fetchone(self) -> Row | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Row]:
        return self.rows

    def scalar(self) -> Any:
        """The first column of the first row; None when there is no row."""
        return self.rows[0][0] if self.rows else None

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


def lock_key(kind: str, name: str) -> int:
    """A signed 64-bit key for ``(kind, name)``: PostgreSQL's advisory lock space.
    Keys of different things collide with chance 2**-64 (then two writers wait
    for each other needlessly; nothing breaks)."""
    digest = hashlib.blake2b(f"hallvakt:{kind}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Store(abc.ABC):
    """One open central store (module rules). Open one with ``open_store(url)``
    (``sync.central.store``) or ``Store.open(path_or_url)``; close it with
    ``close()`` or a ``with`` block."""

    engine: Engine
    url: str

    @classmethod
    def open(cls, location: object, **options: Any) -> Store:
        """Open the store at ``location`` (a SQLite path, or a ``sqlite://`` or
        ``postgresql://`` URL), creating and migrating it as needed."""
        from . import open_store

        return open_store(location, **options)

    # --- statements ----------------------------------------------------------------

    @abc.abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Result:
        """Run one statement (``?`` placeholders) and return all its rows."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement once per parameter row."""

    # --- transactions ----------------------------------------------------------------

    @abc.abstractmethod
    def write(self) -> AbstractContextManager[Self]:
        """A write transaction (module rules); nested calls are savepoints."""

    @abc.abstractmethod
    def read(self) -> AbstractContextManager[Self]:
        """A consistent read snapshot over several statements."""

    @abc.abstractmethod
    def in_transaction(self) -> bool:
        """True inside ``write()`` or ``read()`` on this thread."""

    @abc.abstractmethod
    def lock(self, kind: str, name: str) -> None:
        """Hold the lock of ``(kind, name)`` until the current write transaction
        ends (module rules). Raises ``StoreLocked`` outside one."""

    def lock_many(self, kind: str, names: Sequence[str]) -> None:
        """``lock(kind, name)`` for each of ``names``, in that order."""
        for name in names:
            self.lock(kind, name)

    @abc.abstractmethod
    def transaction_failed(self, exc: BaseException) -> bool:
        """True when ``exc`` (raised inside a write transaction) means the
        transaction itself failed and must be tried again as a whole, not
        that one statement's data was refused (module rules)."""

    # --- the rest ----------------------------------------------------------------------

    @abc.abstractmethod
    def size_bytes(self) -> int:
        """The bytes the store takes on disk (file and WAL, or the database)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection(s). Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
