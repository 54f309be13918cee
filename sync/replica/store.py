"""The replica: typed access to the node database.

Rules this module guarantees:
- Every write happens inside :meth:`Replica.write` (``BEGIN IMMEDIATE``), so a
  state change and the outbox event recording it commit together or not at all.
- Records come out of the database only through ``Record.from_wire``: a row
  that no longer validates (a corrupted file, a hand edit) raises
  ``ReplicaCorrupt`` instead of reaching a door decision.
- Index tables (door and booking resources, grant doors, memberships) are
  derived from the record on every put and removed on every delete.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from firmware_config.vocabulary import DEFAULT_TZ
from sync.protocol.records import (
    ENTITIES,
    Booking,
    Credential,
    Door,
    Facility,
    Grant,
    Holder,
    Lease,
    Policy,
    Record,
    RecordError,
    Resource,
    Revocation,
)
from sync.protocol.timeutil import from_ts, to_ts, zone

# Re-exported: the replica's modules import these from here too.
from .canonical import record_text, record_texts
from .errors import ReplicaCorrupt as ReplicaCorrupt
from .errors import ReplicaError as ReplicaError
from .schema import connect
from .sqlite import BUSY_TIMEOUT_S, Transactional

R = TypeVar("R", bound=Record)
T = TypeVar("T")
DECODE_CACHE = 16_384
_json_object = json.JSONDecoder().raw_decode

TABLES: dict[str, str] = {
    "facility": "facilities",
    "resource": "resources",
    "door": "doors",
    "holder": "holders",
    "credential": "credentials",
    "booking": "bookings",
    "grant": "grants",
    "lease": "leases",
    "revocation": "revocations",
    "policy": "policies",
}
# Index tables derived from records (put and delete keep them in step).
DERIVED = ("door_resources", "holder_members", "booking_resources")
# Every table a snapshot replaces.
REPLACED = (*TABLES.values(), *DERIVED)
# The columns of each table's rows (record_rows), in order: named in the
# INSERT, so a column a later migration adds (with a default) changes nothing.
_COLUMNS = {
    "facilities": "id, data",
    "resources": "id, parent, data",
    "doors": "id, data",
    "holders": "id, data",
    "credentials": "id, digest, holder, booking, data",
    "bookings": "id, holder, start_ts, end_ts, status, origin, data",
    "grants": "id, holder, data",
    "leases": "id, node, resource, start_ts, end_ts, data",
    "revocations": "id, credential, digest, data",
    "policies": "id, data",
    "door_resources": "door_id, resource_id",
    "holder_members": "holder_id, group_id",
    "booking_resources": "resource_id, end_ts, booking_id, start_ts",
}


def insert_sql(table: str, into: str | None = None, verb: str = "INSERT") -> str:
    """The INSERT (or ``verb``: ``INSERT OR REPLACE``) of ``record_rows``' rows
    of ``table`` (into ``into``, a staging copy of it, if given)."""
    cols = _COLUMNS[table]
    marks = ", ".join("?" * (cols.count(",") + 1))
    return f"{verb} INTO {into or table} ({cols}) VALUES ({marks})"


INSERTS = {t: insert_sql(t) for t in _COLUMNS}
Row = tuple[Any, ...]


def stored_text(rec: Record) -> str:
    """The canonical wire JSON a record is stored as (the ``data`` column):
    ``json.dumps(rec.to_wire())``, compact, made quickly (``canonical``)."""
    return record_text(rec)


def booking_span(rec: Booking) -> int:
    return to_ts(rec.end) - to_ts(rec.start)


def record_rows(rec: Record) -> dict[str, list[Row]]:
    """The rows that store ``rec``: its table's and its index tables'."""
    data = stored_text(rec)
    if isinstance(rec, Booking):
        s, e = to_ts(rec.start), to_ts(rec.end)
        return {
            "bookings": [(rec.id, rec.holder, s, e, rec.status, rec.origin, data)],
            "booking_resources": [(r, e, rec.id, s) for r in rec.resources],
        }
    if isinstance(rec, Credential):
        return {"credentials": [(rec.id, rec.digest, rec.holder, rec.booking, data)]}
    if isinstance(rec, Holder):
        return {
            "holders": [(rec.id, data)],
            "holder_members": [(rec.id, g) for g in rec.member_of],
        }
    if isinstance(rec, Door):
        return {"doors": [(rec.id, data)], "door_resources": [(rec.id, r) for r in rec.resources]}
    if isinstance(rec, Resource):
        return {"resources": [(rec.id, rec.parent, data)]}
    if isinstance(rec, Lease):
        return {
            "leases": [(rec.id, rec.node, rec.resource, to_ts(rec.start), to_ts(rec.end), data)]
        }
    if isinstance(rec, Revocation):
        return {"revocations": [(rec.id, rec.credential, rec.digest, data)]}
    if isinstance(rec, Grant):
        return {"grants": [(rec.id, rec.holder, data)]}
    return {TABLES[rec.ENTITY]: [(rec.id, data)]}


def records_rows(records: Sequence[Record]) -> dict[str, list[Row]]:
    """The rows of every record, by table, in the records' order: what
    ``record_rows`` makes of each, made a class at a time (``data`` in one
    msgspec call, ``record_texts``) for the classes a snapshot is full of."""
    by_class: dict[type, list[Record]] = {}
    for rec in records:
        by_class.setdefault(type(rec), []).append(rec)
    rows: dict[str, list[Row]] = {}
    for cls, recs in by_class.items():
        if cls is Booking:
            bs: list[Booking] = recs  # type: ignore[assignment]
            starts, ends = [_ts(b.start) for b in bs], [_ts(b.end) for b in bs]
            rows.setdefault("bookings", []).extend(
                (b.id, b.holder, s, e, b.status, b.origin, data)
                for b, s, e, data in zip(bs, starts, ends, record_texts(bs), strict=True)
            )
            rows.setdefault("booking_resources", []).extend(
                (r, e, b.id, s)
                for b, s, e in zip(bs, starts, ends, strict=True)
                for r in b.resources
            )
        elif cls is Credential:
            cs: list[Credential] = recs  # type: ignore[assignment]
            rows.setdefault("credentials", []).extend(
                (c.id, c.digest, c.holder, c.booking, data)
                for c, data in zip(cs, record_texts(cs), strict=True)
            )
        elif cls is Holder:
            hs: list[Holder] = recs  # type: ignore[assignment]
            rows.setdefault("holders", []).extend(
                (h.id, data) for h, data in zip(hs, record_texts(hs), strict=True)
            )
            rows.setdefault("holder_members", []).extend((h.id, g) for h in hs for g in h.member_of)
        else:
            for rec in recs:
                for table, trows in record_rows(rec).items():
                    rows.setdefault(table, []).extend(trows)
    return {table: trows for table, trows in rows.items() if trows}


def _ts(at: datetime) -> int:
    """``to_ts``, without its check for the UTC instants records hold."""
    return int(at.timestamp() // 1) if at.tzinfo is UTC else to_ts(at)


@dataclass(frozen=True, slots=True)
class SyncState:
    """Where the node stands with central (PROTOCOL.md §5 hello, §6 head)."""

    epoch: int
    applied_rev: int
    last_seq: int
    acked_through: int
    head_rev: int | None
    head_oldest_rev: int | None
    head_seen_at: datetime | None
    applied_at: datetime | None
    max_booking_s: int  # longest booking seen: bounds the time-range index scans

    @property
    def first_unacked(self) -> int:
        """The first outbox ``seq`` central has not acknowledged."""
        return self.acked_through + 1


class Replica(Transactional):
    """One open node database. Not shared between threads without a lock; each
    process (door controller, sync, kiosk) opens its own."""

    def __init__(self, db: Database, path: str, default_tz: str = DEFAULT_TZ) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.path = path
        self._default_tz = zone(default_tz)
        # Local policy overrides from the node's config (firmware_config), laid
        # over central's policy record whenever it is read.
        self._overlay: Callable[[Policy], Policy] | None = None
        self._memo: dict[str, object] = {}
        self._memo_rev = -1
        self._span_written = 0  # longest booking this connection has put
        self._decoded: dict[tuple[str, str], Record] = {}

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        default_tz: str = DEFAULT_TZ,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        create_dir: bool = False,
    ) -> Replica:
        """Open (create, migrate) the database at ``path``; ``":memory:"`` for tests.

        Raises ``ReplicaUnavailable`` or ``ReplicaDamaged`` (``schema.connect``);
        ``create_dir`` makes a missing directory (mode 0700).
        """
        db = connect(path, busy_timeout_s=busy_timeout_s, create_dir=create_dir)
        return cls(db, str(path), default_tz)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Replica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions --------------------------------------------------------

    def _rolled_back(self) -> None:
        self._span_written = 0  # what was rolled back may have held the span

    # --- sync state ----------------------------------------------------------

    STATE_COLUMNS = (
        "s.epoch, s.applied_rev, s.last_seq, s.acked_through, s.head_rev, s.head_oldest_rev,"
        " s.head_seen_ts, s.applied_ts, s.max_booking_s"
    )

    def state(self) -> SyncState:
        row = self.conn.execute(
            f"SELECT {self.STATE_COLUMNS} FROM sync_state s WHERE s.id = 1"
        ).fetchone()
        if row is None:
            raise ReplicaCorrupt("sync_state row is missing")
        return self.state_from_row(row)

    @staticmethod
    def state_from_row(row: Sequence[Any]) -> SyncState:
        """A ``SyncState`` from the first nine columns of a row (``STATE_COLUMNS``)."""
        return SyncState(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            None if row[6] is None else from_ts(row[6]),
            None if row[7] is None else from_ts(row[7]),
            row[8],
        )

    def record_head(self, rev: int, oldest_rev: int, seen_at: datetime) -> None:
        """Remember central's newest verified head (for staleness, PROTOCOL.md §7)."""
        with self.write():
            self.conn.execute(
                "UPDATE sync_state SET head_rev = ?, head_oldest_rev = ?, head_seen_ts = ?"
                " WHERE id = 1",
                [rev, oldest_rev, to_ts(seen_at)],
            )

    def memo(self, rev: int, key: str, make: Callable[[], T]) -> T:
        """``make()``, remembered while ``applied_rev`` stays ``rev``.

        For what only central's data decides (doors, resources, policy): those
        change only with ``applied_rev``, in this process or another.
        """
        if rev != self._memo_rev:
            self._memo.clear()
            self._memo_rev = rev
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]  # type: ignore[return-value]

    # --- facility time ---------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        """The facility's time zone (from the facility record, else the default).

        Remembered like doors and policy (see :meth:`memo`): it changes only
        with central's data, and every door decision asks for it.
        """

        def load() -> ZoneInfo:
            fac = self.facility()
            return zone(fac.timezone) if fac is not None else self._default_tz

        return self.memo(self.state().applied_rev, "tz", load)

    def facility(self) -> Facility | None:
        rows = self.all(Facility)
        return rows[0] if rows else None

    def policy(self) -> Policy:
        """The ``default`` policy record (or the built-in defaults), with the
        node's local overrides laid over it."""
        policy = self.get(Policy, "default") or Policy("default")
        return self._overlay(policy) if self._overlay else policy

    @property
    def policy_overlay(self) -> Callable[[Policy], Policy] | None:
        """Local policy overrides (from the node's config), or None."""
        return self._overlay

    @policy_overlay.setter
    def policy_overlay(self, overlay: Callable[[Policy], Policy] | None) -> None:
        self._overlay = overlay
        self._memo.clear()  # a remembered policy was made with the old overlay

    # --- records ---------------------------------------------------------------

    def _decode(self, cls: type[R], data: str) -> R:
        # Same text, same immutable record: the hot rows of door decisions are
        # validated once, not on every read. Bounded; cleared when full.
        key = (cls.ENTITY, data)
        hit = self._decoded.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        try:
            # raw_decode: json.loads without its wrappers (a third of its time
            # on these short rows); the whole text must be the one object.
            obj, end = _json_object(data)
            if end != len(data):
                raise ValueError("text after the JSON object")
            rec = cls.from_wire(obj)
        except (RecordError, ValueError, TypeError) as exc:
            raise ReplicaCorrupt(f"stored {cls.ENTITY} does not validate: {exc}") from exc
        if len(self._decoded) >= DECODE_CACHE:
            self._decoded.clear()
        self._decoded[key] = rec
        return rec

    def get(self, cls: type[R], ident: str) -> R | None:
        row = self.conn.execute(
            f"SELECT data FROM {TABLES[cls.ENTITY]} WHERE id = ?", [ident]
        ).fetchone()
        return None if row is None else self._decode(cls, row[0])

    def all(self, cls: type[R]) -> list[R]:
        rows = self.conn.execute(f"SELECT data FROM {TABLES[cls.ENTITY]} ORDER BY id")
        return [self._decode(cls, r[0]) for r in rows]

    def decode(self, cls: type[R], data: str) -> R:
        """Decode one stored ``data`` text of ``cls`` (raises ``ReplicaCorrupt``)."""
        return self._decode(cls, data)

    def decode_rows(self, cls: type[R], rows: Iterator[Any]) -> list[R]:
        """Decode ``(data,)`` rows of ``cls``'s table."""
        return [self._decode(cls, r[0]) for r in rows]

    def count(self, entity: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {TABLES[entity]}").fetchone()[0])

    def put(self, rec: Record, *, replace: bool = True) -> None:
        """Insert or replace one record and its index rows (inside :meth:`write`).

        ``replace=False`` skips removing an older version (the tables were just
        cleared); a duplicate id then raises ``ReplicaConflict``.
        """
        if replace:
            self.delete(rec.ENTITY, rec.id)
        for table, rows in record_rows(rec).items():
            if len(rows) == 1:
                self.conn.execute(INSERTS[table], rows[0])
            else:
                self.conn.executemany(INSERTS[table], rows)
        if isinstance(rec, Booking):
            span = booking_span(rec)
            if span > self._span_written:
                # Only a longer booking than any this connection wrote needs the
                # UPDATE (which itself never lowers a longer one from elsewhere).
                self.conn.execute(
                    "UPDATE sync_state SET max_booking_s = ? WHERE id = 1 AND max_booking_s < ?",
                    [span, span],
                )
                self._span_written = span

    def delete(self, entity: str, ident: str) -> None:
        """Remove one record and its index rows; absent ids are fine (idempotent)."""
        if entity not in ENTITIES:
            raise ReplicaError(f"unknown entity {entity!r}")
        ex = self.conn.execute
        if entity == "door":
            ex("DELETE FROM door_resources WHERE door_id = ?", [ident])
        elif entity == "holder":
            ex("DELETE FROM holder_members WHERE holder_id = ?", [ident])
        elif entity == "booking":
            ex("DELETE FROM booking_resources WHERE booking_id = ?", [ident])
        ex(f"DELETE FROM {TABLES[entity]} WHERE id = ?", [ident])

    def forget_span(self) -> None:
        """After ``max_booking_s`` was reset: the next booking put records its span."""
        self._span_written = 0

    def clear_entities(self) -> None:
        """Empty every entity table (a snapshot replaces all of them)."""
        for table in REPLACED:
            self.conn.execute(f"DELETE FROM {table}")
