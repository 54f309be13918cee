"""The walk-in flow's view-model, without a window, against a real node database.

Flows: inside a lease (the booking, its event and a door code the door
honours offline), outside a lease, a divisible hall's conflict, failed
identification, a phone number kept only as a digest, central's verdict, and
the state table itself (every pair either in the table or refused).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from door_controller.testing import FakeClock
from kiosk.identity import normalise_phone, phone_digest
from kiosk.services import Services
from kiosk.texts import code_text
from kiosk.walkin import TABLE, E, InvalidTransition, W, WalkinFlow, step
from kiosk.walkin_store import credential_id, new_code
from sync.replica import (
    Credential,
    Verdict,
    access_context,
    acknowledge,
    code_digest,
    credentials_by_digest,
    pending_events,
)

from .conftest import T0

H = timedelta(hours=1)
M30 = timedelta(minutes=30)


def booked(flow: WalkinFlow, svc: Services, card: str, start: Any = T0, length: int = 1) -> None:
    flow.pick(start)
    if length > 1:
        flow.set_length(length)
    flow.next()
    flow.tap(card)
    assert flow.state is W.CONFIRM, flow.error
    flow.confirm()


def test_walkin_inside_a_lease(svc: Services, card: Callable[[str], str], site: Any) -> None:
    flow = WalkinFlow(svc, "A")
    v = flow.view()
    assert v.state is W.CHOOSE and v.resource_name == "Sektion A"
    assert [s.start for s in v.slots] == [T0 + i * M30 for i in range(8)]
    flow.pick(T0 + H)
    assert flow.view().lengths == (1, 2)  # the section allows two 30-minute slots
    flow.set_length(2)
    flow.next()
    flow.tap(card("anna"))
    v = flow.view()
    assert v.state is W.CONFIRM and v.payer == "IK Fram" and v.price == "association"
    assert (v.start.hour, v.end.hour) == (13, 14)  # facility time (CEST)
    flow.confirm()
    done = flow.view().done
    assert flow.state is W.DONE and done is not None and done.verdict == "pending"
    assert len(done.code) == 6 and done.code.isdigit() and code_text(done.code) in done.qr
    assert done.qr.startswith("BEGIN:VEVENT") and "DTSTART:20260504T110000Z" in done.qr

    events = [e for e in pending_events(svc.rep) if e.type == "walkin.created"]
    assert len(events) == 1
    wire = events[0].body["booking"]
    assert wire["id"] == done.booking and wire["holder"] == "ik-fram"
    assert (wire["origin"], wire["lease"], wire["node"]) == ("walkin", "lease-A", site.node)
    assert wire["start"] == "2026-05-04T11:00:00Z" and wire["end"] == "2026-05-04T12:00:00Z"

    digest = code_digest(site.key, site.facility_id, done.code)
    [cred] = credentials_by_digest(svc.rep, digest)
    assert (cred.id, cred.kind, cred.booking) == (credential_id(done.booking), "code", done.booking)
    # The door controller honours the code at once, offline, in its booking's window.
    ctx = access_context(svc.rep, "door-a", digest, T0 + H + timedelta(minutes=5))
    assert [b.id for c in ctx.candidates for b in c.bookings] == [done.booking]
    # The slots are gone from the offer.
    assert T0 + H not in [s.start for s in WalkinFlow(svc, "A").view().slots]


def test_walkin_event_carries_the_code_digest(
    svc: Services, card: Callable[[str], str], site: Any
) -> None:
    flow = WalkinFlow(svc, "A")
    booked(flow, svc, card("anna"))
    assert flow.done is not None
    [event] = [e for e in pending_events(svc.rep) if e.type == "walkin.created"]
    assert event.body["code_digest"] == code_digest(site.key, site.facility_id, flow.done.code)


def test_no_walkin_outside_a_lease(svc: Services, card: Callable[[str], str], site: Any) -> None:
    assert WalkinFlow(svc, "C").view().slots == ()  # this node holds no lease on C
    flow = WalkinFlow(svc, "A")
    with pytest.raises(ValueError):
        flow.pick(T0 + 4 * H)  # after the lease ends
    flow.pick(T0 + timedelta(minutes=10))  # inside a slot: that slot is picked
    assert flow.chosen is not None and flow.chosen.start == T0
    # The lease is withdrawn while the visitor is identifying.
    flow.pick(T0)
    flow.next()
    flow.tap(card("anna"))
    site.apply(svc.rep, site.changes(2, 3, site.delete("lease", "lease-A")))
    flow.confirm()
    # The shared rule (PROTOCOL.md §7) refuses first: the door would not open.
    assert flow.state is W.REFUSED and flow.error == "access_no_lease"
    assert [e for e in pending_events(svc.rep) if e.type == "walkin.created"] == []
    assert [c for c in svc.rep.all(Credential) if c.kind == "code"] == []
    flow.back()
    assert flow.state is W.CHOOSE and flow.view().slots == () and flow.chosen is None


def test_divisible_hall_conflict(svc: Services, card: Callable[[str], str], site: Any) -> None:
    a, b = WalkinFlow(svc, "A"), WalkinFlow(svc, "B")
    for flow in (a, b):
        flow.pick(T0 + H)
        flow.next()
        flow.tap(card("anna"))
    # Central books the whole hall meanwhile: both sections conflict with it.
    whole = site.booking("match", ["hall"], T0 + H, T0 + 2 * H, holder="bk-boll")
    site.apply(svc.rep, site.changes(2, 3, site.upsert("booking", whole)))
    a.confirm()
    assert a.state is W.REFUSED and a.error == "conflict"
    a.back()
    starts = [s.start for s in a.view().slots]
    assert T0 + H not in starts and T0 + H + M30 not in starts and T0 in starts
    # A section booking leaves the sister section free but blocks the hall.
    b.back()
    b.back()
    b.pick(T0)
    b.next()
    b.tap(card("anna"))
    b.confirm()
    assert b.state is W.DONE
    assert T0 in [s.start for s in WalkinFlow(svc, "A").view().slots]


def test_identification_failures(svc: Services, card: Callable[[str], str], site: Any) -> None:
    flow = WalkinFlow(svc, "A")
    flow.pick(T0)
    flow.next()
    flow.tap(card("stranger"))
    assert (flow.state, flow.error) == (W.IDENTIFY, "card_unknown")
    site.apply(
        svc.rep,
        site.changes(2, 3, site.upsert("revocation", {"id": "r1", "credential": "anna-card"})),
    )
    flow.tap(card("anna"))
    assert (flow.state, flow.error) == (W.IDENTIFY, "card_revoked")
    flow.enter_phone("12345")
    assert (flow.state, flow.error) == (W.IDENTIFY, "phone_bad")
    flow.tap(card("staff"))  # a caretaker may book, at the internal rate
    assert flow.state is W.CONFIRM and flow.view().price == "internal" and flow.error is None


def test_private_person_by_phone(svc: Services, site: Any) -> None:
    flow = WalkinFlow(svc, "gym")
    flow.pick(T0)
    flow.next()
    flow.enter_phone("070-123 45 67")
    v = flow.view()
    assert v.state is W.CONFIRM and v.price == "person" and v.payer == ""
    assert flow.phone == phone_digest(site.key, site.facility_id, "+46701234567")
    flow.confirm()
    assert flow.state is W.DONE
    [event] = [e for e in pending_events(svc.rep) if e.type == "walkin.created"]
    assert event.body["booking"]["holder"] is None
    assert "0701234567" not in str(event.body) and "+46701234567" not in str(event.body)
    assert normalise_phone("+46 70 123 45 67") == normalise_phone("0046701234567")


def test_central_verdicts_reach_the_confirmation(svc: Services, card: Callable[[str], str]) -> None:
    flow = WalkinFlow(svc, "A")
    booked(flow, svc, card("anna"))
    [event] = [e for e in pending_events(svc.rep) if e.type == "walkin.created"]
    flow.refresh()
    assert flow.done is not None and flow.done.verdict == "pending"
    epoch = svc.rep.state().epoch
    acknowledge(svc.rep, epoch, event.seq, {event.id: Verdict("rejected", "lease_expired")})
    flow.refresh()
    assert flow.done is not None
    assert (flow.done.verdict, flow.done.reason) == ("rejected", "lease_expired")


def test_codes_are_unique_in_the_facility(svc: Services, site: Any) -> None:
    taken = code_digest(site.key, site.facility_id, "000001")
    with svc.rep.write():
        svc.rep.put(Credential("v-old", None, "code", taken, None, None, "b-old"))
    draws = iter([1, 1, 2])
    code, digest = new_code(svc.rep, site.key, site.facility_id, lambda _: next(draws))
    assert code == "000002" and digest == code_digest(site.key, site.facility_id, "000002")


def test_duration_is_bounded_by_rules_and_neighbours(
    svc: Services, card: Callable[[str], str], site: Any, kclock: FakeClock
) -> None:
    gym = WalkinFlow(svc, "gym")
    gym.pick(T0 + 3 * H)  # the lease's last hour: nothing after it
    assert gym.view().lengths == (1,)
    gym.pick(T0)
    assert gym.view().lengths == (1, 2)
    with pytest.raises(ValueError):
        gym.set_length(3)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(W, E)))
def test_state_table_is_total(state: W, event: E) -> None:
    if (state, event) in TABLE:
        assert step(state, event) is TABLE[(state, event)]
    else:
        with pytest.raises(InvalidTransition):
            step(state, event)


def test_closed_is_final_and_every_state_can_be_left() -> None:
    assert not any(s is W.CLOSED for s, _ in TABLE)
    for s in W:
        if s is not W.CLOSED:
            assert TABLE[(s, E.TIMEOUT)] is W.CLOSED and TABLE[(s, E.CANCEL)] is W.CLOSED
