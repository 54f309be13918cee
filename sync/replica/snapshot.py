"""Snapshots that never stall the node (PROTOCOL.md §6 snapshot).

A snapshot replaces central's whole data. Applying one in a single transaction
held the write lock for as long as it took to write every record (22 s for
656k records), and every door event and walk-in waited behind it. Here:

Rules this module guarantees:
- A part's records are written into staging tables (``snap_<table>``, made
  from the live tables' own SQL, so their columns and indexes are the live
  ones) in transactions that each hold the write lock about
  ``STAGE_BUDGET_S``, commit included (``_Pace`` learns how many records fit
  from the ones before); the last of a part writes its ``snapshot_parts``
  row ``complete``. Each transaction's rows (the records re-encoded,
  ``canonical``) are made just before it takes the lock, while the log is
  checkpointed in the background: the door and the kiosk take the lock in
  that gap (their writers ask for it every millisecond,
  ``sqlite.take_write_lock``). One part is in memory at a time; nothing
  staged is read back. Staging and tidying commit with
  ``synchronous=NORMAL`` (no fsync each: a power cut loses at most the last
  ones, whole); the swap commits with ``FULL`` (``snapshot_tidy``). A part's
  checks read without the lock; it is taken to write only.
- A part already staged counts once. A record that two parts both hold raises
  ``BatchError`` for the later part, which stages nothing (what its earlier
  transactions staged is taken out again).
- When the last part of a ``rev`` is in, one transaction adds the walk-ins
  central has not given a verdict on (and that the snapshot lacks), gives each
  live table and index the b-tree of its staging twin and the twin the live
  one's (``_swap_roots``), and moves ``applied_rev`` and ``max_booking_s``.
  Whenever a process dies, the replica is the old revision or the new one,
  never a mix. The names never change, so no statement or index name of the
  rest of the code does either.
- The swap edits the schema table as SQLite documents for changes that leave
  the file's content alone (https://sqlite.org/lang_altertable.html#otheralter:
  ``writable_schema``, then ``schema_version`` + 1, in one transaction; every
  connection reloads the schema at its next transaction). It swaps only
  between objects whose SQL is the same but for the ``snap_`` prefix, checked
  first; 26 ``ALTER TABLE RENAME``s held the lock for 180 ms on a busy box.
- Staging tables with no parts row are leftovers (the old data after a swap,
  or a discarded older ``rev``): ``tidy`` drops their indexes, empties them in
  transactions of about ``TIDY_BUDGET_S`` each, a key range at a time, then
  drops them, with ``secure_delete=FAST`` (``_fast_delete``). A process that
  died half-way finishes at the next ``stage_snapshot`` or link start.
- A newer ``rev`` discards what was staged of an older one; a part older than
  the staged ``rev`` or than ``applied_rev`` is a duplicate and changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sync.protocol.records import Booking, Record, parse_record
from sync.protocol.timeutil import to_ts
from sync.protocol.wire import BatchError, SnapshotPart

from .apply import ApplyOutcome
from .errors import ReplicaConflict, ReplicaCorrupt, ReplicaFailure
from .snapshot_tidy import (
    STAGE,
    StagedSnapshot,
    checkpoint,
    relaxed,
    settle,
    staged_snapshot,
    staging_tables,
    tidy,
)
from .store import (
    REPLACED,
    TABLES,
    Replica,
    Row,
    booking_span,
    insert_sql,
    record_rows,
    records_rows,
)

__all__ = ["STAGE", "StagedSnapshot", "stage_snapshot", "staged_snapshot", "tidy"]

log = logging.getLogger("hallvakt.replica")

STAGE_BUDGET_S = 0.02  # the lock held by one staging transaction, its commit too
STAGE_FIRST_RECORDS = 200  # what the first staging transaction writes
STAGE_MAX_RECORDS = 4_000  # however quick the last ones were
_NAME = r'(?:"(?:[^"]|"")+"|\[[^\]]+\]|`[^`]+`|\w+)'
_CREATE_TABLE = re.compile(rf"^\s*CREATE\s+TABLE\s+{_NAME}", re.IGNORECASE)
_CREATE_INDEX = re.compile(
    rf"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+{_NAME}\s+ON\s+{_NAME}", re.IGNORECASE
)
_AUTOINDEX = "sqlite_autoindex_"


@dataclass(frozen=True, slots=True)
class _Chunk:
    """The rows of the records one staging transaction writes, made just
    before it takes the lock."""

    rows: dict[str, list[Row]]
    ids: dict[str, list[str]]  # entity -> ids, in order
    span: int  # the longest booking among them (seconds)


def _check_unique(rev: int, records: tuple[Record, ...]) -> None:
    """``BatchError`` for a record a part holds twice."""
    seen: set[tuple[str, str]] = set()
    for rec in records:
        key = (rec.ENTITY, rec.id)
        if key in seen:
            raise BatchError(f"snapshot rev {rev}: {rec.ENTITY} {rec.id!r} appears twice")
        seen.add(key)


def _ids(records: tuple[Record, ...]) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        ids[rec.ENTITY].append(rec.id)
    return ids


def _rows(records: tuple[Record, ...]) -> _Chunk:
    """The rows that store ``records`` (``record_rows``, made a class at a
    time: ``records_rows``), by table."""
    rows = records_rows(records)
    span = max((e - s for _, _, s, e, *_ in rows.get("bookings", ())), default=0)
    return _Chunk(rows, _ids(records), span)


def stage_snapshot(rep: Replica, part: SnapshotPart, now: datetime) -> ApplyOutcome:
    """Stage one part; when the last part of its ``rev`` is in, swap the replica.

    Returns STAGED, APPLIED, or DUPLICATE (older than the replica or than the
    snapshot being staged). Raises ``BatchError`` (nothing staged) for a part
    that disagrees with the staged ones.
    """
    _check_unique(part.rev, part.records)
    staged = staged_snapshot(rep)
    if part.rev < rep.state().applied_rev or (staged is not None and part.rev < staged.rev):
        return ApplyOutcome.DUPLICATE
    if staged is not None and (staged.rev != part.rev or not _stage_matches(rep)):
        # An older rev's parts, or staged before a migration changed the live
        # tables: what they staged becomes leftovers (the link asks again).
        log.info("staged parts of snapshot rev %d discarded", staged.rev)
        settle(rep)
        with rep.write():
            rep.conn.execute("DELETE FROM snapshot_parts")
        staged = None
    if staged is None:
        tidy(rep)
    elif not staging_tables(rep):
        _adopt_legacy_parts(rep, part.rev)
    with rep.read():  # checks only: the lock is for writing (module rules)
        if part.rev < rep.state().applied_rev:
            return ApplyOutcome.DUPLICATE
        other = rep.conn.execute(
            "SELECT parts FROM snapshot_parts WHERE rev = ? AND parts != ? LIMIT 1",
            [part.rev, part.parts],
        ).fetchone()
        if other is not None:
            raise BatchError(f"snapshot rev {part.rev}: parts {part.parts} differs from {other[0]}")
    _stage_part(rep, part)
    # Every part in (this one, or a part delivered again after a process died
    # before the swap): the swap, durable (synchronous=FULL), on its own; the
    # lock is taken only then, and whether all are in asked again under it.
    if not _all_in(rep, part.rev, part.parts):
        return ApplyOutcome.STAGED
    settle(rep)
    with rep.write():
        if not _all_in(rep, part.rev, part.parts):
            return ApplyOutcome.STAGED
        _swap(rep, part.rev, now)
    tidy(rep)
    return ApplyOutcome.APPLIED


def _all_in(rep: Replica, rev: int, parts: int) -> bool:
    """Whether every part of ``rev`` is staged (counted first: reading every
    part's body each time grew with the parts, 0.6 ms a call at 776)."""
    (have,) = rep.conn.execute(
        "SELECT count(*) FROM snapshot_parts WHERE rev = ?", [rev]
    ).fetchone()
    if have < parts:
        return False
    staged = staged_snapshot(rep)
    return staged is not None and staged.rev == rev and staged.have >= staged.parts


def _stage_part(rep: Replica, part: SnapshotPart) -> None:
    """Write a part's records, as many in one transaction as ``_Pace`` says
    take about ``STAGE_BUDGET_S``, their rows made just before (module rules);
    its ``snapshot_parts`` row says ``complete`` with the last. A part a
    stopped process left incomplete is written again over itself (``OR
    REPLACE``); a record an earlier part staged raises ``BatchError`` and
    what this part staged is taken out again."""
    row = rep.conn.execute(
        "SELECT body FROM snapshot_parts WHERE rev = ? AND part = ?", [part.rev, part.part]
    ).fetchone()
    if row is not None and json.loads(row[0]).get("complete", 1):
        return  # delivered again: counted once
    verb = "INSERT OR REPLACE" if row is not None else "INSERT"
    pace = _paces.setdefault(rep, _Pace())
    records, span, done = part.records, 0, 0
    created = bool(staging_tables(rep))
    with relaxed(rep):
        while done < len(records) or not done:
            chunk = _rows(records[done : done + pace.want()])  # the others' turn at the lock
            settle(rep)  # while the rows were made, the last checkpoint ran
            try:
                with rep.write():
                    t0 = time.monotonic()
                    if not created:
                        _create_stage(rep)
                    for table, rows in chunk.rows.items():
                        try:
                            rep.conn.executemany(insert_sql(table, STAGE + table, verb), rows)
                        except ReplicaConflict:
                            raise _Twice(_which_twice(rep, part.rev, chunk.ids)) from None
                    n = sum(map(len, chunk.ids.values()))
                    span = max(span, chunk.span)
                    last = int(done + n >= len(records))
                    body = {"complete": last, "max_booking_s": span, "records": done + n}
                    rep.conn.execute(
                        "INSERT OR REPLACE INTO snapshot_parts VALUES (?, ?, ?, ?)",
                        [part.rev, part.part, part.parts, json.dumps(body)],
                    )
                took = time.monotonic() - t0  # with the commit: it writes the pages
            except _Twice as exc:  # this transaction rolled back; the earlier ones:
                with rep.write():
                    _unstage(rep, part, _ids(records[:done]))
                raise BatchError(str(exc)) from None
            created = True
            done += max(n, 1)
            pace.note(n, took)
            checkpoint(rep)


class _Twice(Exception):
    """A record of this part was staged by an earlier one (the text says which)."""


class _Pace:
    """How many records one staging transaction writes in about
    ``STAGE_BUDGET_S`` (the lock's hold), learnt from the ones before (time
    per record over the last few, counting each transaction's own cost too);
    never more than twice the last count, nor ``STAGE_MAX_RECORDS``."""

    def __init__(self) -> None:
        self.records, self.seconds = float(STAGE_FIRST_RECORDS), STAGE_BUDGET_S
        self.last = STAGE_FIRST_RECORDS

    def want(self) -> int:
        fit = int(STAGE_BUDGET_S * self.records / self.seconds)
        self.last = max(STAGE_FIRST_RECORDS // 4, min(fit, 2 * self.last, STAGE_MAX_RECORDS))
        return self.last

    def note(self, records: int, took: float) -> None:
        self.records = 0.7 * self.records + records
        self.seconds = 0.7 * self.seconds + max(took, 1e-4)


_paces: weakref.WeakKeyDictionary[Replica, _Pace] = weakref.WeakKeyDictionary()


def _unstage(rep: Replica, part: SnapshotPart, ids: dict[str, list[str]]) -> None:
    """Take out what ``part`` staged: the records ``ids`` (inside a write)."""
    derived = {"door": ("door_resources", "door_id"), "holder": ("holder_members", "holder_id")}
    derived["booking"] = ("booking_resources", "booking_id")
    for entity, all_ids in ids.items():
        for i in range(0, len(all_ids), 500):
            some = all_ids[i : i + 500]
            marks = ", ".join("?" * len(some))
            rep.conn.execute(f"DELETE FROM {STAGE}{TABLES[entity]} WHERE id IN ({marks})", some)
            if entity in derived:
                table, col = derived[entity]
                rep.conn.execute(f"DELETE FROM {STAGE}{table} WHERE {col} IN ({marks})", some)
    rep.conn.execute("DELETE FROM snapshot_parts WHERE rev = ? AND part = ?", [part.rev, part.part])


def _which_twice(rep: Replica, rev: int, ids: dict[str, list[str]]) -> str:
    """Name a record of ``ids`` that an earlier part staged already."""
    for entity, some in ids.items():
        for i in range(0, len(some), 500):
            marks = ", ".join("?" * len(some[i : i + 500]))
            row = rep.conn.execute(
                f"SELECT id FROM {STAGE}{TABLES[entity]} WHERE id IN ({marks}) LIMIT 1",
                some[i : i + 500],
            ).fetchone()
            if row is not None:
                return f"snapshot rev {rev}: {entity} {row[0]!r} appears twice"
    return f"snapshot rev {rev}: a record appears twice"


def _schema(rep: Replica, table: str) -> tuple[str, list[tuple[str, str]]]:
    """A table's SQL and its explicit indexes' (name, SQL); ``ReplicaFailure``
    if there is no such table."""
    row = rep.conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    ).fetchone()
    if row is None:
        raise ReplicaFailure(f"no table {table}")
    sql = row[0]
    indexes = rep.conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        " AND sql IS NOT NULL ORDER BY name",
        [table],
    ).fetchall()
    return str(sql), [(str(n), str(i)) for n, i in indexes]


def _staged_sql(table: str, sql: str, indexes: list[tuple[str, str]]) -> list[str]:
    """The statements that make ``table``'s staging twin."""
    out = [_CREATE_TABLE.sub(f"CREATE TABLE {STAGE}{table}", sql, count=1)]
    for name, isql in indexes:

        def head(m: re.Match[str], name: str = name) -> str:
            return f"CREATE {m.group(1) or ''}INDEX {STAGE}{name} ON {STAGE}{table}"

        out.append(_CREATE_INDEX.sub(head, isql, count=1))
    return out


def _create_stage(rep: Replica) -> None:
    """Staging tables with the live tables' columns and indexes (inside a write)."""
    for table in REPLACED:
        for statement in _staged_sql(table, *_schema(rep, table)):
            rep.conn.execute(statement)


def _swap(rep: Replica, rev: int, now: datetime) -> None:
    """Put the staged data in place of the live data (inside a write)."""
    conn = rep.conn
    span = 0
    for (body,) in conn.execute("SELECT body FROM snapshot_parts WHERE rev = ?", [rev]):
        span = max(span, int(json.loads(body).get("max_booking_s", 0)))
    for b in _pending_walkins(rep):
        if conn.execute(f"SELECT 1 FROM {STAGE}bookings WHERE id = ?", [b.id]).fetchone():
            continue  # central's version (with its verdict to come) wins
        for table, rows in record_rows(b).items():
            conn.executemany(insert_sql(table, STAGE + table), rows)
        span = max(span, booking_span(b))
    _swap_roots(rep)
    conn.execute(
        "UPDATE sync_state SET applied_rev = ?, applied_ts = ?, max_booking_s = ? WHERE id = 1",
        [rev, to_ts(now), span],
    )
    conn.execute("DELETE FROM snapshot_parts")
    rep.forget_span()


def _twins(rep: Replica) -> list[tuple[str, str]]:
    """(live, staged) names of every table and index a swap exchanges; raises
    ``ReplicaFailure`` unless each staged twin is the live object's SQL again
    (a migration between staging and swap would make them differ)."""
    pairs: list[tuple[str, str]] = []
    for table in REPLACED:
        sql, indexes = _schema(rep, table)
        staged, staged_indexes = _schema(rep, STAGE + table)
        if [staged, *(i for _, i in staged_indexes)] != _staged_sql(table, sql, indexes):
            raise ReplicaFailure(f"staged {table} no longer matches the live table")
        pairs.append((table, STAGE + table))
        pairs += [(name, STAGE + name) for name, _ in indexes]
        autos = rep.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NULL",
            [table],
        ).fetchall()
        for (auto,) in autos:  # sqlite_autoindex_<table>_<n>: a PRIMARY KEY or UNIQUE
            pairs.append((auto, auto.replace(_AUTOINDEX + table, _AUTOINDEX + STAGE + table, 1)))
    return pairs


def _stage_matches(rep: Replica) -> bool:
    """Whether staging tables, if any, are still twins of the live ones. A
    schema that has not changed since they last matched (its
    ``schema_version``, which every schema change moves) still matches: the
    comparison read 26 objects' SQL, 3 ms at every part (2.4 s at 776)."""
    if not staging_tables(rep):
        return True
    version = int(rep.conn.execute("PRAGMA schema_version").fetchone()[0])
    if _matched.get(rep) == version:
        return True
    try:
        _twins(rep)
    except (ReplicaFailure, TypeError):
        return False
    _matched[rep] = version
    return True


_matched: weakref.WeakKeyDictionary[Replica, int] = weakref.WeakKeyDictionary()


def _swap_roots(rep: Replica) -> None:
    """Exchange the b-trees of each live object and its staged twin (module
    rules: SQLite's documented ``writable_schema`` procedure; inside a write)."""
    conn = rep.conn
    pairs = _twins(rep)
    roots = dict(conn.execute("SELECT name, rootpage FROM sqlite_master").fetchall())
    missing = [b for _, b in pairs if b not in roots]
    if missing:
        raise ReplicaFailure(f"staged objects missing: {', '.join(missing)}")
    version = int(conn.execute("PRAGMA schema_version").fetchone()[0])
    conn.execute("PRAGMA writable_schema = ON")
    try:
        for live, staged in pairs:
            conn.execute(
                "UPDATE sqlite_master SET rootpage = CASE name WHEN ? THEN ? ELSE ? END"
                " WHERE name IN (?, ?)",
                [live, roots[staged], roots[live], live, staged],
            )
        conn.execute(f"PRAGMA schema_version = {version + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")


def _pending_walkins(rep: Replica) -> list[Booking]:
    """The node's walk-ins central has not given a verdict on; one whose stored
    row is damaged is left out (it is in the outbox or at central already)."""
    out: list[Booking] = []
    for booking_id, data in rep.conn.execute(
        "SELECT w.booking_id, CAST(b.data AS BLOB) FROM walkins w"
        " JOIN bookings b ON b.id = w.booking_id WHERE w.state = 'pending'"
    ).fetchall():
        try:
            out.append(rep.decode(Booking, bytes(data).decode("utf-8")))
        except (ReplicaCorrupt, UnicodeDecodeError) as exc:
            log.error("pending walk-in %s is damaged and not kept: %s", booking_id, exc)
    return out


def _adopt_legacy_parts(rep: Replica, rev: int) -> None:
    """Parts staged by an older version kept their records in ``body``; stage
    them as a part arriving now would be, one transaction each."""
    rows = rep.conn.execute(
        "SELECT part, parts, body FROM snapshot_parts WHERE rev = ? ORDER BY part", [rev]
    ).fetchall()
    settle(rep)
    with rep.write():
        rep.conn.execute("DELETE FROM snapshot_parts")
        _create_stage(rep)
    for part, parts, body in rows:
        try:
            records = tuple(parse_record(e, d) for e, d in json.loads(body))
            _check_unique(rev, records)
            _stage_part(rep, SnapshotPart(rev, part, parts, records))
        except (ValueError, TypeError, BatchError) as exc:
            log.warning("a staged part %d of rev %d from before is dropped: %s", part, rev, exc)
