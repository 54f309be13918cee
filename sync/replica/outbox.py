"""The outbox: every event the node records, kept until central acknowledges it.

Rules this module guarantees (PROTOCOL.md §5, §6 ack):
- ``seq`` starts at 1 per epoch (per database), rises by one per event and is
  never reused: the counter lives in ``sync_state`` and moves in the same
  transaction as the insert, so a rolled-back or killed writer leaves no hole.
- An event joins the caller's transaction when appended inside
  ``Replica.write()``: the state change and its event commit together.
- Event ids are UUIDv7 (RFC 9562 §5.7) made from the event's ``at``; ids of
  one millisecond follow each other in ``seq`` order (a counter, §6.2), also
  between processes sharing the database.
- An ack deletes rows only up to ``through``, never beyond what was recorded;
  an ack for another epoch changes nothing.
- A body that reads back equal to itself (member names all strings, no
  tuples) is stored as its canonical JSON
  (``sync.protocol.envelope.canonical_json``: sorted keys, compact, UTF-8)
  followed by one newline, the mark that says so (no JSON encoder writes a
  trailing newline; JSON readers skip it). ``pending_texts`` hands the link
  those texts, which it splices into the signed message instead of encoding
  the bodies again. Rows without the mark (written before it, or a body with
  other member names or tuples) are encoded from their parsed body as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from sync.protocol.envelope import canonical_text
from sync.protocol.records import Booking
from sync.protocol.timeutil import from_ts, require_aware
from sync.protocol.wire import (
    EVENT_TYPES,
    MAX_BATCH,
    OutboxEvent,
    Verdict,
    body_error,
    outbox_event,
)

from .store import Replica, ReplicaCorrupt, ReplicaError

log = logging.getLogger("hallvakt.replica")
_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


class AckError(ReplicaError):
    """An ack that cannot be right (it acknowledges events never recorded)."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_COUNTER_BITS = 42  # rand_a (12 bits) and the top 30 bits of rand_b: RFC 9562 §6.2 method 1
_TAIL_BITS = 32  # the rest of rand_b stays random


def uuid7(unix_ms: int | None = None, *, after: str | None = None) -> str:
    """A UUIDv7 string (RFC 9562 §5.7) for Unix milliseconds ``unix_ms`` (the
    wall clock if None): 48-bit time, version 7, variant 10, 74 further bits.

    Hand-written because the libraries for Python 3.11 do not take both a
    given time and a monotonic order: ``uuid6.uuid7()`` reads the clock
    itself, and ``uuid_utils.uuid7(nanoseconds=...)`` draws fresh random bits
    for every id of one given millisecond (measured: not in order).

    Ordering (RFC 9562 §6.2, method 1, a fixed-length counter): the 42 bits
    after the version are a counter, started at random (top bit clear, so at
    least 2**41 more ids fit in that millisecond) and the last 32 bits are
    random. With ``after``, an id of the same millisecond, the counter goes on
    from it, so the new id sorts after it; should it ever overflow, the id
    moves to the next millisecond (§6.2). An ``after`` of another millisecond
    changes nothing: the id keeps its own time, even an earlier one.
    """
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    if not 0 <= ms < 2**48:
        raise ValueError(f"{ms} ms is outside the 48 bits of a UUIDv7 timestamp")
    rand = int.from_bytes(os.urandom(10), "big")
    counter = (rand >> _TAIL_BITS) & (2 ** (_COUNTER_BITS - 1) - 1)
    if after is not None:
        prev = _uuid_int(after)
        if prev >> 80 == ms:
            counter = ((prev >> 64) & 0xFFF) << 30 | (prev >> _TAIL_BITS) & (2**30 - 1)
            counter += 1
            if counter >> _COUNTER_BITS:
                ms, counter = ms + 1, counter & (2 ** (_COUNTER_BITS - 1) - 1)
    value = ms << 80
    value |= 0x7 << 76
    value |= (counter >> 30) << 64
    value |= 0b10 << 62
    value |= (counter & (2**30 - 1)) << _TAIL_BITS
    value |= rand & (2**_TAIL_BITS - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid_int(text: str) -> int:
    """The 128 bits of a UUID in its canonical form (``uuid.UUID`` for any other)."""
    if _UUID_TEXT.fullmatch(text):
        return int(text.replace("-", ""), 16)
    return uuid.UUID(text).int


_NEXT_SEQ = (
    "UPDATE sync_state SET last_seq = last_seq + 1 WHERE id = 1"
    " RETURNING last_seq, (SELECT id FROM outbox ORDER BY seq DESC LIMIT 1)"
)


def append_event(rep: Replica, type_: str, body: Mapping[str, Any], at: datetime) -> OutboxEvent:
    """Record one event; joins the caller's ``rep.write()`` transaction if any.

    Raises ``ValueError`` for an unknown type, a body that is not JSON, or a
    body ``sync.protocol.wire.body_error`` names.
    """
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    if (wrong := body_error(type_, body)) is not None:
        raise ValueError(wrong)
    plain = dict(body)
    try:
        try:
            text = canonical_text(plain)
        except TypeError:
            text = _ENCODE(plain)  # member names of types sorting cannot compare
    except TypeError as exc:
        raise ValueError(f"event body is not JSON: {exc}") from exc
    parsed = json.loads(text)
    # The text read back equals the body only where every member name was a
    # string (JSON turns others into strings, and ``1 != "1"``): then it is
    # exactly the canonical encoding of what any reader parses from it, and
    # is marked so (module rules). Tuples read back as lists: left unmarked.
    if parsed == plain:
        text += CANONICAL_MARK
    at_ms = (require_aware(at) - _EPOCH) // _MS  # exact: integer arithmetic, no float
    at_ts = at_ms // 1000
    with rep.write():
        # The id is made from ``at`` and, within one millisecond, after the
        # newest id in the outbox (in the write lock: also across processes);
        # read in the statement that takes the seq.
        seq, last = rep.conn.execute(_NEXT_SEQ).fetchone()
        event_id = uuid7(at_ms, after=last)
        rep.conn.execute(_INSERT, [seq, event_id, type_, at_ts, text])
    return OutboxEvent(seq, event_id, type_, from_ts(at_ts), parsed)


# For a body with a member name that is not a string (JSON makes it one;
# sorting may fail or differ): compact, unsorted, made once (``json.dumps``
# with options makes an encoder per call).
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
CANONICAL_MARK = "\n"  # after a body stored as canonical JSON (module rules)


_INSERT = "INSERT INTO outbox (seq, id, type, at_ts, body) VALUES (?, ?, ?, ?, ?)"


def pending_events(rep: Replica, *, after: int = 0, limit: int = MAX_BATCH) -> list[OutboxEvent]:
    """Unacknowledged events with ``seq > after``, oldest first, at most ``limit``.

    A row damaged on disk (text that is not UTF-8, a body that is not JSON) is
    still an event in the sequence: it comes with its body replaced by
    ``{"damaged": true, "detail": ...}`` (and, where they are unreadable too, a
    ``security.rejected`` type and an id made from the epoch and seq), so that
    central's contiguous ``through`` can pass it (docs/sync.md).
    """
    return pending_texts(rep, after=after, limit=limit)[0]


def pending_texts(
    rep: Replica, *, after: int = 0, limit: int = MAX_BATCH
) -> tuple[list[OutboxEvent], list[str | None]]:
    """``pending_events`` and, for each, its body's canonical JSON text as
    stored (module rules), or None where the row has none (no mark, or damaged)."""
    sql = "SELECT seq, id, type, at_ts, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?"
    try:
        rows = rep.conn.execute(sql, [after, limit]).fetchall()
        events = [outbox_event(s, i, t, from_ts(a), _stored_body(b)) for s, i, t, a, b in rows]
        return events, [b[:-1] if b[-1:] == CANONICAL_MARK else None for *_, b in rows]
    except (ReplicaCorrupt, ValueError):
        pass
    raw = rep.conn.execute(
        "SELECT seq, CAST(id AS BLOB), CAST(type AS BLOB), at_ts, CAST(body AS BLOB) FROM outbox"
        " WHERE seq > ? ORDER BY seq LIMIT ?",
        [after, limit],
    ).fetchall()
    epoch = rep.state().epoch
    return [_salvaged(epoch, s, i, t, a, b) for s, i, t, a, b in raw], [None] * len(raw)


_decode_body = msgspec.json.Decoder().decode


def _stored_body(text: str) -> dict[str, Any]:
    """``_body`` of a row: a text with the canonical mark (module rules) is parsed
    by msgspec in C (1 us a body less than ``json.loads``); the value is the one
    ``json.loads`` gives for canonical JSON (a property test compares them).
    Anything msgspec refuses, or that is not an object, takes ``_body``, which
    decides as before (a damaged row: ``ValueError``, salvaged)."""
    if text[-1:] == CANONICAL_MARK:
        try:
            body = _decode_body(text)
        except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
            return _body(text)
        if type(body) is dict:
            return body
    return _body(text)


def _body(text: str) -> dict[str, Any]:
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError("an event body must be a JSON object")
    return body


def _salvaged(epoch: int, seq: int, ident: Any, type_: Any, at_ts: Any, body: Any) -> OutboxEvent:
    """One outbox row read byte by byte (``pending_events``)."""
    problems: list[str] = []

    def text(value: Any, what: str) -> str | None:
        try:
            return bytes(value).decode("utf-8")
        except (UnicodeDecodeError, TypeError):
            problems.append(f"{what} is not UTF-8")
            return None

    at = from_ts(at_ts) if isinstance(at_ts, int) else from_ts(0)
    event_id = text(ident, "id")
    if event_id is None or not _UUID7.fullmatch(event_id):
        event_id = _stand_in_id(epoch, seq, at)
    kind = text(type_, "type")
    if kind not in EVENT_TYPES:
        kind = "security.rejected"
    decoded = text(body, "body")
    try:
        out = _body(decoded) if decoded is not None else None
    except ValueError as exc:
        problems.append(f"body is not a JSON object ({exc})")
        out = None
    if out is None or problems:
        detail = "; ".join(problems)
        log.error("outbox event %d is damaged (%s); it goes as damaged", seq, detail)
        out = {"damaged": True, "reason": "damaged_outbox_row", "detail": detail}
    return OutboxEvent(seq, event_id, kind, at, out)


def _stand_in_id(epoch: int, seq: int, at: datetime) -> str:
    """A UUIDv7 that is the same each time for (``epoch``, ``seq``): resends agree."""
    rand = int.from_bytes(hashlib.sha256(f"{epoch}:{seq}".encode()).digest()[:10], "big")
    value = (int(at.timestamp() * 1000) & (2**48 - 1)) << 80 | 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64 | 0b10 << 62 | rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


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
