"""The store interface on both engines (sync/central/store/).

store/ guarantees: one SQL text for SQLite and PostgreSQL, the same schema on
both (migrations applied once, recorded, and a store made by the old runner
adopted), write transactions with savepoints, consistent reads, a write
inside a read refused, ``lock`` only inside a write (and on PostgreSQL an
advisory lock that makes a second writer wait), ids sorted byte-wise on
both, and a store that cannot be reached reported as ``StoreError``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from firmware_config.schema import ConfigError
from sync.central import changelog as cl
from sync.central import nodes
from sync.central.config import parse_central_config
from sync.central.db import Store
from sync.central.store import StoreError, StoreLocked, open_store, schema
from sync.replica.store import TABLES as REPLICA_TABLES
from tests.support.central_stores import store_tables
from tests.support.pgserver import PostgresServer

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def columns(store: Store) -> dict[str, list[str]]:
    out = {}
    for table in store_tables(store):
        if store.engine == "sqlite":
            cols = [r[1] for r in store.execute(f"PRAGMA table_info({table})")]
        else:
            cols = [
                n
                for (n,) in store.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
                    " ORDER BY ordinal_position",
                    [table],
                )
            ]
        out[table] = cols
    return out


def test_both_engines_have_the_same_tables_and_columns(tmp_path: Path, pg_url: str) -> None:
    with Store.open(tmp_path / "c.db") as lite, Store.open(pg_url) as pg:
        assert columns(lite) == columns(pg)
        assert [m.name for m in schema.MIGRATIONS] == schema.applied(lite) == schema.applied(pg)
    assert schema.TABLES == REPLICA_TABLES  # entity tables named as on the node


def test_migrations_are_applied_once(store_url: str) -> None:
    with Store.open(store_url) as s:
        assert schema.pending(s) == []
        assert schema.migrate(s, 0) == []
        before = s.execute(f"SELECT name, applied_ts FROM {schema.TABLE}").fetchall()
    with Store.open(store_url) as s:  # opening again changes nothing
        assert s.execute(f"SELECT name, applied_ts FROM {schema.TABLE}").fetchall() == before


def test_a_store_made_by_the_old_runner_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Migrations("hallvakt.central")

    @old(name="0001_initial")
    def _initial(db: Database) -> None:
        for statement in schema.INITIAL.statements:
            db.execute(statement)

    conn = sqlite3.connect(path)
    old.apply(Database(conn))
    conn.execute("INSERT INTO facility_revs (facility, rev) VALUES ('f', 7)")
    conn.commit()
    conn.close()
    with Store.open(path) as s:
        assert schema.applied(s) == [m.name for m in schema.MIGRATIONS]  # adopted, then the rest
        assert cl.revs(s, "f") == cl.Revs(7, 0)


def test_a_new_postgres_database_opened_by_several_processes_is_migrated_once(
    pg_server: PostgresServer,
) -> None:
    url = pg_server.create_database("race")
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            open_store(url).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with open_store(url) as s:
        assert schema.applied(s) == [m.name for m in schema.MIGRATIONS]
    pg_server.drop_database("race")


def test_open_without_create_refuses_a_store_that_was_never_made(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "none.db", create=False)
    url = pg_server.create_database("empty")
    with pytest.raises(StoreError, match="no central tables"):
        open_store(url, create=False)
    pg_server.drop_database("empty")


def test_an_unreachable_server_is_a_store_error(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(StoreError, match="cannot connect"):
        open_store(f"postgresql://nobody@/central?host={tmp_path}")
    assert time.monotonic() - t0 < 5


def test_transactions_savepoints_and_the_rules_of_lock(store_url: str) -> None:
    with Store.open(store_url) as s:
        with pytest.raises(StoreLocked):
            s.lock("node", "n1")
        with s.write():
            s.lock("node", "n1")
            s.execute("INSERT INTO facility_revs (facility, rev) VALUES ('a', 1)")
            with pytest.raises(RuntimeError), s.write():  # a savepoint: only it rolls back
                s.execute("INSERT INTO facility_revs (facility, rev) VALUES ('b', 1)")
                raise RuntimeError
        assert [f for (f,) in s.execute("SELECT facility FROM facility_revs")] == ["a"]
        with pytest.raises(RuntimeError), s.write():  # the whole transaction
            s.execute("INSERT INTO facility_revs (facility, rev) VALUES ('c', 1)")
            raise RuntimeError
        assert [f for (f,) in s.execute("SELECT facility FROM facility_revs")] == ["a"]
        with s.read():
            assert s.in_transaction()
            with pytest.raises(StoreError, match="inside a read"), s.write():
                pass
        assert not s.in_transaction()


def test_a_read_sees_one_snapshot_while_another_connection_writes(store_url: str) -> None:
    with Store.open(store_url) as reader, Store.open(store_url) as writer:
        cl.mutate(writer, "f", [cl.upsert_wire("policy", {"id": "default"})], NOW)
        with reader.read():
            first = cl.revs(reader, "f")
            cl.mutate(writer, "f", [cl.upsert_wire("policy", {"id": "p2"})], NOW)
            assert cl.revs(reader, "f") == first == cl.Revs(1, 0)
            assert [r.id for r in cl.records(reader, "f", "policy")] == ["default"]
        assert cl.revs(reader, "f") == cl.Revs(2, 0)


def test_ids_sort_byte_wise_on_both(store_url: str) -> None:
    ids = ["b", "B", "a.1", "a-1", "Z", "x_y", "a@b", "0", "a:b"]
    with Store.open(store_url) as s:
        ops = [cl.upsert_wire("policy", {"id": i}) for i in ids]
        cl.mutate(s, "f", ops, NOW)
        assert [r.id for r in cl.records(s, "f", "policy")] == sorted(ids)  # code point order


def test_text_with_nul_is_kept_readable_on_both(store_url: str) -> None:
    with Store.open(store_url) as s:
        nodes.log_security(s, "hallvakt/v1/n1/up/evt", "n1", "malformed", "a\x00b", NOW)
        assert s.execute("SELECT detail FROM security_log").scalar() == "a\ufffdb"


def test_an_advisory_lock_makes_the_second_writer_wait(pg_url: str) -> None:
    """Two connections decide on the same counter; the lock serialises them,
    so neither update is lost. The second is seen waiting on the lock in
    pg_stat_activity before the first commits (no sleep decides anything)."""
    with Store.open(pg_url) as a, Store.open(pg_url) as b, Store.open(pg_url) as watch:
        a.execute("INSERT INTO facility_revs (facility, rev) VALUES ('f', 0)")
        holding, done = threading.Event(), threading.Event()
        release = threading.Event()

        def bump(s: Store, first: bool) -> None:
            with s.write():
                s.lock("facility", "f")
                if first:
                    holding.set()
                    assert release.wait(10)
                rev = s.execute("SELECT rev FROM facility_revs WHERE facility = 'f'").scalar()
                s.execute("UPDATE facility_revs SET rev = ? WHERE facility = 'f'", [rev + 1])
            if not first:
                done.set()

        t1 = threading.Thread(target=bump, args=(a, True))
        t1.start()
        assert holding.wait(10)
        t2 = threading.Thread(target=bump, args=(b, False))
        t2.start()
        deadline = time.monotonic() + 10
        waiting = 0
        while waiting == 0 and time.monotonic() < deadline:
            waiting = watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
            ).scalar()
        assert waiting == 1 and not done.is_set()
        release.set()
        t1.join(10)
        t2.join(10)
        assert done.is_set()
        assert a.execute("SELECT rev FROM facility_revs").scalar() == 2


@pytest.mark.parametrize(
    ("store", "problem"),
    [
        ("postgresql://gw:secret@db.example/central", "a password does not belong"),
        ("postgresql://gw@db.example/", "names no database"),
        ("mysql://gw@db.example/central", "mysql:// is not a store"),
        ("sqlite://relative.db", "sqlite:///absolute/path"),
    ],
)
def test_central_toml_store_urls_that_are_refused(store: str, problem: str) -> None:
    doc: dict[str, Any] = {
        "store": store,
        "signing": {"key": "k", "kid": "central-1"},
        "broker": {"url": "mqtt://127.0.0.1"},
    }
    with pytest.raises(ConfigError, match=problem):
        parse_central_config(doc, file="c.toml")


@pytest.mark.parametrize(
    ("store", "engine"),
    [
        ("postgresql://gw@/central?host=/run/postgresql", "postgresql"),
        ("postgres://gw@db.example:5433/central?sslmode=verify-full", "postgresql"),
        ("sqlite:///var/lib/hallvakt-central/central.db", "sqlite"),
        ("central.db", "sqlite"),
    ],
)
def test_central_toml_picks_the_store_by_url(store: str, engine: str) -> None:
    doc: dict[str, Any] = {
        "store": store,
        "signing": {"key": "k", "kid": "central-1"},
        "broker": {"url": "mqtt://127.0.0.1"},
    }
    assert parse_central_config(doc, file="c.toml").store.engine == engine


def test_the_deploy_roles_own_migrate_write_and_read(pg_server: PostgresServer) -> None:
    """deploy/central/postgres/{roles,grants}.sql as docs/central.md runs them: the
    owner migrates, a gateway writes rows but cannot change the schema, a
    reader only reads."""
    deploy = Path(__file__).resolve().parents[2] / "deploy/central/postgres"
    pg_server.sql((deploy / "roles.sql").read_text())
    pg_server.sql("CREATE DATABASE roles_db OWNER hallvakt_owner TEMPLATE template0")
    try:
        pg_server.sql((deploy / "grants.sql").read_text(), dbname="roles_db")
        open_store(pg_server.url("roles_db", "hallvakt_owner")).close()  # init: migrations
        with open_store(pg_server.url("roles_db", "hallvakt_gateway")) as gw:
            assert cl.mutate(gw, "f", [cl.upsert_wire("policy", {"id": "default"})], NOW) == 1
            nodes.log_security(gw, "t", None, "malformed", "d", NOW)  # an identity column
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                gw.execute("CREATE TABLE mine (x INTEGER)")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                gw.execute("DROP TABLE events")
        with open_store(pg_server.url("roles_db", "hallvakt_reader")) as reader:
            assert cl.revs(reader, "f") == cl.Revs(1, 0)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute("DELETE FROM events")
    finally:
        pg_server.drop_database("roles_db")
