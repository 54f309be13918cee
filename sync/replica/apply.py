"""Applying central's data: ``changes`` batches and ``snapshot`` parts (PROTOCOL.md §6).

Rules this module guarantees:
- A batch is validated whole before anything is written; a malformed batch
  raises ``BatchError`` and changes nothing.
- A batch applies only when ``base == applied_rev``; it then moves
  ``applied_rev`` to ``rev`` in the same transaction. ``rev <= applied_rev`` is a
  duplicate (ignored); any other base is a gap (nothing applied, the caller asks
  again with a cursor).
- A snapshot is staged part by part; when every part of one ``rev`` is in, the
  whole replica is replaced in one transaction, keeping walk-ins central has
  not yet given a verdict on. A snapshot older than ``applied_rev`` is ignored.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .records import ENTITIES, Booking, Record, RecordError, parse_record
from .store import Replica, ReplicaError
from .timeutil import to_ts

MAX_OPS = 10_000_000  # far above what one 256 KiB message carries


class BatchError(ReplicaError):
    """A changes batch or snapshot part is malformed; nothing was applied."""


class ApplyOutcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    GAP = "gap"
    STAGED = "staged"


@dataclass(frozen=True, slots=True)
class Op:
    op: str  # "upsert" | "delete"
    entity: str
    id: str
    record: Record | None  # the validated record of an upsert


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    base: int
    rev: int
    ops: tuple[Op, ...]

    @classmethod
    def from_wire(cls, msg: Mapping[str, Any]) -> ChangeBatch:
        """Validate the ``base``, ``rev`` and ``ops`` of a ``changes`` message."""
        base, rev = _rev(msg, "base"), _rev(msg, "rev")
        if rev <= base:
            raise BatchError(f"changes: rev {rev} must be above base {base}")
        raw = msg.get("ops")
        if not isinstance(raw, list) or len(raw) > MAX_OPS:
            raise BatchError("changes: ops must be a list")
        return cls(base, rev, tuple(_op(i, o) for i, o in enumerate(raw)))


def _rev(msg: Mapping[str, Any], key: str) -> int:
    v = msg.get(key) if isinstance(msg, Mapping) else None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**63:
        raise BatchError(f"{key} must be a non-negative integer")
    return v


def _op(i: int, o: Any) -> Op:
    if not isinstance(o, Mapping):
        raise BatchError(f"ops[{i}]: must be an object")
    kind, entity, ident = o.get("op"), o.get("entity"), o.get("id")
    if not isinstance(entity, str) or entity not in ENTITIES:
        raise BatchError(f"ops[{i}].entity: unknown entity {entity!r}")
    if not isinstance(ident, str) or not ident:
        raise BatchError(f"ops[{i}].id: must be a non-empty string")
    if kind == "delete":
        return Op("delete", entity, ident, None)
    if kind != "upsert":
        raise BatchError(f"ops[{i}].op: must be upsert or delete")
    try:
        rec = parse_record(entity, o.get("data"))  # type: ignore[arg-type]
    except (RecordError, AttributeError) as exc:
        raise BatchError(f"ops[{i}].data: {exc}") from None
    if rec.id != ident:
        raise BatchError(f"ops[{i}]: data.id {rec.id!r} differs from id {ident!r}")
    return Op("upsert", entity, ident, rec)


def apply_changes(rep: Replica, batch: ChangeBatch, now: datetime) -> ApplyOutcome:
    """Apply ``batch`` under the base/rev rules; return what happened."""
    with rep.write():
        applied = rep.state().applied_rev
        if batch.rev <= applied:
            return ApplyOutcome.DUPLICATE
        if batch.base != applied:
            return ApplyOutcome.GAP
        for op in batch.ops:
            if op.record is None:
                rep.delete(op.entity, op.id)
            else:
                rep.put(op.record)
        _set_applied(rep, batch.rev, now)
    return ApplyOutcome.APPLIED


def _set_applied(rep: Replica, rev: int, now: datetime) -> None:
    rep.conn.execute(
        "UPDATE sync_state SET applied_rev = ?, applied_ts = ? WHERE id = 1", [rev, to_ts(now)]
    )


@dataclass(frozen=True, slots=True)
class SnapshotPart:
    rev: int
    part: int
    parts: int
    records: tuple[Record, ...]

    @classmethod
    def from_wire(cls, msg: Mapping[str, Any]) -> SnapshotPart:
        """Validate a ``snapshot`` message: ``rev``, ``part`` (1-based), ``parts``, ``entities``."""
        rev, part, parts = _rev(msg, "rev"), _rev(msg, "part"), _rev(msg, "parts")
        if not 1 <= part <= parts <= 100_000:
            raise BatchError(f"snapshot: part {part} of {parts} is out of range")
        ents = msg.get("entities")
        if not isinstance(ents, Mapping):
            raise BatchError("snapshot: entities must be an object")
        out: list[Record] = []
        for entity, items in ents.items():
            if entity not in ENTITIES:
                raise BatchError(f"snapshot: unknown entity {entity!r}")
            if not isinstance(items, list):
                raise BatchError(f"snapshot: entities.{entity} must be a list")
            for i, item in enumerate(items):
                try:
                    out.append(parse_record(entity, item))
                except RecordError as exc:
                    raise BatchError(f"snapshot: entities.{entity}[{i}]: {exc}") from None
        return cls(rev, part, parts, tuple(out))


@dataclass(frozen=True, slots=True)
class StagedSnapshot:
    """A snapshot being received: ``have`` of the ``parts`` parts of ``rev`` are
    stored (``stage_snapshot`` applies them all when the last one arrives)."""

    rev: int
    have: int
    parts: int


def staged_snapshot(rep: Replica) -> StagedSnapshot | None:
    """The snapshot whose parts are staged now, if any (``stage_snapshot`` keeps
    the parts of one ``rev`` at a time)."""
    row = rep.conn.execute(
        "SELECT rev, count(*), max(parts) FROM snapshot_parts"
        " GROUP BY rev ORDER BY rev DESC LIMIT 1"
    ).fetchone()
    return None if row is None else StagedSnapshot(int(row[0]), int(row[1]), int(row[2]))


def stage_snapshot(rep: Replica, part: SnapshotPart, now: datetime) -> ApplyOutcome:
    """Stage one part; when the last part of its ``rev`` arrives, replace the replica.

    Returns STAGED, APPLIED, or DUPLICATE for a snapshot older than the replica.
    """
    body = json.dumps([[r.ENTITY, r.to_wire()] for r in part.records], separators=(",", ":"))
    with rep.write():
        if part.rev < rep.state().applied_rev:
            return ApplyOutcome.DUPLICATE
        newest = rep.conn.execute("SELECT max(rev) FROM snapshot_parts").fetchone()[0]
        if newest is not None and part.rev < newest:
            return ApplyOutcome.DUPLICATE  # a newer snapshot is already being staged
        rep.conn.execute("DELETE FROM snapshot_parts WHERE rev != ?", [part.rev])
        other = rep.conn.execute(
            "SELECT parts FROM snapshot_parts WHERE rev = ? AND parts != ? LIMIT 1",
            [part.rev, part.parts],
        ).fetchone()
        if other is not None:
            raise BatchError(f"snapshot rev {part.rev}: parts {part.parts} differs from {other[0]}")
        rep.conn.execute(
            "INSERT OR REPLACE INTO snapshot_parts VALUES (?, ?, ?, ?)",
            [part.rev, part.part, part.parts, body],
        )
        have = rep.conn.execute(
            "SELECT count(*) FROM snapshot_parts WHERE rev = ?", [part.rev]
        ).fetchone()[0]
        if have < part.parts:
            return ApplyOutcome.STAGED
        records: list[Record] = []
        for (text,) in rep.conn.execute(
            "SELECT body FROM snapshot_parts WHERE rev = ? ORDER BY part", [part.rev]
        ).fetchall():
            records.extend(parse_record(e, d) for e, d in json.loads(text))
        replace_all(rep, part.rev, records, now)
        rep.conn.execute("DELETE FROM snapshot_parts")
    return ApplyOutcome.APPLIED


def replace_all(rep: Replica, rev: int, records: list[Record], now: datetime) -> None:
    """Replace the replica with ``records`` at ``rev`` (inside a write), keeping
    pending walk-ins that the snapshot does not already contain."""
    with rep.write():
        pending = rep.decode_rows(
            Booking,
            rep.conn.execute(
                "SELECT b.data FROM bookings b JOIN walkins w ON w.booking_id = b.id"
                " WHERE w.state = 'pending'"
            ),
        )
        rep.clear_entities()
        rep.conn.execute("UPDATE sync_state SET max_booking_s = 0 WHERE id = 1")
        rep.forget_span()
        seen: set[tuple[str, str]] = set()
        for rec in records:
            key = (rec.ENTITY, rec.id)
            if key in seen:
                raise BatchError(f"snapshot rev {rev}: {rec.ENTITY} {rec.id!r} appears twice")
            seen.add(key)
            rep.put(rec, replace=False)
        for b in pending:
            if ("booking", b.id) not in seen:
                rep.put(b, replace=False)
        _set_applied(rep, rev, now)
