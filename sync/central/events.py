"""Central's event store, the ``through`` of every ack, and walk-in verdicts (PROTOCOL.md §6).

Rules this module guarantees:
- Events are stored idempotently, unique on (node, epoch, seq) and on id. A
  repeated (node, epoch, seq) changes nothing. An id already stored under
  another (node, epoch, seq) is stored without its id (``clash_id`` keeps it)
  and counted in the quarantine, so the seq is not a hole that would stop
  ``through`` forever.
- ``through`` per (node, epoch) is the highest seq with every seq from 1 to it
  stored, and it is written in the same transaction as the events: an ack
  never names an event that is not durable.
- Events take effect in seq order, once, when they become part of the
  contiguous prefix; so the store ends the same whatever the order and
  duplication in which batches arrive. ``processed`` is 1 when nothing is
  left to apply: an event of a type without effect (all but
  ``EFFECT_TYPES``) is stored so, one with an effect once it took effect.
  When this batch's new rows cover the newly contiguous span and none has an
  effect, nothing is read back or written again for them. Effects: ``walkin.created`` gets a
  verdict and, when accepted, becomes a central booking (same id, origin
  ``walkin``) through ``mutate``; ``walkin.cancelled`` cancels the node's own
  accepted walk-in.
- A walk-in is accepted when its booking is a valid walk-in record of the
  sending node on one resource, lies inside a version of the lease it names
  that the node held when it made it, and overlaps no active booking on a
  related resource. Otherwise it is rejected as ``malformed``, ``no_lease``,
  ``outside_lease`` or ``conflict``. The node held a lease version when the
  version was not removed, or removed at a revision above the node's
  ``applied_rev`` as last reported, or above the ``applied_rev`` of a hello
  sent after the event was made (its ``outbox.last`` covers the seq).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from sync.protocol.records import Booking, RecordError
from sync.protocol.timeutil import to_ts
from sync.protocol.wire import OutboxEvent, Verdict
from sync.replica.queries import related_resources

from . import changelog as cl
from . import observed
from .db import Store
from .evidence import ledger as evidence
from .evidence.release import release_booking
from .leases import bookings_overlapping, tree

ACCEPTED, REJECTED = "accepted", "rejected"
# The types whose events change central's state when they take effect; every
# other event is stored with ``processed`` = 1 (nothing to apply).
EFFECT_TYPES = ("walkin.created", "walkin.cancelled", "booking.released")
_EFFECT_SQL = ", ".join(f"'{t}'" for t in EFFECT_TYPES)


@dataclass(frozen=True, slots=True)
class Stored:
    """What one ``events`` message did: the ack to send, and revisions made."""

    through: int
    verdicts: Mapping[str, Verdict]
    new: int  # events stored for the first time
    revisions: Mapping[str, int] = field(default_factory=dict)  # facility -> rev


_encode = msgspec.json.Encoder().encode


def body_text(body: Any) -> str:
    """An event's body as stored: compact JSON. The body comes from a verified
    payload (``sync.protocol.check``), so it is JSON values only (no NaN: msgspec
    would write it as null); anything msgspec cannot encode takes ``json.dumps``,
    whose spelling was stored before (every reader parses the text: the spelling
    is not part of the store's contract). msgspec: 0.5 us a body, json: 5."""
    try:
        return _encode(body).decode()
    except (TypeError, ValueError, msgspec.EncodeError):
        return json.dumps(body)


def through(store: Store, node: str, epoch: int) -> int:
    row = store.execute(
        "SELECT through FROM event_streams WHERE node = ? AND epoch = ?", [node, str(epoch)]
    ).fetchone()
    return 0 if row is None else int(row[0])


def store_events(
    store: Store,
    node: str,
    facility: str | None,
    epoch: int,
    events: Sequence[OutboxEvent],
    now: datetime,
) -> Stored:
    """Store one batch, advance ``through``, apply what became contiguous; all in
    one transaction. Returns the ack's content: ``through`` and the verdicts of
    this batch's walk-ins and of walk-ins that just took effect."""
    ep = str(epoch)
    c = store
    new = 0
    now_ts = to_ts(now)
    with store.write():
        store.lock("node", node)  # one writer of a node's stream at a time: ``through`` is exact
        stamps: dict[datetime, int] = {}  # the events of a batch share a few seconds
        rows = {
            e.seq: (
                node,
                ep,
                e.seq,
                e.type,
                stamps.get(e.at) or stamps.setdefault(e.at, to_ts(e.at)),
                body_text(e.body),
                now_ts,
                0 if e.type in EFFECT_TYPES else 1,  # ``processed``: 1, nothing to apply
            )
            for e in events
        }
        fresh = _insert_new(store, [(*rows[e.seq], e.id) for e in events])
        stored = [e for e in events if e.seq in fresh]
        for e in events:
            row = rows[e.seq]
            if e.seq in fresh:
                new += 1
                continue
            old = c.execute(
                "SELECT id, clash_id FROM events WHERE node = ? AND epoch = ? AND seq = ?",
                [node, ep, e.seq],
            ).fetchone()
            if old is None:  # the id is taken by another event: keep this one without it
                c.execute(
                    "INSERT INTO events (node, epoch, seq, type, at_ts, body, received_ts,"
                    " processed, clash_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [*row, e.id],
                )
                _note(store, node, f"event id {e.id} already stored for another event", now)
                stored.append(e)
                new += 1
            elif e.id not in (old[0], old[1]):
                _note(store, node, f"epoch {ep} seq {e.seq} resent with another id {e.id}", now)
        observed.note(store, node, ep, stored)  # door, reader and command states for the web page
        # What this transaction stored, by seq, as stored: type, at, body, id.
        mine = {e.seq: (e.type, rows[e.seq][4], e.body, e.id) for e in stored}
        before = through(store, node, epoch)
        upto = before
        for (seq,) in c.execute(
            "SELECT seq FROM events WHERE node = ? AND epoch = ? AND seq > ? ORDER BY seq",
            [node, ep, before],
        ).fetchall():
            if seq != upto + 1:
                break
            upto = seq
        revisions: dict[str, int] = {}
        if upto != before:
            c.execute(
                "INSERT INTO event_streams (node, epoch, through) VALUES (?, ?, ?)"
                " ON CONFLICT (node, epoch) DO UPDATE SET through = excluded.through",
                [node, ep, upto],
            )
            if facility is not None:
                revisions = _take_effect(store, node, facility, ep, before, upto, now, mine)
                evidence.interpret(store, node, facility, ep, before, upto, mine)
            c.execute(
                "DELETE FROM node_marks WHERE node = ? AND epoch = ? AND last_seq <= ?",
                [node, ep, upto],
            )
        # A verdict is only ever given to a walk-in: none can be due when every
        # event of the batch and of the newly contiguous span was stored just now
        # (none had one before) and none of them is a walk-in.
        verdicts: dict[str, Verdict] = {}
        span = range(before + 1, upto + 1)
        if (
            len(stored) != len(events)
            or any(e.type == "walkin.created" for e in stored)
            or not all(seq in mine for seq in span)
        ):
            verdicts = _verdicts(store, node, ep, [e.seq for e in events], before, upto)
    return Stored(upto, verdicts, new, revisions)


def _insert_new(store: Store, rows: list[tuple[Any, ...]]) -> set[int]:
    """Insert the events that are new (one statement); the seqs inserted. A row
    whose (node, epoch, seq) or id is stored already is left out."""
    if not rows:
        return set()
    marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
    res = store.execute(
        "INSERT INTO events (node, epoch, seq, type, at_ts, body, received_ts, processed, id)"
        f" VALUES {marks} ON CONFLICT DO NOTHING RETURNING seq",
        [v for r in rows for v in r],
    )
    return {int(seq) for (seq,) in res}


def _note(store: Store, node: str, detail: str, now: datetime) -> None:
    store.execute(
        "INSERT INTO quarantine (at_ts, topic, reason, detail, payload) VALUES (?, ?, ?, ?, ?)",
        [to_ts(now), f"hallvakt/v1/{node}/up/evt", "event_conflict", detail, b""],
    )


def _verdicts(
    store: Store, node: str, ep: str, seqs: list[int], before: int, upto: int
) -> dict[str, Verdict]:
    rows = store.execute(
        "SELECT seq, coalesce(id, clash_id), verdict, reason FROM events"
        " WHERE node = ? AND epoch = ? AND verdict IS NOT NULL AND seq BETWEEN ? AND ?",
        [node, ep, min([*seqs, before + 1]), max([*seqs, upto])],
    )
    wanted = set(seqs)
    return {i: Verdict(v, r or "") for s, i, v, r in rows if s in wanted or before < s <= upto}


def _take_effect(
    store: Store,
    node: str,
    facility: str,
    ep: str,
    before: int,
    upto: int,
    now: datetime,
    known: evidence.Stored | None = None,
) -> dict[str, int]:
    """Apply the effects of the events ``before < seq <= upto`` (module rules).
    ``known``: the events the caller stored in this transaction, by seq (their
    type first), with ``processed`` as ``store_events`` writes it (0 only for a
    type that has an effect): when they cover the span and none has an effect,
    there is nothing to read or mark."""
    revisions: dict[str, int] = {}
    span = range(before + 1, upto + 1)
    covered = known is not None and all(seq in known for seq in span)
    if covered and known is not None and not any(known[seq][0] in EFFECT_TYPES for seq in span):
        return revisions
    rows = store.execute(
        "SELECT seq, type, body, at_ts FROM events WHERE node = ? AND epoch = ? AND seq > ?"
        f" AND seq <= ? AND type IN ({_EFFECT_SQL})"
        " AND processed = 0 ORDER BY seq",
        [node, ep, before, upto],
    ).fetchall()
    if rows:  # judged on the facility as it stands: no booking may slip in meanwhile
        store.lock("facility", facility)  # always after the node's lock
    for seq, type_, body, at_ts in rows:
        verdict: Verdict | None = None
        data = json.loads(body)
        if type_ == "walkin.created":
            verdict, booking = judge_walkin(store, node, facility, ep, seq, data)
            if booking is not None:
                revisions[facility] = cl.mutate(store, facility, [cl.upsert(booking)], now)
        elif type_ == "booking.released":  # docs/reports.md, "No-show release"
            rev = release_booking(store, node, facility, data, int(at_ts), now)
            if rev is not None:
                revisions[facility] = rev
        else:
            rev = cancel_walkin(store, node, facility, data, now)
            if rev is not None:
                revisions[facility] = rev
        store.execute(
            "UPDATE events SET processed = 1, verdict = ?, reason = ?"
            " WHERE node = ? AND epoch = ? AND seq = ?",
            [
                None if verdict is None else verdict.status,
                None if verdict is None else verdict.reason,
                node,
                ep,
                seq,
            ],
        )
    if not covered:  # rows stored earlier: a store of before 2026-12-06 wrote 0 for every type
        store.execute(
            "UPDATE events SET processed = 1 WHERE node = ? AND epoch = ? AND seq > ?"
            " AND seq <= ? AND processed = 0",
            [node, ep, before, upto],
        )
    return revisions


def _reject(reason: str, detail: str) -> tuple[Verdict, None]:
    return Verdict(REJECTED, f"{reason}: {detail}"[:1000]), None


def judge_walkin(
    store: Store, node: str, facility: str, ep: str, seq: int, body: object
) -> tuple[Verdict, Booking | None]:
    """The verdict on one ``walkin.created`` (module rules) and, when accepted,
    the booking central takes over."""
    raw = body.get("booking") if isinstance(body, Mapping) else None
    try:
        booking = Booking.from_wire(raw)  # type: ignore[arg-type]
    except (RecordError, AttributeError, TypeError) as exc:
        return _reject("malformed", f"booking: {exc}")
    if booking.origin != "walkin" or booking.lease is None:
        return _reject("malformed", "a walk-in has origin walkin and names its lease")
    if booking.node != node:
        return _reject("malformed", f"booking.node {booking.node!r} is not the sender")
    if len(booking.resources) != 1:
        return _reject("malformed", "a walk-in books exactly one resource")
    if not booking.active:
        return _reject("malformed", f"a new walk-in cannot be {booking.status}")
    existing = cl.get(store, facility, Booking, booking.id)
    if existing is not None:
        return _reject("conflict", f"booking id {booking.id!r} is already in use")
    resource = booking.resources[0]
    start, end = to_ts(booking.start), to_ts(booking.end)
    versions = store.execute(
        "SELECT start_ts, end_ts, removed_rev FROM lease_versions"
        " WHERE facility = ? AND lease_id = ? AND node = ? AND resource = ?",
        [facility, booking.lease, node, resource],
    ).fetchall()
    bound = _applied_bound(store, node, ep, seq)
    held = [(s, e) for s, e, removed in versions if removed is None or removed > bound]
    if not held:
        gone = " (removed, and the node had applied that)" if versions else ""
        return _reject("no_lease", f"node holds no lease {booking.lease!r} on {resource!r}{gone}")
    if not any(s <= start and end <= e for s, e in held):
        return _reject("outside_lease", f"booking is not inside lease {booking.lease!r}")
    related = related_resources(tree(store, facility), resource)
    for other in bookings_overlapping(store, facility, related, (start, end)):
        return _reject("conflict", f"overlaps booking {other.id!r} on {', '.join(other.resources)}")
    return Verdict(ACCEPTED, ""), booking


def _applied_bound(store: Store, node: str, ep: str, seq: int) -> int:
    """The lowest ``applied_rev`` known to be at or above the node's when it made
    event ``seq``: its latest cursor, or a later hello whose outbox covered it."""
    row = store.execute(
        "SELECT s.applied_rev, (SELECT min(m.applied_rev) FROM node_marks m"
        " WHERE m.node = s.node AND m.epoch = ? AND m.last_seq >= ?)"
        " FROM node_state s WHERE s.node = ?",
        [ep, seq, node],
    ).fetchone()
    if row is None:
        return 0
    cursor = int(row[0]) if row[0] is not None else 0
    return cursor if row[1] is None else min(cursor, int(row[1]))


def cancel_walkin(
    store: Store, node: str, facility: str, body: object, now: datetime
) -> int | None:
    """Cancel the node's own active walk-in named in a ``walkin.cancelled`` body;
    the new revision, or None when there is nothing to cancel."""
    ident = body.get("booking") if isinstance(body, Mapping) else None
    if not isinstance(ident, str) or not cl.is_id(ident):
        return None
    booking = cl.get(store, facility, Booking, ident)
    if booking is None or booking.origin != "walkin" or booking.node != node or not booking.active:
        return None
    cancelled = Booking.from_wire({**booking.to_wire(), "status": "cancelled"})
    return cl.mutate(store, facility, [cl.upsert(cancelled)], now)


def counts(store: Store) -> dict[str, int]:
    """Events stored per node."""
    return {n: int(c) for n, c in store.execute("SELECT node, count(*) FROM events GROUP BY node")}
