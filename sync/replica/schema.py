"""The node database: connection settings and versioned migrations.

Rules this module guarantees:
- WAL journal, ``synchronous=FULL`` (a commit survives power loss), foreign
  keys on, and a busy timeout so the door controller, sync and kiosk processes
  can all write: writers take the lock up front (``BEGIN IMMEDIATE``) and wait
  for it instead of failing on a lock upgrade.
- The schema is only ever changed by appending a migration to ``MIGRATIONS``;
  a migration never edits an earlier one. Applying is idempotent.
- A new database gets a random 53-bit ``epoch`` (PROTOCOL.md §5 hello) that
  stays for the life of the file.
"""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .errors import GuardedConnection, ReplicaError, translate
from .opening import check_size, prepare_directory, probe_roots
from .sqlite import BUSY_TIMEOUT_S, open_database

MIGRATIONS = Migrations("hallvakt.replica")


def connect(
    path: str | Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S, create_dir: bool = False
) -> Database:
    """Open (creating if needed) the node database at ``path`` and migrate it.

    ``":memory:"`` gives a private in-memory database. The connection is a
    ``GuardedConnection`` (it raises ``sync.replica.errors`` classes only).
    ``create_dir``: make a missing directory (``opening.prepare_directory``).
    Raises ``ReplicaUnavailable`` (no directory, no access), ``ReplicaDamaged``
    (not a database, cut short, a damaged root page). The full integrity check
    is not run here (``sync.replica.integrity``: once per boot).
    """
    prepare_directory(path, create=create_dir)
    check_size(path)
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return _open(path, busy_timeout_s)
        except ReplicaError as exc:
            # Another process changed the schema under this open's statements
            # (the link dropping a snapshot's staging tables): opening is
            # idempotent, so open again.
            if attempt + 1 == OPEN_ATTEMPTS or not _schema_changed(exc):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


OPEN_ATTEMPTS = 3


def _schema_changed(exc: BaseException) -> bool:
    cause = exc.__cause__
    return isinstance(cause, sqlite3.Error) and cause.sqlite_errorcode == sqlite3.SQLITE_SCHEMA


def _open(path: str | Path, busy_timeout_s: float) -> Database:
    try:
        db = open_database(
            path,
            MIGRATIONS,
            busy_timeout_s=busy_timeout_s,
            factory=GuardedConnection,
            quick_check=False,
        )
    except ReplicaError:
        raise
    except sqlite3.Error as exc:  # from sqlite3.connect itself, before the guard exists
        raise translate(exc, str(path)) from exc
    try:
        probe_roots(db.conn)
    except BaseException:
        db.conn.close()
        raise
    return db


@MIGRATIONS(name="0001_initial")
def _initial(db: Database) -> None:
    ddl = """
    CREATE TABLE sync_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        epoch INTEGER NOT NULL,
        applied_rev INTEGER NOT NULL DEFAULT 0,
        last_seq INTEGER NOT NULL DEFAULT 0,
        acked_through INTEGER NOT NULL DEFAULT 0,
        head_rev INTEGER,
        head_oldest_rev INTEGER,
        head_seen_ts INTEGER,
        applied_ts INTEGER,
        max_booking_s INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE facilities (id TEXT PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE resources (id TEXT PRIMARY KEY, parent TEXT, data TEXT NOT NULL);
    CREATE INDEX resources_parent ON resources(parent);
    CREATE TABLE doors (id TEXT PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE door_resources (
        door_id TEXT NOT NULL, resource_id TEXT NOT NULL,
        PRIMARY KEY (door_id, resource_id)
    ) WITHOUT ROWID;
    CREATE TABLE holders (id TEXT PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE holder_members (
        holder_id TEXT NOT NULL, group_id TEXT NOT NULL,
        PRIMARY KEY (holder_id, group_id)
    ) WITHOUT ROWID;
    CREATE TABLE credentials (
        id TEXT PRIMARY KEY, digest TEXT NOT NULL, holder TEXT, booking TEXT,
        data TEXT NOT NULL
    );
    CREATE INDEX credentials_digest ON credentials(digest);
    CREATE INDEX credentials_booking ON credentials(booking);
    CREATE TABLE bookings (
        id TEXT PRIMARY KEY, holder TEXT, start_ts INTEGER NOT NULL,
        end_ts INTEGER NOT NULL, status TEXT NOT NULL, origin TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX bookings_holder_end ON bookings(holder, end_ts);
    CREATE TABLE booking_resources (
        resource_id TEXT NOT NULL, end_ts INTEGER NOT NULL, booking_id TEXT NOT NULL,
        start_ts INTEGER NOT NULL,
        PRIMARY KEY (resource_id, end_ts, booking_id)
    ) WITHOUT ROWID;  -- key columns first: SQLite 3.40's quick_check misreads others
    CREATE INDEX booking_resources_booking ON booking_resources(booking_id);
    CREATE TABLE grants (id TEXT PRIMARY KEY, holder TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX grants_holder ON grants(holder);
    CREATE TABLE leases (
        id TEXT PRIMARY KEY, node TEXT NOT NULL, resource TEXT NOT NULL,
        start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, data TEXT NOT NULL
    );
    CREATE INDEX leases_resource ON leases(resource, end_ts);
    CREATE TABLE revocations (
        id TEXT PRIMARY KEY, credential TEXT, digest TEXT, data TEXT NOT NULL
    );
    CREATE INDEX revocations_credential ON revocations(credential);
    CREATE INDEX revocations_digest ON revocations(digest);
    CREATE TABLE policies (id TEXT PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
        at_ts INTEGER NOT NULL, body TEXT NOT NULL
    );
    CREATE TABLE walkins (
        booking_id TEXT PRIMARY KEY, event_id TEXT NOT NULL, state TEXT NOT NULL
            CHECK (state IN ('pending', 'accepted', 'rejected', 'cancelled')),
        reason TEXT NOT NULL DEFAULT '', data TEXT NOT NULL
    );
    CREATE TABLE snapshot_parts (
        rev INTEGER NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL,
        body TEXT NOT NULL, PRIMARY KEY (rev, part)
    );
    """
    for statement in ddl.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(
        # 53 bits: exact in every JSON implementation (a JavaScript central
        # would round a larger epoch), and still no collision in practice.
        "INSERT INTO sync_state (id, epoch) VALUES (1, ?)",
        [secrets.randbelow(2**53 - 1) + 1],
    )


@MIGRATIONS(name="0002_attendance")
def _attendance(db: Database) -> None:
    db.execute(
        "CREATE TABLE attendance ("
        " booking_id TEXT PRIMARY KEY, checked_in_ts INTEGER, leader_in_ts INTEGER,"
        " no_show_ts INTEGER, end_ts INTEGER NOT NULL)"
    )
    db.execute("ALTER TABLE sync_state ADD COLUMN no_show_swept_ts INTEGER")


@MIGRATIONS(name="0003_sync_link")
def _sync_link(db: Database) -> None:
    # Messages the sync link could not accept (PROTOCOL.md §4: kept, counted).
    db.execute(
        "CREATE TABLE quarantine (id INTEGER PRIMARY KEY, at_ts INTEGER NOT NULL,"
        " topic TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB NOT NULL)"
    )
    # Central's commands (PROTOCOL.md §6): the link queues them, the process
    # they are for (door controller, kiosk, link) carries them out.
    db.execute(
        "CREATE TABLE commands (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " seq INTEGER UNIQUE,"  # central's seq; NULL for a command made on the node
        " origin TEXT NOT NULL DEFAULT 'central', by TEXT NOT NULL DEFAULT '',"
        " cmd TEXT NOT NULL, args TEXT NOT NULL,"
        " exp_ts INTEGER NOT NULL, received_ts INTEGER NOT NULL,"
        " state TEXT NOT NULL DEFAULT 'pending'"
        "  CHECK (state IN ('pending', 'done', 'failed', 'expired')),"
        " detail TEXT NOT NULL DEFAULT '')"
    )
    db.execute("ALTER TABLE sync_state ADD COLUMN last_command_seq INTEGER NOT NULL DEFAULT 0")


@MIGRATIONS(name="0004_kiosk_taps")
def _kiosk_taps(db: Database) -> None:
    # Cards tapped on a kiosk's own reader: the door controller owns every
    # serial line and hands kiosk taps over here (digests only, kept briefly).
    db.execute(
        "CREATE TABLE kiosk_taps (id INTEGER PRIMARY KEY AUTOINCREMENT, kiosk TEXT NOT NULL,"
        " reader TEXT NOT NULL, digest TEXT NOT NULL, at_ts INTEGER NOT NULL)"
    )


@MIGRATIONS(name="0005_device_status")
def _device_status(db: Database) -> None:
    # What the door controller last saw, for the caretaker view and `status`.
    db.execute(
        "CREATE TABLE door_status (door TEXT PRIMARY KEY, state TEXT NOT NULL,"
        " since_ts INTEGER NOT NULL)"
    )
    db.execute(
        "CREATE TABLE reader_status (reader TEXT PRIMARY KEY, online INTEGER NOT NULL,"
        " detail TEXT NOT NULL DEFAULT '', since_ts INTEGER NOT NULL)"
    )


@MIGRATIONS(name="0006_heartbeats")
def _heartbeats(db: Database) -> None:
    # Each daemon says it is alive every few seconds (`hallvakt status`).
    db.execute(
        "CREATE TABLE heartbeats (process TEXT PRIMARY KEY, pid INTEGER NOT NULL,"
        " started_ts INTEGER NOT NULL, beat_ts INTEGER NOT NULL, detail TEXT NOT NULL DEFAULT '')"
    )


@MIGRATIONS(name="0007_kiosk_memory")
def _kiosk_memory(db: Database) -> None:
    # What the kiosk kept in memory only, so that it survives a kiosk restart.
    # A leader's start headcount, written with its `attendance.reported` event
    # (attendance.report_attendance); a row holding only these says nothing
    # about entry or no-show.
    db.execute("ALTER TABLE attendance ADD COLUMN start_participants INTEGER")
    db.execute("ALTER TABLE attendance ADD COLUMN start_leaders INTEGER")
    db.execute("ALTER TABLE attendance ADD COLUMN start_reported_ts INTEGER")
    # A phone booker's keyed digest (never the number), written with the walk-in
    # (walkins.create_walkin), so a rejection finds them at their next visit.
    db.execute("ALTER TABLE walkins ADD COLUMN phone_digest TEXT")
    db.execute(
        "CREATE INDEX walkins_phone_digest ON walkins(phone_digest) WHERE phone_digest IS NOT NULL"
    )


@MIGRATIONS(name="0008_door_memory")
def _door_memory(db: Database) -> None:
    # The lockdown, with who set it, so that it holds across a door controller
    # restart (door_records.lockdown_state).
    db.execute(
        "CREATE TABLE door_lockdown (id INTEGER PRIMARY KEY CHECK (id = 1),"
        " active INTEGER NOT NULL, by TEXT NOT NULL, since_ts INTEGER NOT NULL)"
    )
    # How far each generation of the door's journal (door_journal.py) has been
    # merged into the outbox: moved in the merge's own transaction, so a crash
    # between the merge and the journal's reset neither loses nor repeats.
    db.execute("CREATE TABLE door_journal (generation TEXT PRIMARY KEY, merged INTEGER NOT NULL)")
