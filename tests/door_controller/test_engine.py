"""The door engine on a real node database with a fake clock: cards, PINs,
visitor codes, lockouts, timers, door inputs and the events they record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from door_controller.door_state import DoorState
from door_controller.engine import DoorEngine, DoorInputs, LockCommand, ReaderFeedback, ReaderSite
from door_controller.readers.events import (
    CardPresented,
    InputChanged,
    KeyPressed,
    LedColor,
    ReaderOffline,
)
from door_controller.testing import FakeClock, site_ops
from sync.replica import (
    ChangeBatch,
    Replica,
    apply_changes,
    pending_events,
)

KEY = bytes(range(32))
CARD = (bytes.fromhex("0ABCDE40"), 26)
STAFF_CARD = (bytes.fromhex("11223344"), 32)
T0 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # Friday 18:00 in Stockholm


@pytest.fixture
def rig(tmp_path: Path) -> tuple[DoorEngine, FakeClock, Replica]:
    rep = Replica.open(tmp_path / "node.db")
    apply_changes(rep, ChangeBatch.from_wire({"base": 0, "rev": 5, "ops": site_ops(KEY, T0)}), T0)
    rep.record_head(5, 1, T0)
    clock = FakeClock(T0 + timedelta(minutes=5))
    engine = DoorEngine(
        rep,
        clock,
        credential_key=KEY,
        facility_id="f1",
        readers={"r1": ReaderSite("d1"), "r2": ReaderSite("d1", "out")},
        inputs={"d1": DoorInputs(contact=("r1", 0, True), rex=("r1", 1, False))},
    )
    assert engine.start() == [LockCommand("d1", True)]
    return engine, clock, rep


def _types(rep: Replica) -> list[str]:
    return [e.type for e in pending_events(rep, limit=1000)]


def _keys(engine: DoorEngine, reader: str, keys: str) -> list[object]:
    out: list[object] = []
    for k in keys:
        out += engine.handle(KeyPressed(reader, k))
    return out


def test_card_then_pin_opens_and_relocks_after_close(
    rig: tuple[DoorEngine, FakeClock, Replica],
) -> None:
    engine, _, rep = rig
    prompt = engine.handle(CardPresented("r1", *CARD))
    assert all(isinstance(e, ReaderFeedback) and e.feedback.color is LedColor.AMBER for e in prompt)  # type: ignore[union-attr]
    assert _types(rep) == []  # nothing decided yet
    effects = _keys(engine, "r1", "4321#")
    assert LockCommand("d1", False) in effects
    assert engine.doors["d1"].state is DoorState.UNLOCKED
    engine.handle(InputChanged("r1", 0, False))  # contact opens
    assert engine.doors["d1"].state is DoorState.OPEN
    closed = engine.handle(InputChanged("r1", 0, True))
    assert LockCommand("d1", True) in closed
    assert _types(rep) == ["access.granted", "booking.checked_in", "door.opened", "door.closed"]
    granted = pending_events(rep)[0].body
    assert granted["booking"] == "b1" and granted["reason"] == "booking" and granted["rev"] == 5


def test_unopened_grant_relocks_on_timer(rig: tuple[DoorEngine, FakeClock, Replica]) -> None:
    engine, clock, _ = rig
    engine.handle(CardPresented("r2", *CARD))  # exit reader: no PIN
    assert engine.doors["d1"].state is DoorState.UNLOCKED
    clock.advance(4.9)
    assert engine.tick() == []
    clock.advance(0.2)
    assert engine.tick() == [LockCommand("d1", True)]


def test_wrong_pins_are_events_and_lock_the_card_out(
    rig: tuple[DoorEngine, FakeClock, Replica],
) -> None:
    engine, clock, rep = rig
    for _ in range(3):
        engine.handle(CardPresented("r1", *CARD))
        effects = _keys(engine, "r1", "1111#")
        assert LockCommand("d1", False) not in effects
    # locked out: the card is refused at once, no PIN is asked for, and the
    # digits typed after it count as a (wrong) visitor code, not as its PIN
    refused = engine.handle(CardPresented("r1", *CARD))
    assert LockCommand("d1", False) not in refused
    assert LockCommand("d1", False) not in _keys(engine, "r1", "4321#")
    reasons = [e.body["reason"] for e in pending_events(rep)]
    assert reasons == ["pin_wrong", "pin_wrong", "pin_wrong", "pin_locked", "unknown_credential"]
    clock.advance(61)
    engine.handle(CardPresented("r1", *CARD))
    assert LockCommand("d1", False) in _keys(engine, "r1", "4321#")


def test_pin_timeout_is_recorded_and_forgets_the_card(
    rig: tuple[DoorEngine, FakeClock, Replica],
) -> None:
    engine, clock, rep = rig
    engine.handle(CardPresented("r1", *CARD))
    _keys(engine, "r1", "43")
    clock.advance(11)
    engine.tick()
    assert [e.body["reason"] for e in pending_events(rep)] == ["pin_timeout"]
    # the late digits start a visitor-code entry, not the card's PIN
    assert LockCommand("d1", False) not in _keys(engine, "r1", "21#")


def test_visitor_code_only_in_its_booking(rig: tuple[DoorEngine, FakeClock, Replica]) -> None:
    engine, clock, rep = rig
    assert LockCommand("d1", False) in _keys(engine, "r1", "246810#")
    clock.advance(2 * 3600)  # past b1's end + 15 min
    engine.tick()
    assert LockCommand("d1", False) not in _keys(engine, "r1", "246810#")
    bodies = [e.body for e in pending_events(rep, limit=100) if e.type.startswith("access.")]
    assert [(b["reason"], b["booking"]) for b in bodies] == [
        ("visitor_code", "b1"),
        ("outside_window", None),
    ]


def test_typed_card_number_never_opens(rig: tuple[DoorEngine, FakeClock, Replica]) -> None:
    engine, _, rep = rig
    typed = str(int.from_bytes(CARD[0], "big"))  # the number printed on the card
    assert LockCommand("d1", False) not in _keys(engine, "r1", typed + "#")
    assert [e.body["credential"] for e in pending_events(rep)] == ["unknown"]


def test_code_guessing_locks_the_keypad(rig: tuple[DoorEngine, FakeClock, Replica]) -> None:
    engine, _, rep = rig
    for guess in range(100000, 100003):
        _keys(engine, "r1", f"{guess}#")
    assert LockCommand("d1", False) not in _keys(engine, "r1", "246810#")
    assert [e.body["reason"] for e in pending_events(rep)][-1] == "pin_locked"


def test_staff_only_when_clock_untrusted(rig: tuple[DoorEngine, FakeClock, Replica]) -> None:
    engine, clock, _ = rig
    clock.is_trusted = False
    assert LockCommand("d1", False) not in engine.handle(CardPresented("r2", *CARD))
    assert LockCommand("d1", False) in engine.handle(CardPresented("r2", *STAFF_CARD))


def test_forced_door_and_rex(rig: tuple[DoorEngine, FakeClock, Replica]) -> None:
    engine, _, rep = rig
    engine.handle(InputChanged("r1", 0, False))  # opened while locked
    assert engine.doors["d1"].state is DoorState.FORCED
    engine.handle(InputChanged("r1", 0, True))
    assert LockCommand("d1", False) in engine.handle(InputChanged("r1", 1, True))  # REX
    engine.handle(InputChanged("r1", 0, False))
    assert engine.doors["d1"].state is DoorState.OPEN
    assert _types(rep) == ["door.forced", "door.closed", "door.opened"]


def test_reader_offline_is_an_event(rig: tuple[DoorEngine, FakeClock, Replica]) -> None:
    engine, _, rep = rig
    engine.handle(ReaderOffline("r1", "no response"))
    assert [(e.type, e.body) for e in pending_events(rep)] == [
        ("reader.offline", {"reader": "r1", "reason": "no response"})
    ]


def test_no_show_swept_on_tick(rig: tuple[DoorEngine, FakeClock, Replica]) -> None:
    engine, clock, rep = rig
    clock.advance(4 * 3600)
    engine.tick()
    assert sorted(
        e.body["booking"] for e in pending_events(rep) if e.type == "booking.no_show"
    ) == ["b1", "b2"]


def test_central_commands_unlock_lockdown_release(
    rig: tuple[DoorEngine, FakeClock, Replica],
) -> None:
    from sync.replica import queue_command

    engine, clock, rep = rig
    exp = clock.now() + timedelta(minutes=5)
    queue_command(rep, 1, "unlock", {"door": "d1", "seconds": 20}, exp, clock.now())
    queue_command(rep, 2, "lockdown", {}, exp, clock.now())
    effects = engine.run_commands()
    assert effects[0] == LockCommand("d1", False) and effects[-1] == LockCommand("d1", True)
    assert engine.doors["d1"].state is DoorState.LOCKDOWN
    # in lockdown even the staff card does not open
    assert LockCommand("d1", False) not in engine.handle(CardPresented("r2", *STAFF_CARD))
    queue_command(rep, 3, "release", {}, exp, clock.now())
    queue_command(rep, 4, "unlock", {"door": "nope", "seconds": 5}, exp, clock.now())
    engine.run_commands()
    assert engine.doors["d1"].state is DoorState.LOCKED
    done = [e.body for e in pending_events(rep, limit=100) if e.type == "command.done"]
    assert [(d["seq"], d["result"]) for d in done] == [
        (1, "done"),
        (2, "done"),
        (3, "done"),
        (4, "failed"),
    ]


def test_expired_command_is_not_carried_out(rig: tuple[DoorEngine, FakeClock, Replica]) -> None:
    from sync.replica import queue_command

    engine, clock, rep = rig
    queue_command(
        rep,
        7,
        "unlock",
        {"door": "d1", "seconds": 5},
        clock.now() + timedelta(seconds=30),
        clock.now(),
    )
    clock.advance(31)
    assert engine.run_commands() == []
    assert [e.body["result"] for e in pending_events(rep) if e.type == "command.done"] == [
        "expired"
    ]


def test_kiosk_reader_taps_are_handed_to_the_kiosk_as_digests(tmp_path: Path) -> None:
    from sync.replica import card_digest, kiosk_taps_after

    rep = Replica.open(tmp_path / "node.db")
    clock = FakeClock(T0)
    engine = DoorEngine(
        rep, clock, credential_key=KEY, facility_id="f1", readers={}, kiosk_readers={"k1": "foyer"}
    )
    effects = engine.handle(CardPresented("k1", *CARD))
    assert effects and all(isinstance(e, ReaderFeedback) for e in effects)
    taps = kiosk_taps_after(rep, "foyer", 0)
    assert [(t.reader, t.digest) for t in taps] == [("k1", card_digest(KEY, "0ABCDE40/26"))]
    assert kiosk_taps_after(rep, "foyer", taps[0].id) == []
    assert pending_events(rep) == []  # a kiosk tap opens nothing and is no access event


def test_door_and_reader_states_are_kept_for_the_caretaker(
    rig: tuple[DoorEngine, FakeClock, Replica],
) -> None:
    from door_controller.readers.events import ReaderOnline
    from sync.replica import door_states, reader_states

    engine, clock, rep = rig
    assert [(d.door, d.state) for d in door_states(rep)] == [("d1", "locked")]
    clock.advance(5)
    engine.handle(InputChanged("r1", 0, False))  # forced open
    engine.handle(ReaderOnline("r1"))
    engine.handle(ReaderOffline("r2", "no response"))
    [door] = door_states(rep)
    assert (door.state, door.since) == ("forced", clock.now())
    assert [(r.reader, r.online, r.detail) for r in reader_states(rep)] == [
        ("r1", True, ""),
        ("r2", False, "no response"),
    ]


def test_star_restarts_the_pin_and_too_many_digits_is_a_wrong_pin(
    rig: tuple[DoorEngine, FakeClock, Replica],
) -> None:
    engine, _, rep = rig
    engine.handle(CardPresented("r1", *CARD))
    assert _keys(engine, "r1", "99*") == []  # cleared: the card still waits for its PIN
    assert LockCommand("d1", False) in _keys(engine, "r1", "4321#")
    engine.handle(CardPresented("r1", *CARD))
    _keys(engine, "r1", "1" * 13)
    reasons = [e.body["reason"] for e in pending_events(rep) if e.type.startswith("access.")]
    assert reasons == ["booking", "pin_wrong"]
