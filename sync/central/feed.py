"""What central sends a node to bring its replica up to date (PROTOCOL.md §6), pure.

Rules this module guarantees:
- ``plan`` decides from the node's ``applied_rev``, its ``want`` and the
  facility's revisions: nothing (up to date), ``changes`` from the log, or a
  ``snapshot`` — when the node asks for one, when its replica is empty
  (``applied_rev`` 0: a snapshot carries no deleted records and is smaller
  than a replay), or when it is older than ``oldest_rev`` (the log no longer
  reaches back to it). A node ahead of central (central restored from an old
  backup) gets nothing: no message of the contract can move it back.
- ``change_batches`` joins consecutive log revisions into ``changes`` batches
  of at most ``budget`` bytes of ops, each ``base`` the previous ``rev``, so a
  node applying them in order ends at the last ``rev``.
- ``snapshot_parts`` splits records, in the order given, into parts of at most
  ``budget`` bytes of records (at least one record per part), numbered from 1.
- ``pack_changes`` and ``pack_snapshot`` sign what those build; a message
  ``pack`` refuses as ``TooLarge`` (above 256 KiB, PROTOCOL.md §2) is split
  finer, so every message sent fits. The budgets keep messages well under the
  limit: JSON bytes grow by a third in base64url.
- Nothing here reads a clock or a database: ``iat`` and the records come in.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.protocol import Changes, Message, Outgoing, Snapshot, TooLarge, Want, pack
from sync.protocol.records import Record
from sync.protocol.wire import ChangeBatch, SnapshotPart

from .changelog import LogEntry, Revs

BUDGET = 96 * 1024  # bytes of ops or records JSON per message: about 130 KiB signed
MIN_BUDGET = 1024
# One revision's ops above this cannot travel as ``changes`` (base64url makes
# 4/3 of it, plus the envelope): the node gets a snapshot instead.
MAX_REVISION_BYTES = 180 * 1024


class Plan(enum.Enum):
    UP_TO_DATE = "up_to_date"
    CHANGES = "changes"
    SNAPSHOT = "snapshot"
    AHEAD = "ahead"


@dataclass(frozen=True, slots=True)
class Signer:
    """Central's signing identity (PROTOCOL.md §4): the kid nodes pin, and its key."""

    kid: str
    key: Ed25519PrivateKey

    def pack(self, msg: Message, node: str, iat: int) -> Outgoing:
        """``msg`` addressed to ``node``, signed at ``iat``."""
        return pack(msg, node=node, iat=iat, kid=self.kid, key=self.key)


def plan(applied_rev: int, want: Want, revs: Revs) -> Plan:
    """How to answer a node at ``applied_rev`` that wants ``want`` (module rules)."""
    if applied_rev > revs.rev:
        return Plan.AHEAD
    if want is Want.SNAPSHOT:
        return Plan.SNAPSHOT
    if applied_rev == revs.rev:
        return Plan.UP_TO_DATE
    if applied_rev == 0 or applied_rev < revs.oldest_rev:
        return Plan.SNAPSHOT
    return Plan.CHANGES


def change_batches(
    entries: Sequence[LogEntry], base: int, budget: int = BUDGET
) -> list[ChangeBatch]:
    """Consecutive log ``entries`` (revisions ``base + 1`` on) as batches of at most
    ``budget`` bytes each (one entry alone may be larger). Raises ``ValueError``
    if the entries do not follow on from ``base`` one by one."""
    out: list[ChangeBatch] = []
    ops: list[dict[str, Any]] = []
    start, rev, size = base, base, 0
    for entry in entries:
        if entry.rev != rev + 1:
            raise ValueError(f"log entry {entry.rev} does not follow revision {rev}")
        if ops and size + entry.size > budget:
            out.append(_batch(start, rev, ops))
            ops, start, size = [], rev, 0
        ops.extend(entry.ops)
        rev, size = entry.rev, size + entry.size
    if rev > start:
        out.append(_batch(start, rev, ops))
    return out


def _batch(base: int, rev: int, ops: list[dict[str, Any]]) -> ChangeBatch:
    return ChangeBatch.from_wire({"base": base, "rev": rev, "ops": ops})


def record_size(rec: Record) -> int:
    return len(json.dumps(rec.to_wire(), separators=(",", ":"), ensure_ascii=False).encode())


def snapshot_parts(rev: int, records: Sequence[Record], budget: int = BUDGET) -> list[SnapshotPart]:
    """``records`` at ``rev`` as parts 1..n of at most ``budget`` bytes each."""
    chunks: list[list[Record]] = [[]]
    size = 0
    for rec in records:
        n = record_size(rec)
        if chunks[-1] and size + n > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(rec)
        size += n
    return [SnapshotPart(rev, i, len(chunks), tuple(c)) for i, c in enumerate(chunks, 1)]


def pack_snapshot(
    signer: Signer, node: str, iat: int, rev: int, records: Sequence[Record], budget: int = BUDGET
) -> list[Outgoing]:
    """The signed parts of a snapshot, each under 256 KiB. Raises ``TooLarge``
    only for a single record that cannot fit a message on its own."""
    while True:
        try:
            return [
                signer.pack(Snapshot(p), node, iat) for p in snapshot_parts(rev, records, budget)
            ]
        except TooLarge:
            if budget <= MIN_BUDGET:
                raise
            budget //= 2


def pack_changes(
    signer: Signer,
    node: str,
    iat: int,
    entries: Sequence[LogEntry],
    base: int,
    budget: int = BUDGET,
) -> list[tuple[int, Outgoing]] | None:
    """The signed ``changes`` batches for ``entries`` from ``base``, each with the
    ``rev`` it brings the node to; None when one revision alone does not fit a
    message (the node then needs a snapshot)."""
    if any(e.size > MAX_REVISION_BYTES for e in entries):
        return None
    while True:
        try:
            return [
                (b.rev, signer.pack(Changes(b), node, iat))
                for b in change_batches(entries, base, budget)
            ]
        except TooLarge:
            if budget <= MIN_BUDGET:
                return None
            budget //= 2
