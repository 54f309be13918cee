"""``hallvakt door``: the door controller process.

The outer loop is short (house style 4): poll the reader buses, read the time
once, feed the core (``core.DoorCore``) with the facts of a read
(``facts.ReplicaFacts``), drive the relays and readers with its effects, and
only then hand its records to the recorder (``recorder.Recorder``), whose own
thread writes them. It depends on nothing but the node database and its
hardware: no network, no other process.

Rules this module guarantees:
- The daemon alone reads and writes the node database for the door; the core
  never touches it. Decisions never wait for the write lock: reads are WAL
  reads on the loop's own connection, writes happen on the recorder's.
- On start the journal is merged if the database takes it, every door's lock
  is asserted from the state it last recorded (journal included) with the
  persisted lockdown, before any reader is listened to.
- A database that cannot be opened, read or written never stops the loop:
  decisions fall back to the staff grants last read, records go to the
  journal, and the connections are opened again every ``REOPEN_S``.
- A relay or reader failure is logged and retried; it never stops the loop or
  the other doors.
- Every access decision is logged with the monotonic instant it was decided
  and how long after it the relay command was written.
- SIGTERM and SIGINT stop the loop after the current step; queued records
  are written (or journalled) before the process exits; the locks stay as
  the boards hold them (a fail-secure door stays locked without us).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Protocol

from firmware_config.model import DoorInput, NodeConfig
from firmware_config.runtime import Notifier
from firmware_config.secrets import load_credential_key, load_reader_key
from sync.replica import Policy
from sync.replica.clock import NodeClock, SystemClock
from sync.replica.door_fallback import staff_path
from sync.replica.door_health import HealthFile, health_path
from sync.replica.door_journal import Journal, JournalError, journal_path
from sync.replica.door_records import (
    AccessRecorded,
    DoorStateRecorded,
    Lockdown,
    LockdownRecorded,
)
from sync.replica.store import Replica

from .core import (
    CommandDue,
    CoreEvent,
    DoorCore,
    Effect,
    LockCommand,
    ReaderFeedback,
    ReaderSite,
    Started,
    Step,
    Tick,
)
from .facts import ReplicaFacts
from .faults import FaultBoard
from .inputs import InputKind, InputWiring, Normally
from .outputs.relay import energise_for
from .outputs.relay_board import OutputError, RelayBoard
from .readers.events import ReaderError, ReaderPort
from .readers.osdp import OsdpBus, OsdpReader
from .readers.serial_bus import SerialLineBus
from .recorder import Recorder

log = logging.getLogger(__name__)
POLL_S = 0.02
COMMANDS_EVERY_S = 0.5
REFRESH_EVERY_S = 2.0
SWEEP_EVERY_S = 60.0
DETAIL_EVERY_S = 1.0
READ_WAIT_S = 1.0  # the loop's connection: WAL reads wait only in rare recovery cases
WRITE_WAIT_S = 0.5  # the recorder's: then the records go to the journal


class LockOutput(Protocol):
    """A relay board as the daemon drives it (``outputs.relay_board.RelayBoard``)."""

    def set(self, channel: int, on: bool) -> None:
        """Switch one relay; raises ``OutputError``."""

    def close(self) -> None: ...


@dataclass(slots=True)
class Hardware:
    buses: list[ReaderPort]
    bus_of: dict[str, ReaderPort]
    boards: Mapping[str, LockOutput]
    locks: dict[str, tuple[str, int, str]]  # door -> (output, channel, fail mode)


def build_hardware(cfg: NodeConfig) -> Hardware:
    """Reader buses, relay boards and lock wiring from the node config."""
    buses: list[ReaderPort] = []
    bus_of: dict[str, ReaderPort] = {}
    osdp_ports: dict[str, list[OsdpReader]] = {}
    bauds: dict[str, int] = {}
    for r in cfg.readers:
        if r.kind == "osdp" and r.key is not None and r.address is not None:
            osdp_ports.setdefault(r.port, []).append(
                OsdpReader(r.id, r.address, load_reader_key(r.key))
            )
            bauds[r.port] = r.baud
        elif r.kind == "serial-line":
            bus = SerialLineBus(r.id, r.port, r.framing or "hex-line", baud=r.baud)
            buses.append(bus)
            bus_of[r.id] = bus
    for port, readers in osdp_ports.items():
        obus = OsdpBus(port, readers, baudrate=bauds[port])
        buses.append(obus)
        for reader in readers:
            bus_of[reader.reader_id] = obus
    boards = {o.id: RelayBoard(o.port, o.channels) for o in cfg.outputs}
    locks = {d.id: (d.lock.output, d.lock.channel, d.lock.fail_mode) for d in cfg.doors}
    return Hardware(buses, bus_of, boards, locks)


def input_wiring(cfg: NodeConfig) -> list[InputWiring]:
    """Every door input of the config, with its wiring (``normally``)."""
    out: list[InputWiring] = []
    for d in cfg.doors:
        for kind in InputKind:
            spec: DoorInput | None = getattr(d, kind.value)
            if spec is not None:
                out.append(
                    InputWiring(
                        d.id, kind, spec.source.reader, spec.source.number, Normally(spec.normally)
                    )
                )
    return out


def build_core(cfg: NodeConfig) -> DoorCore:
    return DoorCore(
        node=cfg.node_id,
        facility_id=cfg.facility_id,
        credential_key=load_credential_key(cfg.credential_key),
        readers={
            r.id: ReaderSite(r.door, r.direction or "in") for r in cfg.readers if r.door is not None
        },
        inputs=input_wiring(cfg),
        kiosk_readers={r.id: r.kiosk for r in cfg.readers if r.kiosk is not None},
        doors=[d.id for d in cfg.doors],
    )


@dataclass(slots=True)
class Storage:
    """The door's two connections and its files beside the database."""

    facts: ReplicaFacts
    recorder: Recorder

    def close(self) -> None:
        self.recorder.stop()
        for rep in (self.facts.rep, self.recorder.rep):
            if rep is not None:
                rep.close()
        if self.recorder.journal is not None:
            self.recorder.journal.close()
        if self.recorder.health is not None:
            self.recorder.health.close()


def open_storage(
    database: str | Path,
    clock: NodeClock,
    *,
    default_tz: str = "Europe/Stockholm",
    overlay: Callable[[Policy], Policy] | None = None,
    write_wait_s: float = WRITE_WAIT_S,
) -> Storage:
    """The door's read and write connections, journal, staff file and health
    file for ``database``. Never raises for a database that cannot be opened:
    the parts that need it open it later (``REOPEN_S``)."""
    faults = FaultBoard()

    def opener(wait_s: float) -> Callable[[], Replica]:
        def open_() -> Replica:
            rep = Replica.open(database, default_tz=default_tz, busy_timeout_s=wait_s)
            if overlay is not None:
                rep.policy_overlay = overlay
            return rep

        return open_

    journal: Journal | None
    try:
        journal = Journal.open(journal_path(database))
    except JournalError as exc:
        log.error("%s", exc)
        journal = None
    try:
        health: HealthFile | None = HealthFile(health_path(database))
    except OSError as exc:
        log.error("cannot open the health file: %s", exc)
        health = None
    staff = str(staff_path(database))
    facts = ReplicaFacts(opener(READ_WAIT_S), faults, staff_file=staff)
    recorder = Recorder(
        opener(write_wait_s),
        faults,
        journal=journal,
        health=health,
        staff_file=staff,
        now=clock.now,
        monotonic=clock.monotonic,
    )
    return Storage(facts, recorder)


class DoorDaemon:
    def __init__(
        self,
        core: DoorCore,
        storage: Storage,
        hw: Hardware,
        clock: NodeClock,
        notifier: Notifier | None = None,
    ) -> None:
        self.core, self.storage, self.hw, self.clock = core, storage, hw, clock
        self.facts, self.recorder = storage.facts, storage.recorder
        self.stop_event = threading.Event()
        self.relay_errors = 0
        self.notifier = notifier or Notifier()
        self._next = {"commands": 0.0, "refresh": 0.0, "sweep": 0.0, "detail": 0.0}

    # --- one event ---------------------------------------------------------------------

    def feed(self, event: CoreEvent) -> Step:
        """Decide, drive, then record: the order of every event."""
        now = self.clock.read()
        step = self.core.handle(event, now, self.facts)
        decided = self.clock.monotonic()
        self.apply(step.effects)
        relayed = self.clock.monotonic()
        self.recorder.submit(step.records)
        for rec in step.records:
            if isinstance(rec, AccessRecorded):
                a = rec.access
                log.info(
                    "access %s door=%s reader=%s reason=%s decided_mono=%.6f relay_after_ms=%s",
                    "granted" if a.granted else "denied",
                    a.door,
                    a.reader,
                    a.reason,
                    decided,
                    f"{(relayed - decided) * 1e3:.3f}"
                    if any(isinstance(e, LockCommand) for e in step.effects)
                    else "-",
                )
            elif isinstance(rec, LockdownRecorded):
                self.facts.note_lockdown(Lockdown(rec.active, rec.by, rec.at))
                self._save_staff()  # a restart on an unreadable database still holds it
        return step

    def _save_staff(self) -> None:
        mem = self.facts.take_unsaved()
        if mem is not None:
            self.recorder.save_staff(mem)

    def apply(self, effects: Sequence[Effect]) -> None:
        for eff in effects:
            if isinstance(eff, LockCommand):
                wiring = self.hw.locks.get(eff.door)
                if wiring is None:
                    log.warning("door %s has no lock in the config", eff.door)
                    continue
                output, channel, mode = wiring
                try:
                    self.hw.boards[output].set(channel, energise_for(eff.locked, mode))
                except OutputError as exc:
                    self.relay_errors += 1
                    log.error("door %s: %s", eff.door, exc)
            elif isinstance(eff, ReaderFeedback):
                bus = self.hw.bus_of.get(eff.reader)
                if bus is not None and not bus.signal(eff.reader, eff.feedback):
                    log.debug("reader %s: feedback not queued", eff.reader)

    # --- the loop ------------------------------------------------------------------------

    def start(self) -> None:
        """Merge the journal if the database takes it, then assert every lock
        from the doors' last recorded states and the lockdown."""
        self.recorder.drain()
        doors, lockdown = self.facts.restored()
        for rec in self.recorder.unwritten():  # newer than the database
            if isinstance(rec, DoorStateRecorded):
                doors[rec.door] = rec.state
            elif isinstance(rec, LockdownRecorded):
                lockdown = Lockdown(rec.active, rec.by, rec.at)
        self.facts.refresh(self.clock.now())
        self._save_staff()
        self.feed(Started(doors, lockdown))

    def run(self) -> None:
        """Start everything and loop until ``stop_event`` is set."""
        self.start()
        started: list[ReaderPort] = []
        self.recorder.start()
        try:
            for bus in self.hw.buses:
                try:
                    bus.start()
                    started.append(bus)
                except ReaderError as exc:
                    log.error("%s", exc)
            self.notifier.ready(f"{len(started)} reader buses")
            while not self.stop_event.is_set():
                self.step(started)
                self.notifier.alive()
        finally:
            self.notifier.stopping()
            for bus in started:
                bus.stop()
            for board in self.hw.boards.values():
                board.close()
            self.recorder.stop()

    def step(self, buses: Sequence[ReaderPort]) -> None:
        for bus in buses:
            for ev in bus.poll(POLL_S / len(buses)):  # the whole round waits ~POLL_S
                self.feed(ev)
        if not buses:
            self.stop_event.wait(POLL_S)
        self.feed(Tick())
        self.periodic()

    def run_commands(self) -> None:
        """Carry out the door commands queued in the database (central's, the caretaker's)."""
        for cmd in self.facts.due_commands():
            self.feed(CommandDue(cmd))

    def periodic(self) -> None:
        """Commands, the replica's slow facts, the no-show sweep, the heartbeat's detail."""
        mono = self.clock.monotonic()
        due = [name for name, at in self._next.items() if mono >= at]
        if "commands" in due:
            self._next["commands"] = mono + COMMANDS_EVERY_S
            self.run_commands()
        if "refresh" in due:
            self._next["refresh"] = mono + REFRESH_EVERY_S
            self.facts.refresh(self.clock.now())
            self._save_staff()
        if "sweep" in due:
            # the first sweep may read days of bookings: not before the doors
            # have been answering for a while
            if self._next["sweep"] > 0:
                self.recorder.sweep(self.clock.now())
            self._next["sweep"] = mono + SWEEP_EVERY_S
        if "detail" in due:
            self._next["detail"] = mono + DETAIL_EVERY_S
            lock = self.core.lockdown
            self.recorder.detail = {
                "doors": self.core.door_states(),
                "relay_errors": self.relay_errors,
                "clock_trusted": self.clock.trusted(),
                "lockdown": None if lock is None or not lock.active else lock.by,
            }


def install_signal_handlers(stop: Callable[[], None]) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(cfg: NodeConfig, *, assume_clock_trusted: bool = False) -> int:
    """Run the door controller for ``cfg`` until a signal stops it."""
    clock = SystemClock(assume_clock_trusted)
    storage = open_storage(cfg.database, clock, default_tz=cfg.timezone, overlay=cfg.policy.apply)
    try:
        daemon = DoorDaemon(build_core(cfg), storage, build_hardware(cfg), clock)
        install_signal_handlers(daemon.stop_event.set)
        daemon.run()
    finally:
        storage.close()
    return 0
