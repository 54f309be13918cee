"""Queries for the kiosk and the door controller (queries.py, access.py).

The rules: ranges are half-open and compared in UTC; "today" is facility time
(Europe/Stockholm), so a DST day has 23 or 25 hours; a divisible hall and its
sections conflict; only active bookings hold time or open doors; a door opens
from ``before_minutes`` before a booking until ``after_minutes`` after it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sync.protocol.timeutil import day_bounds, local_day, local_to_instant, parse_instant
from sync.replica import (
    Booking,
    Credential,
    Door,
    Grant,
    Replica,
    access_context,
    bookings_at_door,
    bookings_overlapping,
    card_digest,
    code_digest,
    credentials_by_digest,
    day_schedule,
    free_slots,
    grants_for,
    holder_groups,
    is_revoked,
    pin_digest,
    related_resources,
    resource_tree,
)

TZ = ZoneInfo("Europe/Stockholm")
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)
DAY = date(2026, 5, 4)  # an ordinary Monday
H, M = timedelta(hours=1), timedelta(minutes=1)
D = "2026-05-04T"  # DAY, as the start of a wire instant


def utc(text: str) -> datetime:
    return parse_instant(text)


def wall(dt: datetime) -> tuple[str, timedelta | None]:
    """A local datetime as (wall clock, UTC offset): aware datetimes with the same
    tzinfo compare by wall clock alone, which cannot tell the two 02:30s apart."""
    return dt.strftime("%Y-%m-%d %H:%M"), dt.utcoffset()


CEST, CET = timedelta(hours=2), timedelta(hours=1)


def add(rep: Replica, site: Any, *records: tuple[str, dict[str, Any]]) -> None:
    """Apply ``records`` as central's next batch."""
    rev = rep.state().applied_rev
    ops = [site.upsert(e, d) for e, d in records]
    assert site.apply(rep, site.changes(rev, rev + 1, *ops)).name == "APPLIED"


def ids(entries: list[Any]) -> list[str]:
    return [e.booking.id if hasattr(e, "booking") else e.id for e in entries]


# --- facility time ---------------------------------------------------------------


def test_day_bounds_on_dst_days() -> None:
    lo, hi = day_bounds(SPRING, TZ)
    assert (lo, hi) == (utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"))
    assert hi - lo == 23 * H
    lo, hi = day_bounds(AUTUMN, TZ)
    assert (lo, hi) == (utc("2026-10-24T22:00:00Z"), utc("2026-10-25T23:00:00Z"))
    assert hi - lo == 25 * H
    lo, hi = day_bounds(DAY, TZ)
    assert hi - lo == 24 * H


def test_local_times_in_the_dst_transitions() -> None:
    # the skipped spring hour reads with the offset before the gap (RFC 5545)
    assert local_to_instant(SPRING, time(2, 30), TZ) == utc("2026-03-29T01:30:00Z")
    assert local_to_instant(SPRING, time(3, 30), TZ) == utc("2026-03-29T01:30:00Z")
    # the repeated autumn hour: fold picks the occurrence
    assert local_to_instant(AUTUMN, time(2, 30), TZ) == utc("2026-10-25T00:30:00Z")
    assert local_to_instant(AUTUMN, time(2, 30), TZ, fold=1) == utc("2026-10-25T01:30:00Z")
    assert local_day(utc("2026-03-28T23:00:00Z"), TZ) == SPRING
    assert local_day(utc("2026-03-28T22:59:59Z"), TZ) == SPRING - timedelta(days=1)


def test_spring_day_schedule(seeded: Replica, site: Any) -> None:
    b = site.booking
    add(
        seeded,
        site,
        # 01:30 CET to 03:30 CEST: one real hour across the skipped one
        ("booking", b("s-dst", ["gym"], "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z")),
        # 23:30 to 00:30 across the midnight that starts the DST day
        ("booking", b("s-mid", ["gym"], "2026-03-28T22:30:00Z", "2026-03-28T23:30:00Z")),
        # ends exactly at the day's start; starts exactly at the next day's start
        ("booking", b("s-before", ["gym"], "2026-03-28T22:00:00Z", "2026-03-28T23:00:00Z")),
        ("booking", b("s-next", ["gym"], "2026-03-29T22:00:00Z", "2026-03-29T23:00:00Z")),
        ("booking", b("s-late", ["gym"], "2026-03-29T21:00:00Z", "2026-03-29T22:00:00Z")),
    )
    gym = day_schedule(seeded, SPRING)["gym"]
    assert ids(gym) == ["s-mid", "s-dst", "s-late"]
    mid, dst, late = gym
    assert wall(dst.start_local) == ("2026-03-29 01:30", CET)
    assert wall(dst.end_local) == ("2026-03-29 03:30", CEST)
    assert wall(mid.start_local) == ("2026-03-28 23:30", CET)
    assert wall(mid.end_local) == ("2026-03-29 00:30", CET)
    assert wall(late.end_local) == ("2026-03-30 00:00", CEST)
    before = day_schedule(seeded, SPRING - timedelta(days=1))["gym"]
    assert ids(before) == ["s-before", "s-mid"]
    after = day_schedule(seeded, SPRING + timedelta(days=1))["gym"]
    assert ids(after) == ["s-next"]
    assert wall(after[0].start_local) == ("2026-03-30 00:00", CEST)


def test_autumn_day_schedule(seeded: Replica, site: Any) -> None:
    b = site.booking
    add(
        seeded,
        site,
        # 02:30-02:45 twice: first in summer time, then again in winter time
        ("booking", b("a-fold0", ["gym"], "2026-10-25T00:30:00Z", "2026-10-25T00:45:00Z")),
        ("booking", b("a-fold1", ["gym"], "2026-10-25T01:30:00Z", "2026-10-25T01:45:00Z")),
        # 01:30 CEST to 03:30 CET: three real hours
        ("booking", b("a-dst", ["hall"], "2026-10-24T23:30:00Z", "2026-10-25T02:30:00Z")),
        ("booking", b("a-mid", ["gym"], "2026-10-25T22:30:00Z", "2026-10-25T23:30:00Z")),
        ("booking", b("a-next", ["gym"], "2026-10-25T23:00:00Z", "2026-10-26T00:00:00Z")),
        ("booking", b("a-first", ["gym"], "2026-10-24T22:00:00Z", "2026-10-24T23:00:00Z")),
    )
    sched = day_schedule(seeded, AUTUMN)
    gym = sched["gym"]
    assert ids(gym) == ["a-first", "a-fold0", "a-fold1", "a-mid"]
    first, f0, f1, mid = gym
    assert wall(first.start_local) == ("2026-10-25 00:00", CEST)
    assert wall(f0.start_local) == ("2026-10-25 02:30", CEST)
    assert wall(f1.start_local) == ("2026-10-25 02:30", CET)
    assert (f0.start_local.fold, f1.start_local.fold) == (0, 1)
    assert wall(f1.end_local) == ("2026-10-25 02:45", CET)
    assert wall(mid.end_local) == ("2026-10-26 00:30", CET)
    (dst,) = sched["hall"]
    assert dst.booking.end - dst.booking.start == 3 * H
    assert wall(dst.start_local) == ("2026-10-25 01:30", CEST)
    assert wall(dst.end_local) == ("2026-10-25 03:30", CET)
    assert ids(day_schedule(seeded, AUTUMN + timedelta(days=1))["gym"]) == ["a-mid", "a-next"]
    assert ids(day_schedule(seeded, AUTUMN - timedelta(days=1))["gym"]) == []


# --- a divisible hall ---------------------------------------------------------------


def test_related_resources_of_a_divisible_hall(seeded: Replica) -> None:
    tree = resource_tree(seeded)
    assert related_resources(tree, "hall") == {"hall", "A", "B", "C"}
    assert related_resources(tree, "A") == {"A", "hall"}
    assert related_resources(tree, "gym") == {"gym"}


def test_a_whole_hall_booking_shows_on_every_section(seeded: Replica, site: Any) -> None:
    day = "2026-05-04T"
    whole = site.booking("whole", ["hall"], day + "16:00:00Z", day + "17:00:00Z", holder="ik-fram")
    part = site.booking("part", ["A"], day + "18:00:00Z", day + "19:00:00Z", holder="anna")
    add(seeded, site, ("booking", whole), ("booking", part))
    sched = day_schedule(seeded, DAY)
    assert list(sched) == ["hall", "A", "B", "C", "gym"]  # display order (sort)
    assert [(e.booking.id, e.resource, e.via) for e in sched["hall"]] == [("whole", "hall", None)]
    for s in "BC":
        assert [(e.booking.id, e.resource, e.via) for e in sched[s]] == [("whole", s, "hall")]
    assert [(e.booking.id, e.via) for e in sched["A"]] == [("whole", "hall"), ("part", None)]
    assert sched["gym"] == []
    labels = {e.booking.id: e.label for e in sched["A"]}
    assert labels == {"whole": "IK Fram", "part": ""}  # a person's name is never shown


@pytest.fixture
def leased(seeded: Replica, site: Any) -> Replica:
    """Leases 16:00-18:00 on the hall, A and B for this node, on C for another."""
    lo, hi = "2026-05-04T16:00:00Z", "2026-05-04T18:00:00Z"
    add(
        seeded,
        site,
        ("lease", site.lease("l-hall", "hall", lo, hi)),
        ("lease", site.lease("l-a", "A", lo, hi)),
        ("lease", site.lease("l-b", "B", lo, hi)),
        ("lease", site.lease("l-c", "C", lo, hi, node=site.other_node)),
    )
    return seeded


def starts(rep: Replica, node: str, rid: str, lo: str = "16:00", hi: str = "18:00") -> list[str]:
    slots = free_slots(rep, node, rid, utc(f"2026-05-04T{lo}:00Z"), utc(f"2026-05-04T{hi}:00Z"))
    for s in slots:
        assert s.resource == rid and s.end - s.start == 30 * M
    return [s.start.strftime("%H:%M") for s in slots]


ALL = ["16:00", "16:30", "17:00", "17:30"]


def test_free_slots_follow_the_leases_of_this_node(leased: Replica, site: Any) -> None:
    for rid in ("hall", "A", "B"):
        assert starts(leased, site.node, rid) == ALL
    assert starts(leased, site.node, "C") == []  # another node's lease
    assert starts(leased, site.other_node, "C") == ALL
    assert starts(leased, site.node, "gym") == []  # no lease at all
    assert starts(leased, site.node, "A", "15:00", "16:30") == ["16:00"]
    assert starts(leased, site.node, "A", "18:00", "20:00") == []
    lo, hi = utc("2026-05-04T16:00:00Z"), utc("2026-05-04T18:00:00Z")
    assert {s.lease for s in free_slots(leased, site.node, "B", lo, hi)} == {"l-b"}
    assert free_slots(leased, site.node, "nowhere", lo, hi) == []


def test_a_section_booking_blocks_the_hall_not_a_sibling(leased: Replica, site: Any) -> None:
    b = site.booking("on-a", ["A"], "2026-05-04T16:30:00Z", "2026-05-04T17:00:00Z")
    add(leased, site, ("booking", b))
    assert starts(leased, site.node, "A") == ["16:00", "17:00", "17:30"]
    assert starts(leased, site.node, "hall") == ["16:00", "17:00", "17:30"]
    assert starts(leased, site.node, "B") == ALL


def test_a_hall_booking_blocks_every_section(leased: Replica, site: Any) -> None:
    b = site.booking("on-hall", ["hall"], "2026-05-04T17:00:00Z", "2026-05-04T17:15:00Z")
    add(leased, site, ("booking", b))
    for rid in ("hall", "A", "B"):
        assert starts(leased, site.node, rid) == ["16:00", "16:30", "17:30"]
    assert starts(leased, site.other_node, "C") == ["16:00", "16:30", "17:30"]


def test_free_slots_align_to_the_lease_start(seeded: Replica, site: Any) -> None:
    lease = site.lease("l-gym", "gym", "2026-05-04T16:10:00Z", "2026-05-04T19:10:00Z")
    add(seeded, site, ("lease", lease))

    def gym(lo: str, hi: str) -> list[tuple[str, str]]:
        slots = free_slots(seeded, site.node, "gym", utc(lo), utc(hi))
        return [(s.start.strftime("%H:%M"), s.end.strftime("%H:%M")) for s in slots]

    day = "2026-05-04T"
    assert gym(day + "16:00:00Z", day + "20:00:00Z") == [
        ("16:10", "17:10"),
        ("17:10", "18:10"),
        ("18:10", "19:10"),
    ]
    assert gym(day + "16:00:00Z", day + "19:00:00Z") == [("16:10", "17:10"), ("17:10", "18:10")]
    assert gym(day + "16:30:00Z", day + "20:00:00Z") == [("17:10", "18:10"), ("18:10", "19:10")]
    busy = site.booking("busy", ["gym"], day + "17:50:00Z", day + "18:20:00Z")
    add(seeded, site, ("booking", busy))
    assert gym(day + "16:00:00Z", day + "20:00:00Z") == [("16:10", "17:10")]


# --- doors ----------------------------------------------------------------------------


@pytest.fixture
def door_a(seeded: Replica) -> Door:
    door = seeded.get(Door, "door-a")
    assert door is not None and (door.before_minutes, door.after_minutes) == (30, 15)
    return door


@pytest.mark.parametrize(
    ("at", "opens"),
    [
        ("2026-05-04T17:29:59.999999", False),
        ("2026-05-04T17:29:59", False),
        ("2026-05-04T17:30:00", True),  # start - before_minutes
        ("2026-05-04T18:30:00", True),
        ("2026-05-04T19:14:59", True),
        ("2026-05-04T19:14:59.999999", True),
        ("2026-05-04T19:15:00", False),  # end + after_minutes
        ("2026-05-04T19:15:01", False),
    ],
)
def test_door_opens_exactly_within_the_margins(
    seeded: Replica, site: Any, door_a: Door, at: str, opens: bool
) -> None:
    b = site.booking("b1", ["A"], "2026-05-04T18:00:00Z", "2026-05-04T19:00:00Z")
    add(seeded, site, ("booking", b))
    when = datetime.fromisoformat(at).replace(tzinfo=UTC)
    assert ids(bookings_at_door(seeded, door_a, when)) == (["b1"] if opens else [])


def test_which_bookings_open_which_door(seeded: Replica, site: Any, door_a: Door) -> None:
    b = site.booking
    add(
        seeded,
        site,
        ("booking", b("whole", ["hall"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")),
        ("booking", b("on-b", ["B"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")),
        ("booking", b("gym", ["gym"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")),
    )
    at = utc("2026-05-04T16:30:00Z")
    main = seeded.get(Door, "main")
    assert main is not None
    assert ids(bookings_at_door(seeded, door_a, at)) == ["whole"]  # hall holds A too
    assert ids(bookings_at_door(seeded, main, at)) == ["gym", "on-b", "whole"]


def test_cancelled_bookings_never_open_nor_show(leased: Replica, site: Any, door_a: Door) -> None:
    b = site.booking
    add(
        leased,
        site,
        ("booking", b("c1", ["A"], D + "16:00:00Z", D + "18:00:00Z", status="cancelled")),
        ("booking", b("c2", ["hall"], D + "16:00:00Z", D + "18:00:00Z", status="rejected")),
    )
    at = utc("2026-05-04T17:00:00Z")
    assert bookings_at_door(leased, door_a, at) == []
    assert all(v == [] for v in day_schedule(leased, DAY).values())
    assert starts(leased, site.node, "A") == ALL
    assert starts(leased, site.node, "hall") == ALL
    everything = bookings_overlapping(leased, ["A", "hall"], at, at + M, active_only=False)
    assert ids(everything) == ["c1", "c2"]


def test_bookings_at_door_narrowed_to_holders(seeded: Replica, site: Any, door_a: Door) -> None:
    b = site.booking
    add(
        seeded,
        site,
        ("booking", b("fram", ["A"], D + "16:00:00Z", D + "17:00:00Z", holder="ik-fram")),
        ("booking", b("boll", ["hall"], D + "16:00:00Z", D + "17:00:00Z", holder="bk-boll")),
    )
    at = utc("2026-05-04T16:30:00Z")
    assert ids(bookings_at_door(seeded, door_a, at, ["ik-fram"])) == ["fram"]
    assert ids(bookings_at_door(seeded, door_a, at, ["anna", "bk-boll"])) == ["boll"]
    assert bookings_at_door(seeded, door_a, at, []) == []


# --- credentials and access ------------------------------------------------------------


def test_credentials_by_digest(seeded: Replica, site: Any) -> None:
    found = credentials_by_digest(seeded, card_digest(site.key, site.anna_card))
    assert [c.id for c in found] == ["anna-card"]
    found = credentials_by_digest(seeded, pin_digest(site.key, "anna", site.anna_pin))
    assert [c.id for c in found] == ["anna-pin"]
    assert credentials_by_digest(seeded, card_digest(site.key, "0ABCDE41/26")) == []
    # a PIN typed as if it were someone else's matches nothing
    assert credentials_by_digest(seeded, pin_digest(site.key, "staff1", site.anna_pin)) == []


def test_is_revoked_by_id_and_by_digest(seeded: Replica, site: Any) -> None:
    creds = {c.id: c for c in seeded.all(Credential)}
    assert not any(is_revoked(seeded, c) for c in creds.values())
    add(
        seeded,
        site,
        ("revocation", {"id": "r1", "credential": "anna-card", "reason": "lost"}),
        ("revocation", {"id": "r2", "digest": card_digest(site.key, site.staff_card)}),
    )
    assert is_revoked(seeded, creds["anna-card"])
    assert not is_revoked(seeded, creds["anna-pin"])
    assert is_revoked(seeded, creds["staff1-card"])
    # a new credential carrying a revoked digest is revoked too
    copy = Credential("staff1-card-2", "staff1", "card", creds["staff1-card"].digest)
    assert is_revoked(seeded, copy)


def test_holder_groups_and_grants(seeded: Replica) -> None:
    assert holder_groups(seeded, "anna") == {"anna", "ik-fram"}
    assert holder_groups(seeded, "staff1") == {"staff1"}
    (grant,) = grants_for(seeded, "staff1", "main")
    assert isinstance(grant, Grant) and grant.id == "g-staff1"
    assert grants_for(seeded, "staff1", "door-a") == []
    assert grants_for(seeded, "anna", "main") == []


@pytest.fixture
def evening(seeded: Replica, site: Any) -> Replica:
    """IK Fram has the whole hall, BK Boll section B (with a visitor code) at 16-17."""
    b = site.booking
    digest = code_digest(site.key, site.facility_id, "123456")
    code = {"id": "code-boll", "kind": "code", "booking": "boll", "digest": digest}
    add(
        seeded,
        site,
        ("booking", b("fram", ["hall"], D + "16:00:00Z", D + "17:00:00Z", holder="ik-fram")),
        ("booking", b("boll", ["B"], D + "16:00:00Z", D + "17:00:00Z", holder="bk-boll")),
        ("credential", code),
    )
    return seeded


AT = utc("2026-05-04T16:10:00Z")


def test_access_context_for_a_leader(evening: Replica, site: Any) -> None:
    ctx = access_context(evening, "main", card_digest(site.key, site.anna_card), AT)
    assert ctx.door is not None and ctx.door.id == "main"
    (cand,) = ctx.candidates
    assert cand.credential.id == "anna-card" and not cand.revoked
    assert cand.credential.holder == "anna"
    assert [b.id for b in cand.bookings] == ["fram"]  # the association's, not BK Boll's
    assert cand.grants == ()
    assert ctx.state.applied_rev == 2 and ctx.policy.id == "default"
    assert {"hall", "A", "B", "C", "gym"} <= ctx.served  # the door's resources and sections
    # a pre-filter by the door's margins (15 min after the end here); the
    # exact rule is door_controller.decision's
    later = access_context(evening, "main", cand.credential.digest, AT + 50 * M + 14 * M)
    assert [b.id for b in later.candidates[0].bookings] == ["fram"]
    much_later = access_context(evening, "main", cand.credential.digest, AT + 2 * H)
    assert much_later.candidates[0].bookings == ()


def test_access_context_reads_one_snapshot_while_central_data_moves(
    evening: Replica, site: Any
) -> None:
    """Another process (the sync link) applies a batch cancelling the booking
    between access_context's two statements: the context must still be the
    one before the batch (rev 2 with its booking), not rev 2 without it."""
    other = Replica.open(evening.path)
    cancelled = {
        **site.booking("fram", ["hall"], D + "16:00:00Z", D + "17:00:00Z", holder="ik-fram"),
        "status": "cancelled",
    }
    statements: list[str] = []

    def between(sql: str) -> None:
        # Called as each statement starts: once the credential has been read,
        # and before the bookings are, commit the batch from the other side.
        if "holder_members" in sql and any("credentials" in q for q in statements):
            add(other, site, ("booking", cancelled))
        statements.append(sql)

    evening.conn.set_trace_callback(between)
    try:
        ctx = access_context(evening, "main", card_digest(site.key, site.anna_card), AT)
    finally:
        evening.conn.set_trace_callback(None)
    assert other.state().applied_rev == 3  # the batch did commit in between
    assert any("holder_members" in q for q in statements)
    assert ctx.state.applied_rev == 2
    assert [b.id for b in ctx.candidates[0].bookings] == ["fram"]
    after = access_context(evening, "main", card_digest(site.key, site.anna_card), AT)
    assert after.state.applied_rev == 3 and after.candidates[0].bookings == ()
    other.close()


def test_access_context_for_a_visitor_code(evening: Replica, site: Any) -> None:
    digest = code_digest(site.key, site.facility_id, "123456")
    (cand,) = access_context(evening, "main", digest, AT).candidates
    assert cand.credential.kind == "code" and cand.credential.holder is None
    assert [b.id for b in cand.bookings] == ["boll"]  # only its booking
    assert cand.grants == ()
    ctx = access_context(evening, "door-a", digest, AT)
    (cand,) = ctx.candidates
    assert [b.id for b in cand.bookings] == ["boll"]  # the code's own booking, always
    assert "B" not in ctx.served  # door A does not serve section B: the decision says no


def test_access_context_for_staff_and_unknowns(evening: Replica, site: Any) -> None:
    digest = card_digest(site.key, site.staff_card)
    (cand,) = access_context(evening, "main", digest, AT).candidates
    assert [g.id for g in cand.grants] == ["g-staff1"] and cand.bookings == ()
    (cand,) = access_context(evening, "door-a", digest, AT).candidates
    assert cand.grants == ()
    assert access_context(evening, "main", card_digest(site.key, "FF/8"), AT).candidates == ()
    nowhere = access_context(evening, "back-door", digest, AT)
    assert nowhere.door is None and nowhere.candidates == ()


def test_access_context_marks_a_revoked_credential(evening: Replica, site: Any) -> None:
    add(evening, site, ("revocation", {"id": "r1", "credential": "anna-card"}))
    (cand,) = access_context(evening, "main", card_digest(site.key, site.anna_card), AT).candidates
    assert cand.revoked and [b.id for b in cand.bookings] == ["fram"]


def test_schedule_entry_carries_the_booking(seeded: Replica, site: Any) -> None:
    b = site.booking("b1", ["gym"], "2026-05-04T06:00:00Z", "2026-05-04T07:00:00Z", title="Yoga")
    add(seeded, site, ("booking", b))
    (entry,) = day_schedule(seeded, DAY)["gym"]
    assert entry.booking == Booking.from_wire(b) and entry.label == "Yoga"
    assert wall(entry.start_local) == ("2026-05-04 08:00", CEST)
