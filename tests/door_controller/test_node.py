"""The door daemon's parts on a real node database with a fake clock: the core
fed through ``ReplicaFacts`` (reads) and ``Recorder`` (writes), as ``hallvakt
door`` runs them, without reader buses (``DoorNode``): cards, PINs, visitor
codes, lockouts, timers, door inputs, commands, restarts, and the events they
record."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from door_controller.core import DoorCore, LockCommand, ReaderFeedback, ReaderSite
from door_controller.door_state import DoorState
from door_controller.inputs import InputKind, InputWiring, Normally
from door_controller.readers.events import (
    CardPresented,
    InputChanged,
    KeyPressed,
    LedColor,
    ReaderOffline,
    ReaderOnline,
)
from door_controller.testing import FakeClock, site_ops
from sync.replica import (
    ChangeBatch,
    Replica,
    apply_changes,
    card_digest,
    door_states,
    kiosk_taps_after,
    pending_commands,
    pending_events,
    queue_command,
    queue_local_command,
    reader_states,
)
from sync.replica.door_records import Lockdown, lockdown_state
from tests.support.door_node import DoorNode

KEY = bytes(range(32))
CARD = (bytes.fromhex("0ABCDE40"), 26)
STAFF_CARD = (bytes.fromhex("11223344"), 32)
T0 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # Friday 18:00 in Stockholm


def make_core() -> DoorCore:
    return DoorCore(
        node="test.hall.n1",
        facility_id="f1",
        credential_key=KEY,
        readers={"r1": ReaderSite("d1"), "r2": ReaderSite("d1", "out")},
        inputs=[
            InputWiring("d1", InputKind.CONTACT, "r1", 0, Normally.CLOSED),
            InputWiring("d1", InputKind.EXIT_REQUEST, "r1", 1, Normally.OPEN),
        ],
        kiosk_readers={"k1": "foyer"},
    )


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[DoorNode, FakeClock, Replica]]:
    rep = Replica.open(tmp_path / "node.db")
    apply_changes(rep, ChangeBatch.from_wire({"base": 0, "rev": 5, "ops": site_ops(KEY, T0)}), T0)
    rep.record_head(5, 1, T0)
    clock = FakeClock(T0 + timedelta(minutes=5))
    node = DoorNode(tmp_path / "node.db", make_core(), clock)
    node.start()
    assert node.locked("d1") is True  # asserted on start
    node.feed(ReaderOnline("r1"))
    for index, closed in ((0, True), (1, False)):  # the reader reports its inputs at rest
        node.feed(InputChanged("r1", index, closed))
    try:
        yield node, clock, rep
    finally:
        node.close()
        rep.close()


def _types(rep: Replica) -> list[str]:
    """The outbox's event types but the reader's and the door's reports of their state."""
    quiet = ("reader.online", "door.state")
    return [e.type for e in pending_events(rep, limit=1000) if e.type not in quiet]


def _states(rep: Replica) -> list[dict[str, object]]:
    return [e.body for e in pending_events(rep, limit=1000) if e.type == "door.state"]


def test_the_door_state_reaches_the_outbox_at_start_and_when_the_world_is_known(rig: Rig) -> None:
    """Started, then the reader's first input report: each puts the door's
    state in the node database's outbox (central's fleet page shows it)."""
    node, _, rep = rig
    assert _states(rep) == [{"door": "d1", "state": "locked"}] * 2
    node.feed(ReaderOffline("r1", "link lost"))
    node.feed(ReaderOnline("r1"))
    assert len(_states(rep)) == 2  # the world is not known yet
    node.feed(InputChanged("r1", 0, False))  # the door was opened while the reader was away
    assert len(_states(rep)) == 2  # the exit button is not reported yet
    node.feed(InputChanged("r1", 1, False))
    assert _states(rep)[2:] == []  # the report is whole; door.forced said it already
    assert [e.body for e in pending_events(rep, limit=1000) if e.type == "door.forced"] == [
        {"door": "d1", "state": "forced"}
    ]


Rig = tuple[DoorNode, FakeClock, Replica]


def _keys(engine: DoorNode, reader: str, keys: str) -> list[object]:
    out: list[object] = []
    for k in keys:
        out += engine.feed(KeyPressed(reader, k)).effects
    return out


def _access(rep: Replica) -> list[dict[str, object]]:
    return [e.body for e in pending_events(rep, limit=1000) if e.type.startswith("access.")]


OPEN, SHUT = LockCommand("d1", False), LockCommand("d1", True)


def test_card_then_pin_opens_and_relocks_after_close(rig: Rig) -> None:
    node, _, rep = rig
    prompt = node.feed(CardPresented("r1", *CARD)).effects
    assert prompt and all(
        isinstance(e, ReaderFeedback) and e.feedback.color is LedColor.AMBER  # type: ignore[union-attr]
        for e in prompt
    )
    assert _types(rep) == []  # nothing decided yet
    assert OPEN in _keys(node, "r1", "4321#")
    assert node.core.doors["d1"].state is DoorState.UNLOCKED and node.locked("d1") is False
    node.feed(InputChanged("r1", 0, False))  # contact opens
    assert node.core.doors["d1"].state is DoorState.OPEN
    assert SHUT in node.feed(InputChanged("r1", 0, True)).effects
    assert node.locked("d1") is True
    assert _types(rep) == ["access.granted", "booking.checked_in", "door.opened", "door.closed"]
    granted = _access(rep)[0]
    assert granted["booking"] == "b1" and granted["reason"] == "booking" and granted["rev"] == 5


def test_unopened_grant_relocks_on_timer(rig: Rig) -> None:
    node, clock, _ = rig
    node.feed(CardPresented("r2", *CARD))  # exit reader: no PIN
    assert node.core.doors["d1"].state is DoorState.UNLOCKED
    clock.advance(4.9)
    assert SHUT not in node.tick().effects
    clock.advance(0.2)
    assert node.tick().effects == [SHUT]


def test_wrong_pins_are_events_and_lock_the_card_out(rig: Rig) -> None:
    node, clock, rep = rig
    for _ in range(3):
        node.feed(CardPresented("r1", *CARD))
        assert OPEN not in _keys(node, "r1", "1111#")
    # locked out: the card is refused at once, no PIN is asked for, and the
    # digits typed after it count as a (wrong) visitor code, not as its PIN
    assert OPEN not in node.feed(CardPresented("r1", *CARD)).effects
    assert OPEN not in _keys(node, "r1", "4321#")
    reasons = [b["reason"] for b in _access(rep)]
    assert reasons == ["pin_wrong", "pin_wrong", "pin_wrong", "pin_locked", "unknown_credential"]
    clock.advance(61)
    node.feed(CardPresented("r1", *CARD))
    assert OPEN in _keys(node, "r1", "4321#")


def test_pin_timeout_is_recorded_and_forgets_the_card(rig: Rig) -> None:
    node, clock, rep = rig
    node.feed(CardPresented("r1", *CARD))
    _keys(node, "r1", "43")
    clock.advance(11)
    node.tick()
    assert [b["reason"] for b in _access(rep)] == ["pin_timeout"]
    # the late digits start a visitor-code entry, not the card's PIN
    assert OPEN not in _keys(node, "r1", "21#")


def test_visitor_code_only_in_its_booking(rig: Rig) -> None:
    node, clock, rep = rig
    assert OPEN in _keys(node, "r1", "246810#")
    clock.advance(2 * 3600)  # past b1's end + 15 min
    node.tick()
    assert OPEN not in _keys(node, "r1", "246810#")
    assert [(b["reason"], b["booking"]) for b in _access(rep)] == [
        ("visitor_code", "b1"),
        ("outside_window", None),
    ]


def test_typed_card_number_never_opens(rig: Rig) -> None:
    node, _, rep = rig
    typed = str(int.from_bytes(CARD[0], "big"))  # the number printed on the card
    assert OPEN not in _keys(node, "r1", typed + "#")
    assert [b["credential"] for b in _access(rep)] == ["unknown"]


def test_code_guessing_locks_the_keypad(rig: Rig) -> None:
    node, _, rep = rig
    for guess in range(100000, 100006):  # 2 x pin_max_attempts (3) at one keypad
        _keys(node, "r1", f"{guess}#")
    assert OPEN not in _keys(node, "r1", "246810#")
    assert [b["reason"] for b in _access(rep)][-1] == "pin_locked"


def test_staff_only_when_clock_untrusted(rig: Rig) -> None:
    node, clock, _ = rig
    clock.is_trusted = False
    assert OPEN not in node.feed(CardPresented("r2", *CARD)).effects
    assert OPEN in node.feed(CardPresented("r2", *STAFF_CARD)).effects


def test_forced_door_and_rex(rig: Rig) -> None:
    node, _, rep = rig
    node.feed(InputChanged("r1", 0, False))  # opened while locked
    assert node.core.doors["d1"].state is DoorState.FORCED
    node.feed(InputChanged("r1", 0, True))
    assert OPEN in node.feed(InputChanged("r1", 1, True)).effects  # REX pressed
    node.feed(InputChanged("r1", 0, False))
    assert node.core.doors["d1"].state is DoorState.OPEN
    assert _types(rep) == ["door.forced", "door.closed", "door.exit_request", "door.opened"]
    rex = [e.body for e in pending_events(rep) if e.type == "door.exit_request"]
    assert rex == [{"door": "d1", "input": "reader:r1:1", "state": "unlocked"}]


def test_reader_offline_is_an_event(rig: Rig) -> None:
    node, _, rep = rig
    node.feed(ReaderOffline("r1", "no response"))
    assert [(e.type, e.body) for e in pending_events(rep)][-1] == (
        "reader.offline",
        {"reader": "r1", "reason": "no response"},
    )


def test_no_show_swept_on_the_recorder(rig: Rig) -> None:
    node, clock, rep = rig
    node.tick()  # the first turn only schedules the sweep a minute on
    clock.advance(4 * 3600)
    node.tick()
    assert sorted(
        e.body["booking"] for e in pending_events(rep) if e.type == "booking.no_show"
    ) == ["b1", "b2"]


def test_release_swept_on_the_recorder_before_no_shows(rig: Rig) -> None:
    """A resource that releases its unused bookings (docs/reports.md "No-show
    release"): the recorder's sweep lets b2 go 15 minutes into it, and the
    no-show sweep later reports only b1, which ended unused without releasing."""
    node, clock, rep = rig
    hall = {"id": "hall", "name": "Hall", "kind": "hall", "release_after_minutes": 15}
    op = {"op": "upsert", "entity": "resource", "id": "hall", "data": hall}
    apply_changes(rep, ChangeBatch.from_wire({"base": 5, "rev": 6, "ops": [op]}), clock.now())
    node.tick()  # the first turn only schedules the sweep a minute on
    clock.advance(2 * 3600 + 20 * 60)  # b1 is over, b2 began 20 minutes ago
    node.tick()
    released = [e.body["booking"] for e in pending_events(rep) if e.type == "booking.released"]
    assert released == ["b2"]
    clock.advance(2 * 3600)
    node.tick()
    events = pending_events(rep, limit=100)
    assert [e.body["booking"] for e in events if e.type == "booking.no_show"] == ["b1"]
    assert [e.body["booking"] for e in events if e.type == "booking.released"] == ["b2"]


def test_central_commands_unlock_lockdown_release(rig: Rig) -> None:
    node, clock, rep = rig
    exp = clock.now() + timedelta(minutes=5)
    queue_command(rep, 1, "unlock", {"door": "d1", "seconds": 20}, exp, clock.now())
    queue_command(rep, 2, "lockdown", {}, exp, clock.now())
    effects = [e for e in node.commands() if isinstance(e, LockCommand)]
    assert effects == [OPEN, SHUT] and node.core.doors["d1"].state is DoorState.LOCKDOWN
    # in lockdown even the staff card does not open
    assert OPEN not in node.feed(CardPresented("r2", *STAFF_CARD)).effects
    queue_command(rep, 3, "release", {}, exp, clock.now())
    queue_command(rep, 4, "unlock", {"door": "nope", "seconds": 5}, exp, clock.now())
    node.commands()
    assert node.core.doors["d1"].state is DoorState.LOCKED
    done = [e.body for e in pending_events(rep, limit=100) if e.type == "command.done"]
    assert [(d["seq"], d["result"]) for d in done] == [
        (1, "done"),
        (2, "done"),
        (3, "done"),
        (4, "failed"),
    ]
    assert pending_commands(rep) == []


def test_expired_command_is_not_carried_out(rig: Rig) -> None:
    node, clock, rep = rig
    queue_command(
        rep,
        7,
        "unlock",
        {"door": "d1", "seconds": 5},
        clock.now() + timedelta(seconds=30),
        clock.now(),
    )
    clock.advance(31)
    assert OPEN not in node.commands()
    assert [e.body["result"] for e in pending_events(rep) if e.type == "command.done"] == [
        "expired"
    ]


def test_kiosk_reader_taps_are_handed_to_the_kiosk_as_digests(rig: Rig) -> None:
    node, _, rep = rig
    effects = node.feed(CardPresented("k1", *CARD)).effects
    assert effects and all(isinstance(e, ReaderFeedback) for e in effects)
    taps = kiosk_taps_after(rep, "foyer", 0)
    assert [(t.reader, t.digest) for t in taps] == [("k1", card_digest(KEY, "0ABCDE40/26"))]
    assert kiosk_taps_after(rep, "foyer", taps[0].id) == []
    assert _types(rep) == []  # a kiosk tap opens nothing and is no access event


def test_door_and_reader_states_are_kept_for_the_caretaker(rig: Rig) -> None:
    node, clock, rep = rig
    assert [(d.door, d.state) for d in door_states(rep)] == [("d1", "locked")]
    clock.advance(5)
    node.feed(InputChanged("r1", 0, False))  # forced open
    node.feed(ReaderOffline("r2", "no response"))
    [door] = door_states(rep)
    assert (door.state, door.since) == ("forced", clock.now())
    assert [(r.reader, r.online, r.detail) for r in reader_states(rep)] == [
        ("r1", True, ""),
        ("r2", False, "no response"),
    ]


def test_star_restarts_the_pin_and_too_many_digits_is_a_wrong_pin(rig: Rig) -> None:
    node, _, rep = rig
    node.feed(CardPresented("r1", *CARD))
    assert _keys(node, "r1", "99*") == []  # cleared: the card still waits for its PIN
    assert OPEN in _keys(node, "r1", "4321#")
    node.feed(CardPresented("r1", *CARD))
    _keys(node, "r1", "1" * 13)
    assert [b["reason"] for b in _access(rep)] == ["booking", "pin_wrong"]


# --- restarts ---------------------------------------------------------------------------


def restart(node: DoorNode, tmp_path: Path) -> DoorNode:
    """Stop ``node`` and start a new one on the same database (a process restart)."""
    node.close()
    fresh = DoorNode(tmp_path / "node.db", make_core(), node.clock)
    fresh.start()
    return fresh


def test_a_lockdown_holds_across_a_restart(rig: Rig, tmp_path: Path) -> None:
    node, clock, rep = rig
    queue_local_command(
        rep, "lockdown", {}, "staff1-card", clock.now() + timedelta(minutes=5), clock.now()
    )
    node.commands()
    assert lockdown_state(rep) == Lockdown(True, "kiosk staff1-card", clock.now())
    node = restart(node, tmp_path)
    try:
        assert node.core.doors["d1"].state is DoorState.LOCKDOWN and node.locked("d1") is True
        assert OPEN not in node.feed(CardPresented("r2", *STAFF_CARD)).effects
        assert _access(rep)[-1]["reason"] == "lockdown"
    finally:
        node.close()
