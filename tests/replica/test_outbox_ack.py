"""The outbox, central's acks and walk-ins, in one process (PROTOCOL.md §5, §6).

outbox.py guarantees: ``seq`` starts at 1 per epoch and rises by one, never
reused; an event commits with the state change it records; ids are UUIDv7;
an ack deletes only up to ``through``, ignores another epoch, and refuses to
acknowledge what was never recorded. walkins.py: a walk-in is made only inside
a lease this node holds, on free time; a refused one writes nothing.
(Several processes writing at once: test_outbox_concurrency.py.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sync.replica import (
    EVENT_TYPES,
    AckError,
    Booking,
    Replica,
    Verdict,
    WalkinRefused,
    acknowledge,
    append_event,
    backlog,
    bookings_overlapping,
    cancel_walkin,
    create_walkin,
    pending_events,
    uuid7,
    walkin_states,
)

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
Dumper = Callable[..., dict[str, Any]]


def emit(rep: Replica, n: int) -> list[int]:
    return [
        append_event(rep, "door.opened", {"door": "main", "i": i}, NOW + timedelta(seconds=i)).seq
        for i in range(n)
    ]


def uuid_ms(text: str) -> int:
    return uuid.UUID(text).int >> 80


# --- seq and ids -----------------------------------------------------------------


def test_seq_starts_at_one_and_rises_by_one(replica: Replica) -> None:
    assert emit(replica, 5) == [1, 2, 3, 4, 5]
    assert replica.state().last_seq == 5 and backlog(replica) == 5
    events = pending_events(replica)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[2].to_wire() == {
        "seq": 3,
        "id": events[2].id,
        "type": "door.opened",
        "at": "2026-05-04T10:00:02Z",
        "body": {"door": "main", "i": 2},
    }
    assert [e.seq for e in pending_events(replica, after=2, limit=2)] == [3, 4]


def test_event_ids_are_uuid7_made_from_the_event_time(replica: Replica) -> None:
    emit(replica, 50)
    events = pending_events(replica)
    assert len({e.id for e in events}) == 50
    for i, e in enumerate(events):
        u = uuid.UUID(e.id)
        assert str(u) == e.id  # canonical lower-case text
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert (u.int >> 76) & 0xF == 0x7 and (u.int >> 62) & 0b11 == 0b10
        at = NOW + timedelta(seconds=i)
        assert uuid_ms(e.id) == int(at.timestamp() * 1000)  # the ``at`` passed in, not the clock
    assert [e.id for e in events] == sorted(e.id for e in events)


def test_event_ids_of_one_millisecond_follow_seq(tmp_path: Path) -> None:
    """Within a millisecond the ids count up in seq order, also when two
    processes (two connections) append in turn."""
    at = datetime(2026, 5, 4, 10, 0, 0, 123_456, tzinfo=UTC)
    path = tmp_path / "node.db"
    with Replica.open(path) as a, Replica.open(path) as b:
        for i in range(200):
            append_event(a if i % 3 else b, "door.opened", {"i": i}, at)
        events = pending_events(a, limit=1000)
    assert [e.seq for e in events] == list(range(1, 201))
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 200
    assert {uuid_ms(x) for x in ids} == {int(at.timestamp() * 1000)}


def test_an_earlier_event_time_keeps_its_own_time(replica: Replica) -> None:
    late = append_event(replica, "door.opened", {}, NOW)
    early = append_event(replica, "door.opened", {}, NOW - timedelta(minutes=5))
    assert uuid_ms(early.id) == uuid_ms(late.id) - 5 * 60_000


@given(a=st.integers(0, 2**48 - 2), gap=st.integers(1, 2**20))
def test_uuid7_orders_by_milliseconds(a: int, gap: int) -> None:
    b = min(a + gap, 2**48 - 1)
    x, y = uuid7(a), uuid7(b)
    assert (uuid_ms(x), uuid_ms(y)) == (a, b)
    assert x < y and uuid.UUID(x).int < uuid.UUID(y).int
    assert uuid.UUID(x).version == 7 and uuid.UUID(y).variant == uuid.RFC_4122


@given(
    ms=st.integers(0, 2**48 - 2),
    counter=st.integers(0, 2**42 - 1),
    tail=st.integers(0, 2**32 - 1),
)
@example(ms=5, counter=2**42 - 1, tail=0)  # the counter is full: the next millisecond
@example(ms=5, counter=2**30 - 1, tail=2**32 - 1)  # a carry from rand_b into rand_a
def test_uuid7_after_an_id_of_its_millisecond_sorts_after_it(
    ms: int, counter: int, tail: int
) -> None:
    prev = uuid.UUID(
        int=ms << 80
        | 0x7 << 76
        | (counter >> 30) << 64
        | 0b10 << 62
        | (counter & (2**30 - 1)) << 32
        | tail
    )
    nxt = uuid7(ms, after=str(prev))
    assert nxt > str(prev)
    u = uuid.UUID(nxt)
    assert u.version == 7 and u.variant == uuid.RFC_4122
    # one more in the counter, or (counter full) the next millisecond
    assert uuid_ms(nxt) == (ms if counter < 2**42 - 1 else ms + 1)


def test_uuid7_after_another_millisecond_is_a_fresh_id() -> None:
    ms = 1_777_000_000_000
    later = uuid7(ms + 1)
    assert uuid_ms(uuid7(ms, after=later)) == ms  # not moved: its own time
    assert uuid_ms(uuid7(ms + 2, after=later)) == ms + 2


def test_uuid7_random_bits_differ_within_a_millisecond() -> None:
    ids = {uuid7(1_777_000_000_000) for _ in range(2_000)}
    assert len(ids) == 2_000


def test_uuid7_time_must_fit_48_bits() -> None:
    with pytest.raises(ValueError, match="48 bits"):
        uuid7(2**48)
    with pytest.raises(ValueError, match="48 bits"):
        uuid7(-1)


def test_unknown_types_and_non_json_bodies_write_nothing(replica: Replica, dump: Dumper) -> None:
    before = dump(replica)
    with pytest.raises(ValueError, match="unknown event type"):
        append_event(replica, "door.exploded", {}, NOW)
    with pytest.raises(ValueError):
        append_event(replica, "door.opened", {"x": float("nan")}, NOW)
    with pytest.raises(ValueError, match="naive"):
        append_event(replica, "door.opened", {}, datetime(2026, 5, 4, 10, 0))
    assert dump(replica) == before
    assert (
        "walkin.created" in EVENT_TYPES and len(EVENT_TYPES) == 20
    )  # door.fire_release, door.exit_request, door.state, booking.released


@pytest.mark.parametrize("value", [{1, 2}, NOW, b"raw"], ids=["set", "datetime", "bytes"])
def test_a_body_that_is_not_json_raises_value_error(
    replica: Replica, dump: Dumper, value: Any
) -> None:
    # append_event's docstring: "Raises ValueError for an unknown type or a body
    # that is not JSON" (json.dumps raises TypeError for these).
    before = dump(replica)
    with pytest.raises(ValueError):
        append_event(replica, "door.opened", {"x": value}, NOW)
    assert dump(replica) == before


# --- an event and its state change commit together ----------------------------------


def _booking(site: Any, ident: str = "b1") -> Booking:
    return Booking.from_wire(
        site.booking(ident, ["gym"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")
    )


class Boom(Exception):
    pass


def test_a_failed_transaction_leaves_neither_state_nor_event(
    replica: Replica, site: Any, dump: Dumper
) -> None:
    emit(replica, 1)
    before = dump(replica)
    with pytest.raises(Boom), replica.write():
        replica.put(_booking(site))
        ev = append_event(replica, "booking.checked_in", {"booking": "b1"}, NOW)
        assert ev.seq == 2
        raise Boom
    assert dump(replica) == before
    assert replica.get(Booking, "b1") is None and replica.state().last_seq == 1
    assert append_event(replica, "door.closed", {}, NOW).seq == 2  # seq 2 was not consumed


def test_a_committed_transaction_keeps_both(replica: Replica, site: Any) -> None:
    with replica.write():
        replica.put(_booking(site))
        append_event(replica, "booking.checked_in", {"booking": "b1"}, NOW)
    assert replica.get(Booking, "b1") == _booking(site)
    assert [(e.seq, e.body) for e in pending_events(replica)] == [(1, {"booking": "b1"})]


def test_an_inner_failure_caught_inside_keeps_the_outer_work(replica: Replica, site: Any) -> None:
    with replica.write():
        replica.put(_booking(site))
        with pytest.raises(Boom), replica.write():
            append_event(replica, "door.forced", {}, NOW)
            raise Boom
        append_event(replica, "booking.checked_in", {"booking": "b1"}, NOW)
    assert replica.get(Booking, "b1") is not None
    assert [(e.seq, e.type) for e in pending_events(replica)] == [(1, "booking.checked_in")]


# --- acks ---------------------------------------------------------------------------


def test_ack_deletes_only_up_to_through(replica: Replica) -> None:
    emit(replica, 5)
    epoch = replica.state().epoch
    assert acknowledge(replica, epoch, 3) == 3
    assert [e.seq for e in pending_events(replica)] == [4, 5]
    st_ = replica.state()
    assert (st_.acked_through, st_.first_unacked, st_.last_seq) == (3, 4, 5)
    assert acknowledge(replica, epoch, 5) == 2
    assert backlog(replica) == 0
    assert emit(replica, 1) == [6]  # never reused after the outbox emptied


def test_repeated_and_older_acks_are_idempotent(replica: Replica, dump: Dumper) -> None:
    emit(replica, 5)
    epoch = replica.state().epoch
    acknowledge(replica, epoch, 3)
    before = dump(replica)
    assert acknowledge(replica, epoch, 3) == 0
    assert acknowledge(replica, epoch, 1) == 0
    assert acknowledge(replica, epoch, 0) == 0
    assert dump(replica) == before
    assert replica.state().acked_through == 3


def test_an_ack_for_another_epoch_changes_nothing(replica: Replica, dump: Dumper) -> None:
    emit(replica, 5)
    before = dump(replica)
    other = replica.state().epoch ^ 1
    assert acknowledge(replica, other, 5) == 0
    assert acknowledge(replica, other, 500) == 0  # not even an error: not ours
    assert dump(replica) == before


def test_an_ack_above_the_last_seq_raises_and_changes_nothing(
    replica: Replica, dump: Dumper
) -> None:
    emit(replica, 3)
    before = dump(replica)
    with pytest.raises(AckError, match="ack through 4 is above the last recorded seq 3"):
        acknowledge(replica, replica.state().epoch, 4)
    assert dump(replica) == before


# --- walk-ins -------------------------------------------------------------------------

GYM_LEASE = ("2026-05-04T16:00:00Z", "2026-05-04T20:00:00Z")


@pytest.fixture
def leased(seeded: Replica, site: Any) -> Replica:
    """This node leases the gym 16-20 and section A 16-18; another node leases B."""
    leases = [
        site.lease("l-gym", "gym", *GYM_LEASE),
        site.lease("l-a", "A", "2026-05-04T16:00:00Z", "2026-05-04T18:00:00Z"),
        site.lease(
            "l-b", "B", "2026-05-04T16:00:00Z", "2026-05-04T18:00:00Z", node=site.other_node
        ),
    ]
    central = site.booking("central", ["gym"], "2026-05-04T19:00:00Z", "2026-05-04T20:00:00Z")
    ops = [site.upsert("lease", x) for x in leases] + [site.upsert("booking", central)]
    site.apply(seeded, site.changes(1, 2, *ops))
    return seeded


def walkin(
    site: Any, start: str, end: str, *, resource: str = "gym", lease: str = "l-gym", **kw: Any
) -> Booking:
    fields = {"origin": "walkin", "lease": lease, "node": site.node, "title": "Drop-in", **kw}
    day = "2026-05-04T"
    return Booking.from_wire(
        site.booking("w1", [resource], f"{day}{start}:00Z", f"{day}{end}:00Z", **fields)
    )


def test_a_walkin_commits_with_its_event(leased: Replica, site: Any) -> None:
    b = walkin(site, "16:00", "18:00")
    ev = create_walkin(leased, site.node, b, NOW)
    assert (ev.seq, ev.type, ev.body) == (1, "walkin.created", {"booking": b.to_wire()})
    assert leased.get(Booking, "w1") == b
    assert walkin_states(leased) == {"w1": ("pending", "")}
    assert [e.id for e in pending_events(leased)] == [ev.id]


def test_verdict_rejected_marks_walkin_and_booking(leased: Replica, site: Any) -> None:
    ev = create_walkin(leased, site.node, walkin(site, "16:00", "17:00"), NOW)
    epoch = leased.state().epoch
    assert acknowledge(leased, epoch, 1, {ev.id: Verdict("rejected", "lease withdrawn")}) == 1
    assert walkin_states(leased) == {"w1": ("rejected", "lease withdrawn")}
    got = leased.get(Booking, "w1")
    assert got is not None and got.status == "rejected" and not got.active
    lo = datetime(2026, 5, 4, 16, tzinfo=UTC)
    assert bookings_overlapping(leased, ["gym"], lo, lo + timedelta(hours=1)) == []
    # a repeated verdict (central resends the ack) changes nothing
    acknowledge(leased, epoch, 1, {ev.id: Verdict("accepted")})
    assert walkin_states(leased) == {"w1": ("rejected", "lease withdrawn")}


def test_verdict_accepted_keeps_the_booking(leased: Replica, site: Any) -> None:
    b = walkin(site, "16:00", "17:00")
    ev = create_walkin(leased, site.node, b, NOW)
    acknowledge(leased, leased.state().epoch, 1, {ev.id: Verdict("accepted")})
    assert walkin_states(leased) == {"w1": ("accepted", "")}
    assert leased.get(Booking, "w1") == b


def test_a_verdict_in_an_ack_for_another_epoch_is_ignored(leased: Replica, site: Any) -> None:
    ev = create_walkin(leased, site.node, walkin(site, "16:00", "17:00"), NOW)
    acknowledge(leased, leased.state().epoch ^ 1, 1, {ev.id: Verdict("rejected", "x")})
    assert walkin_states(leased) == {"w1": ("pending", "")}


def test_a_bad_verdict_rolls_back_the_whole_ack(leased: Replica, site: Any, dump: Dumper) -> None:
    ev = create_walkin(leased, site.node, walkin(site, "16:00", "17:00"), NOW)
    before = dump(leased)
    with pytest.raises(ValueError, match="verdict status"):
        acknowledge(leased, leased.state().epoch, 1, {ev.id: Verdict("maybe")})
    assert dump(leased) == before


def test_cancel_a_walkin(leased: Replica, site: Any) -> None:
    create_walkin(leased, site.node, walkin(site, "16:00", "17:00"), NOW)
    ev = cancel_walkin(leased, "w1", NOW, "changed plans")
    body = {"booking": "w1", "reason": "changed plans"}
    assert (ev.seq, ev.type, ev.body) == (2, "walkin.cancelled", body)
    got = leased.get(Booking, "w1")
    assert got is not None and got.status == "cancelled"
    assert walkin_states(leased)["w1"][0] == "cancelled"
    with pytest.raises(WalkinRefused) as info:
        cancel_walkin(leased, "central", NOW)
    assert info.value.reason == "unknown"


REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("no lease by that id", {"lease": "l-none"}, "no_lease"),
    ("another node's lease", {"resource": "B", "lease": "l-b"}, "no_lease"),
    ("lease on another resource", {"resource": "A", "lease": "l-gym"}, "no_lease"),
    ("starts before the lease", {"start": "15:00", "end": "16:00"}, "outside_lease"),
    ("ends after the lease", {"start": "19:30", "end": "20:30"}, "outside_lease"),
    ("not on a slot boundary", {"start": "16:30", "end": "17:30"}, "not_slots"),
    ("not whole slots", {"start": "16:00", "end": "17:30"}, "not_slots"),
    ("three slots of max two", {"start": "16:00", "end": "19:00"}, "too_long"),
    ("central booking", {"start": "19:00", "end": "20:00"}, "conflict"),
    ("overlaps central booking", {"start": "18:00", "end": "20:00"}, "conflict"),
    ("ended", {"now": "2026-05-04T17:30:00Z"}, "in_past"),
    ("ends now", {"now": "2026-05-04T17:00:00Z"}, "in_past"),
    ("central origin", {"origin": "central"}, "not_walkin"),
    ("another node", {"node": "someone.else"}, "not_walkin"),
    ("two resources", {"resources": ["gym", "A"]}, "not_walkin"),
]


@pytest.mark.parametrize(("case", "change", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_walkin_writes_nothing(
    leased: Replica, site: Any, dump: Dumper, case: str, change: dict[str, Any], reason: str
) -> None:
    change = dict(change)
    now = datetime.fromisoformat(change.pop("now", NOW.isoformat()))
    start, end = change.pop("start", "16:00"), change.pop("end", "17:00")
    resource, lease = change.pop("resource", "gym"), change.pop("lease", "l-gym")
    base = walkin(site, start, end, resource=resource, lease=lease)
    b = Booking.from_wire({**base.to_wire(), **change})
    before = dump(leased)
    with pytest.raises(WalkinRefused) as info:
        create_walkin(leased, site.node, b, now)
    assert info.value.reason == reason
    assert dump(leased) == before
    assert backlog(leased) == 0 and walkin_states(leased) == {}


def test_a_walkin_conflicts_with_a_booking_of_the_whole_hall(
    leased: Replica, site: Any, dump: Dumper
) -> None:
    hall = site.booking("hall-b", ["hall"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")
    site.apply(leased, site.changes(2, 3, site.upsert("booking", hall)))
    before = dump(leased)
    on_a = {"resource": "A", "lease": "l-a"}
    with pytest.raises(WalkinRefused) as info:
        create_walkin(leased, site.node, walkin(site, "16:30", "17:00", **on_a), NOW)
    assert info.value.reason == "conflict"
    assert dump(leased) == before
    # the free half hour after the hall booking is fine
    create_walkin(leased, site.node, walkin(site, "17:00", "17:30", **on_a), NOW)


def test_a_walkin_conflicts_with_a_pending_walkin(leased: Replica, site: Any) -> None:
    create_walkin(leased, site.node, walkin(site, "16:00", "17:00"), NOW)
    second = Booking.from_wire({**walkin(site, "16:00", "17:00").to_wire(), "id": "w2"})
    with pytest.raises(WalkinRefused) as info:
        create_walkin(leased, site.node, second, NOW)
    assert info.value.reason == "conflict"
    assert backlog(leased) == 1 and set(walkin_states(leased)) == {"w1"}


def test_a_failed_append_inside_a_transaction_leaves_no_hole(replica: Replica) -> None:
    """append_event's own savepoint: the caller catches the failure and commits
    the rest; the seq the failure took is given back (also two levels deep)."""
    at = datetime(2026, 5, 4, 12, tzinfo=UTC)
    with replica.write():
        first = append_event(replica, "door.opened", {"door": "a"}, at)
        with pytest.raises(ValueError):
            append_event(replica, "door.opened", {"door": object()}, at)
        with replica.write():
            second = append_event(replica, "door.opened", {"door": "b"}, at)
            with pytest.raises(ZeroDivisionError), replica.write():
                append_event(replica, "door.opened", {"door": "c"}, at)
                raise ZeroDivisionError
        third = append_event(replica, "door.opened", {"door": "d"}, at)
    assert [e.seq for e in (first, second, third)] == [1, 2, 3]
    assert [(e.seq, e.body["door"]) for e in pending_events(replica)] == [
        (1, "a"),
        (2, "b"),
        (3, "d"),
    ]
    assert first.id < second.id < third.id
    assert replica.state().last_seq == 3
