"""Applying central's data: ``changes`` batches and ``snapshot`` parts (PROTOCOL.md §6).

Rules this module guarantees:
- A batch is validated whole before anything is written
  (``sync.protocol.wire``: ``ChangeBatch`` and ``SnapshotPart`` exist only
  validated); a malformed batch raises ``BatchError`` and changes nothing.
- A batch applies only when ``base == applied_rev``; it then moves
  ``applied_rev`` to ``rev`` in the same transaction. ``rev <= applied_rev`` is a
  duplicate (ignored); any other base is a gap (nothing applied, the caller asks
  again with a cursor).
- ``replace_all`` replaces the whole replica in one transaction, keeping
  walk-ins central has not yet given a verdict on (loading a replica at once);
  central's snapshots arrive part by part and are staged beside the replica
  (``sync.replica.snapshot``).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sync.protocol.records import Booking, Record
from sync.protocol.timeutil import to_ts
from sync.protocol.wire import BatchError, ChangeBatch

from .store import Replica


class ApplyOutcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    GAP = "gap"
    STAGED = "staged"  # a snapshot part stored (sync.replica.snapshot)


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
