"""Pytest fixtures for central's store on both engines (registered in tests/conftest.py).

- ``pg_server`` (session): one private PostgreSQL server for the whole run
  (tests/support/pgserver.py), with a template database holding central's
  migrated schema. Skips when PostgreSQL is not installed (``make test``
  installs it, as it installs mosquitto).
- ``store_url`` (parametrised ``sqlite`` / ``postgresql``): a fresh, empty
  but migrated store per test: a SQLite file in the test's temp directory, or
  a new database copied from the template (``CREATE DATABASE ... TEMPLATE``,
  about 60 ms) and dropped after the test.
- ``new_store_url()``: another fresh store of the same engine (a test that
  compares two stores).
- ``pg_url``: the same on PostgreSQL only, for tests of its own behaviour.
- ``reset(store)``: every table emptied (Hypothesis examples sharing stores).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sync.central.store import Store, open_store, schema

from .pgserver import PostgresServer, available

TEMPLATE = "central_template"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if not available():
        pytest.skip(
            "PostgreSQL is not installed (Debian package postgresql; `make test` installs it)"
        )
    server = PostgresServer(fast=True).start()
    try:
        server.create_database(TEMPLATE)
        open_store(server.url(TEMPLATE)).close()  # migrated once; each test copies it
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    """The engine a test runs on; every test using a store runs on both."""
    return str(request.param)


@pytest.fixture
def new_store_url(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], str]]:
    """``new_store_url()``: the URL of another fresh, migrated store of ``engine``."""
    made: list[str] = []
    server: PostgresServer | None = None

    def make() -> str:
        nonlocal server
        if engine == "sqlite":
            path = tmp_path / f"central{len(made) or ''}.db"
            made.append(str(path))
            return str(path)
        if server is None:
            server = request.getfixturevalue("pg_server")
        name = f"t{next(_names)}"
        made.append(name)
        return server.create_database(name, template=TEMPLATE)

    yield make
    if server is not None:
        for name in made:
            server.drop_database(name)


@pytest.fixture
def store_url(new_store_url: Callable[[], str]) -> str:
    """A fresh, migrated store of each engine (module docstring)."""
    return new_store_url()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, migrated store on PostgreSQL only."""
    name = f"t{next(_names)}"
    url = pg_server.create_database(name, template=TEMPLATE)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


def reset(store: Store) -> None:
    """Empty every table of central's (for Hypothesis examples sharing a store)."""
    tables = [t for t in store_tables(store) if t != schema.TABLE]
    with store.write():  # DELETE: on a few rows quicker than TRUNCATE's new files
        for t in tables:
            store.execute(f"DELETE FROM {t}")


def store_tables(store: Store) -> list[str]:
    if store.engine == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    return sorted(n for (n,) in store.execute(sql))
