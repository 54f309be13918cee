"""Central's event store, ``through`` and walk-in verdicts (sync/central/events.py).

events.py guarantees: events stored idempotently (unique on (node, epoch, seq)
and on id); ``through`` is the longest contiguous prefix, written with the
events; effects happen once, in seq order, when events become contiguous, so
any order and duplication of batches gives the same store; a walk-in is
accepted only inside a lease version its node held when it made it, on time
free on related resources.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.central import changelog as cl
from sync.central import events as ev
from sync.central import nodes
from sync.central.db import Store
from sync.central.testing import cancel_event, plain_event, walkin_event
from sync.protocol import Clock, ClockSource, Hello, OutboxRange
from sync.protocol.testing import private_key
from sync.replica import Booking, OutboxEvent, Verdict
from tests.support.central_stores import reset

NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
FAC, N1, N2 = "fac1", "n1.hall", "n2.hall"
EPOCH = 99


def setup(site: Any, store: Store) -> None:
    ops = [cl.upsert_wire(e, d) for e, items in site.entities().items() for d in items]
    cl.mutate(store, FAC, ops, NOW)
    for n in (N1, N2):
        nodes.register_node(store, n, FAC, private_key(n).public_key().public_bytes_raw(), n, NOW)
    leases = [
        site.lease("L1", "A", "2026-05-04T09:00:00Z", "2026-05-04T12:00:00Z", node=N1),
        site.lease("L2", "hall", "2026-05-04T13:00:00Z", "2026-05-04T15:00:00Z", node=N1),
        site.lease("L3", "B", "2026-05-04T09:00:00Z", "2026-05-04T12:00:00Z", node=N2),
    ]
    cl.mutate(store, FAC, [cl.upsert_wire("lease", le) for le in leases], NOW)  # rev 2


@pytest.fixture
def store(store_url: str, site: Any) -> Iterator[Store]:
    s = Store.open(store_url)
    setup(site, s)
    try:
        yield s
    finally:
        s.close()


def walkin(
    site: Any, ident: str, resource: str, start: str, end: str, lease: str = "L1", node: str = N1
) -> dict[str, Any]:
    return site.booking(
        ident,
        [resource],
        f"2026-05-04T{start}:00Z",
        f"2026-05-04T{end}:00Z",
        origin="walkin",
        lease=lease,
        node=node,
    )


def send(store: Store, events: list[OutboxEvent], node: str = N1, epoch: int = EPOCH) -> ev.Stored:
    return ev.store_events(store, node, FAC, epoch, events, NOW)


def verdict(stored: ev.Stored, e: OutboxEvent) -> tuple[str, str]:
    v = stored.verdicts[e.id]
    return v.status, v.reason.split(":")[0]


# --- through ------------------------------------------------------------------------


def test_through_is_the_contiguous_prefix_with_gaps_and_duplicates(store: Store) -> None:
    e = [plain_event(s) for s in range(1, 11)]
    assert send(store, e[0:3]).through == 3
    assert send(store, e[5:8]).through == 3  # 4, 5 missing
    again = send(store, e[0:3])
    assert (again.through, again.new) == (3, 0)  # a duplicate changes nothing
    assert send(store, e[3:5]).through == 8  # the gap filled: 1..8
    assert send(store, e[9:10]).through == 8
    assert send(store, e[8:9]).through == 10
    assert store.execute("SELECT count(*) FROM events").fetchone()[0] == 10
    # another epoch (a new node database) is a stream of its own
    assert send(store, [plain_event(1)], epoch=EPOCH + 1).through == 1
    assert ev.through(store, N1, EPOCH) == 10


def test_an_id_stored_for_another_event_does_not_stop_through(store: Store) -> None:
    first = plain_event(1)
    send(store, [first])
    clash = OutboxEvent(1, first.id, "door.closed", first.at, {})
    assert send(store, [clash], node=N2).through == 1  # stored without its id
    assert store.execute(
        "SELECT count(*) FROM events WHERE id IS NULL AND clash_id = ?", [first.id]
    ).fetchone() == (1,)
    # the same seq resent with another id: noted, nothing changes
    send(store, [plain_event(1)])
    reasons = [r for (r,) in store.execute("SELECT reason FROM quarantine")]
    assert reasons == ["event_conflict", "event_conflict"]
    assert ev.through(store, N1, EPOCH) == 1


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for table in ("events", "event_streams", "bookings", "changelog", "facility_revs"):
        out[table] = sorted(store.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    return out


SLOTS = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00"]


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[OutboxEvent], list[list[OutboxEvent]]]:
    """Events 1..n (some walk-ins, some clashing), cut into batches, delivered
    in any order, some more than once, some never."""
    n = draw(st.integers(1, 14))
    events: list[OutboxEvent] = []
    for seq in range(1, n + 1):
        if draw(st.booleans()):
            a = draw(st.integers(0, 5))
            b = draw(st.integers(a + 1, min(a + 2, 6)))
            w = {
                "id": f"w{seq}",
                "resources": ["A"],
                "start": f"2026-05-04T{SLOTS[a]}:00Z",
                "end": f"2026-05-04T{SLOTS[b]}:00Z",
                "origin": "walkin",
                "lease": "L1",
                "node": N1,
            }
            events.append(walkin_event(seq, w))
        elif draw(st.booleans()) and seq > 1:
            events.append(cancel_event(seq, f"w{draw(st.integers(1, seq - 1))}"))
        else:
            events.append(plain_event(seq))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=n)) if n > 1 else [])
    bounds = [0, *cuts, n]
    batches = [events[a:b] for a, b in itertools.pairwise(bounds)]
    order = draw(st.lists(st.integers(0, len(batches) - 1), max_size=3 * len(batches)))
    return events, [batches[i] for i in order]


@pytest.fixture
def pair(new_store_url: Callable[[], str]) -> Iterator[tuple[Store, Store]]:
    with Store.open(new_store_url()) as a, Store.open(new_store_url()) as b:
        yield a, b


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries())
def test_any_order_and_duplication_gives_the_same_store_and_through(
    site: Any, pair: tuple[Store, Store], case: tuple[list[OutboxEvent], list[list[OutboxEvent]]]
) -> None:
    events, delivered = case
    got_seqs = {e.seq for batch in delivered for e in batch}
    prefix = 0
    while prefix + 1 in got_seqs:
        prefix += 1
    a, b = pair
    reset(a)  # the stores are the test's; each example starts from empty ones
    reset(b)
    setup(site, a)
    setup(site, b)
    last = 0
    for batch in delivered:
        stored = send(a, batch)
        assert stored.through >= last  # never goes back
        last = stored.through
    assert ev.through(a, N1, EPOCH) == prefix
    # the reference: the delivered events, once each, in seq order
    once = sorted({e.seq: e for batch in delivered for e in batch}.values(), key=lambda e: e.seq)
    for e in once:
        send(b, [e])
    assert dump(a) == dump(b)
    # and every walk-in up to through has its verdict, none beyond it
    judged = {s for (s,) in a.execute("SELECT seq FROM events WHERE verdict IS NOT NULL")}
    walkins = {e.seq for e in events if e.type == "walkin.created"}
    assert judged == {s for s in walkins if s <= prefix}


def processed(store: Store) -> dict[int, int]:
    rows = store.execute("SELECT seq, processed FROM events WHERE node = ? ORDER BY seq", [N1])
    return {int(s): int(p) for s, p in rows}


def test_processed_marks_what_is_left_to_apply(store: Store, site: Any) -> None:
    """An event without an effect is stored with nothing left to apply; a walk-in
    waits (0) until it is contiguous and has taken effect."""
    w3 = walkin_event(3, walkin(site, "w3", "A", "09:00", "10:00"))
    assert send(store, [plain_event(2), w3, plain_event(4)]).through == 0
    assert processed(store) == {2: 1, 3: 0, 4: 1}
    assert store.execute("SELECT count(*) FROM bookings WHERE id = 'w3'").scalar() == 0
    filled = send(store, [plain_event(1)])
    assert (filled.through, filled.verdicts) == (4, {w3.id: Verdict("accepted", "")})
    assert processed(store) == {1: 1, 2: 1, 3: 1, 4: 1}


def test_rows_of_an_older_store_waiting_in_a_gap_are_marked_when_it_fills(store: Store) -> None:
    """Before 2026-12-06 every event was stored with processed = 0; such a row in
    a gap is marked 1 when the gap fills, as it was then."""
    store.execute(
        "INSERT INTO events (node, epoch, seq, id, type, at_ts, body, received_ts)"
        " VALUES (?, ?, 2, ?, 'door.opened', 1780000000, '{}', 1780000000)",
        [N1, str(EPOCH), plain_event(2).id],
    )
    assert processed(store) == {2: 0}
    assert send(store, [plain_event(1)]).through == 2
    assert processed(store) == {1: 1, 2: 1}


# --- walk-in verdicts ------------------------------------------------------------


def test_walkin_verdict_table(store: Store, site: Any) -> None:
    cases = [
        (walkin(site, "ok1", "A", "09:00", "10:00"), ("accepted", "")),
        (walkin(site, "out", "A", "11:30", "12:30"), ("rejected", "outside_lease")),
        (walkin(site, "nolease", "A", "09:00", "10:00", lease="L9"), ("rejected", "no_lease")),
        (walkin(site, "other", "B", "09:00", "10:00", lease="L3"), ("rejected", "no_lease")),
        (walkin(site, "wrongres", "C", "09:00", "10:00"), ("rejected", "no_lease")),
        (walkin(site, "dup", "A", "09:30", "10:30"), ("rejected", "conflict")),  # overlaps ok1
        (walkin(site, "whole", "hall", "13:00", "14:00", lease="L2"), ("accepted", "")),
        (walkin(site, "ok1", "A", "10:00", "11:00"), ("rejected", "conflict")),  # id in use
        (walkin(site, "sender", "A", "10:00", "11:00", node=N2), ("rejected", "malformed")),
        (
            {**walkin(site, "central", "A", "10:00", "11:00"), "origin": "central"},
            ("rejected", "malformed"),
        ),
        (
            {**walkin(site, "cancelled", "A", "10:00", "11:00"), "status": "cancelled"},
            ("rejected", "malformed"),
        ),
        ({"id": "bad", "resources": []}, ("rejected", "malformed")),
    ]
    events = [walkin_event(i, b) for i, (b, _) in enumerate(cases, 1)]
    stored = send(store, events)
    assert stored.through == len(cases)
    assert [verdict(stored, e) for e in events] == [want for _, want in cases]
    accepted = cl.get(store, FAC, Booking, "ok1")
    assert accepted is not None and accepted.origin == "walkin" and accepted.node == N1
    assert accepted.to_wire() == Booking.from_wire(cases[0][0]).to_wire()
    assert cl.get(store, FAC, Booking, "out") is None
    assert stored.revisions == {FAC: 4}  # two accepted walk-ins, one revision each
    # a walk-in on a section conflicts with an accepted one on the whole hall
    l4 = site.lease("L4", "B", "2026-05-04T13:00:00Z", "2026-05-04T15:00:00Z", node=N2)
    cl.mutate(store, FAC, [cl.upsert_wire("lease", l4)], NOW)
    sec = walkin_event(1, walkin(site, "sec", "B", "13:30", "14:30", lease="L4", node=N2))
    assert verdict(send(store, [sec], node=N2), sec) == ("rejected", "conflict")


def test_a_repeated_batch_gets_the_same_verdicts(store: Store, site: Any) -> None:
    e = [walkin_event(1, walkin(site, "w1", "A", "09:00", "10:00"))]
    first = send(store, e)
    again = send(store, e)
    assert first.verdicts == again.verdicts == {e[0].id: Verdict("accepted", "")}
    assert again.revisions == {}  # nothing happened twice
    assert cl.revs(store, FAC).rev == 3


def test_verdicts_wait_for_the_gap_then_come_with_the_batch_that_fills_it(
    store: Store, site: Any
) -> None:
    w2 = walkin_event(2, walkin(site, "w2", "A", "09:00", "10:00"))
    later = send(store, [w2])
    assert (later.through, later.verdicts) == (0, {})
    filled = send(store, [plain_event(1)])
    assert filled.through == 2 and filled.verdicts == {w2.id: Verdict("accepted", "")}


def test_a_lease_removed_counts_until_the_nodes_cursor_shows_it(store: Store, site: Any) -> None:
    removed = cl.mutate(store, FAC, [cl.delete("lease", "L1")], NOW)  # rev 3
    nodes.record_cursor(store, N1, removed - 1, NOW)  # the node has not applied it yet
    before = walkin_event(1, walkin(site, "before", "A", "09:00", "10:00"))
    assert verdict(send(store, [before]), before) == ("accepted", "")
    nodes.record_cursor(store, N1, removed, NOW)  # now it has
    after = walkin_event(2, walkin(site, "after", "A", "10:00", "11:00"))
    assert verdict(send(store, [after]), after) == ("rejected", "no_lease")
    # a lease shortened: the old span is held until the node applied the change
    short = site.lease("L2", "hall", "2026-05-04T13:00:00Z", "2026-05-04T14:00:00Z", node=N1)
    changed = cl.mutate(store, FAC, [cl.upsert_wire("lease", short)], NOW)
    late = walkin_event(3, walkin(site, "late", "hall", "14:00", "15:00", lease="L2"))
    assert verdict(send(store, [late]), late) == ("accepted", "")
    nodes.record_cursor(store, N1, changed, NOW)
    later = walkin_event(4, walkin(site, "later", "hall", "14:00", "14:30", lease="L2"))
    assert verdict(send(store, [later]), later) == ("rejected", "outside_lease")


def test_a_walkin_made_before_a_hello_is_judged_by_that_hellos_rev(store: Store, site: Any) -> None:
    removed = cl.mutate(store, FAC, [cl.delete("lease", "L1")], NOW)
    # the node made walk-in 1 offline, then said hello at the old rev, then
    # caught up and sent its cursor: all before central read the walk-in
    hello = Hello(EPOCH, "b", removed - 1, OutboxRange(1, 1), "t", Clock(True, ClockSource.NTP))
    nodes.record_hello(store, N1, hello, 1000, NOW)
    nodes.record_cursor(store, N1, removed, NOW)
    w = walkin_event(1, walkin(site, "offline", "A", "09:00", "10:00"))
    assert verdict(send(store, [w]), w) == ("accepted", "")
    # a walk-in made after that hello is judged by the cursor
    w2 = walkin_event(2, walkin(site, "online", "A", "10:00", "11:00"))
    assert verdict(send(store, [w2]), w2) == ("rejected", "no_lease")
    assert store.execute("SELECT count(*) FROM node_marks").fetchone()[0] == 0  # used up


def test_walkin_cancelled_cancels_only_the_nodes_own_active_walkin(store: Store, site: Any) -> None:
    gym = site.booking("central1", ["gym"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")
    cl.mutate(store, FAC, [cl.upsert_wire("booking", gym)], NOW)
    w = walkin_event(1, walkin(site, "w1", "A", "09:00", "10:00"))
    stored = send(
        store, [w, cancel_event(2, "w1"), cancel_event(3, "central1"), cancel_event(4, "nope")]
    )
    assert stored.through == 4
    b = cl.get(store, FAC, Booking, "w1")
    assert b is not None and b.status == "cancelled"
    c = cl.get(store, FAC, Booking, "central1")
    assert c is not None and c.status == "confirmed"
    # another node cannot cancel it either; the time is free again
    again = walkin_event(5, walkin(site, "w2", "A", "09:00", "10:00"))
    assert verdict(send(store, [again]), again) == ("accepted", "")


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=6))
def test_a_stored_body_reads_back_as_the_body(body: dict[str, Any]) -> None:
    """``body_text`` (msgspec, json.dumps where msgspec cannot) is JSON of the same value."""
    text = ev.body_text(body)
    assert json.loads(text) == body
    assert repr(json.loads(text)) == repr(body)  # 1 stays 1, 1.0 stays 1.0
