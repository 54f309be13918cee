"""Central's store: one interface over SQLite (embedded default) and PostgreSQL (production).

- ``base``: ``Store``, the interface every central module uses: ``execute``
  (one SQL text for both engines, ``?`` placeholders), ``write()`` / ``read()``
  transactions, ``lock(kind, name)`` for decisions several gateways could
  race on, ``Result``, ``StoreError``.
- ``sqlite``: ``SQLiteStore``, one file (WAL, ``synchronous=FULL``).
- ``postgres``: ``PostgresStore``, psycopg 3 with a connection pool and
  advisory locks.
- ``schema``: the tables and the versioned migrations, one list for both.

``open_store(location)`` picks the engine by URL: ``postgresql://…`` (or
``postgres://…``) is PostgreSQL, ``sqlite:///path`` or a plain path is SQLite.
A second process (a report job, a web page) opens the same store the same way
and reads it with the same functions (``changelog``, ``nodes``, ``events``,
``leases``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .base import Engine, Result, Store, StoreError, StoreLocked, lock_key
from .schema import TABLES, migrate, pending

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite://"


def engine_of(location: object) -> Engine:
    """Which engine a store location names (module docstring)."""
    text = str(location)
    return "postgresql" if text.startswith(POSTGRES_SCHEMES) else "sqlite"


def sqlite_path(location: object) -> str:
    """The file a SQLite location names (``sqlite:///abs/path`` or a path)."""
    text = str(location)
    if text.startswith(SQLITE_SCHEME):
        rest = text[len(SQLITE_SCHEME) :]
        if not rest.startswith("/"):
            raise StoreError(f"{text!r}: a SQLite URL is sqlite:///absolute/path")
        return rest
    return text


def open_store(location: object, *, create: bool = True, **options: Any) -> Store:
    """Open central's store at ``location`` and apply pending migrations.

    With ``create=False`` a store that does not exist yet (no SQLite file, or a
    PostgreSQL database without central's tables) raises ``StoreError``
    instead of being made: every command but ``init`` wants an existing one.
    ``options`` go to the engine (``busy_timeout_s`` for SQLite; ``min_size``,
    ``max_size``, ``application_name`` for PostgreSQL's pool).
    """
    store: Store
    if engine_of(location) == "postgresql":
        from .postgres import PostgresStore

        store = PostgresStore(str(location), **options)
    else:
        from .sqlite import SQLiteStore

        path = sqlite_path(location)
        if not create and path != ":memory:" and not Path(path).exists():
            raise StoreError(f"{path} does not exist (run `hallvakt central init`)")
        store = SQLiteStore(path, **options)
    try:
        if not create and store.engine == "postgresql" and _empty(store):
            raise StoreError(f"{store.url} has no central tables (run `hallvakt central init`)")
        _migrate(store)
    except BaseException:
        store.close()
        raise
    return store


def _migrate(store: Store) -> None:
    if store.engine == "sqlite":
        migrate(store, int(time.time()))
        return
    import psycopg

    try:
        migrate(store, int(time.time()))
    except psycopg.Error as exc:
        raise StoreError(
            f"{store.url}: cannot apply central's migrations: {exc}".strip()
            + " (run `hallvakt central init` as the database's owner role)"
        ) from None


def _empty(store: Store) -> bool:
    from .schema import MIGRATIONS

    return len(pending(store)) == len(MIGRATIONS)


__all__ = [
    "TABLES",
    "Engine",
    "Result",
    "Store",
    "StoreError",
    "StoreLocked",
    "engine_of",
    "lock_key",
    "open_store",
    "sqlite_path",
]
