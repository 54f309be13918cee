"""Central's database: connection settings, transactions and versioned migrations.

Rules this module guarantees:
- WAL journal, ``synchronous=FULL`` (a commit survives power loss: an event is
  acknowledged to a node only after it is durable), and a busy timeout so that
  several gateways and the admin commands can share one file: writers take the
  lock up front (``BEGIN IMMEDIATE``) and wait for it.
- The schema only changes by appending a migration to ``MIGRATIONS``; applying
  is idempotent and happens under the write lock.
- ``Store.write()`` is one transaction; nested calls join it as a savepoint, so
  a caller can make several steps (store events, judge walk-ins, ``mutate``)
  commit together or not at all.
- Epochs are stored as decimal text: PROTOCOL.md §5 allows any 64-bit value,
  SQLite integers are signed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from sync.replica.sqlite import BUSY_TIMEOUT_S, Transactional, open_database

from ..replica.store import TABLES as REPLICA_TABLES

MIGRATIONS = Migrations("hallvakt.central")

# entity (PROTOCOL.md §6) -> table, named as in the node's replica; here every
# table is keyed by (facility, id)
TABLES = REPLICA_TABLES


class StoreError(Exception):
    """Base of central's own errors."""


def connect(path: str | Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Database:
    """Open (creating if needed) central's database at ``path`` and migrate it.

    ``":memory:"`` gives a private in-memory database. Raises ``sqlite3.DatabaseError``
    for a file that is not a database or fails its quick check.
    """
    return open_database(path, MIGRATIONS, busy_timeout_s=busy_timeout_s)


class Store(Transactional):
    """One open central database. One per thread; each gateway and each admin
    command opens its own."""

    def __init__(self, db: Database, path: str) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.path = path

    @classmethod
    def open(cls, path: str | Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Store:
        """Open (create, migrate) the database at ``path``; ``":memory:"`` for tests."""
        return cls(connect(path, busy_timeout_s=busy_timeout_s), str(path))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@MIGRATIONS(name="0001_initial")
def _initial(db: Database) -> None:
    plain = [t for e, t in TABLES.items() if e not in ("booking", "lease")]
    ddl = [
        f"CREATE TABLE {t} (facility TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,"
        " PRIMARY KEY (facility, id)) WITHOUT ROWID"
        for t in plain
    ]
    ddl += [
        # Revision and change log per facility (PROTOCOL.md §6 head, changes).
        """CREATE TABLE facility_revs (
            facility TEXT PRIMARY KEY,
            rev INTEGER NOT NULL DEFAULT 0,
            oldest_rev INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE changelog (
            facility TEXT NOT NULL, rev INTEGER NOT NULL, at_ts INTEGER NOT NULL,
            ops TEXT NOT NULL, size INTEGER NOT NULL,
            PRIMARY KEY (facility, rev)
        ) WITHOUT ROWID""",
        """CREATE TABLE bookings (
            facility TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
            start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, active INTEGER NOT NULL,
            origin TEXT NOT NULL, node TEXT,
            PRIMARY KEY (facility, id)
        ) WITHOUT ROWID""",
        """CREATE TABLE booking_resources (
            facility TEXT NOT NULL, booking_id TEXT NOT NULL, resource TEXT NOT NULL,
            start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL,
            PRIMARY KEY (facility, booking_id, resource)
        ) WITHOUT ROWID""",
        "CREATE INDEX booking_resources_time ON booking_resources (facility, resource, start_ts)",
        """CREATE TABLE leases (
            facility TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
            node TEXT NOT NULL, resource TEXT NOT NULL,
            start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL,
            PRIMARY KEY (facility, id)
        ) WITHOUT ROWID""",
        "CREATE INDEX leases_time ON leases (facility, resource, start_ts)",
        # Every version of every lease: a removed one is still held by its node
        # until that node's cursor shows it applied removed_rev (PROTOCOL.md §6).
        """CREATE TABLE lease_versions (
            facility TEXT NOT NULL, lease_id TEXT NOT NULL, node TEXT NOT NULL,
            resource TEXT NOT NULL, start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL,
            created_rev INTEGER NOT NULL, removed_rev INTEGER
        )""",
        "CREATE INDEX lease_versions_id ON lease_versions (facility, lease_id)",
        "CREATE INDEX lease_versions_time ON lease_versions (facility, resource, start_ts)",
        """CREATE TABLE walkin_windows (
            facility TEXT NOT NULL, resource TEXT NOT NULL, node TEXT NOT NULL,
            windows TEXT NOT NULL,
            PRIMARY KEY (facility, resource)
        ) WITHOUT ROWID""",
        # Nodes (PROTOCOL.md §4: central trusts a node's key from its registry).
        """CREATE TABLE nodes (
            node TEXT PRIMARY KEY, facility TEXT NOT NULL, registered_ts INTEGER NOT NULL
        )""",
        "CREATE INDEX nodes_facility ON nodes (facility)",
        """CREATE TABLE node_keys (
            node TEXT NOT NULL, kid TEXT NOT NULL, public_key TEXT NOT NULL,
            added_ts INTEGER NOT NULL,
            PRIMARY KEY (node, kid)
        ) WITHOUT ROWID""",
        """CREATE TABLE node_state (
            node TEXT PRIMARY KEY,
            epoch TEXT, boot_id TEXT, software TEXT,
            applied_rev INTEGER NOT NULL DEFAULT 0,
            first_unacked INTEGER, outbox_last INTEGER,
            clock_trusted INTEGER, clock_source TEXT,
            hello_ts INTEGER, hello_iat INTEGER, cursor_ts INTEGER,
            status_state TEXT, status_epoch TEXT, status_iat INTEGER, status_ts INTEGER,
            head_rev INTEGER, head_oldest_rev INTEGER, head_iat INTEGER,
            command_seq INTEGER NOT NULL DEFAULT 0
        )""",
        # What each hello said: events up to last_seq were made while the node
        # stood at applied_rev or below (for walk-in verdicts).
        """CREATE TABLE node_marks (
            node TEXT NOT NULL, epoch TEXT NOT NULL, last_seq INTEGER NOT NULL,
            applied_rev INTEGER NOT NULL
        )""",
        "CREATE INDEX node_marks_node ON node_marks (node, epoch, last_seq)",
        # Events (PROTOCOL.md §6 ack): unique on (node, epoch, seq) and on id.
        """CREATE TABLE events (
            node TEXT NOT NULL, epoch TEXT NOT NULL, seq INTEGER NOT NULL,
            id TEXT UNIQUE, type TEXT NOT NULL, at_ts INTEGER NOT NULL, body TEXT NOT NULL,
            received_ts INTEGER NOT NULL, processed INTEGER NOT NULL DEFAULT 0,
            verdict TEXT, reason TEXT, clash_id TEXT,
            PRIMARY KEY (node, epoch, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE event_streams (
            node TEXT NOT NULL, epoch TEXT NOT NULL, through INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (node, epoch)
        ) WITHOUT ROWID""",
        """CREATE TABLE commands (
            node TEXT NOT NULL, seq INTEGER NOT NULL, cmd TEXT NOT NULL, args TEXT NOT NULL,
            created_ts INTEGER NOT NULL, sent_ts INTEGER, state TEXT NOT NULL DEFAULT 'queued',
            PRIMARY KEY (node, seq)
        ) WITHOUT ROWID""",
        # Dropped messages (PROTOCOL.md §4): security events, and quarantine.
        """CREATE TABLE security_log (
            id INTEGER PRIMARY KEY, at_ts INTEGER NOT NULL, topic TEXT NOT NULL,
            node TEXT, reason TEXT NOT NULL, detail TEXT NOT NULL
        )""",
        "CREATE INDEX security_log_at ON security_log (at_ts)",
        """CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY, at_ts INTEGER NOT NULL, topic TEXT NOT NULL,
            reason TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB NOT NULL
        )""",
        "CREATE INDEX quarantine_at ON quarantine (at_ts)",
    ]
    for statement in ddl:
        db.execute(statement)
