"""End to end over real links: libosdp's own peripheral device on a pty with
the secure channel, the door daemon's loop (core, facts, recorder), the relay
board driver writing real frames to a pty, and the events in a real node
database.

- card read -> PIN -> grant -> relay frame -> door contact opens -> closes ->
  relock frame, with reader.online, access.granted, booking.checked_in,
  door.opened and door.closed in the outbox;
- every input kind (contact, request-to-exit, fire release, tamper) wired
  normally-open and normally-closed, through the reader's real input reports;
- a fire input already active when the reader comes up releases the door at
  once (the reader reports its inputs when its secure channel comes up).
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from door_controller.core import DoorCore, ReaderSite
from door_controller.daemon import DoorDaemon, Hardware, Storage, open_storage
from door_controller.inputs import InputKind, InputWiring, Normally
from door_controller.outputs.relay import energise_for
from door_controller.outputs.relay_board import RelayBoard
from door_controller.readers.events import LedColor, LedSignal
from door_controller.readers.osdp import OsdpBus, OsdpReader
from door_controller.readers.osdp_sim import SimReader, SimReaderSpec, SimulatedBus, pty_pair
from door_controller.testing import FakeClock, FakeRelayBoard, site_ops
from sync.replica import ChangeBatch, Replica, apply_changes, pending_events

KEY = bytes(range(32))
SCBK = bytes.fromhex("00112233445566778899aabbccddeeff")
T0 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
KINDS = (InputKind.CONTACT, InputKind.EXIT_REQUEST, InputKind.FIRE_RELEASE, InputKind.TAMPER)
LOCKED = energise_for(locked=True, fail_mode="secure")


@dataclass
class Rig:
    daemon: DoorDaemon
    sim: SimulatedBus
    board: FakeRelayBoard
    relay_fd: int
    rep: Replica
    storage: Storage

    @property
    def reader(self) -> SimReader:
        return self.sim.reader()

    def pump(self, until: Callable[[], bool], timeout: float = 10.0) -> None:
        """Run the daemon's loop (and read the relay pty) until ``until()``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.daemon.step(self.daemon.hw.buses)
            self.storage.recorder.drain()
            ready, _, _ = select.select([self.relay_fd], [], [], 0)
            if ready:
                self.board.receive(os.read(self.relay_fd, 256))
            if until():
                return
        raise AssertionError("timed out")

    def types(self) -> list[str]:
        return [e.type for e in pending_events(self.rep, limit=100)]

    def bodies(self, type_: str) -> list[dict[str, object]]:
        return [e.body for e in pending_events(self.rep, limit=100) if e.type == type_]

    def locked(self) -> bool:
        return self.board.state.get(1) is LOCKED

    def online(self) -> None:
        """Until the reader is online, its inputs reported and the lock asserted."""
        self.pump(
            lambda: (
                "reader.online" in self.types()
                and self.board.state.get(1) is not None
                and self.daemon.core.levels.level("r1", 3) is not None
            )
        )


def rest_levels(normally: Normally) -> tuple[bool, ...]:
    """The raw levels of four inputs wired ``normally``, at rest."""
    return (normally is Normally.CLOSED,) * 4


def active(normally: Normally) -> bool:
    """The raw level of an active input wired ``normally``."""
    return normally is Normally.OPEN


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """A rig whose four door inputs (0 contact, 1 exit, 2 fire, 3 tamper) are
    wired ``normally`` and start at the raw ``levels`` (default: at rest)."""
    stack: list[Callable[[], None]] = []

    def make(normally: Normally = Normally.CLOSED, levels: tuple[bool, ...] | None = None) -> Rig:
        db = tmp_path / "node.db"
        rep = Replica.open(db)
        stack.append(rep.close)
        ops = site_ops(KEY, T0)
        apply_changes(rep, ChangeBatch.from_wire({"base": 0, "rev": 5, "ops": ops}), T0)
        rep.record_head(5, 1, T0)
        clock = FakeClock(T0 + timedelta(minutes=5))
        core = DoorCore(
            node="test.hall.n1",
            facility_id="f1",
            credential_key=KEY,
            readers={"r1": ReaderSite("d1")},
            inputs=[InputWiring("d1", k, "r1", i, normally) for i, k in enumerate(KINDS)],
        )
        osdp_line, relay_line = pty_pair(), pty_pair()
        stack.extend([osdp_line.close, relay_line.close])
        spec = SimReaderSpec(0, SCBK, 4, levels if levels is not None else rest_levels(normally))
        sim = SimulatedBus(osdp_line.device_fd, [spec])
        bus = OsdpBus(osdp_line.controller_path, [OsdpReader("r1", 0, SCBK)], baudrate=115200)
        relays = RelayBoard(relay_line.controller_path, channels=2)
        storage = open_storage(db, clock)
        stack.append(storage.close)
        hw = Hardware([bus], {"r1": bus}, {"relays": relays}, {"d1": ("relays", 1, "secure")})
        daemon = DoorDaemon(core, storage, hw, clock)
        daemon.start()
        sim.start()
        bus.start()
        stack.extend([relays.close, sim.stop, bus.stop])
        return Rig(daemon, sim, FakeRelayBoard(channels=2), relay_line.device_fd, rep, storage)

    yield make
    for undo in reversed(stack):
        undo()


def test_card_pin_relay_contact_relock(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(Normally.CLOSED)
    reader = rig.reader
    rig.online()
    assert rig.locked()  # asserted on start, and nothing at rest changed it

    reader.tap_card(bytes.fromhex("0ABCDE40"), 26)
    rig.pump(lambda: bool(reader.received()))  # the PIN prompt (amber) reached the reader
    assert isinstance(reader.received()[0], LedSignal)
    assert reader.received()[0].color is LedColor.AMBER
    reader.press_keys("4321#")
    rig.pump(lambda: not rig.locked())
    assert "access.granted" in rig.types()

    reader.set_inputs([False, True, True, True])  # the leader opens the door (NC contact opens)
    rig.pump(lambda: "door.opened" in rig.types())
    reader.set_inputs([True, True, True, True])  # and it closes behind them
    rig.pump(lambda: rig.locked() and "door.closed" in rig.types())

    assert rig.types() == [
        "door.state",  # at start
        "reader.online",
        "door.state",  # the reader's first input report: the state of the world
        "access.granted",
        "booking.checked_in",
        "door.opened",
        "door.closed",
    ]
    assert rig.board.garbage == []
    green = [f for f in reader.received() if isinstance(f, LedSignal) and f.color is LedColor.GREEN]
    assert green, "the reader showed green after the grant"


def test_unknown_card_is_denied_in_red_and_the_door_stays_locked(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.online()
    rig.reader.tap_card(bytes.fromhex("DEADBEEF"), 32)
    rig.pump(lambda: "access.denied" in rig.types())
    rig.pump(
        lambda: any(
            isinstance(f, LedSignal) and f.color is LedColor.RED for f in rig.reader.received()
        )
    )
    assert rig.locked()


BOTH = pytest.mark.parametrize("normally", list(Normally), ids=lambda n: f"normally-{n}")


def set_input(rig: Rig, normally: Normally, index: int, is_active: bool) -> None:
    levels = list(rest_levels(normally))
    levels[index] = active(normally) if is_active else not active(normally)
    rig.reader.set_inputs(levels)


@BOTH
def test_fire_release_through_osdp(make_rig: Callable[..., Rig], normally: Normally) -> None:
    rig = make_rig(normally)
    rig.online()
    assert rig.locked() and rig.bodies("door.fire_release") == []  # at rest: nothing
    set_input(rig, normally, 2, True)
    rig.pump(lambda: not rig.locked() and bool(rig.bodies("door.fire_release")))
    set_input(rig, normally, 2, False)
    rig.pump(lambda: rig.locked() and len(rig.bodies("door.fire_release")) == 2)
    assert rig.bodies("door.fire_release") == [
        {"door": "d1", "input": "reader:r1:2", "active": True, "state": "fire_release"},
        {"door": "d1", "input": "reader:r1:2", "active": False, "state": "locked"},
    ]


@BOTH
def test_exit_request_through_osdp(make_rig: Callable[..., Rig], normally: Normally) -> None:
    rig = make_rig(normally)
    rig.online()
    set_input(rig, normally, 1, True)  # pressed
    rig.pump(lambda: not rig.locked() and bool(rig.bodies("door.exit_request")))
    set_input(rig, normally, 1, False)  # let go
    assert rig.bodies("door.exit_request") == [
        {"door": "d1", "input": "reader:r1:1", "state": "unlocked"}
    ]


@BOTH
def test_contact_through_osdp(make_rig: Callable[..., Rig], normally: Normally) -> None:
    rig = make_rig(normally)
    rig.online()
    set_input(rig, normally, 0, True)  # opened while locked
    rig.pump(lambda: "door.forced" in rig.types())
    set_input(rig, normally, 0, False)
    rig.pump(lambda: "door.closed" in rig.types())
    assert rig.locked()


@BOTH
def test_tamper_input_through_osdp(make_rig: Callable[..., Rig], normally: Normally) -> None:
    rig = make_rig(normally)
    rig.online()
    set_input(rig, normally, 3, True)
    rig.pump(lambda: bool(rig.bodies("door.tamper")))
    assert rig.bodies("door.tamper") == [
        {"door": "d1", "reader": "r1", "input": "reader:r1:3", "active": True}
    ]


@BOTH
def test_a_fire_active_at_start_releases_as_the_reader_comes_up(
    make_rig: Callable[..., Rig], normally: Normally
) -> None:
    levels = list(rest_levels(normally))
    levels[2] = active(normally)  # the fire panel calls for release before we start
    rig = make_rig(normally, tuple(levels))
    rig.pump(lambda: rig.board.state.get(1) is not None and not rig.locked())
    assert rig.types() == ["door.state", "reader.online", "door.fire_release"]
    assert rig.bodies("door.state") == [{"door": "d1", "state": "locked"}]  # at start
    assert rig.daemon.core.doors["d1"].state.value == "fire_release"
