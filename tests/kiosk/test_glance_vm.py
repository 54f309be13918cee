"""Today at a glance, the slot in progress, the shared walk-in rule, messages
from central and the spoken kiosk, on view-models without a window.

- Status in words: "Ledigt till …" / "Upptaget till … · title"; a whole-hall
  booking joins back-to-back bookings.
- The slot in progress is sold from now rounded down to 5 minutes to its end,
  and the replica stores it (create_walkin accepts the late join).
- PROTOCOL.md §7 through sync.replica.walkin_rule: an untrusted clock sells
  nothing and says why; stale data with a trusted clock and our own lease
  still sells.
- `message` commands: taken by the kiosk with command.done through the
  replica; public on every screen and spoken once; caretaker's only in the
  caretaker view; an empty text clears; an expired one is not shown and its
  command.done says so; a restarted kiosk shows today's again.
- Speech: an unknown card spoken once; the idle countdown live and spoken;
  the speech button; the leader's counts spoken and "Tack!" repeats them;
  a phone number masked and its digits spoken only to a headset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from door_controller.testing import FakeClock
from kiosk import texts
from kiosk.i18n import translator
from kiosk.model import KioskModel, Screen
from kiosk.services import Services
from kiosk.testing import RecordingSpeaker
from kiosk.today import build_today, round_down
from kiosk.walkin import W, WalkinFlow
from sync.protocol.timeutil import to_ts
from sync.replica import (
    EXPIRED_UNSHOWN,
    Replica,
    pending_commands,
    pending_events,
    queue_command,
    shown_messages,
)

from .conftest import T0

H = timedelta(hours=1)
M = timedelta(minutes=1)
SV = translator("sv")


def spoken(svc: Services) -> list[str]:
    speaker = svc.speaker
    assert isinstance(speaker, RecordingSpeaker)
    return speaker.texts()


def test_status_in_words_and_the_whole_hall(svc: Services, site: Any) -> None:
    ops = [
        site.upsert("booking", site.booking("b1", ["hall"], T0 - H, T0 + H, holder="ik-fram")),
        site.upsert("booking", site.booking("b2", ["A"], T0 + H, T0 + 2 * H, title="Futsal")),
        site.upsert("booking", site.booking("b3", ["gym"], T0 + 3 * H, T0 + 4 * H, title="Yoga")),
    ]
    site.apply(svc.rep, site.changes(2, 3, *ops))
    view = build_today(svc.rep, svc.node_id, T0)
    a = view.row("A")
    # Busy until 14:00 local: the hall booking and Futsal back to back.
    assert texts.status_text(SV, a.status) == "✗ Upptaget till 14:00"
    assert texts.status_detail(SV, a) == "IK Fram (hela hallen)"
    gym = view.row("gym")
    assert texts.status_text(SV, gym.status) == "✓ Ledigt till 15:00"
    assert texts.status_detail(SV, gym) == "Nästa: 15:00 Yoga"
    assert texts.status_text(SV, a.status, speak=True) == "Upptaget till fjorton"


def test_the_slot_in_progress_is_sold_from_now(svc: Services, kclock: FakeClock, card: Any) -> None:
    kclock.advance(7 * 60 + 20)  # 12:07:20 local; section A has 30-minute slots
    view = build_today(svc.rep, svc.node_id, kclock.now())
    slot = view.row("A").book_now
    assert slot is not None and slot.start == T0 + 5 * M and slot.end == T0 + 30 * M
    assert round_down(kclock.now()) == T0 + 5 * M
    flow = WalkinFlow(svc, "A")
    flow.pick(slot.start)
    assert flow.lengths() == (1, 2)  # the rest of this slot, and the next one
    flow.set_length(2)
    flow.next()
    flow.tap(card("anna"))
    kclock.advance(5 * 60)  # the visitor took five minutes: sold from 12:10 on
    flow.confirm()
    assert flow.state is W.DONE and flow.done is not None, flow.error
    [event] = [e for e in pending_events(svc.rep) if e.type == "walkin.created"]
    booking = event.body["booking"]
    assert (booking["start"], booking["end"]) == ("2026-05-04T10:10:00Z", "2026-05-04T11:00:00Z")


def test_an_untrusted_clock_sells_nothing_and_says_why(
    svc: Services, kclock: FakeClock, card: Any
) -> None:
    flow = WalkinFlow(svc, "A")
    flow.pick(T0 + H)
    flow.next()
    flow.tap(card("anna"))
    kclock.is_trusted = False  # the clock lost its time source meanwhile
    flow.confirm()
    assert flow.state is W.REFUSED and flow.error == "access_clock_untrusted"
    assert [e for e in pending_events(svc.rep) if e.type == "walkin.created"] == []
    assert "klocka" in (texts.error_text(SV, flow.error) or "")
    view = build_today(svc.rep, svc.node_id, T0, clock_trusted=False)
    a = view.row("A")
    assert a.free == () and a.refusal == "clock_untrusted" and a.book_now is None
    assert not any(w.sellable for w in a.windows)  # shown, but not for sale
    assert "klocka" in texts.free_speech(SV, a)
    model = KioskModel(svc)
    assert model.today.row("A").free == ()


def test_stale_data_with_a_trusted_clock_still_sells_in_our_lease(
    svc: Services, kclock: FakeClock, card: Any
) -> None:
    with svc.rep.write():  # central last heard 80 h ago: far past max_offline_hours
        svc.rep.conn.execute("UPDATE sync_state SET head_seen_ts = ?", [to_ts(T0 - 80 * H)])
    view = build_today(svc.rep, svc.node_id, T0)
    assert view.health.level == "stale" and view.row("A").free
    flow = WalkinFlow(svc, "A")
    flow.pick(T0 + 2 * H)
    flow.next()
    flow.tap(card("anna"))
    flow.confirm()
    assert flow.state is W.DONE


def queue_message(rep: Replica, seq: int, text: str, audience: str | None, now: Any) -> None:
    args = {"text": text} | ({"audience": audience} if audience else {})
    queue_command(rep, seq, "message", args, now + timedelta(minutes=5), now)


def done_bodies(rep: Replica) -> list[dict[str, Any]]:
    return [e.body for e in pending_events(rep) if e.type == "command.done"]


def test_messages_from_central(svc: Services, kclock: FakeClock, card: Any, tap: Any) -> None:
    model = KioskModel(svc)
    queue_message(svc.rep, 1, "Hallen stänger 20:00 i kväll", None, kclock.now())
    queue_message(svc.rep, 2, "Ring Kim om läckan", "caretaker", kclock.now())
    kclock.advance(1)
    assert model.tick()
    assert model.messages.public == "Hallen stänger 20:00 i kväll"
    assert model.messages.caretaker == "Ring Kim om läckan"
    assert pending_commands(svc.rep) == []
    assert done_bodies(svc.rep) == [
        {"seq": 1, "cmd": "message", "result": "done", "detail": "shown on kiosk foyer (public)"},
        {"seq": 2, "cmd": "message", "result": "done",
         "detail": "shown on kiosk foyer (caretaker)"},
    ]  # fmt: skip
    said = spoken(svc)
    assert said.count("Meddelande: Hallen stänger 20:00 i kväll") == 1  # once
    assert not any("Kim" in t for t in said)  # never on the public speaker
    assert "Kim" not in model.screen_speech()
    tap(card("staff"))
    model.tick()
    assert model.screen is Screen.CARETAKER and model.caretaker is not None
    assert model.caretaker.view().message == "Ring Kim om läckan"
    assert "Ring Kim om läckan" in model.screen_speech()
    # A restarted kiosk shows today's messages again; an empty text clears.
    again = KioskModel(svc)
    assert again.messages.public == "Hallen stänger 20:00 i kväll"
    queue_message(svc.rep, 3, "", "public", kclock.now())
    again.tick()
    assert again.messages.public is None
    assert shown_messages(svc.rep, T0 - 12 * H).keys() == {"caretaker"}


def test_a_message_that_expired_unshown_is_not_shown(svc: Services, kclock: FakeClock) -> None:
    queue_message(svc.rep, 5, "För sent", None, kclock.now())
    kclock.advance(6 * 60)  # the kiosk was down past the message's exp
    model = KioskModel(svc)
    model.tick()
    assert model.messages.public is None
    assert done_bodies(svc.rep) == [
        {"seq": 5, "cmd": "message", "result": "expired", "detail": EXPIRED_UNSHOWN}
    ]


def test_an_unknown_card_is_spoken_once(svc: Services, tap: Callable[[str], int]) -> None:
    model = KioskModel(svc)
    tap("A" * 43)
    model.tick()
    said = [t for t in spoken(svc) if "kort" in t]
    assert len(said) == 1 and said[0].startswith("Kortet är inte känt")


def test_the_idle_countdown_is_live_and_spoken(svc: Services, kclock: FakeClock) -> None:
    model = KioskModel(svc)
    model.start_walkin("A")
    kclock.advance(40.5)  # 19.5 s left of 60
    assert model.tick() and model.warning and model.countdown() == 20
    first = spoken(svc)[-1]
    assert "20 sekunder" in first
    shown = []
    for _ in range(19):
        kclock.advance(1)
        assert model.tick()  # redrawn every second
        shown.append(model.countdown())
    assert shown == list(range(19, 0, -1))
    assert spoken(svc)[-5:] == ["10 sekunder", "5 sekunder", "3 sekunder", "2 sekunder", "1 sekund"]
    model.extend()  # unlimited: more time, again and again
    for _ in range(3):
        kclock.advance(45)
        model.tick()
        assert model.warning
        model.extend()
    assert model.screen is Screen.WALKIN and model.limit.extensions == 4


def test_speech_button_turns_it_off_and_on(svc: Services) -> None:
    model = KioskModel(svc)
    assert model.prefs.speech  # on from the start (the kiosk profile)
    model.toggle_speech()
    before = len(spoken(svc))
    model.start_walkin("A")
    assert len(spoken(svc)) == before  # nothing said while off
    model.toggle_speech()
    assert spoken(svc)[-2:] == ["Tal på.", model.screen_speech()]


def test_leader_number_pad_speaks_counts_and_thanks(
    svc: Services, kclock: FakeClock, card: Any, tap: Any, site: Any
) -> None:
    op = site.upsert("booking", site.booking("b9", ["gym"], T0, T0 + H, holder="ik-fram"))
    site.apply(svc.rep, site.changes(2, 3, op))
    model = KioskModel(svc)
    tap(card("anna"))
    model.tick()
    assert model.leader is not None
    model.act(model.leader.start_count)
    for d in "14":
        model.count_digit(d)
    assert spoken(svc)[-1] == "14 deltagare och 1 ledare."
    model.count_field("l")
    model.count_digit("2")
    assert spoken(svc)[-1] == "14 deltagare och 2 ledare."
    model.act(model.leader.submit)
    assert spoken(svc)[-1] == "Tack! Sparat: 14 deltagare och 2 ledare."
    [report] = [e.body for e in pending_events(svc.rep) if e.type == "attendance.reported"]
    assert (report["participants"], report["leaders"]) == (14, 2)


def test_phone_masked_and_digits_private(svc: Services) -> None:
    assert texts.mask_phone("0701234567") == "••••••••67"
    speaker = svc.speaker
    assert isinstance(speaker, RecordingSpeaker)
    speaker.has_headset = True
    model = KioskModel(svc)
    model.start_walkin("A", T0)
    assert model.walkin is not None
    model.act(model.walkin.next)
    for d in "0701":
        model.key(d)
    assert [t for _, t in speaker.private][-1] == "1. 4 siffror"
    assert not any("0701" in t or t.startswith("1.") for t in speaker.texts())
