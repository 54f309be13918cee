"""End to end over real links: libosdp's own peripheral device on a pty with
the secure channel, the door daemon's loop, the relay board driver writing real
frames to a pty, and the events in a real node database.

card read -> PIN -> grant -> relay frame -> door contact opens -> closes ->
relock frame, with reader.online, access.granted, booking.checked_in,
door.opened and door.closed in the outbox.
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

from door_controller.daemon import DoorDaemon, Hardware
from door_controller.engine import DoorEngine, DoorInputs, ReaderSite
from door_controller.outputs.relay import energise_for
from door_controller.outputs.relay_board import RelayBoard
from door_controller.readers.events import LedColor, LedSignal
from door_controller.readers.osdp import OsdpBus, OsdpReader
from door_controller.readers.osdp_sim import SimReaderSpec, SimulatedBus, pty_pair
from door_controller.testing import FakeClock, FakeRelayBoard, site_ops
from sync.replica import ChangeBatch, Replica, apply_changes, pending_events

KEY = bytes(range(32))
SCBK = bytes.fromhex("00112233445566778899aabbccddeeff")
T0 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


@dataclass
class Rig:
    daemon: DoorDaemon
    sim: SimulatedBus
    board: FakeRelayBoard
    relay_fd: int
    rep: Replica

    def pump(self, until: Callable[[], bool], timeout: float = 10.0) -> None:
        """Run the daemon's loop (and read the relay pty) until ``until()``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.daemon.step(self.daemon.hw.buses)
            ready, _, _ = select.select([self.relay_fd], [], [], 0)
            if ready:
                self.board.receive(os.read(self.relay_fd, 256))
            if until():
                return
        raise AssertionError("timed out")

    def types(self) -> list[str]:
        return [e.type for e in pending_events(self.rep, limit=100)]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rep = Replica.open(tmp_path / "node.db")
    apply_changes(rep, ChangeBatch.from_wire({"base": 0, "rev": 5, "ops": site_ops(KEY, T0)}), T0)
    rep.record_head(5, 1, T0)
    clock = FakeClock(T0 + timedelta(minutes=5))
    engine = DoorEngine(
        rep,
        clock,
        credential_key=KEY,
        facility_id="f1",
        readers={"r1": ReaderSite("d1")},
        inputs={"d1": DoorInputs(contact=("r1", 0, True))},
    )
    with pty_pair() as osdp_line, pty_pair() as relay_line:
        sim = SimulatedBus(osdp_line.device_fd, [SimReaderSpec(0, SCBK, inputs=2)])
        bus = OsdpBus(osdp_line.controller_path, [OsdpReader("r1", 0, SCBK)], baudrate=115200)
        relays = RelayBoard(relay_line.controller_path, channels=2)
        hw = Hardware([bus], {"r1": bus}, {"relays": relays}, {"d1": ("relays", 1, "secure")})
        daemon = DoorDaemon(engine, hw)
        sim.start()
        bus.start()
        try:
            daemon.apply(engine.start())
            yield Rig(daemon, sim, FakeRelayBoard(channels=2), relay_line.device_fd, rep)
        finally:
            bus.stop()
            sim.stop()
            relays.close()
            rep.close()


def test_card_pin_relay_contact_relock(rig: Rig) -> None:
    reader = rig.sim.reader()
    rig.pump(lambda: "reader.online" in rig.types() and rig.board.state.get(1) is not None)
    locked = energise_for(locked=True, fail_mode="secure")
    assert rig.board.state[1] is locked  # asserted on start
    reader.set_inputs([True, False])  # door closed at rest (normally-closed contact)

    reader.tap_card(bytes.fromhex("0ABCDE40"), 26)
    rig.pump(lambda: bool(reader.received()))  # the PIN prompt (amber) reached the reader
    assert isinstance(reader.received()[0], LedSignal)
    assert reader.received()[0].color is LedColor.AMBER
    reader.press_keys("4321#")
    rig.pump(lambda: rig.board.state.get(1) is not locked)
    assert "access.granted" in rig.types()

    reader.set_inputs([False, False])  # the leader opens the door
    rig.pump(lambda: "door.opened" in rig.types())
    reader.set_inputs([True, False])  # and it closes behind them
    rig.pump(lambda: rig.board.state.get(1) is locked and "door.closed" in rig.types())

    assert rig.types() == [
        "reader.online",
        "access.granted",
        "booking.checked_in",
        "door.opened",
        "door.closed",
    ]
    assert rig.board.garbage == []
    green = [f for f in reader.received() if isinstance(f, LedSignal) and f.color is LedColor.GREEN]
    assert green, "the reader showed green after the grant"


def test_unknown_card_is_denied_in_red_and_the_door_stays_locked(rig: Rig) -> None:
    reader = rig.sim.reader()
    rig.pump(lambda: "reader.online" in rig.types() and rig.board.state.get(1) is not None)
    reader.tap_card(bytes.fromhex("DEADBEEF"), 32)
    rig.pump(lambda: "access.denied" in rig.types())
    rig.pump(
        lambda: any(isinstance(f, LedSignal) and f.color is LedColor.RED for f in reader.received())
    )
    assert rig.board.state[1] is energise_for(locked=True, fail_mode="secure")
