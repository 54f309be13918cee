"""Central's authoritative state per facility and its change log (PROTOCOL.md §1, §6).

Rules this module guarantees:
- Every change goes through ``mutate(store, facility, ops, now)``: the ops are
  validated whole (``parse_record`` on each record's wire form, ids, the
  facility record's id) before anything is written, then applied to the
  current tables and appended to the change log as ``(facility, rev, ops)`` in
  the same transaction. ``rev`` rises by exactly one per call that changes
  something, per facility. A ``MutateError`` writes nothing.
- Ops that change nothing (an upsert equal to the stored record, a delete of a
  missing one) are left out; a call where nothing is left keeps the revision.
  So repeating an import or a lease renewal adds no revision.
- The log holds exactly the revisions in ``(oldest_rev, rev]``: applying them
  in order to a replica at ``oldest_rev`` or later gives the current state.
  ``prune_log`` drops a prefix and moves ``oldest_rev`` up.
- Derived tables (booking resources and times, lease spans, lease versions)
  are rewritten with the record they derive from. Every version of a lease is
  kept with the revision that created it and the one that removed it (deleted,
  or moved to another node, resource or span).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from firmware_config.ids import ENTITY_ID
from sync.protocol.records import (
    ENTITIES,
    Booking,
    Lease,
    Record,
    RecordError,
    parse_record,
)
from sync.protocol.timeutil import to_ts
from sync.protocol.wire import Op

from .db import TABLES, Store, StoreError
from .evidence.ledger import booking_changed

R = TypeVar("R", bound=Record)
_ID = re.compile(ENTITY_ID)  # docs/protocol.md, one rule for all (firmware_config.ids)
ENTITY_ORDER = tuple(ENTITIES)  # facility, resource, door, ... (snapshot order)
_LOG_PAGE = 4096  # revisions read at most per log_after call (a budget never needs more)


class MutateError(StoreError):
    """A mutation that is not valid; nothing was written."""


@dataclass(frozen=True, slots=True)
class Revs:
    """A facility's newest revision and the oldest one its change log starts from."""

    rev: int
    oldest_rev: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One revision of the change log: ``ops`` as wire dicts, ``size`` their JSON bytes."""

    rev: int
    ops: list[dict[str, Any]]
    size: int


def canonical(data: Mapping[str, Any]) -> str:
    """Compact JSON with sorted keys: one record, one text (for storing and comparing)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def is_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


# --- building ops ----------------------------------------------------------------


def upsert(record: Record) -> Op:
    return Op("upsert", record.ENTITY, record.id, record)


def delete(entity: str, ident: str) -> Op:
    return Op("delete", entity, ident, None)


def upsert_wire(entity: str, data: Mapping[str, Any]) -> Op:
    """An upsert of a wire record; raises ``RecordError`` if it does not validate."""
    return upsert(parse_record(entity, data))


def op_wire(op: Op) -> dict[str, Any]:
    """The op as it travels in a ``changes`` message (PROTOCOL.md §6)."""
    out: dict[str, Any] = {"op": op.op, "entity": op.entity, "id": op.id}
    if op.record is not None:
        out["data"] = op.record.to_wire()
    return out


# --- reading ---------------------------------------------------------------------


def revs(store: Store, facility: str) -> Revs:
    row = store.execute(
        "SELECT rev, oldest_rev FROM facility_revs WHERE facility = ?", [facility]
    ).fetchone()
    return Revs(0, 0) if row is None else Revs(int(row[0]), int(row[1]))


def facilities(store: Store) -> dict[str, Revs]:
    """Every facility with a revision, by id."""
    rows = store.execute("SELECT facility, rev, oldest_rev FROM facility_revs ORDER BY 1")
    return {f: Revs(r, o) for f, r, o in rows}


def get(store: Store, facility: str, cls: type[R], ident: str) -> R | None:
    """The current record, or None."""
    row = store.execute(
        f"SELECT data FROM {TABLES[cls.ENTITY]} WHERE facility = ? AND id = ?", [facility, ident]
    ).fetchone()
    return None if row is None else cls.from_wire(json.loads(row[0]))


def records(store: Store, facility: str, entity: str) -> list[Record]:
    """Every current record of ``entity`` in ``facility``, by id."""
    cls = ENTITIES[entity]
    rows = store.execute(
        f"SELECT data FROM {TABLES[entity]} WHERE facility = ? ORDER BY id", [facility]
    )
    return [cls.from_wire(json.loads(d)) for (d,) in rows]


def all_records(store: Store, facility: str) -> list[Record]:
    """The whole current state of ``facility``, entities in ``ENTITY_ORDER``."""
    return [r for e in ENTITY_ORDER for r in records(store, facility, e)]


def log_after(store: Store, facility: str, after: int, max_bytes: int) -> list[LogEntry]:
    """Log entries with ``rev > after`` in order, as many as fit in ``max_bytes``
    (always at least one if there is one). The caller checks ``after`` against
    ``oldest_rev`` first."""
    out: list[LogEntry] = []
    total = 0
    rows = store.execute(
        "SELECT rev, ops, size FROM changelog WHERE facility = ? AND rev > ? AND rev <= ?"
        " ORDER BY rev",
        [facility, after, after + _LOG_PAGE],
    )
    for rev, ops, size in rows:
        if out and total + size > max_bytes:
            break
        out.append(LogEntry(rev, json.loads(ops), size))
        total += size
    return out


# --- writing ---------------------------------------------------------------------


def _validated(facility: str, ops: Sequence[Op]) -> list[Op]:
    if not is_id(facility):
        raise MutateError(f"facility id {facility!r} must be 1-128 of A-Z a-z 0-9 . _ : @ -")
    out: list[Op] = []
    for i, op in enumerate(ops):
        where = f"ops[{i}] ({op.entity} {op.id!r})"
        if op.entity not in ENTITIES:
            raise MutateError(f"{where}: unknown entity")
        if not is_id(op.id):
            raise MutateError(f"{where}: id must be 1-128 of A-Z a-z 0-9 . _ : @ -")
        if op.op == "delete":
            out.append(Op("delete", op.entity, op.id, None))
            continue
        if op.op != "upsert" or op.record is None:
            raise MutateError(f"{where}: op must be upsert (with a record) or delete")
        try:
            rec = parse_record(op.entity, op.record.to_wire())
        except (RecordError, ValueError, TypeError) as exc:
            raise MutateError(f"{where}: {exc}") from None
        if rec.id != op.id:
            raise MutateError(f"{where}: record id {rec.id!r} differs")
        if op.entity == "facility" and rec.id != facility:
            raise MutateError(f"{where}: the facility record of {facility!r} has that id")
        out.append(Op("upsert", op.entity, op.id, rec))
    return out


def mutate(store: Store, facility: str, ops: Sequence[Op], now: datetime) -> int:
    """Validate and apply ``ops`` to ``facility`` as one new revision; return the
    facility's revision afterwards (unchanged if no op changed anything).
    Raises ``MutateError`` (nothing written)."""
    checked = _validated(facility, ops)
    with store.write():
        store.lock("facility", facility)
        current = revs(store, facility)
        rev = current.rev + 1
        applied = [op for op in checked if _apply(store, facility, op, rev)]
        if not applied:
            return current.rev
        text = json.dumps(
            [op_wire(op) for op in applied], separators=(",", ":"), ensure_ascii=False
        )
        store.execute(
            "INSERT INTO changelog (facility, rev, at_ts, ops, size) VALUES (?, ?, ?, ?, ?)",
            [facility, rev, to_ts(now), text, len(text.encode())],
        )
        store.execute(
            "INSERT INTO facility_revs (facility, rev) VALUES (?, ?)"
            " ON CONFLICT (facility) DO UPDATE SET rev = excluded.rev",
            [facility, rev],
        )
    return rev


def mutate_chunked(
    store: Store, facility: str, ops: Sequence[Op], now: datetime, max_bytes: int
) -> int:
    """Like ``mutate`` for a large change (an import): consecutive revisions of at
    most ``max_bytes`` of ops each, all in one transaction, so every revision
    fits a ``changes`` message. Validates everything before writing anything."""
    checked = _validated(facility, ops)
    with store.write():
        store.lock("facility", facility)
        rev = revs(store, facility).rev
        chunk: list[Op] = []
        size = 0
        for op in checked:
            n = len(canonical(op_wire(op)).encode())
            if chunk and size + n > max_bytes:
                rev = mutate(store, facility, chunk, now)
                chunk, size = [], 0
            chunk.append(op)
            size += n
        if chunk:
            rev = mutate(store, facility, chunk, now)
    return rev


def _apply(store: Store, facility: str, op: Op, rev: int) -> bool:
    """Apply one op at ``rev``; False if it changes nothing."""
    table = TABLES[op.entity]
    c = store
    row = c.execute(
        f"SELECT data FROM {table} WHERE facility = ? AND id = ?", [facility, op.id]
    ).fetchone()
    old = None if row is None else str(row[0])
    if op.record is None:
        if old is None:
            return False
        c.execute(f"DELETE FROM {table} WHERE facility = ? AND id = ?", [facility, op.id])
    else:
        text = canonical(op.record.to_wire())
        if text == old:
            return False
        if op.entity in ("booking", "lease"):
            c.execute(f"DELETE FROM {table} WHERE facility = ? AND id = ?", [facility, op.id])
            _put_indexed(store, facility, op.record, text)
        else:
            c.execute(
                f"INSERT INTO {table} (facility, id, data) VALUES (?, ?, ?)"
                " ON CONFLICT (facility, id) DO UPDATE SET data = excluded.data",
                [facility, op.id, text],
            )
    if op.entity == "booking":
        c.execute(
            "DELETE FROM booking_resources WHERE facility = ? AND booking_id = ?", [facility, op.id]
        )
        if isinstance(op.record, Booking):
            b = op.record
            c.executemany(
                "INSERT INTO booking_resources VALUES (?, ?, ?, ?, ?)",
                [(facility, b.id, r, to_ts(b.start), to_ts(b.end)) for r in b.resources],
            )
        booking_changed(store, facility, op.id, _booking_of(op))
    elif op.entity == "lease":
        _lease_version(store, facility, op, rev)
    return True


def _booking_of(op: Op) -> Booking | None:
    return op.record if isinstance(op.record, Booking) else None


def _put_indexed(store: Store, facility: str, rec: Record, text: str) -> None:
    if isinstance(rec, Booking):
        store.execute(
            "INSERT INTO bookings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                facility,
                rec.id,
                text,
                to_ts(rec.start),
                to_ts(rec.end),
                int(rec.active),
                rec.origin,
                rec.node,
            ],
        )
    elif isinstance(rec, Lease):
        store.execute(
            "INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?, ?)",
            [facility, rec.id, text, rec.node, rec.resource, to_ts(rec.start), to_ts(rec.end)],
        )


def _lease_version(store: Store, facility: str, op: Op, rev: int) -> None:
    c = store
    new = op.record if isinstance(op.record, Lease) else None
    span = None if new is None else (new.node, new.resource, to_ts(new.start), to_ts(new.end))
    # at most one version of a lease is current (removed_rev NULL)
    row = c.execute(
        "SELECT node, resource, start_ts, end_ts FROM lease_versions"
        " WHERE facility = ? AND lease_id = ? AND removed_rev IS NULL",
        [facility, op.id],
    ).fetchone()
    if row is not None and tuple(row) == span:
        return
    if row is not None:
        c.execute(
            "UPDATE lease_versions SET removed_rev = ?"
            " WHERE facility = ? AND lease_id = ? AND removed_rev IS NULL",
            [rev, facility, op.id],
        )
    if span is not None:
        c.execute(
            "INSERT INTO lease_versions VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            [facility, op.id, *span, rev],
        )


def prune_log(store: Store, now: datetime, keep_days: int, keep_revs: int) -> dict[str, int]:
    """Drop change-log entries older than ``keep_days`` that are not among the
    newest ``keep_revs`` of their facility (always a prefix of the log). Returns
    the facilities whose ``oldest_rev`` moved, with the new value; a node below
    it gets a snapshot."""
    cutoff = to_ts(now) - keep_days * 86_400
    moved: dict[str, int] = {}
    with store.write():
        for facility in facilities(store):
            store.lock("facility", facility)
            r = revs(store, facility)
            young = store.execute(
                "SELECT min(rev) FROM changelog WHERE facility = ? AND at_ts >= ?",
                [facility, cutoff],
            ).scalar()
            upto = min(r.rev - keep_revs, r.rev if young is None else int(young) - 1)
            if upto <= r.oldest_rev:
                continue
            store.execute("DELETE FROM changelog WHERE facility = ? AND rev <= ?", [facility, upto])
            store.execute(
                "UPDATE facility_revs SET oldest_rev = ? WHERE facility = ?", [upto, facility]
            )
            moved[facility] = upto
    return moved


def prune_lease_versions(store: Store, now: datetime, keep_days: int) -> int:
    """Forget removed lease versions that ended more than ``keep_days`` ago (a
    walk-in in one of them arriving later is rejected as ``no_lease``)."""
    cutoff = to_ts(now) - keep_days * 86_400
    with store.write():
        res = store.execute(
            "DELETE FROM lease_versions WHERE removed_rev IS NOT NULL AND end_ts < ?", [cutoff]
        )
    return res.rowcount
