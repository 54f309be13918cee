"""Central's store in one SQLite file: the embedded default (``make demo``, small installs).

Rules this module guarantees (besides those of ``base``):
- The file is opened as every Hallvakt database is (``sync.sqlite``): WAL,
  ``synchronous=FULL`` (an event is acknowledged only once durable), a busy
  timeout, and a quick integrity check; a file that is not a database raises
  ``StoreError``.
- ``write()`` takes the file's one write lock up front (``BEGIN IMMEDIATE``):
  every write transaction of every process on the file runs alone, so the
  locks of ``base.Store.lock`` are held already and ``lock`` only checks it
  is called inside a write transaction.
- One ``SQLiteStore`` is one connection: use it from one thread at a time
  (each gateway, admin command or web worker opens its own).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from ...replica.sqlite import BUSY_TIMEOUT_S, Transactional, open_database
from .base import Params, Result, Store, StoreError, StoreLocked


class SQLiteStore(Transactional, Store):
    """Central's store in the SQLite file at ``path`` (``":memory:"`` for a private one)."""

    engine = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        try:
            # the schema is central's own runner's (schema.py), not sqlite-utils'
            self.db: Database = open_database(
                path, Migrations("hallvakt.central.none"), busy_timeout_s=busy_timeout_s
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: {exc}") from None
        self.conn: sqlite3.Connection = self.db.conn
        self.path = str(path)
        self.url = self.path if self.path == ":memory:" else f"sqlite:///{Path(path).absolute()}"
        self._writing = 0
        self._reading = 0

    def execute(self, sql: str, params: Params = ()) -> Result:
        cur = self.conn.execute(sql, params)
        try:
            rows = cur.fetchall() if cur.description is not None else []
            return Result(rows, cur.rowcount)
        finally:
            cur.close()

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self.conn.executemany(sql, rows).close()

    def _write_entered(self) -> None:  # write() is Transactional's, with this count
        if self._reading and not self._writing:
            raise StoreError("a write inside a read() transaction")
        self._writing += 1

    def _write_left(self) -> None:
        self._writing -= 1

    @contextmanager
    def read(self) -> Iterator[Self]:
        outer = not self.conn.in_transaction
        self._reading += outer
        try:
            with super().read():
                yield self
        finally:
            self._reading -= outer

    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def lock(self, kind: str, name: str) -> None:
        if not self._writing:
            raise StoreLocked(f"lock({kind!r}, {name!r}) outside a write transaction")

    def transaction_failed(self, exc: BaseException) -> bool:
        data = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError)
        return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, data)

    def size_bytes(self) -> int:
        if self.path == ":memory:":
            pages = self.execute("PRAGMA page_count").scalar()
            return int(pages) * int(self.execute("PRAGMA page_size").scalar())
        return sum(
            p.stat().st_size for p in (Path(self.path), Path(self.path + "-wal")) if p.exists()
        )

    def close(self) -> None:
        self.conn.close()
