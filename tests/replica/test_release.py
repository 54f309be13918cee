"""No-show release at the hall, the node's side (sync/replica/release.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync.replica import (
    AccessRecord,
    Booking,
    Replica,
    Resource,
    pending_events,
    record_access,
    release_due,
    sweep_no_shows,
    sweep_releases,
)

START = datetime(2026, 5, 4, 17, 0, tzinfo=UTC)


def resource(rid: str, n: int | None, parent: str | None = None) -> Resource:
    return Resource(rid, rid, "room", parent, 30, 4, 0, n)


def booking(ident: str = "b1", resources: tuple[str, ...] = ("A",), **kw: Any) -> Booking:
    return Booking(
        ident,
        resources,
        kw.pop("start", START),
        kw.pop("end", START + timedelta(hours=2)),
        "club",
        "Träning",
        **kw,
    )


TREE = {"A": resource("A", 15), "B": resource("B", 30), "C": resource("C", None)}


@pytest.mark.parametrize(
    ("b", "entered", "minutes", "due"),
    [
        (booking(), False, 15, True),
        (booking(), False, 14, False),  # not yet
        (booking(), False, 119, True),
        (booking(), False, 120, False),  # ended: the no-show sweep's business
        (booking(), True, 30, False),  # somebody entered
        (booking(resources=("C",)), False, 30, False),  # off by default
        (booking(resources=("A", "B")), False, 20, False),  # both release: the longer N
        (booking(resources=("A", "B")), False, 30, True),
        (booking(resources=("A", "C")), False, 60, False),  # one does not release
        (booking(status="cancelled"), False, 30, False),
        (booking(status="tentative"), False, 30, True),
        (booking(origin="walkin", lease="L", node="n1"), False, 30, False),
        (booking(resources=("gone",)), False, 30, False),
    ],
)
def test_the_release_rule(b: Booking, entered: bool, minutes: int, due: bool) -> None:
    assert release_due(b, TREE, entered, START + timedelta(minutes=minutes)) is due


def setup(rep: Replica, site: Any, minutes: int | None) -> None:
    site.apply(rep, site.changes(0, 1, *site.upserts(site.entities())))
    a = rep.get(Resource, "A")
    assert a is not None
    with rep.write():
        rep.put(
            Resource(
                a.id,
                a.name,
                a.kind,
                a.parent,
                a.walkin_slot_minutes,
                a.walkin_max_slots,
                a.sort,
                minutes,
            )
        )
        rep.put(booking("b1"))
        rep.put(booking("b2", resources=("gym",)))


def test_a_due_booking_is_released_once_and_not_reported_a_no_show_again(
    replica: Replica, site: Any
) -> None:
    setup(replica, site, 15)
    assert sweep_releases(replica, START + timedelta(minutes=10)) == []
    (event,) = sweep_releases(replica, START + timedelta(minutes=16))
    assert (event.type, event.body["booking"], event.body["resources"]) == (
        "booking.released",
        "b1",
        ["A"],
    )
    assert sweep_releases(replica, START + timedelta(minutes=40)) == []  # once
    ended = sweep_no_shows(replica, START + timedelta(hours=3))
    assert [e.body["booking"] for e in ended] == ["b2"]  # b1 was released, not a no-show again
    assert [e.type for e in pending_events(replica)].count("booking.released") == 1
    assert replica.get(Booking, "b1") == booking()  # the node changes no booking


def test_an_entry_keeps_the_booking(replica: Replica, site: Any) -> None:
    setup(replica, site, 15)
    record_access(
        replica,
        AccessRecord("door-a", "r1", "d", True, "booking", "card.x", "b1"),
        START + timedelta(minutes=5),
    )
    assert sweep_releases(replica, START + timedelta(minutes=30)) == []


def test_off_by_default(replica: Replica, site: Any) -> None:
    setup(replica, site, None)
    assert sweep_releases(replica, START + timedelta(minutes=60)) == []
