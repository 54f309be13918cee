"""Central's store on PostgreSQL: the production store, through psycopg 3 and a connection pool.

Rules this module guarantees (besides those of ``base``):
- Connections come from a ``psycopg_pool.ConnectionPool`` (autocommit; the
  store issues ``BEGIN``/``COMMIT`` itself). A thread inside ``write()`` or
  ``read()`` holds one connection until the transaction ends; outside, each
  statement borrows one. One ``PostgresStore`` may be shared by the threads of
  a process (a web app's workers); each thread has its own transaction.
- ``write()`` runs at READ COMMITTED and relies on ``lock``: a transaction
  scoped advisory lock (``pg_advisory_xact_lock``) per node, facility or job,
  taken before reading what the transaction decides on, so the decision sees
  every earlier writer's commit and no later writer sees it half done. The
  store remembers the locks its transaction holds: asking again costs no
  round trip, and a savepoint rolled back forgets those taken inside it (the
  server released them). ``lock_many`` takes several in one statement, in
  the order given.
- ``read()`` is REPEATABLE READ, READ ONLY: one snapshot for every statement
  in it (a snapshot message is read whole at one revision). A ``write()``
  inside a ``read()`` is refused with ``StoreError``, on SQLite too.
- Opening checks the server once with a plain connection, so a wrong URL or a
  server that is down is reported at once as ``StoreError`` with libpq's
  reason; a lost connection later is ``StoreError`` too (the gateway logs it,
  quarantines nothing it could not store, and the node resends).
- No password is ever part of the URL central.toml holds (config.py refuses
  it): libpq reads it from ``PGPASSFILE`` / ``~/.pgpass``, or the server
  trusts the unix socket's peer (docs/central.md "PostgreSQL").
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .base import Params, Result, Store, StoreError, StoreLocked, lock_key

CONNECT_TIMEOUT_S = 10


@functools.lru_cache(maxsize=1024)
def to_psycopg(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's own ``$1``, ``$2``... The store's
    cursors are ``psycopg.RawCursor``: the statement goes to the server as it
    is, with no parsing on the client (psycopg parses a ``%s`` statement of
    more than 50 parameters anew every time: a quarter of a gateway's CPU
    with an ``events`` batch's multi-row INSERT)."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))


class _Tx(threading.local):
    conn: psycopg.Connection[Any] | None = None
    depth = 0  # 0: none; 1: the transaction; more: savepoints
    writing = False
    reading = False
    held: set[int]  # advisory lock keys held by the running write transaction

    def __init__(self) -> None:
        self.held = set()


class PostgresStore(Store):
    """Central's store in the PostgreSQL database at ``url`` (a libpq URI)."""

    engine = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        application_name: str = "hallvakt-central",
    ) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"autocommit": True, "application_name": application_name}
        try:  # one plain connection first: libpq's own words for a wrong URL or a dead server
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, **kwargs).close()
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {_safe(url)}: {exc}".strip()) from None
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={**kwargs, "connect_timeout": CONNECT_TIMEOUT_S},
            open=False,
            name="hallvakt-central",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreError(f"cannot connect to {_safe(url)}: {exc}") from None
        self._tx = _Tx()

    # --- statements ----------------------------------------------------------------

    def execute(self, sql: str, params: Params = ()) -> Result:
        conn = self._tx.conn
        try:
            if conn is not None:
                return _run(conn, sql, params)
            with self._pool.connection() as c:
                return _run(c, sql, params)
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise StoreError(f"store {_safe(self.url)}: {exc}") from exc

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if not rows:
            return
        conn = self._tx.conn
        try:
            if conn is not None:
                with psycopg.RawCursor(conn) as cur:
                    cur.executemany(to_psycopg(sql), rows)
                return
            with self._pool.connection() as c, psycopg.RawCursor(c) as cur:
                cur.executemany(to_psycopg(sql), rows)
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise StoreError(f"store {_safe(self.url)}: {exc}") from exc

    # --- transactions ----------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Self]:
        tx = self._tx
        if tx.depth and not tx.writing:
            raise StoreError("a write inside a read() transaction")
        with self._transaction("BEGIN", writing=True):
            yield self

    @contextmanager
    def read(self) -> Iterator[Self]:
        if self._tx.depth:
            yield self
            return
        with self._transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", writing=False):
            yield self

    @contextmanager
    def _transaction(self, begin: str, *, writing: bool) -> Iterator[None]:
        tx = self._tx
        if tx.depth:  # a savepoint in the running write transaction
            assert tx.conn is not None
            name = f"sp{tx.depth}"
            tx.conn.execute(f"SAVEPOINT {name}")
            tx.depth += 1
            held = set(tx.held)
            try:
                yield
            except BaseException:
                self._quietly(f"ROLLBACK TO SAVEPOINT {name}")
                tx.held = held  # the server released the locks taken since the savepoint
                raise
            else:
                tx.conn.execute(f"RELEASE SAVEPOINT {name}")
            finally:
                tx.depth -= 1
            return
        try:
            conn = self._pool.getconn(timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout as exc:
            raise StoreError(f"store {_safe(self.url)}: {exc}") from exc
        tx.conn, tx.depth, tx.writing, tx.reading = conn, 1, writing, not writing
        try:
            try:
                conn.execute(begin)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                raise StoreError(f"store {_safe(self.url)}: {exc}") from exc
            try:
                yield
            except BaseException:
                self._quietly("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                raise StoreError(f"store {_safe(self.url)}: commit failed: {exc}") from exc
        finally:
            tx.conn, tx.depth, tx.writing, tx.reading = None, 0, False, False
            tx.held = set()
            self._pool.putconn(conn)

    def _quietly(self, sql: str) -> None:
        conn = self._tx.conn
        if conn is None or conn.broken:
            return
        # a failure means the connection is gone: the pool drops it, the server rolled back
        with contextlib.suppress(psycopg.Error):
            conn.execute(sql)

    def in_transaction(self) -> bool:
        return self._tx.depth > 0

    def lock(self, kind: str, name: str) -> None:
        self.lock_many(kind, [name])

    def lock_many(self, kind: str, names: Sequence[str]) -> None:
        tx = self._tx
        if not tx.writing:
            raise StoreLocked(f"lock({kind!r}, {list(names)[:3]!r}) outside a write transaction")
        keys = [k for k in (lock_key(kind, n) for n in names) if k not in tx.held]
        if not keys:
            return
        if len(keys) == 1:
            self.execute("SELECT pg_advisory_xact_lock(?)", keys)
        else:  # unnest yields the keys in array order: the locks are taken in that order
            sql = "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(?::bigint[]) k"
            self.execute(sql, [keys])
        tx.held.update(keys)

    def transaction_failed(self, exc: BaseException) -> bool:
        lost = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
        return isinstance(exc, lost) or (
            isinstance(exc, StoreError) and isinstance(exc.__cause__, lost)
        )

    # --- the rest ----------------------------------------------------------------------

    def size_bytes(self) -> int:
        return int(self.execute("SELECT pg_database_size(current_database())").scalar())

    def close(self) -> None:
        self._pool.close()


def _run(conn: psycopg.Connection[Any], sql: str, params: Params) -> Result:
    with psycopg.RawCursor(conn) as cur:
        cur.execute(to_psycopg(sql), params)
        rows = cur.fetchall() if cur.description is not None else []
        return Result(rows, cur.rowcount)


def _safe(url: str) -> str:
    """``url`` without a password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an unreadable PostgreSQL URL)"
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items()})
