"""The outbox: every event the node records, kept until central acknowledges it.

Rules this module guarantees (PROTOCOL.md §5, §6 ack):
- ``seq`` starts at 1 per epoch (per database), rises by one per event and is
  never reused: the counter lives in ``sync_state`` and moves in the same
  transaction as the insert, so a rolled-back or killed writer leaves no hole.
- An event joins the caller's transaction when appended inside
  ``Replica.write()``: the state change and its event commit together.
- Event ids are UUIDv7 (RFC 9562 §5.7): time-ordered, 74 random bits.
- An ack deletes rows only up to ``through``, never beyond what was recorded;
  an ack for another epoch changes nothing.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .records import Booking
from .store import Replica, ReplicaError
from .timeutil import format_instant, from_ts, to_ts

EVENT_TYPES = frozenset(
    {
        "access.granted",
        "access.denied",
        "door.opened",
        "door.closed",
        "door.held_open",
        "door.forced",
        "door.tamper",
        "reader.online",
        "reader.offline",
        "walkin.created",
        "walkin.cancelled",
        "booking.checked_in",
        "booking.no_show",
        "booking.released",
        "attendance.reported",
        "command.done",
        "security.rejected",
    }
)
MAX_BATCH = 256


class AckError(ReplicaError):
    """An ack that cannot be right (it acknowledges events never recorded)."""


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    seq: int
    id: str
    type: str
    at: datetime
    body: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        """The event as it travels in an ``events`` message."""
        return {
            "seq": self.seq,
            "id": self.id,
            "type": self.type,
            "at": format_instant(self.at),
            "body": self.body,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # "accepted" | "rejected"
    reason: str = ""


def uuid7(unix_ms: int | None = None) -> str:
    """A UUIDv7 string: 48-bit Unix milliseconds, version 7, variant 10, random bits."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


def append_event(rep: Replica, type_: str, body: Mapping[str, Any], at: datetime) -> OutboxEvent:
    """Record one event; joins the caller's ``rep.write()`` transaction if any.

    Raises ``ValueError`` for an unknown type or a body that is not JSON.
    """
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    try:
        text = json.dumps(dict(body), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except TypeError as exc:
        raise ValueError(f"event body is not JSON: {exc}") from exc
    at_ts = to_ts(at)
    event_id = uuid7()
    with rep.write():
        seq = rep.conn.execute(
            "UPDATE sync_state SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq"
        ).fetchone()[0]
        rep.conn.execute(
            "INSERT INTO outbox (seq, id, type, at_ts, body) VALUES (?, ?, ?, ?, ?)",
            [seq, event_id, type_, at_ts, text],
        )
    return OutboxEvent(seq, event_id, type_, from_ts(at_ts), json.loads(text))


def pending_events(rep: Replica, *, after: int = 0, limit: int = MAX_BATCH) -> list[OutboxEvent]:
    """Unacknowledged events with ``seq > after``, oldest first, at most ``limit``."""
    rows = rep.conn.execute(
        "SELECT seq, id, type, at_ts, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        [after, limit],
    ).fetchall()
    return [OutboxEvent(s, i, t, from_ts(a), json.loads(b)) for s, i, t, a, b in rows]


def backlog(rep: Replica) -> int:
    """How many events wait for central's acknowledgement."""
    return int(rep.conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def acknowledge(
    rep: Replica, epoch: int, through: int, verdicts: Mapping[str, Verdict] | None = None
) -> int:
    """Apply central's ack: drop events up to ``through``, record walk-in verdicts.

    Returns the number of outbox rows deleted. An ack for another epoch deletes
    nothing and returns 0. Raises ``AckError`` if ``through`` is above the last
    recorded ``seq``.
    """
    with rep.write():
        st = rep.state()
        if epoch != st.epoch:
            return 0
        if through > st.last_seq:
            raise AckError(f"ack through {through} is above the last recorded seq {st.last_seq}")
        deleted = 0
        if through > st.acked_through:
            deleted = rep.conn.execute("DELETE FROM outbox WHERE seq <= ?", [through]).rowcount
            rep.conn.execute("UPDATE sync_state SET acked_through = ? WHERE id = 1", [through])
        for event_id, verdict in (verdicts or {}).items():
            _record_verdict(rep, event_id, verdict)
    return deleted


def _record_verdict(rep: Replica, event_id: str, verdict: Verdict) -> None:
    if verdict.status not in ("accepted", "rejected"):
        raise ValueError(f"verdict status must be accepted or rejected, not {verdict.status!r}")
    row = rep.conn.execute(
        "SELECT booking_id FROM walkins WHERE event_id = ? AND state = 'pending'", [event_id]
    ).fetchone()
    if row is None:
        return  # a verdict repeated, or for an event that needs none
    rep.conn.execute(
        "UPDATE walkins SET state = ?, reason = ? WHERE booking_id = ?",
        [verdict.status, verdict.reason[:200], row[0]],
    )
    if verdict.status == "rejected":
        data = rep.conn.execute("SELECT data FROM bookings WHERE id = ?", [row[0]]).fetchone()
        if data is not None:
            wire = json.loads(data[0])
            wire["status"] = "rejected"
            rep.put(Booking.from_wire(wire))
