"""Leader, caretaker and whole-kiosk view-models, without a window, with a fake clock.

Flows: a leader's headcount at the start and its confirmation at the end
(``attendance.reported``), a caretaker's unlock/lockdown/release queued for
the door controller, sync health and alarms, the idle limit (warned,
extendable, back to Today), taps routed by who tapped, and a rejected walk-in
shown at the holder's next tap.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from door_controller.testing import FakeClock
from kiosk import spoken
from kiosk.caretaker import CaretakerModel
from kiosk.identity import identify
from kiosk.leader import L, LeaderFlow, LeaderTransition
from kiosk.model import KioskModel, Screen
from kiosk.services import Services
from kiosk.testing import RecordingSpeaker
from kiosk.walkin import W
from sync.replica import (
    AccessRecord,
    Verdict,
    acknowledge,
    finish,
    pending_commands,
    pending_events,
    record_access,
    set_door_state,
    set_reader_state,
)

from .conftest import T0

H = timedelta(hours=1)


def team_booking(svc: Services, site: Any, start: Any, hours: int = 2) -> None:
    b = site.booking("train", ["B"], start, start + hours * H, holder="ik-fram", title="")
    site.apply(svc.rep, site.changes(2, 3, site.upsert("booking", b)))


def test_leader_headcount_at_start_and_end(
    svc: Services, site: Any, kclock: FakeClock, card: Callable[[str], str]
) -> None:
    team_booking(svc, site, T0 + H)
    who = identify(svc.rep, card("anna"), kclock.now())
    flow = LeaderFlow(svc, who)
    v = flow.view()
    assert (v.team, v.title, v.resource_name, v.stage) == (
        "IK Fram",
        "IK Fram",
        "Sektion B",
        "early",
    )
    with pytest.raises(LeaderTransition):
        flow.start_count()  # an hour before the start: nothing to count yet
    kclock.advance(50 * 60)  # 10 minutes before the common start
    flow.start_count()
    flow.set_counts(14, 2)
    flow.submit()
    assert flow.state is L.DONE
    kclock.advance(2 * 3600)  # at the end, a new tap
    again = LeaderFlow(svc, who)
    v = again.view()
    assert v.stage == "end" and (v.participants, v.leaders) == (14, 2)
    assert v.start_report is not None and v.start_report.participants == 14
    again.start_count()
    again.set_counts(13, 2)  # one went home early
    again.submit()
    reports = [e.body for e in pending_events(svc.rep) if e.type == "attendance.reported"]
    assert [(r["stage"], r["participants"], r["leaders"]) for r in reports] == [
        ("start", 14, 2),
        ("end", 13, 2),
    ]
    assert all(set(r) == {"booking", "stage", "participants", "leaders", "reported_by", "at"}
               for r in reports)  # fmt: skip
    assert reports[0]["reported_by"] == "anna-card"


def test_leader_sees_the_door_check_in_and_bad_counts(
    svc: Services, site: Any, kclock: FakeClock, card: Callable[[str], str]
) -> None:
    team_booking(svc, site, T0 - H / 2)
    record_access(
        svc.rep,
        AccessRecord("main", "r1", card("anna"), True, "booking", "anna-card", "train"),
        T0 - H / 2,
    )
    flow = LeaderFlow(svc, identify(svc.rep, card("anna"), T0))
    v = flow.view()
    assert v.stage == "start" and v.leader_in and v.checked_in is not None
    assert v.checked_in.strftime("%H:%M") == "11:30"
    flow.start_count()
    flow.set_counts(-1, 0)
    assert flow.error == "count_range"


def test_leader_without_booking(svc: Services, card: Callable[[str], str]) -> None:
    flow = LeaderFlow(svc, identify(svc.rep, card("anna"), T0))
    assert flow.view().stage == "none"
    with pytest.raises(LeaderTransition):
        flow.start_count()


def test_caretaker_view_and_unlock(
    svc: Services, site: Any, kclock: FakeClock, card: Callable[[str], str]
) -> None:
    who = identify(svc.rep, card("staff"), T0)
    assert who.caretaker
    set_door_state(svc.rep, "main", "locked", T0 - H)
    set_door_state(svc.rep, "gym-door", "forced", T0 - H / 6)
    set_reader_state(svc.rep, "r1", True, "", T0 - H)
    set_reader_state(svc.rep, "r2", False, "no answer", T0 - H / 3)
    ct = CaretakerModel(svc, who)
    v = ct.view()
    states = {d.door: (d.state, d.alarm) for d in v.doors}
    assert states == {
        "main": ("locked", False),
        "gym-door": ("forced", True),
        "door-a": ("unknown", False),
    }
    assert v.alarms == 2  # a forced door and a reader offline
    assert v.sync.applied_rev == 2 and v.sync.health.level == "ok"
    assert v.sync.backlog == 0
    ident = ct.unlock("main", 30)
    [cmd] = pending_commands(svc.rep)
    assert (cmd.id, cmd.cmd, cmd.args, cmd.by, cmd.origin) == (
        ident, "unlock", {"door": "main", "seconds": 30}, "staff1-card", "kiosk",
    )  # fmt: skip
    assert ct.view().doors[[d.door for d in ct.view().doors].index("main")].pending == ("unlock",)
    # The door controller carries it out and writes command.done.
    finish(svc.rep, ident, "done", "", T0)
    assert pending_commands(svc.rep) == []
    assert [e.body["by"] for e in pending_events(svc.rep) if e.type == "command.done"] == [
        "staff1-card"
    ]
    with pytest.raises(ValueError):
        ct.lockdown()  # not without the second tap
    ct.ask_lockdown()
    ct.lockdown()
    with pytest.raises(ValueError):
        ct.release()  # releasing asks again too
    ct.ask_release()
    ct.release()
    assert [c.cmd for c in pending_commands(svc.rep)] == ["lockdown", "release"]
    assert ct.view().facility_pending == ("lockdown", "release")
    with pytest.raises(ValueError):
        ct.unlock("main", 7)


def test_caretaker_checkins_no_shows_and_stale_sync(
    svc: Services, site: Any, kclock: FakeClock, card: Callable[[str], str]
) -> None:
    early = site.booking("early", ["gym"], T0 - 3 * H, T0 - 2 * H, holder="bk-boll")
    used = site.booking("used", ["C"], T0 - 2 * H, T0 - H, holder="ik-fram")
    site.apply(
        svc.rep, site.changes(2, 3, site.upsert("booking", early), site.upsert("booking", used))
    )
    record_access(
        svc.rep, AccessRecord("main", "r1", "x", True, "booking", "anna-card", "used"), T0 - 2 * H
    )
    v = CaretakerModel(svc, identify(svc.rep, card("staff"), T0)).view()
    lines = {b.booking: (b.checked_in is not None, b.no_show) for b in v.today}
    assert lines == {"early": (False, True), "used": (True, False)}
    kclock.advance(80 * 3600)  # past max_offline_hours (72) without a head
    v = CaretakerModel(svc, identify(svc.rep, card("staff"), kclock.now())).view()
    assert v.sync.health.level == "stale" and v.sync.health.age == timedelta(hours=80)


def test_idle_limit_is_warned_extendable_and_returns_home(svc: Services, kclock: FakeClock) -> None:
    model = KioskModel(svc)
    model.start_walkin("A", T0)
    model.act(model.walkin.next)  # type: ignore[union-attr]
    assert model.screen is Screen.WALKIN and model.walkin is not None
    kclock.advance(41)  # the limit is 60 s; the warning comes 20 s before
    assert model.tick() and model.warning
    assert "more time" in model.spoken[-1] or "mer tid" in model.spoken[-1]
    model.extend()
    kclock.advance(41)
    model.tick()
    assert model.screen is Screen.WALKIN and model.limit.extensions == 1
    flow = model.walkin
    kclock.advance(60)
    model.tick()
    assert model.screen is Screen.TODAY and model.walkin is None and flow.state is W.CLOSED
    assert model.prefs == model.default_prefs


def test_language_and_preferences_reset_when_idle(svc: Services, kclock: FakeClock) -> None:
    model = KioskModel(svc)
    assert model.prefs.lang == "sv"
    model.set_language("en")
    model.cycle_text_size()
    model.toggle_contrast()
    assert model.prefs.scale > 1 and model.prefs.high_contrast
    kclock.advance(61)
    model.tick()
    assert model.prefs == model.default_prefs and model.prefs.lang == "sv"


def test_taps_route_by_who_tapped(
    svc: Services, tap: Callable[[str], int], card: Callable[[str], str], kclock: FakeClock
) -> None:
    model = KioskModel(svc)
    tap(card("staff"))
    assert model.tick() and model.screen is Screen.CARETAKER
    model.home()
    tap(card("anna"))
    model.tick()
    assert model.screen is Screen.LEADER
    model.home()
    tap(card("stranger"))
    model.tick()
    assert model.screen is Screen.NOTICE and model.notice is not None
    assert model.notice.error == "card_unknown"
    assert any("inte känt" in t for t in model.spoken)  # spoken in Swedish
    model.dismiss_notice()
    assert model.screen is Screen.TODAY


def book_by_card(
    model: KioskModel, resource: str, tap: Callable[[str], int], card: Callable[[str], str]
) -> None:
    """A walk-in on ``resource`` from T0, booked with Anna's card through the model."""
    model.start_walkin(resource, T0)
    model.act(model.walkin.next)  # type: ignore[union-attr]
    tap(card("anna"))
    model.tick()
    model.act(model.walkin.confirm)  # type: ignore[union-attr]


def test_rejected_walkin_shown_at_next_tap_and_to_the_caretaker(
    svc: Services, tap: Callable[[str], int], card: Callable[[str], str], kclock: FakeClock
) -> None:
    model = KioskModel(svc)
    book_by_card(model, "A", tap, card)
    assert model.walkin is not None and model.walkin.state is W.DONE
    booking = model.walkin.done.booking  # type: ignore[union-attr]
    model.home()
    [event] = [e for e in pending_events(svc.rep) if e.type == "walkin.created"]
    acknowledge(svc.rep, svc.rep.state().epoch, event.seq, {event.id: Verdict("rejected", "x")})
    assert model.tick()  # the ack moved the sync state: Today is redrawn
    row = model.today.row("A")
    assert [e.walkin for e in row.entries if e.booking == booking] == []  # rejected: not active
    tap(card("anna"))
    model.tick()
    assert model.screen is Screen.NOTICE and model.notice is not None
    assert [r.booking for r in model.notice.rejected] == [booking]
    model.dismiss_notice()
    assert model.screen is Screen.LEADER
    model.home()
    tap(card("anna"))
    model.tick()
    assert model.screen is Screen.LEADER  # shown once
    model.home()
    tap(card("staff"))
    model.tick()
    assert model.caretaker is not None
    assert [r.booking for r in model.caretaker.view().rejected] == [booking]


def test_speech_never_says_the_code_unless_asked(
    svc: Services, tap: Callable[[str], int], card: Callable[[str], str]
) -> None:
    model = KioskModel(svc)
    book_by_card(model, "gym", tap, card)
    done = model.walkin.done  # type: ignore[union-attr]
    assert done is not None
    speaker = svc.speaker
    assert isinstance(speaker, RecordingSpeaker)
    assert any("Bokat" in t for t in speaker.texts())
    assert not any(done.code in t.replace(", ", "") for t in speaker.texts())
    model.speak_code()
    words = spoken.digits_words(done.code, "sv")
    assert speaker.texts()[-1] == f"Din dörrkod är {words}. Tryck sedan på fyrkant."
    assert all(lang == "sv" for lang, _ in speaker.said)
