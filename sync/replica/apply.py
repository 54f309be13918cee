"""Applying central's data: ``changes`` batches and ``snapshot`` parts (PROTOCOL.md §6).

Rules this module guarantees:
- A batch is validated whole before anything is written
  (``sync.protocol.wire``: ``ChangeBatch`` and ``SnapshotPart`` exist only
  validated); a malformed batch raises ``BatchError`` and changes nothing.
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
from dataclasses import dataclass
from datetime import datetime

from sync.protocol.records import Booking, Record, parse_record
from sync.protocol.timeutil import to_ts
from sync.protocol.wire import BatchError, ChangeBatch, SnapshotPart

from .store import Replica


class ApplyOutcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    GAP = "gap"
    STAGED = "staged"


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
