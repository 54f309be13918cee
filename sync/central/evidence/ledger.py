"""The evidence table: one row per booking, kept in step with bookings and node events.

Rules this module guarantees:
- ``booking_changed`` is called by ``changelog.mutate`` for every booking op it
  applies, in the same transaction: the row's booking columns follow the
  record (``known`` = 1), and a deleted booking keeps its row, marked
  ``removed`` (the evidence of what happened at the door outlives it).
- ``interpret`` is called by ``events.store_events`` for each node stream's
  newly contiguous seqs, in the transaction that made them contiguous: every
  event is interpreted exactly once, however often it was delivered. Its
  facts (``facts.fact_of``) are folded per booking and merged into the row by
  one upsert whose every column is an order-free merge (min, max, sum, the
  latest report by (time, event id)), the same as ``facts.Summary.merge``: two
  nodes of one facility, or batches in any order, give the same row.
- A fact about a booking central does not know (yet) makes a row with
  ``known`` = 0; the booking's record fills it when it comes.
- Walk-ins get their verdict: accepted ones are bookings (their row comes
  from ``mutate``); a rejected one gets a row of its own with status
  ``rejected`` and the reason, unless its id is a booking central knows (a
  ``conflict`` on the id: the known booking's evidence is left alone).
- ``rebuild`` recomputes every event fact from the stored events (it must give
  what ``interpret`` built incrementally; a property test checks it);
  ``catch_up`` makes rows for bookings stored before the evidence existed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sync.protocol.records import Booking, RecordError
from sync.protocol.timeutil import to_ts

from ..store import Store
from .facts import INTERPRETED, Fact, Summary, fact_of, summarise, summarise_events

BOOKING_COLUMNS = ("resources", "start_ts", "end_ts", "holder", "title", "status", "origin", "node")
_FACTS = (
    "first_entry_ts",
    "last_entry_ts",
    "entries",
    "leader_entry_ts",
    "no_show_ts",
    "released_ts",
    "released_node",
    "start_participants",
    "start_leaders",
    "start_report_ts",
    "start_report_id",
    "end_participants",
    "end_leaders",
    "end_report_ts",
    "end_report_id",
)


def _earliest(col: str) -> str:
    return (
        f"{col} = CASE WHEN evidence.{col} IS NULL OR excluded.{col} < evidence.{col}"
        f" THEN excluded.{col} ELSE evidence.{col} END"
    )


def _pair(cond: str, cols: Sequence[str]) -> list[str]:
    return [f"{c} = CASE WHEN {cond} THEN excluded.{c} ELSE evidence.{c} END" for c in cols]


def _later_report(stage: str) -> str:
    ts, ident = f"{stage}_report_ts", f"{stage}_report_id"
    return (
        f"excluded.{ts} IS NOT NULL AND (evidence.{ts} IS NULL"
        f" OR (excluded.{ts}, excluded.{ident}) > (evidence.{ts}, evidence.{ident}))"
    )


_ENTRY_MERGES = [
    _earliest("first_entry_ts"),
    "last_entry_ts = CASE WHEN evidence.last_entry_ts IS NULL"
    " OR excluded.last_entry_ts > evidence.last_entry_ts"
    " THEN excluded.last_entry_ts ELSE evidence.last_entry_ts END",
    "entries = evidence.entries + excluded.entries",
    _earliest("leader_entry_ts"),
]
_ENTRY_FACTS = _FACTS[:4]  # first_entry_ts, last_entry_ts, entries, leader_entry_ts

# A summary of entries alone (most of them: access.granted) merges into the
# entry columns only: the full statement would leave the others as they are
# (each of its merges keeps the row's value when the new one is NULL) and
# costs about 8 us of CPU a row against 3.5 (SQLite, the bench's rows).
_MERGE_ENTRIES_SQL = (
    f"INSERT INTO evidence (facility, booking_id, {', '.join(_ENTRY_FACTS)})"
    f" VALUES ({', '.join(['?'] * (len(_ENTRY_FACTS) + 2))})"
    " ON CONFLICT (facility, booking_id) DO UPDATE SET " + ", ".join(_ENTRY_MERGES)
)

_MERGE_SQL = (
    f"INSERT INTO evidence (facility, booking_id, {', '.join(_FACTS)})"
    f" VALUES ({', '.join(['?'] * (len(_FACTS) + 2))})"
    " ON CONFLICT (facility, booking_id) DO UPDATE SET "
    + ", ".join(
        [
            *_ENTRY_MERGES,
            _earliest("no_show_ts"),
            *_pair(
                "excluded.released_ts IS NOT NULL AND (evidence.released_ts IS NULL"
                " OR (excluded.released_ts, excluded.released_node)"
                " < (evidence.released_ts, evidence.released_node))",
                ("released_ts", "released_node"),
            ),
            *_pair(
                _later_report("start"),
                ("start_participants", "start_leaders", "start_report_ts", "start_report_id"),
            ),
            *_pair(
                _later_report("end"),
                ("end_participants", "end_leaders", "end_report_ts", "end_report_id"),
            ),
        ]
    )
)

_BOOKING_SQL = (
    f"INSERT INTO evidence (facility, booking_id, known, removed, {', '.join(BOOKING_COLUMNS)})"
    f" VALUES (?, ?, 1, 0, {', '.join(['?'] * len(BOOKING_COLUMNS))})"
    " ON CONFLICT (facility, booking_id) DO UPDATE SET known = 1, removed = 0, "
    + ", ".join(f"{c} = excluded.{c}" for c in BOOKING_COLUMNS)
)


def booking_values(b: Booking) -> list[Any]:
    """The booking columns of ``b``, in ``BOOKING_COLUMNS`` order."""
    return [
        " ".join(b.resources),
        to_ts(b.start),
        to_ts(b.end),
        b.holder,
        b.title,
        b.status,
        b.origin,
        b.node,
    ]


def booking_changed(store: Store, facility: str, ident: str, booking: Booking | None) -> None:
    """Follow one applied booking op (module rules); inside ``mutate``'s transaction."""
    if booking is None:
        store.execute(
            "UPDATE evidence SET removed = 1 WHERE facility = ? AND booking_id = ?",
            [facility, ident],
        )
        return
    store.execute(_BOOKING_SQL, [facility, ident, *booking_values(booking)])


def _entry_row(facility: str, booking: str, s: Summary) -> list[Any]:
    """The key and the entry columns (``_ENTRY_FACTS``): ``_MERGE_ENTRIES_SQL``'s row."""
    return [facility, booking, s.first_entry, s.last_entry, s.entries, s.leader_entry]


def _summary_row(facility: str, booking: str, s: Summary) -> list[Any]:
    """The key and every fact column (``_FACTS``): ``_MERGE_SQL``'s row."""
    st, en = s.start, s.end
    return [
        *_entry_row(facility, booking, s),
        s.no_show,
        s.released,
        s.released_node if s.released is not None else None,
        None if st is None else st.participants,
        None if st is None else st.leaders,
        None if st is None else st.ts,
        None if st is None else st.event_id,
        None if en is None else en.participants,
        None if en is None else en.leaders,
        None if en is None else en.ts,
        None if en is None else en.event_id,
    ]


def merge(store: Store, facility: str, summaries: Mapping[str, Summary]) -> None:
    """Merge per-booking summaries into the evidence rows (module rules). Rows
    are written in booking-id order, so two writers never wait on each other
    crosswise: a run of summaries of entries alone by ``_MERGE_ENTRIES_SQL``,
    a run of others by ``_MERGE_SQL``, in turn."""
    run: list[list[Any]] = []
    run_sql = ""
    for b in sorted(summaries):
        s = summaries[b]
        entries_only = s.no_show is None and s.released is None and s.start is None
        entries_only = entries_only and s.end is None
        sql = _MERGE_ENTRIES_SQL if entries_only else _MERGE_SQL
        if sql is not run_sql and run:
            store.executemany(run_sql, run)
            run = []
        run_sql = sql
        run.append((_entry_row if entries_only else _summary_row)(facility, b, s))
    if run:
        store.executemany(run_sql, run)


def _facts(rows: Iterable[tuple[Any, ...]], node: str) -> list[Fact]:
    out: list[Fact] = []
    for type_, at_ts, body, ident in rows:
        try:
            data = json.loads(body)
        except ValueError:
            continue
        f = fact_of(type_, int(at_ts), data, ident or "", node)
        if f is not None:
            out.append(f)
    return out


_TYPES = ", ".join(f"'{t}'" for t in INTERPRETED)


# What the caller just stored, by seq: type, at (Unix s), body, id (or clash id).
Stored = Mapping[int, tuple[str, int, Any, str]]


def interpret(
    store: Store,
    node: str,
    facility: str,
    ep: str,
    before: int,
    upto: int,
    stored: Stored | None = None,
) -> dict[str, Summary]:
    """Interpret node ``node``'s events ``before < seq <= upto`` of epoch ``ep``
    (module rules); return what they said, per booking. ``stored``: the events
    the caller has just stored, as stored; when they cover the whole range the
    events are not read back (nor their bodies parsed again)."""
    span = range(before + 1, upto + 1)
    if stored is not None and all(seq in stored for seq in span):
        mine = [stored[seq] for seq in span]
        summaries = summarise_events(mine, node)
        any_walkin = any(m[0] == "walkin.created" for m in mine)
    else:
        rows = store.execute(
            "SELECT type, at_ts, body, coalesce(id, clash_id) FROM events"
            f" WHERE node = ? AND epoch = ? AND seq > ? AND seq <= ? AND type IN ({_TYPES})",
            [node, ep, before, upto],
        ).fetchall()
        summaries, any_walkin = summarise(_facts(rows, node)), True
    walkins = []
    if any_walkin:
        walkins = store.execute(
            "SELECT body, verdict, reason FROM events WHERE node = ? AND epoch = ? AND seq > ?"
            " AND seq <= ? AND type = 'walkin.created' AND verdict IS NOT NULL ORDER BY seq",
            [node, ep, before, upto],
        ).fetchall()
    if summaries or walkins:
        store.lock("facility", facility)  # after the node's; as mutate, so never crosswise
    merge(store, facility, summaries)
    for body, verdict, reason in walkins:
        _walkin_verdict(store, facility, body, str(verdict), reason)
    return summaries


def _walkin_verdict(
    store: Store, facility: str, body: str, verdict: str, reason: str | None
) -> None:
    try:
        raw = json.loads(body).get("booking")
        booking = Booking.from_wire(raw)
    except (ValueError, AttributeError, TypeError, RecordError):
        return  # a malformed walk-in names no booking to keep evidence of
    if verdict == "accepted":
        store.execute(
            "UPDATE evidence SET verdict = ?, verdict_reason = NULL"
            " WHERE facility = ? AND booking_id = ?",
            [verdict, facility, booking.id],
        )
        return
    values = booking_values(booking)
    values[BOOKING_COLUMNS.index("status")] = "rejected"
    store.execute(
        f"INSERT INTO evidence (facility, booking_id, known, {', '.join(BOOKING_COLUMNS)},"
        f" verdict, verdict_reason) VALUES (?, ?, 1, {', '.join(['?'] * len(values))}, ?, ?)"
        " ON CONFLICT (facility, booking_id) DO UPDATE SET known = 1, "
        + ", ".join(f"{c} = excluded.{c}" for c in (*BOOKING_COLUMNS, "verdict", "verdict_reason"))
        + " WHERE evidence.known = 0",
        [facility, booking.id, *values, verdict, reason],
    )


def catch_up(store: Store) -> int:
    """Rows for bookings that have none yet (a store from before the evidence);
    returns how many were made. Idempotent; after the first run it only reads
    one flag (``mutate`` keeps every later booking's row)."""
    if store.execute("SELECT value FROM evidence_state WHERE name = 'caught_up'").scalar():
        return 0
    rows = store.execute(
        "SELECT b.facility, b.id, b.data FROM bookings b LEFT JOIN evidence e"
        " ON e.facility = b.facility AND e.booking_id = b.id"
        " WHERE e.booking_id IS NULL OR e.known = 0"
    ).fetchall()
    with store.write():
        for facility, ident, data in rows:
            store.lock("facility", facility)
            booking_changed(store, facility, ident, Booking.from_wire(json.loads(data)))
        store.execute("UPDATE evidence_state SET value = 1 WHERE name = 'caught_up'")
    return len(rows)


def rebuild(store: Store) -> int:
    """Recompute every row's event facts from the stored, contiguous events of
    every registered node (module rules); returns the number of events read."""
    n = 0
    with store.write():
        store.execute(
            "UPDATE evidence SET "
            + ", ".join(f"{c} = {'0' if c == 'entries' else 'NULL'}" for c in _FACTS)
        )
        store.execute("DELETE FROM evidence WHERE known = 0")
        streams = store.execute(
            "SELECT s.node, s.epoch, s.through, n.facility FROM event_streams s"
            " JOIN nodes n ON n.node = s.node ORDER BY s.node, s.epoch"
        ).fetchall()
        for node, ep, upto, facility in streams:
            store.lock("node", node)
            before = 0
            while before < upto:  # in slices: a season's stream is large
                top = min(upto, before + 20_000)
                rows = store.execute(
                    "SELECT type, at_ts, body, coalesce(id, clash_id) FROM events"
                    " WHERE node = ? AND epoch = ? AND seq > ? AND seq <= ?"
                    f" AND type IN ({_TYPES})",
                    [node, ep, before, top],
                ).fetchall()
                n += len(rows)
                merge(store, facility, summarise(_facts(rows, node)))
                before = top
    return n
