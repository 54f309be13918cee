"""Snapshots that never stall the node (PROTOCOL.md §6 snapshot).

A snapshot replaces central's whole data. Applying one in a single transaction
held the write lock for as long as it took to write every record (22 s for
656k records), and every door event and walk-in waited behind it. Here:

Rules this module guarantees:
- A part is *held* when it arrives: its records' rows (the records
  re-encoded, ``canonical``), msgpack, in one row of ``snap_held``, written
  with its ``snapshot_parts`` row (``complete``) in one short transaction.
  Once the held parts hold ``HOLD_RECORDS`` records, and when the last part
  is in, they are *moved*: their rows are written into staging tables
  (``snap_<table>``, made from the live tables' own SQL, so their columns
  and indexes are the live ones), each table's rows sorted by the key of
  the index its records fill in random order (a holder's bookings, a
  credential's digest; ``_SORT_KEYS``), in transactions that each hold the
  write lock about ``STAGE_BUDGET_S``, commit included (``_Pace`` learns how
  many rows fit from the ones before); the last deletes the held rows.
  Written a part at a time, those indexes had a page written again for
  almost every record in every transaction; sorted over a window of about
  60 parts, each transaction fills a narrow band of them.
- Between two of the stager's transactions the door and the kiosk take the
  lock (their writers ask for it every millisecond,
  ``sqlite.take_write_lock``); the log is checkpointed in the background
  once it is ``LOG_FRAMES`` long (``snapshot_tidy``). One window's rows are
  in memory at a time; nothing moved is read back. Staging and tidying
  commit with ``synchronous=NORMAL`` (no fsync each: a power cut loses at
  most the last ones, whole); the swap commits with ``FULL``. A part's
  checks read without the lock; it is taken to write only.
- A part already staged counts once. A record that two parts both hold raises
  ``BatchError`` for the later part, which stages nothing: its ids are
  looked up among the held parts' (``_Window``) and in the staging tables
  before it is held. A move stopped half-way is done again over itself
  (``OR REPLACE``), whole.
- When the last part of a ``rev`` is in and moved, one transaction adds the walk-ins
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
  drops them, with ``secure_delete=FAST`` (``fast_delete``). A process that
  died half-way finishes at the next ``stage_snapshot`` or link start.
- A newer ``rev`` discards what was staged of an older one; a part older than
  the staged ``rev`` or than ``applied_rev`` is a duplicate and changes nothing.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from sync.protocol.records import Booking, Record, parse_record
from sync.protocol.timeutil import to_ts
from sync.protocol.wire import BatchError, SnapshotPart

from .apply import ApplyOutcome
from .errors import ReplicaCorrupt, ReplicaFailure
from .snapshot_tidy import (
    STAGE,
    StagedSnapshot,
    checkpoint,
    fast_delete,
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
STAGE_FIRST_ROWS = 200  # what the first staging transaction writes
STAGE_MAX_ROWS = 10_000  # however quick the last ones were
HOLD_RECORDS = 50_000  # records held before they are written into the twins, sorted
HELD = STAGE + "held"  # the held parts' rows, one row a part
_MOVE = "INSERT OR REPLACE"  # a move done again writes over itself
_HELD_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {HELD}"
    " (part INTEGER PRIMARY KEY, records INTEGER NOT NULL, rows BLOB NOT NULL)"
)
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
    if _held(rep)[1] >= HOLD_RECORDS:
        _move(rep)
    # Every part in (this one, or a part delivered again after a process died
    # before the swap): the swap, durable (synchronous=FULL), on its own; the
    # lock is taken only then, and whether all are in asked again under it.
    if not _all_in(rep, part.rev, part.parts):
        return ApplyOutcome.STAGED
    _move(rep)
    settle(rep)
    with rep.write():
        if not _all_in(rep, part.rev, part.parts):
            return ApplyOutcome.STAGED
        if _held(rep)[0]:  # the move above wrote them all: one left is a bug, not data
            raise ReplicaFailure("held snapshot parts were not written before the swap")
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
    """Hold a part (module rules): its records' rows stored whole in
    ``snap_held``, one short transaction that also writes its
    ``snapshot_parts`` row ``complete``. A record the part shares with a part
    held or written before raises ``BatchError`` and nothing is held. A part
    an older version left incomplete (written into the twins in several
    transactions, then stopped) is held again; its rows are written over
    themselves when its window is (``OR REPLACE``)."""
    row = rep.conn.execute(
        "SELECT body FROM snapshot_parts WHERE rev = ? AND part = ?", [part.rev, part.part]
    ).fetchone()
    if row is not None and json.loads(row[0]).get("complete", 1):
        return  # delivered again: counted once
    chunk = _rows(part.records)
    with relaxed(rep):
        created = bool(staging_tables(rep))
        window = _window(rep, created)
        twice = window.twice(chunk.ids, part.part)
        if twice is None and row is None and created:  # an incomplete part finds its own rows
            twice = _twice_in_twins(rep, chunk.ids)
        if twice is not None:
            raise BatchError(f"snapshot rev {part.rev}: {twice[0]} {twice[1]!r} appears twice")
        n = len(part.records)
        blob = _encode_rows(chunk.rows)
        body = {"complete": 1, "max_booking_s": chunk.span, "records": n}
        settle(rep)
        with rep.write():
            if not created:
                _create_stage(rep)
            rep.conn.execute(_HELD_TABLE)
            rep.conn.execute(
                f"INSERT OR REPLACE INTO {HELD} (part, records, rows) VALUES (?, ?, ?)",
                [part.part, n, blob],
            )
            rep.conn.execute(
                "INSERT OR REPLACE INTO snapshot_parts VALUES (?, ?, ?, ?)",
                [part.rev, part.part, part.parts, json.dumps(body)],
            )
        window.add(part.part, chunk.ids)


def _held(rep: Replica) -> tuple[int, int]:
    """How many parts are held, and how many records they hold (none without
    a ``snap_held``)."""
    if HELD not in staging_tables(rep):
        return 0, 0
    parts, records = rep.conn.execute(
        f"SELECT count(*), coalesce(sum(records), 0) FROM {HELD}"
    ).fetchone()
    return int(parts), int(records)


def _move(rep: Replica) -> None:
    """Write every held part's rows into the twins (module rules): each
    table's rows sorted by the key of its index that a part fills in random
    order (``_SORT_KEYS``), as many in one transaction as ``_Pace`` says take
    about ``STAGE_BUDGET_S``; the last also deletes the held rows. Rows are
    written ``OR REPLACE``: a move a stopped process left half done is done
    again over itself (records twice were refused when held)."""
    if not _held(rep)[0]:
        return
    held = rep.conn.execute(f"SELECT part, rows FROM {HELD} ORDER BY part").fetchall()
    by_table: dict[str, list[list[Any]]] = defaultdict(list)
    with _no_gc():
        for _, blob in held:
            for table, rows in _held_rows(rep, blob).items():
                by_table[table].extend(rows)
    del held
    work = [(t, by_table[t]) for t in REPLACED if by_table.get(t)]
    for table, rows in work:
        rows.sort(key=_SORT_KEYS.get(table, _first))
    pace = _paces.setdefault(rep, _Pace())
    i = at = 0  # the next row to write: work[i][1][at]
    with relaxed(rep), fast_delete(rep):
        while True:
            want, batch = pace.want(), []
            while i < len(work) and want > 0:
                table, rows = work[i]
                batch.append((table, rows[at : at + want]))
                want, at = want - len(batch[-1][1]), at + len(batch[-1][1])
                if at >= len(rows):
                    i, at = i + 1, 0
            last = i >= len(work)
            settle(rep)
            with rep.write():
                t0 = time.monotonic()
                for table, some in batch:
                    rep.conn.executemany(insert_sql(table, STAGE + table, _MOVE), some)
                if last:
                    rep.conn.execute(f"DELETE FROM {HELD}")
            pace.note(sum(len(some) for _, some in batch), time.monotonic() - t0)
            checkpoint(rep)
            if last:
                break
    _windows.pop(rep, None)


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic collector off while a window's rows are decoded: tens of
    thousands of new lists, none in a cycle, made it run again and again."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _first(row: Sequence[Any]) -> Any:
    return row[0]


def _booking_key(row: Sequence[Any]) -> tuple[bool, str, int]:
    return (row[1] is not None, row[1] or "", row[3])  # bookings_holder_end: holder, end_ts


# What each table's rows are sorted by before a window is written: the index a
# part's records fill in random order (a holder's bookings, a card's digest);
# the others by their first column, their key.
_SORT_KEYS: dict[str, Callable[[Sequence[Any]], Any]] = {
    "bookings": _booking_key,
    "credentials": lambda row: row[1],  # credentials_digest
}


class _Window:
    """The ids the held parts hold (entity, id) -> part: a part's records are
    checked against them before it is held (rebuilt from ``snap_held`` when
    its parts are not the ones this process knows)."""

    def __init__(self, parts: set[int], ids: dict[tuple[str, str], int]) -> None:
        self.parts, self.ids = parts, ids

    def twice(self, ids: dict[str, list[str]], part: int) -> tuple[str, str] | None:
        for entity, some in ids.items():
            for i in some:
                other = self.ids.get((entity, i))
                if other is not None and other != part:
                    return entity, i
        return None

    def add(self, part: int, ids: dict[str, list[str]]) -> None:
        self.parts.add(part)
        for entity, some in ids.items():
            for i in some:
                self.ids[(entity, i)] = part


def _window(rep: Replica, staged: bool) -> _Window:
    """The held parts' ids (``staged``: whether any staging table exists)."""
    parts = (
        {int(p) for (p,) in rep.conn.execute(f"SELECT part FROM {HELD}")}
        if staged and HELD in staging_tables(rep)
        else set()
    )
    known = _windows.get(rep)
    if known is not None and known.parts == parts:
        return known
    window = _Window(set(), {})
    for p in parts:
        (blob,) = rep.conn.execute(f"SELECT rows FROM {HELD} WHERE part = ?", [p]).fetchone()
        window.add(p, _row_ids(_held_rows(rep, blob)))
    _windows[rep] = window
    return window


def _row_ids(rows: dict[str, list[list[Any]]]) -> dict[str, list[str]]:
    return {_ENTITY[t]: [r[0] for r in some] for t, some in rows.items() if t in _ENTITY}


_ENTITY = {table: entity for entity, table in TABLES.items()}
_windows: weakref.WeakKeyDictionary[Replica, _Window] = weakref.WeakKeyDictionary()


def _twice_in_twins(rep: Replica, ids: dict[str, list[str]]) -> tuple[str, str] | None:
    """A record of ``ids`` that a window written before holds (its twin's key;
    the staging tables exist)."""
    for entity, some in ids.items():
        for i in range(0, len(some), 500):
            marks = ", ".join("?" * len(some[i : i + 500]))
            row = rep.conn.execute(
                f"SELECT id FROM {STAGE}{TABLES[entity]} WHERE id IN ({marks}) LIMIT 1",
                some[i : i + 500],
            ).fetchone()
            if row is not None:
                return entity, str(row[0])
    return None


_encode_rows = msgspec.msgpack.Encoder().encode
_decode_rows = msgspec.msgpack.Decoder(dict[str, list[list[Any]]]).decode


def _held_rows(rep: Replica, blob: object) -> dict[str, list[list[Any]]]:
    """A held part's rows; a row damaged on disk discards what is staged
    (every part must come again) and raises ``ReplicaCorrupt``, so that the
    link asks for a snapshot."""
    try:
        if not isinstance(blob, bytes):
            raise msgspec.DecodeError(f"not bytes but {type(blob).__name__}")
        return _decode_rows(blob)
    except msgspec.DecodeError as exc:  # ValidationError is one
        log.error("a held snapshot part is damaged; the staged parts are discarded: %s", exc)
        settle(rep)
        with rep.write():
            rep.conn.execute("DELETE FROM snapshot_parts")
        _windows.pop(rep, None)
        raise ReplicaCorrupt(f"a held snapshot part is damaged: {exc}") from None


class _Pace:
    """How many rows one staging transaction writes in about
    ``STAGE_BUDGET_S`` (the lock's hold), learnt from the ones before (time
    per row over the last few, counting each transaction's own cost too);
    never more than twice the last count, nor ``STAGE_MAX_ROWS``."""

    def __init__(self) -> None:
        self.rows, self.seconds = float(STAGE_FIRST_ROWS), STAGE_BUDGET_S
        self.last = STAGE_FIRST_ROWS

    def want(self) -> int:
        fit = int(STAGE_BUDGET_S * self.rows / self.seconds)
        self.last = max(STAGE_FIRST_ROWS // 4, min(fit, 2 * self.last, STAGE_MAX_ROWS))
        return self.last

    def note(self, rows: int, took: float) -> None:
        self.rows = 0.7 * self.rows + rows
        self.seconds = 0.7 * self.seconds + max(took, 1e-4)


_paces: weakref.WeakKeyDictionary[Replica, _Pace] = weakref.WeakKeyDictionary()


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
