"""Walk-in leases and central bookings (sync/central/leases.py, PROTOCOL.md §6 "Leases").

leases.py guarantees: ``renew_leases`` keeps leases over the walk-in windows
for the next 14 days, idempotently, never over an active booking or another
node's held lease on a related resource; ``book`` never books inside a held
lease (held until the node's cursor shows the removal) nor over a booking on a
related resource.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync.central import changelog as cl
from sync.central import leases, nodes
from sync.central.db import Store
from sync.protocol.testing import private_key
from sync.protocol.timeutil import to_ts
from sync.replica import Booking, Lease
from sync.replica.queries import related_resources

NOW = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)  # Monday 08:00 in Stockholm (CEST)
FAC, N1, N2 = "fac1", "n1.hall", "n2.hall"
WEEKDAYS_9_12 = leases.parse_windows([{"days": [1, 2, 3, 4, 5], "from": "09:00", "to": "12:00"}])


@pytest.fixture
def store(store_url: str, site: Any) -> Iterator[Store]:
    s = Store.open(store_url)
    cl.mutate(s, FAC, site.central_ops(), NOW)
    for n in (N1, N2):
        nodes.register_node(s, n, FAC, private_key(n).public_key().public_bytes_raw(), None, NOW)
    try:
        yield s
    finally:
        s.close()


def all_leases(store: Store) -> list[Lease]:
    return [r for r in cl.records(store, FAC, "lease") if isinstance(r, Lease)]


def booking(site: Any, ident: str, resource: str, start: str, end: str) -> Booking:
    return Booking.from_wire(site.booking(ident, [resource], start, end))


def assert_no_overlaps(store: Store) -> None:
    """No lease overlaps an active booking (other than its node's walk-ins) or
    another node's lease on a related resource."""
    tree = leases.tree(store, FAC)
    ls = all_leases(store)
    books = [r for r in cl.records(store, FAC, "booking") if isinstance(r, Booking) and r.active]
    for le in ls:
        related = related_resources(tree, le.resource)
        for b in books:
            if set(b.resources) & related and not (b.origin == "walkin" and b.node == le.node):
                assert not (b.start < le.end and le.start < b.end), (le, b)
        for other in ls:
            if other.node != le.node and other.resource in related:
                assert not (other.start < le.end and le.start < other.end), (le, other)


def test_renewal_covers_the_next_14_days_and_is_idempotent(store: Store) -> None:
    leases.set_walkin_windows(store, FAC, "A", N1, WEEKDAYS_9_12)
    assert leases.renew_leases(store, NOW) == {FAC: 2}
    got = all_leases(store)
    # the weekdays from Mon 4 May whose window starts before now + 14 days (Mon 18
    # May 08:00 local, an hour before that day's window)
    assert len(got) == 10
    assert got[0].id == "wl:A:20260504T0700Z" and got[0].node == N1
    assert all(le.end - le.start == timedelta(hours=3) for le in got)
    assert max(le.start for le in got) < NOW + timedelta(days=14)
    assert leases.renew_leases(store, NOW) == {}  # nothing changed: no revision
    assert leases.renew_leases(store, NOW + timedelta(minutes=30)) == {}
    # a day later the horizon moved: one more lease, nothing else touched
    assert leases.renew_leases(store, NOW + timedelta(days=1)) == {FAC: 3}
    assert len(all_leases(store)) == 11
    assert cl.log_after(store, FAC, 2, 10**6)[0].ops == [
        {
            "op": "upsert",
            "entity": "lease",
            "id": "wl:A:20260518T0700Z",
            "data": {
                "id": "wl:A:20260518T0700Z",
                "node": N1,
                "resource": "A",
                "start": "2026-05-18T07:00:00Z",
                "end": "2026-05-18T10:00:00Z",
            },
        }
    ]


def test_leases_go_around_bookings_on_related_resources(store: Store, site: Any) -> None:
    whole = booking(site, "match", "hall", "2026-05-05T08:00:00Z", "2026-05-05T09:00:00Z")
    section = booking(site, "gymnastik", "A", "2026-05-06T07:30:00Z", "2026-05-06T08:00:00Z")
    other = booking(site, "b-only", "B", "2026-05-07T07:00:00Z", "2026-05-07T10:00:00Z")
    for b in (whole, section, other):
        leases.book(store, FAC, b, NOW)
    leases.set_walkin_windows(store, FAC, "A", N1, WEEKDAYS_9_12)
    leases.renew_leases(store, NOW)
    spans = {(le.start.isoformat()[:16], le.end.isoformat()[11:16]) for le in all_leases(store)}
    assert ("2026-05-05T07:00", "08:00") in spans and ("2026-05-05T09:00", "10:00") in spans
    assert ("2026-05-06T08:00", "10:00") in spans  # 07:00-07:30 is left: one 30-min slot
    assert ("2026-05-06T07:00", "07:30") in spans
    assert ("2026-05-07T07:00", "10:00") in spans  # section B is not related to A
    assert_no_overlaps(store)


def test_two_nodes_on_related_resources_never_hold_overlapping_leases(store: Store) -> None:
    leases.set_walkin_windows(store, FAC, "A", N1, WEEKDAYS_9_12)
    leases.set_walkin_windows(
        store,
        FAC,
        "hall",
        N2,
        leases.parse_windows([{"days": [1, 2], "from": "08:00", "to": "10:00"}]),
    )
    leases.set_walkin_windows(
        store, FAC, "B", N2, leases.parse_windows([{"days": [1], "from": "09:00", "to": "12:00"}])
    )
    leases.renew_leases(store, NOW)
    assert_no_overlaps(store)
    hall = [le for le in all_leases(store) if le.resource == "hall"]
    assert {(le.start.hour, le.end.hour) for le in hall} == {(6, 7)}  # 08-09 local, before A's
    assert leases.renew_leases(store, NOW) == {}


def test_book_refuses_inside_a_held_lease_and_on_conflicts(store: Store, site: Any) -> None:
    leases.set_walkin_windows(store, FAC, "A", N1, WEEKDAYS_9_12)
    leases.renew_leases(store, NOW)
    rev = cl.revs(store, FAC).rev
    for resource in ("A", "hall"):  # the lease's resource and its whole hall
        b = booking(site, "x", resource, "2026-05-04T08:00:00Z", "2026-05-04T09:00:00Z")
        with pytest.raises(leases.BookingRefused, match="inside lease 'wl:A:20260504T0700Z'"):
            leases.book(store, FAC, b, NOW)
    assert cl.revs(store, FAC).rev == rev and cl.get(store, FAC, Booking, "x") is None
    ok = booking(site, "b1", "B", "2026-05-04T08:00:00Z", "2026-05-04T09:00:00Z")
    assert leases.book(store, FAC, ok, NOW) == rev + 1
    clash = booking(site, "b2", "hall", "2026-05-04T08:30:00Z", "2026-05-04T09:30:00Z")
    with pytest.raises(leases.BookingRefused, match="conflicts with booking 'b1'"):
        leases.book(store, FAC, clash, NOW)  # the hall also meets the lease, and B's booking
    missing = booking(site, "b3", "pool", "2026-05-04T08:00:00Z", "2026-05-04T09:00:00Z")
    with pytest.raises(leases.BookingRefused, match="no resource 'pool'"):
        leases.book(store, FAC, missing, NOW)
    after = booking(site, "b4", "A", "2026-05-04T10:00:00Z", "2026-05-04T11:00:00Z")
    assert leases.book(store, FAC, after, NOW) == rev + 2  # after the lease ends


def test_a_removed_lease_blocks_booking_until_the_node_applied_the_removal(
    store: Store, site: Any
) -> None:
    leases.set_walkin_windows(store, FAC, "A", N1, WEEKDAYS_9_12)
    leases.renew_leases(store, NOW)
    leases.set_walkin_windows(store, FAC, "A", N1, [])
    removed = leases.renew_leases(store, NOW)[FAC]
    assert all_leases(store) == []
    b = booking(site, "x", "A", "2026-05-05T08:00:00Z", "2026-05-05T09:00:00Z")
    with pytest.raises(leases.BookingRefused, match=rf"removed at rev {removed}"):
        leases.book(store, FAC, b, NOW)
    nodes.record_cursor(store, N1, removed, NOW)
    assert leases.book(store, FAC, b, NOW) == removed + 1


def test_a_running_lease_stays_and_ended_ones_go_a_day_later(store: Store) -> None:
    leases.set_walkin_windows(store, FAC, "A", N1, WEEKDAYS_9_12)
    leases.renew_leases(store, NOW)
    leases.set_walkin_windows(store, FAC, "A", N1, [])
    during = NOW + timedelta(hours=2)  # 10:00 local, inside Monday's lease
    leases.renew_leases(store, during)
    assert [le.id for le in all_leases(store)] == ["wl:A:20260504T0700Z"]
    assert leases.renew_leases(store, NOW + timedelta(hours=20)) == {}  # ended, kept a day
    leases.renew_leases(store, NOW + timedelta(hours=30))
    assert all_leases(store) == []


def test_windows_follow_facility_time_across_dst_and_midnight() -> None:
    tz = "Europe/Stockholm"
    mornings = leases.parse_windows([{"days": [6, 7], "from": "09:00", "to": "10:00"}])
    # the spring change is Sunday 29 March 2026: 09:00 is 08:00Z before, 07:00Z after
    spans = leases.window_spans(
        mornings, tz, datetime(2026, 3, 28, 0, 0, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC)
    )
    starts = [datetime.fromtimestamp(s, UTC).strftime("%d %H:%M") for s, _ in spans]
    assert starts == ["28 08:00", "29 07:00"]
    nights = leases.parse_windows([{"days": [5], "from": "22:00", "to": "02:00"}])
    friday = datetime(2026, 5, 8, 12, 0, tzinfo=UTC)
    (span,) = leases.window_spans(nights, tz, friday, friday + timedelta(days=1))
    assert span == (
        to_ts(datetime(2026, 5, 8, 20, 0, tzinfo=UTC)),
        to_ts(datetime(2026, 5, 9, 0, 0, tzinfo=UTC)),
    )
    late = leases.parse_windows([{"days": [1], "from": "20:00", "to": "24:00"}])
    (span,) = leases.window_spans(late, tz, NOW, NOW + timedelta(days=1))
    assert span[1] - span[0] == 4 * 3600


def test_no_leases_where_a_resource_takes_no_walkins(store: Store, site: Any) -> None:
    room = {"id": "room", "name": "Rum", "kind": "room"}  # walkin_slot_minutes null
    cl.mutate(store, FAC, [cl.upsert_wire("resource", room)], NOW)
    leases.set_walkin_windows(store, FAC, "room", N1, WEEKDAYS_9_12)
    leases.set_walkin_windows(store, FAC, "pool", N1, WEEKDAYS_9_12)  # no such resource
    assert leases.renew_leases(store, NOW) == {}


def test_parse_windows_refuses_nonsense() -> None:
    for raw, match in [
        ([], "non-empty"),
        ([{"days": [0], "from": "09:00", "to": "10:00"}], "weekdays"),
        ([{"days": [1], "from": "9", "to": "10:00"}], "HH:MM"),
        ([{"days": [1], "from": "09:00", "to": "09:00"}], "differ"),
    ]:
        with pytest.raises(ValueError, match=match):
            leases.parse_windows(raw)
