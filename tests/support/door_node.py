"""The door daemon without its reader buses, for tests (``DoorNode``): core,
facts and recorder on a real node database, fed one event at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from door_controller.core import CoreEvent, DoorCore, Effect, Step, Tick
from door_controller.daemon import DoorDaemon, Hardware, open_storage
from door_controller.testing import FakeClock, FakeRelayBoard
from sync.protocol.records import Policy
from sync.replica.door_health import FaultKind


class RecordingDaemon(DoorDaemon):
    """The daemon, keeping every effect it drove (``applied``), oldest first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.applied: list[Effect] = []

    def apply(self, effects: Sequence[Effect]) -> None:
        self.applied.extend(effects)
        super().apply(effects)


class DoorNode:
    """The door daemon without its reader buses, for tests: core, facts and
    recorder on a real node database, fed one event at a time with the
    recorder drained after each (its thread is not started), the locks on a
    ``FakeRelayBoard`` (door i on channel i + 1, fail-secure)."""

    def __init__(
        self,
        database: str | Path,
        core: DoorCore,
        clock: FakeClock,
        *,
        overlay: Callable[[Policy], Policy] | None = None,
        write_wait_s: float = 0.5,
    ) -> None:
        self.clock, self.core = clock, core
        self.board = FakeRelayBoard(channels=8)
        locks = {door: ("relays", i + 1, "secure") for i, door in enumerate(core.doors)}
        self.storage = open_storage(database, clock, overlay=overlay, write_wait_s=write_wait_s)
        self.daemon = RecordingDaemon(
            core, self.storage, Hardware([], {}, {"relays": self.board}, locks), clock
        )
        self.facts, self.recorder = self.storage.facts, self.storage.recorder

    def start(self) -> None:
        self.daemon.start()
        self.recorder.drain()

    def feed(self, event: CoreEvent) -> Step:
        step = self.daemon.feed(event)
        self.recorder.drain()
        return step

    def tick(self) -> Step:
        """A turn of the loop without readers: timers, then what is due of
        commands, refresh and sweep."""
        step = self.daemon.feed(Tick())
        self.daemon.periodic()
        self.recorder.drain()
        return step

    def commands(self) -> list[Effect]:
        """Carry out the queued door commands now; the effects they drove."""
        before = len(self.daemon.applied)
        self.daemon.run_commands()
        self.recorder.drain()
        return self.daemon.applied[before:]

    def faults_active(self, kind: FaultKind) -> bool:
        return self.facts.faults.active(kind)

    def locked(self, door: str) -> bool | None:
        """Whether the relay holds ``door`` locked (fail-secure: energised = released)."""
        channel = self.daemon.hw.locks[door][1]
        on = self.board.state.get(channel)
        return None if on is None else not on

    def close(self) -> None:
        self.storage.close()
