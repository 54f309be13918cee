"""The door core without a database: ``handle(event, now, facts) -> (effects, records)``.

Facts come from ``FakeFacts`` (records in memory), time from ``FakeClock``.
Every step is checked for the rule "no relay without a record".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from door_controller.core import (
    DEFAULT_UNLOCK_S,
    CommandDue,
    CoreEvent,
    DoorCore,
    LockCommand,
    ReaderFeedback,
    ReaderSite,
    Started,
    Step,
    Tick,
)
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
from door_controller.testing import FakeClock, FakeFacts, site_ops
from sync.protocol.records import (
    Booking,
    Credential,
    Grant,
    Lease,
    Record,
    Revocation,
    parse_record,
)
from sync.replica.commands import QueuedCommand
from sync.replica.digests import code_digest
from sync.replica.door_fallback import StaffMemory
from sync.replica.door_records import (
    AccessRecorded,
    CommandFinished,
    DoorRecord,
    DoorStateRecorded,
    EventRecorded,
    KioskTapRecorded,
    Lockdown,
    LockdownRecorded,
)

KEY = bytes(range(32))
NODE = "test.hall.n1"
CARD = (bytes.fromhex("0ABCDE40"), 26)  # leader p1 of ik, PIN 4321
STAFF_CARD = (bytes.fromhex("11223344"), 32)  # staff s1, grant Mon-Fri 06-22
T0 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # Friday 18:00 in Stockholm; b1 is [T0, T0+1h)
CONTACT, REX, FIRE, TAMPER = 0, 1, 2, 3


def site_records(extra: Iterable[Record] = ()) -> list[Record]:
    return [parse_record(str(op["entity"]), op["data"]) for op in site_ops(KEY, T0)] + list(extra)  # type: ignore[arg-type]


class Rig:
    def __init__(
        self,
        normally: Normally = Normally.CLOSED,
        *,
        records: Iterable[Record] | None = None,
        head_seen: datetime | None = T0,
    ) -> None:
        self.clock = FakeClock(T0 + timedelta(minutes=5))
        self.facts = FakeFacts(site_records() if records is None else records, head_seen=head_seen)
        self.facts._policy = parse_record("policy", {"id": "default", "pin_max_attempts": 3})  # type: ignore[assignment]
        wiring = [
            InputWiring("d1", kind, "r1", index, normally)
            for kind, index in (
                (InputKind.CONTACT, CONTACT),
                (InputKind.EXIT_REQUEST, REX),
                (InputKind.FIRE_RELEASE, FIRE),
                (InputKind.TAMPER, TAMPER),
            )
        ]
        self.core = DoorCore(
            node=NODE,
            facility_id="f1",
            credential_key=KEY,
            readers={"r1": ReaderSite("d1"), "r2": ReaderSite("d1", "out"), "r3": ReaderSite("d1")},
            inputs=wiring,
            kiosk_readers={"k1": "foyer"},
        )
        self.records: list[DoorRecord] = []

    def feed(self, ev: CoreEvent) -> Step:
        step = self.core.handle(ev, self.clock.read(), self.facts)
        # no relay without a record of its door in the same step
        for eff in step.effects:
            if isinstance(eff, LockCommand):
                assert any(getattr(r, "door", None) == eff.door for r in step.records) or any(
                    isinstance(r, AccessRecorded) and r.access.door == eff.door
                    for r in step.records
                ), (eff, step.records)
        self.records += step.records
        return step

    def keys(self, reader: str, keys: str) -> list[object]:
        out: list[object] = []
        for k in keys:
            out += self.feed(KeyPressed(reader, k)).effects
        return out

    def level(self, index: int, closed: bool) -> Step:
        return self.feed(InputChanged("r1", index, closed))

    def rest(self, normally: Normally) -> None:
        """The reader comes online and reports every input at rest."""
        self.feed(ReaderOnline("r1"))
        for index in (CONTACT, REX, FIRE, TAMPER):
            self.level(index, normally is Normally.CLOSED)

    def events(self, type_: str) -> list[dict[str, object]]:
        return [
            dict(r.body) for r in self.records if isinstance(r, EventRecorded) and r.type == type_
        ]

    def access(self) -> list[tuple[bool, str]]:
        return [
            (r.access.granted, r.access.reason)
            for r in self.records
            if isinstance(r, AccessRecorded)
        ]

    @property
    def state(self) -> DoorState:
        return self.core.doors["d1"].state


RELEASE, LOCK = LockCommand("d1", False), LockCommand("d1", True)
BOTH = pytest.mark.parametrize("normally", list(Normally), ids=lambda n: f"normally-{n}")


def active_level(normally: Normally) -> bool:
    """The raw level (circuit closed?) of an active input of this wiring."""
    return normally is Normally.OPEN


# --- every input through its wiring -----------------------------------------------


@BOTH
def test_fire_release_follows_the_wiring_and_is_recorded(normally: Normally) -> None:
    rig = Rig(normally)
    rig.feed(Started())
    rig.rest(normally)
    assert rig.state is DoorState.LOCKED and rig.events("door.fire_release") == []
    fire = rig.level(FIRE, active_level(normally))
    assert RELEASE in fire.effects and rig.state is DoorState.FIRE_RELEASE
    clear = rig.level(FIRE, not active_level(normally))
    assert LOCK in clear.effects and rig.state is DoorState.LOCKED
    assert rig.events("door.fire_release") == [
        {"door": "d1", "input": "reader:r1:2", "active": True, "state": "fire_release"},
        {"door": "d1", "input": "reader:r1:2", "active": False, "state": "locked"},
    ]


def test_a_cut_normally_closed_fire_loop_releases() -> None:
    rig = Rig(Normally.CLOSED)
    rig.feed(Started())
    rig.rest(Normally.CLOSED)
    assert RELEASE in rig.level(FIRE, False).effects  # open circuit: alarm or cut wire


@BOTH
def test_exit_request_follows_the_wiring_and_is_recorded(normally: Normally) -> None:
    rig = Rig(normally)
    rig.feed(Started())
    rig.rest(normally)
    pressed = rig.level(REX, active_level(normally))
    assert RELEASE in pressed.effects and rig.state is DoorState.UNLOCKED
    assert rig.level(REX, not active_level(normally)).effects == []  # let go: nothing
    assert rig.events("door.exit_request") == [
        {"door": "d1", "input": "reader:r1:1", "state": "unlocked"}
    ]
    rig.clock.advance(6)
    assert LOCK in rig.feed(Tick()).effects


@BOTH
def test_an_exit_button_held_at_start_is_no_press(normally: Normally) -> None:
    rig = Rig(normally)
    rig.feed(Started())
    rig.feed(ReaderOnline("r1"))
    assert rig.level(REX, active_level(normally)).effects == []
    assert rig.state is DoorState.LOCKED and rig.events("door.exit_request") == []


@BOTH
def test_contact_follows_the_wiring(normally: Normally) -> None:
    rig = Rig(normally)
    rig.feed(Started())
    rig.rest(normally)
    rig.level(CONTACT, active_level(normally))  # opened while locked
    assert rig.state is DoorState.FORCED
    rig.level(CONTACT, not active_level(normally))
    assert rig.state is DoorState.LOCKED
    assert [r.type for r in rig.records if isinstance(r, EventRecorded)][-2:] == [
        "door.forced",
        "door.closed",
    ]


@BOTH
def test_tamper_input_follows_the_wiring(normally: Normally) -> None:
    rig = Rig(normally)
    rig.feed(Started())
    rig.rest(normally)
    assert rig.events("door.tamper") == []  # at rest: nothing to say
    rig.level(TAMPER, active_level(normally))
    rig.level(TAMPER, not active_level(normally))
    assert rig.events("door.tamper") == [
        {"door": "d1", "reader": "r1", "input": "reader:r1:3", "active": True},
        {"door": "d1", "reader": "r1", "input": "reader:r1:3", "active": False},
    ]


# --- the world at start and after a reconnect ----------------------------------------------


@BOTH
def test_a_fire_already_active_when_the_reader_reports_releases_at_once(normally: Normally) -> None:
    rig = Rig(normally)
    rig.feed(Started())
    rig.feed(ReaderOnline("r1"))
    assert RELEASE in rig.level(FIRE, active_level(normally)).effects


def test_a_reconnected_reader_reports_the_world_again() -> None:
    rig = Rig(Normally.CLOSED)
    rig.feed(Started())
    rig.rest(Normally.CLOSED)
    rig.feed(ReaderOffline("r1", "link lost"))
    rig.feed(ReaderOnline("r1"))
    # the fire loop opened while the reader was away: its first report releases
    assert RELEASE in rig.level(FIRE, False).effects
    rig.feed(ReaderOffline("r1", "link lost"))
    rig.feed(ReaderOnline("r1"))
    assert LOCK in rig.level(FIRE, True).effects  # and it cleared meanwhile


@pytest.mark.parametrize(
    ("previous", "lockdown", "expected", "lock"),
    [
        (None, None, DoorState.LOCKED, LOCK),
        ("unlocked", None, DoorState.LOCKED, LOCK),
        ("forced", None, DoorState.FORCED, LOCK),
        ("held_open", None, DoorState.HELD_OPEN, LOCK),
        ("open", None, DoorState.OPEN, LOCK),
        ("fire_release", None, DoorState.FIRE_RELEASE, RELEASE),
        ("locked", Lockdown(True, "central command 3", T0), DoorState.LOCKDOWN, LOCK),
        ("lockdown", Lockdown(False, "kiosk staff1-card", T0), DoorState.LOCKED, LOCK),
        ("fire_release", Lockdown(True, "central command 3", T0), DoorState.FIRE_RELEASE, RELEASE),
        ("no such state", None, DoorState.LOCKED, LOCK),
    ],
)
def test_start_restores_what_the_door_last_recorded(
    previous: str | None, lockdown: Lockdown | None, expected: DoorState, lock: LockCommand
) -> None:
    rig = Rig()
    doors = {} if previous is None else {"d1": previous}
    step = rig.feed(Started(doors, lockdown))
    assert rig.state is expected and [e for e in step.effects if isinstance(e, LockCommand)] == [
        lock
    ]
    assert step.records == [
        DoorStateRecorded("d1", expected.value, rig.clock.now()),
        EventRecorded("door.state", {"door": "d1", "state": expected.value}, rig.clock.now()),
    ]  # central learns it at once (docs/door.md)


def test_fire_release_restored_holds_until_the_input_reads_inactive_then_lockdown_returns() -> None:
    rig = Rig(Normally.CLOSED)
    rig.feed(Started({"d1": "fire_release"}, Lockdown(True, "central command 3", T0)))
    rig.feed(ReaderOnline("r1"))
    rig.level(CONTACT, True)
    assert rig.state is DoorState.FIRE_RELEASE
    step = rig.level(FIRE, True)  # the loop reads closed: no fire any more
    assert rig.state is DoorState.LOCKDOWN and LOCK in step.effects


# --- lockdown --------------------------------------------------------------------------


def command(
    ident: int, cmd: str, args: dict[str, object] | None = None, **kw: object
) -> CommandDue:
    fields: dict[str, object] = {
        "seq": ident,
        "origin": "central",
        "by": "",
        "exp": T0 + timedelta(hours=1),
        "received": T0,
        **kw,
    }
    return CommandDue(QueuedCommand(ident, cmd=cmd, args=args or {}, **fields))  # type: ignore[arg-type]


def test_lockdown_refuses_every_grant_and_remembers_who_set_it() -> None:
    rig = Rig(Normally.CLOSED)
    rig.feed(Started())
    rig.rest(Normally.CLOSED)
    rig.feed(command(1, "lockdown"))
    assert rig.core.lockdown == Lockdown(True, "central command 1", rig.clock.now())
    assert RELEASE not in rig.feed(CardPresented("r2", *STAFF_CARD)).effects
    assert RELEASE not in rig.level(REX, False).effects  # a press: no release either
    unlock = rig.feed(command(2, "unlock", {"door": "d1", "seconds": 30}))
    assert RELEASE not in unlock.effects
    assert rig.access() == [(False, "lockdown")]
    finished = [r for r in rig.records if isinstance(r, CommandFinished)]
    assert [(f.command, f.result) for f in finished] == [(1, "done"), (2, "failed")]
    assert [r for r in rig.records if isinstance(r, LockdownRecorded)] == [
        LockdownRecorded(True, "central command 1", rig.clock.now())
    ]
    # fire wins over lockdown; when it clears the lockdown is back
    assert RELEASE in rig.level(FIRE, False).effects
    assert LOCK in rig.level(FIRE, True).effects and rig.state is DoorState.LOCKDOWN
    rig.feed(command(3, "release", origin="kiosk", by="staff1-card", seq=None))
    assert rig.core.lockdown == Lockdown(False, "kiosk staff1-card", rig.clock.now())
    assert RELEASE in rig.feed(CardPresented("r2", *STAFF_CARD)).effects


def test_a_command_is_carried_out_once_and_expires_on_a_trusted_clock() -> None:
    rig = Rig()
    rig.feed(Started())
    due = command(1, "unlock", {"door": "d1", "seconds": 20})
    assert RELEASE in rig.feed(due).effects
    assert rig.feed(due).effects == []  # read again before its end was written
    rig.clock.advance(19)
    assert rig.feed(Tick()).effects == []
    rig.clock.advance(2)
    assert LOCK in rig.feed(Tick()).effects
    late = command(2, "unlock", {"door": "d1"}, exp=rig.clock.now() - timedelta(seconds=1))
    assert rig.feed(late).effects == []
    bad = command(3, "unlock", {"door": "d1", "seconds": "5"})
    rig.feed(bad)
    assert [(r.command, r.result) for r in rig.records if isinstance(r, CommandFinished)] == [
        (1, "done"),
        (2, "expired"),
        (3, "failed"),
    ]


# --- door.state: what central is told of each door ------------------------------------


def test_a_reconnect_reports_the_door_once_every_input_on_the_reader_is_known() -> None:
    rig = Rig(Normally.CLOSED)
    rig.feed(Started())
    assert rig.events("door.state") == [{"door": "d1", "state": "locked"}]
    rig.feed(ReaderOnline("r1"))
    for index in (CONTACT, REX, FIRE):  # the report is not whole yet: nothing
        assert not rig.events("door.state")[1:], index
        rig.level(index, True)
    assert len(rig.events("door.state")) == 1
    rig.level(TAMPER, True)  # r1's last input of d1: the state of the world is known
    assert rig.events("door.state") == [{"door": "d1", "state": "locked"}] * 2
    rig.level(CONTACT, True)  # a report that changes nothing tells nothing
    rig.level(TAMPER, True)
    assert len(rig.events("door.state")) == 2
    rig.feed(ReaderOffline("r1", "link lost"))
    rig.feed(ReaderOnline("r1"))
    for index in (CONTACT, REX, FIRE, TAMPER):
        rig.level(index, True)
    assert rig.events("door.state") == [{"door": "d1", "state": "locked"}] * 3


def test_a_world_report_that_changes_the_door_says_it_once() -> None:
    rig = Rig(Normally.CLOSED)
    rig.feed(Started())
    rig.feed(ReaderOnline("r1"))
    rig.level(CONTACT, True)
    rig.level(REX, True)
    rig.level(TAMPER, True)
    rig.level(FIRE, False)  # the last input: a fire, already active
    fire = rig.events("door.fire_release")
    assert fire and fire[-1]["state"] == "fire_release"
    assert rig.events("door.state") == [{"door": "d1", "state": "locked"}]  # said by the fire event


def test_a_reader_without_inputs_reports_its_door_when_it_comes_online() -> None:
    rig = Rig()
    rig.feed(Started())
    rig.feed(ReaderOnline("r2"))  # r2 has no inputs wired: d1's state stands
    assert rig.events("door.state") == [{"door": "d1", "state": "locked"}] * 2
    rig.feed(ReaderOnline("k1"))  # a kiosk reader belongs to no door
    assert len(rig.events("door.state")) == 2


def test_lockdown_release_and_a_command_unlock_are_told_a_grant_is_not() -> None:
    rig = Rig(Normally.CLOSED)
    rig.feed(Started())
    rig.rest(Normally.CLOSED)
    told = len(rig.events("door.state"))
    assert RELEASE in rig.keys("r1", "246810#")  # a visitor code: unlocked for seconds
    rig.clock.advance(DEFAULT_UNLOCK_S + 1)
    assert LOCK in rig.feed(Tick()).effects
    assert len(rig.events("door.state")) == told  # access.granted said it; back where it was
    rig.feed(command(1, "lockdown"))
    rig.feed(command(2, "release"))
    rig.feed(command(3, "unlock", {"door": "d1", "seconds": 60}))
    rig.clock.advance(61)
    rig.feed(Tick())
    assert [b["state"] for b in rig.events("door.state")[told:]] == [
        "lockdown",
        "locked",
        "unlocked",
        "locked",
    ]
    rig.feed(Tick())
    assert len(rig.events("door.state")) == told + 4  # a step that changes nothing tells nothing


def test_door_state_bodies_pass_the_wire_rules() -> None:
    """Every body the core reports is one the node database records and central folds."""
    from sync.protocol.wire import DOOR_STATES, body_error

    assert set(DOOR_STATES) == {s.value for s in DoorState}
    rig = Rig(Normally.CLOSED)
    for previous in DOOR_STATES:
        rig.feed(Started({"d1": previous}))
    assert rig.events("door.state")
    assert all(body_error("door.state", b) is None for b in rig.events("door.state"))


# --- cards, PINs, codes --------------------------------------------------------------------


def test_card_then_pin_opens_and_every_grant_drives_the_relay() -> None:
    rig = Rig()
    rig.feed(Started())
    prompt = rig.feed(CardPresented("r1", *CARD))
    assert [e.feedback.color for e in prompt.effects if isinstance(e, ReaderFeedback)] == [  # type: ignore[union-attr]
        LedColor.AMBER
    ]
    assert RELEASE in rig.keys("r1", "4321#")
    assert RELEASE in rig.feed(CardPresented("r2", *CARD)).effects  # again while unlocked
    assert rig.access() == [(True, "booking"), (True, "booking")]


def test_wrong_codes_lock_one_keypad_not_the_other() -> None:
    rig = Rig()
    rig.feed(Started())
    for guess in range(100000, 100003):  # pin_max_attempts wrong codes: nothing locked
        rig.keys("r1", f"{guess}#")
    assert RELEASE in rig.keys("r1", "246810#")  # the run ends with a good code
    for guess in range(100000, 100006):  # twice pin_max_attempts: r1's keypad locks
        rig.keys("r1", f"{guess}#")
    assert RELEASE not in rig.keys("r1", "246810#")
    assert RELEASE in rig.keys("r3", "246810#")  # the visitor at the other reader gets in
    reasons = [reason for _, reason in rig.access()]
    assert reasons[-2:] == ["pin_locked", "visitor_code"]
    assert reasons.count("pin_locked") == 1


def test_a_kiosk_reader_hands_over_the_tap() -> None:
    rig = Rig()
    step = rig.feed(CardPresented("k1", *CARD))
    assert [type(r) for r in step.records] == [KioskTapRecorded]
    assert all(isinstance(e, ReaderFeedback) for e in step.effects) and step.effects


def test_codes_after_leader_sees_a_leader_not_yet_written() -> None:
    rig = Rig()
    rig.facts._policy = replace(rig.facts._policy, codes_after_leader=True)
    rig.feed(Started())
    assert RELEASE not in rig.keys("r1", "246810#")
    rig.feed(CardPresented("r2", *CARD))  # the leader, leaving side: no PIN
    assert RELEASE in rig.keys("r1", "246810#")
    assert [reason for _, reason in rig.access()] == ["leader_not_in", "booking", "visitor_code"]


# --- stale replica, untrusted clock, unreadable replica -------------------------------------------

WALKIN_CODE = "135791"


def walkin(node: str = NODE, lease_node: str = NODE, **changes: object) -> list[Record]:
    start = T0 + timedelta(minutes=30)
    lease = Lease("lease1", lease_node, "hall", T0, T0 + timedelta(hours=2))
    booking = Booking(
        "w1", ("hall",), start, start + timedelta(minutes=30),
        origin="walkin", lease="lease1", node=node,
    )  # fmt: skip
    code = Credential(
        "walkin-code.w1", None, "code", code_digest(KEY, "f1", WALKIN_CODE), booking="w1"
    )
    return [lease, replace(booking, **changes), code]  # type: ignore[arg-type]


STALE = T0 - timedelta(hours=100)  # head last seen 100 h ago: past max_offline_hours (72)


def test_stale_replica_admits_staff_and_our_own_walkin_only() -> None:
    rig = Rig(records=site_records(walkin()), head_seen=STALE)
    rig.feed(Started())
    rig.clock.wall = T0 + timedelta(minutes=20)  # in the walk-in's door window
    assert RELEASE in rig.feed(CardPresented("r2", *STAFF_CARD)).effects
    assert RELEASE not in rig.feed(CardPresented("r2", *CARD)).effects
    assert RELEASE not in rig.keys("r1", "246810#")  # central's booking's code
    assert RELEASE in rig.keys("r1", WALKIN_CODE + "#")
    assert rig.access() == [
        (True, "grant"),
        (False, "stale_replica"),
        (False, "stale_replica"),
        (True, "visitor_code"),
    ]


@pytest.mark.parametrize(
    ("records", "at", "trusted", "reason"),
    [
        (walkin(node="test.hall.n2"), 20, True, "stale_replica"),  # sold by another node
        (walkin(lease_node="test.hall.n2"), 20, True, "stale_replica"),  # lease not ours
        (walkin(), 20, False, "clock_untrusted"),
        (walkin(), 121, True, "stale_replica"),  # after the lease's end
        (walkin(), -10, True, "outside_window"),  # before its window (30 min before)
    ],
)
def test_the_walkin_exception_holds_only_for_our_own_lease(
    records: list[Record], at: int, trusted: bool, reason: str
) -> None:
    rig = Rig(records=site_records(records), head_seen=STALE)
    rig.feed(Started())
    rig.clock.wall, rig.clock.is_trusted = T0 + timedelta(minutes=at), trusted
    assert RELEASE not in rig.keys("r1", WALKIN_CODE + "#")
    assert rig.access() == [(False, reason)]


def test_a_walkin_has_no_leader_to_wait_for() -> None:
    rig = Rig(records=site_records(walkin()))
    rig.facts._policy = replace(rig.facts._policy, codes_after_leader=True)
    rig.feed(Started())
    rig.clock.wall = T0 + timedelta(minutes=20)
    assert RELEASE in rig.keys("r1", WALKIN_CODE + "#")


def test_unreadable_replica_falls_back_to_staff_and_says_why() -> None:
    rig = Rig()
    rig.feed(Started())
    staff = [r for r in site_records() if isinstance(r, Credential) and r.holder == "s1"]
    grant = [r for r in site_records() if isinstance(r, Grant)]
    door = rig.facts.door("d1")
    assert door is not None
    rig.facts.staff = StaffMemory(5, (door,), tuple(grant), tuple(staff), frozenset())
    rig.facts.unreadable = True
    assert RELEASE in rig.feed(CardPresented("r2", *STAFF_CARD)).effects
    assert RELEASE not in rig.feed(CardPresented("r2", *CARD)).effects
    assert RELEASE not in rig.keys("r1", "246810#")
    assert rig.access() == [
        (True, "grant"),
        (False, "replica_unreadable"),
        (False, "replica_unreadable"),
    ]
    assert all(r.access.fallback for r in rig.records if isinstance(r, AccessRecorded))
    # a card whose PIN cannot be checked is not let in, and it is no wrong PIN
    rig.facts.unreadable = False
    rig.feed(CardPresented("r1", *CARD))
    rig.facts.unreadable = True
    assert RELEASE not in rig.keys("r1", "4321#")
    assert rig.access()[-1] == (False, "replica_unreadable")
    assert rig.core.guard.locked_until("r1", "c1", rig.clock.mono) is None


def test_a_revoked_staff_card_stays_out_on_the_fallback() -> None:
    rig = Rig(records=site_records([Revocation("rv1", credential="c9")]))
    rig.feed(Started())
    staff = tuple(r for r in site_records() if isinstance(r, Credential) and r.holder == "s1")
    grant = tuple(r for r in site_records() if isinstance(r, Grant))
    door = rig.facts.door("d1")
    assert door is not None
    rig.facts.staff = StaffMemory(5, (door,), grant, staff, frozenset({"c9"}))
    rig.facts.unreadable = True
    assert RELEASE not in rig.feed(CardPresented("r2", *STAFF_CARD)).effects
    assert rig.access() == [(False, "revoked")]
