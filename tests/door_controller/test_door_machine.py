"""A Hypothesis state machine over the door daemon's parts on a real node database.

Random sequences of taps, PINs, visitor codes, key mash, input levels of both
wirings (normally open and closed), the reader going off and on line, fire
on and off, lockdown and release, time passing, restarts of the process, and
database faults (another process holding the write lock, a corrupt row, the
loop's connection failing), fed through ``DoorNode`` (the daemon's ``feed``:
core, ``ReplicaFacts``, ``Recorder``, relays on a ``FakeRelayBoard``).

Invariants, checked after every step; none of them restates a rule of the
decision or the door table:
- fire active ⇒ every door wired to that fire input is released (the relay);
- lockdown ⇒ no grant opens a door: no release and no granted access record,
  unless a fire released it;
- no relay without a record: every lock command comes with a record of its door;
- no exception for any sequence.
At the end, with the faults gone, every access decision the core made is in
the outbox exactly once and in order (across restarts and journal merges).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from door_controller.core import CommandDue, CoreEvent, DoorCore, LockCommand, ReaderSite, Step
from door_controller.inputs import InputKind, InputWiring, Normally
from door_controller.readers.events import (
    CardPresented,
    InputChanged,
    KeyPressed,
    ReaderOffline,
    ReaderOnline,
)
from door_controller.testing import FakeClock, site_ops
from sync.replica import ChangeBatch, Replica, apply_changes, pending_events
from sync.replica.commands import QueuedCommand
from sync.replica.door_records import AccessRecorded
from tests.support.door_node import DoorNode

KEY = bytes(range(32))
T0 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # Friday 18:00 in Stockholm
CARDS = {
    "leader": (bytes.fromhex("0ABCDE40"), 26),
    "staff": (bytes.fromhex("11223344"), 32),
    "stranger": (bytes.fromhex("DEADBEEF"), 32),
}
CONTACT, REX, FIRE, TAMPER = 0, 1, 2, 3
DOORS = ("d1", "d2")  # d2 shares d1's fire input and has a reader of its own


def make_core(normally: Normally) -> DoorCore:
    wiring = [
        InputWiring("d1", InputKind.CONTACT, "r1", CONTACT, normally),
        InputWiring("d1", InputKind.EXIT_REQUEST, "r1", REX, normally),
        InputWiring("d1", InputKind.FIRE_RELEASE, "r1", FIRE, normally),
        InputWiring("d2", InputKind.FIRE_RELEASE, "r1", FIRE, normally),
        InputWiring("d1", InputKind.TAMPER, "r1", TAMPER, normally),
    ]
    return DoorCore(
        node="test.hall.n1",
        facility_id="f1",
        credential_key=KEY,
        readers={"r1": ReaderSite("d1"), "r2": ReaderSite("d1", "out"), "r3": ReaderSite("d2")},
        inputs=wiring,
    )


class DoorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="door-machine-"))
        self.db = self.root / "node.db"
        with Replica.open(self.db) as rep:
            ops = site_ops(KEY, T0)
            ops.append(
                {"op": "upsert", "entity": "door", "id": "d2", "data": {"id": "d2", "name": "B"}}
            )
            apply_changes(rep, ChangeBatch.from_wire({"base": 0, "rev": 5, "ops": ops}), T0)
            rep.record_head(5, 1, T0)
        self.clock = FakeClock(T0 + timedelta(minutes=5))
        self.normally = Normally.CLOSED
        self.node: DoorNode | None = None
        self.other: sqlite3.Connection | None = None  # "another process" holding the lock
        self.broken = False
        self.corrupt = False
        # the model: what the world did, never how the door should decide
        self.online = False
        self.fire_level: bool | None = None  # raw level of the fire input, as reported
        self.fire_latched = False  # a fire was seen active and not seen cleared since
        self.lockdown = False
        self.decisions: list[tuple[str, str, bool, str]] = []
        self.command_id = 0

    # --- driving -------------------------------------------------------------------------

    @initialize(normally=st.sampled_from(list(Normally)))
    def start(self, normally: Normally) -> None:
        self.normally = normally
        self._boot()

    def _boot(self) -> None:
        # the recorder gives up on a held lock at once (production waits 0.5 s)
        self.node = DoorNode(self.db, make_core(self.normally), self.clock, write_wait_s=0)
        self.node.start()
        self.online = False

    def feed(self, event: CoreEvent) -> Step:
        assert self.node is not None
        step = self.node.feed(event)
        self._check(step)
        return step

    def _check(self, step: Step) -> None:
        doors_recorded = {getattr(r, "door", None) for r in step.records} | {
            r.access.door for r in step.records if isinstance(r, AccessRecorded)
        }
        for eff in step.effects:
            if isinstance(eff, LockCommand):
                assert eff.door in doors_recorded, f"relay without a record: {eff}"
        for r in step.records:
            if isinstance(r, AccessRecorded):
                a = r.access
                self.decisions.append((a.door, a.reader, a.granted, a.reason))
        if self.lockdown and not self.fire_latched:
            assert LockCommand("d1", False) not in step.effects, "released in lockdown"
            assert LockCommand("d2", False) not in step.effects, "released in lockdown"
            granted = [
                r for r in step.records if isinstance(r, AccessRecorded) and r.access.granted
            ]
            assert not granted, f"granted in lockdown: {granted}"

    def _fire_active(self) -> bool | None:
        if not self.online or self.fire_level is None:
            return None
        return self.fire_level != (self.normally is Normally.CLOSED)

    # --- readers and inputs --------------------------------------------------------------

    @rule()
    def reader_online(self) -> None:
        self.feed(ReaderOnline("r1"))
        self.online, self.fire_level = True, None

    @rule()
    def reader_offline(self) -> None:
        self.feed(ReaderOffline("r1", "link lost"))
        self.online, self.fire_level = False, None

    @precondition(lambda self: self.online)
    @rule(index=st.sampled_from([CONTACT, REX, FIRE, TAMPER]), closed=st.booleans())
    def input_level(self, index: int, closed: bool) -> None:
        if index == FIRE:  # the world changes first; then the door hears of it
            self.fire_level = closed
            self.fire_latched = bool(self._fire_active())
        self.feed(InputChanged("r1", index, closed))

    # --- people ---------------------------------------------------------------------------

    @rule(card=st.sampled_from(sorted(CARDS)), reader=st.sampled_from(["r1", "r2", "r3"]))
    def tap(self, card: str, reader: str) -> None:
        self.feed(CardPresented(reader, *CARDS[card]))

    @rule(
        keys=st.sampled_from(["4321#", "1111#", "246810#", "999999#", "*", "12", "#"])
        | st.text("0123456789*#", max_size=14),
        reader=st.sampled_from(["r1", "r3"]),
    )
    def keys(self, keys: str, reader: str) -> None:
        for k in keys:
            self.feed(KeyPressed(reader, k))

    # --- commands and time ------------------------------------------------------------------

    @rule(cmd=st.sampled_from(["lockdown", "release", "unlock"]))
    def command(self, cmd: str) -> None:
        self.command_id += 1
        args: dict[str, object] = {"door": "d1", "seconds": 5} if cmd == "unlock" else {}
        exp = self.clock.now() + timedelta(minutes=5)
        queued = QueuedCommand(self.command_id, None, "kiosk", "staff1-card", cmd, args, exp, exp)
        self.feed(CommandDue(queued))
        if cmd != "unlock":
            self.lockdown = cmd == "lockdown"

    @rule(seconds=st.sampled_from([0.5, 3, 6, 11, 45, 3600]))
    def time_passes(self, seconds: float) -> None:
        assert self.node is not None
        self.clock.advance(seconds)
        step = self.node.tick()
        self._check(step)

    @rule()
    def restart(self) -> None:
        assert self.node is not None
        self.node.close()
        self._boot()
        if self.broken:
            self._break()

    # --- database faults --------------------------------------------------------------------

    @precondition(lambda self: self.other is None)
    @rule()
    def hold_the_write_lock(self) -> None:
        self.other = sqlite3.connect(self.db, isolation_level=None)
        self.other.execute("BEGIN IMMEDIATE")

    @precondition(lambda self: self.other is not None)
    @rule()
    def let_go_of_the_write_lock(self) -> None:
        assert self.other is not None
        self.other.execute("ROLLBACK")
        self.other.close()
        self.other = None

    @precondition(lambda self: self.other is None and not self.corrupt)
    @rule()
    def corrupt_the_leaders_card(self) -> None:
        with sqlite3.connect(self.db, isolation_level=None) as conn:
            conn.execute("UPDATE credentials SET data = '{\"id\": 7' WHERE id = 'c1'")
        self.corrupt = True

    @precondition(lambda self: not self.broken)
    @rule()
    def break_the_loops_connection(self) -> None:
        self.broken = True
        self._break()

    def _break(self) -> None:
        assert self.node is not None
        dead = Replica.open(self.db)
        dead.conn.close()
        self.node.daemon.facts.rep = dead

    @precondition(lambda self: self.broken)
    @rule()
    def mend_the_loops_connection(self) -> None:
        assert self.node is not None
        self.broken = False
        self.node.daemon.facts.rep = Replica.open(self.db)

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def fire_releases_every_fire_door(self) -> None:
        if self.node is not None and self._fire_active():
            for door in DOORS:
                assert self.node.locked(door) is False, f"{door} locked during a fire"

    def teardown(self) -> None:
        try:
            if self.node is None:
                return
            if self.other is not None:
                self.let_go_of_the_write_lock()
            if self.broken:
                self.mend_the_loops_connection()
            self.clock.advance(5)
            self.node.tick()  # the journal merges
            assert self.node.recorder.unwritten() == []
            with Replica.open(self.db) as rep:
                outbox = [
                    (e.body["door"], e.body["reader"], e.type == "access.granted", e.body["reason"])
                    for e in pending_events(rep, limit=100_000)
                    if e.type.startswith("access.")
                ]
            assert outbox == self.decisions, "an access decision lost or written twice"
        finally:
            if self.node is not None:
                self.node.close()
            shutil.rmtree(self.root, ignore_errors=True)


DoorMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
TestDoorMachine = DoorMachine.TestCase
