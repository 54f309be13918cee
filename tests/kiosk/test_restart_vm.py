"""What the kiosk remembers survives a kiosk restart (a crash, a power cut, an
upgrade): a new ``KioskModel`` on a new connection to the same database file,
with the same fake clock, knows what the old one was told.

Flows: a leader's start headcount prefills the end confirmation after a
restart; a phone booker whose walk-in central rejected sees the notice when
typing the same number after a restart (and only then, and once per run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from door_controller.testing import FakeClock
from kiosk.identity import phone_digest
from kiosk.model import KioskModel, Screen
from kiosk.services import Services
from kiosk.walkin import W
from sync.replica import Replica, Verdict, acknowledge, pending_events, record_kiosk_tap

from .conftest import KIOSK, T0

H = timedelta(hours=1)
PHONE = "070-123 45 67"


@pytest.fixture
def restart(svc: Services) -> Iterator[Callable[[], KioskModel]]:
    """A kiosk process started again: its own connection to the same file."""
    opened: list[Replica] = []

    def start() -> KioskModel:
        rep = Replica.open(svc.rep.path)
        opened.append(rep)
        return KioskModel(replace(svc, rep=rep))

    yield start
    for rep in opened:
        rep.close()


def tap(model: KioskModel, digest: str) -> None:
    """A card on the kiosk's reader, as the door controller records it; one poll."""
    record_kiosk_tap(model.svc.rep, KIOSK, "kiosk-reader", digest, model.svc.clock.now())
    model.tick()


def type_phone(model: KioskModel, number: str) -> None:
    for ch in number:
        if ch.isdigit() or ch == "+":
            model.key(ch)
    model.submit_phone()


def test_start_headcount_prefills_the_end_after_a_restart(
    svc: Services,
    site: Any,
    kclock: FakeClock,
    card: Callable[[str], str],
    restart: Callable[[], KioskModel],
) -> None:
    b = site.booking("train", ["B"], T0 + H, T0 + 3 * H, holder="ik-fram", title="")
    site.apply(svc.rep, site.changes(2, 3, site.upsert("booking", b)))
    kclock.advance(50 * 60)  # 10 minutes before the common start
    model = KioskModel(svc)
    tap(model, card("anna"))
    assert model.screen is Screen.LEADER and model.leader is not None
    leader = model.leader
    model.act(leader.start_count)
    model.act(lambda: leader.set_counts(14, 2))
    model.act(leader.submit)
    model.home()
    del model  # the kiosk restarts (the database file stays)

    kclock.advance(2 * 3600)  # at the end
    model = restart()
    tap(model, card("anna"))
    assert model.screen is Screen.LEADER and model.leader is not None
    v = model.leader.view()
    assert v.stage == "end"
    assert (v.participants, v.leaders) == (14, 2)  # the end confirmation starts from it
    assert v.start_report is not None  # and shows it
    assert (v.start_report.participants, v.start_report.leaders) == (14, 2)
    leader = model.leader
    model.act(leader.start_count)
    model.act(lambda: leader.set_counts(13, 2))
    model.act(leader.submit)
    reports = [e.body for e in pending_events(svc.rep) if e.type == "attendance.reported"]
    assert [(r["stage"], r["participants"], r["leaders"]) for r in reports] == [
        ("start", 14, 2),
        ("end", 13, 2),
    ]


def test_a_phone_bookers_rejection_is_shown_after_a_restart(
    svc: Services,
    site: Any,
    kclock: FakeClock,
    card: Callable[[str], str],
    restart: Callable[[], KioskModel],
) -> None:
    model = KioskModel(svc)
    model.start_walkin("gym", T0)
    assert model.walkin is not None
    model.act(model.walkin.next)
    type_phone(model, PHONE)
    assert model.screen is Screen.WALKIN and model.walkin.state is W.CONFIRM
    model.act(model.walkin.confirm)
    assert model.walkin.done is not None
    booking = model.walkin.done.booking
    model.home()
    del model  # the kiosk restarts before central's verdict arrives

    [event] = [e for e in pending_events(svc.rep) if e.type == "walkin.created"]
    acknowledge(svc.rep, svc.rep.state().epoch, event.seq, {event.id: Verdict("rejected", "x")})

    kclock.advance(30 * 60)
    model = restart()
    tap(model, card("anna"))  # a card holder is not told of a phone booker's walk-in
    assert model.screen is Screen.LEADER
    model.home()
    model.start_walkin("gym", T0 + H)
    assert model.walkin is not None
    model.act(model.walkin.next)
    type_phone(model, "+46 70 123 45 67")  # the same number, typed another way
    assert model.screen is Screen.NOTICE and model.notice is not None
    assert [r.booking for r in model.notice.rejected] == [booking]
    assert [r.reason for r in model.notice.rejected] == ["x"]
    model.dismiss_notice()
    assert model.screen is Screen.WALKIN and model.walkin.state is W.CONFIRM
    model.act(model.walkin.back)
    type_phone(model, PHONE)
    assert model.screen is Screen.WALKIN  # shown once per kiosk run
    model.act(model.walkin.back)
    type_phone(model, "070-765 43 21")
    assert model.screen is Screen.WALKIN  # another number: nothing to tell
    # Only the keyed digest is stored, never the number.
    dumped = "\n".join(svc.rep.conn.iterdump())
    assert "701234567" not in dumped and "7654321" not in dumped
    assert phone_digest(site.key, site.facility_id, "+46701234567") in dumped
