"""``hallvakt door``: the door controller process.

The outer loop is short (house style 4): poll the reader buses, feed the
engine, apply its effects to relays and readers, tick. It depends on nothing
but the node database and its hardware: no network, no other process.

Rules this module guarantees:
- On start every door's lock is asserted before any reader is listened to.
- A relay or reader failure is logged and retried; it never stops the loop or
  the other doors.
- SIGTERM and SIGINT stop the loop after the current step; the locks stay as
  the boards hold them (a fail-secure door stays locked without us).
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from firmware_config.model import NodeConfig
from firmware_config.runtime import Notifier, kernel_clock_synced
from firmware_config.secrets import load_credential_key, load_reader_key
from sync.replica import Replica, beat
from sync.replica.refusal import open_or_exit

from .engine import DoorEngine, DoorInputs, Effect, LockCommand, ReaderFeedback, ReaderSite
from .outputs.relay import energise_for
from .outputs.relay_board import OutputError, RelayBoard
from .readers.events import ReaderError, ReaderPort
from .readers.osdp import OsdpBus, OsdpReader
from .readers.serial_bus import SerialLineBus

log = logging.getLogger(__name__)
POLL_S = 0.02


@dataclass(slots=True)
class SystemClock:
    """The real clock; ``assume_trusted`` for demos and benches without NTP."""

    assume_trusted: bool = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def trusted(self) -> bool:
        return self.assume_trusted or kernel_clock_synced()


@dataclass(slots=True)
class Hardware:
    buses: list[ReaderPort]
    bus_of: dict[str, ReaderPort]
    boards: dict[str, RelayBoard]
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


def build_engine(cfg: NodeConfig, rep: Replica, clock: SystemClock) -> DoorEngine:
    rep.policy_overlay = cfg.policy.apply
    sites = {
        r.id: ReaderSite(r.door, r.direction or "in") for r in cfg.readers if r.door is not None
    }

    def wire(spec: object) -> tuple[str, int, bool] | None:
        from firmware_config.model import DoorInput

        if not isinstance(spec, DoorInput):
            return None
        return (spec.source.reader, spec.source.number, spec.active_when_closed)

    inputs = {
        d.id: DoorInputs(wire(d.contact), wire(d.request_to_exit), wire(d.fire_release))
        for d in cfg.doors
    }
    return DoorEngine(
        rep,
        clock,
        credential_key=load_credential_key(cfg.credential_key),
        facility_id=cfg.facility_id,
        readers=sites,
        inputs=inputs,
        kiosk_readers={r.id: r.kiosk for r in cfg.readers if r.kiosk is not None},
    )


BEAT_S = 5.0


class DoorDaemon:
    def __init__(self, engine: DoorEngine, hw: Hardware) -> None:
        self.engine, self.hw = engine, hw
        self.stop_event = threading.Event()
        self.relay_errors = 0
        self.notifier = Notifier()
        self.started = engine.clock.now()
        self._next_beat = 0.0

    def heartbeat(self) -> None:
        """Tell systemd's watchdog and ``hallvakt status`` that the loop turns."""
        mono = self.engine.clock.monotonic()
        self.notifier.alive()
        if mono < self._next_beat:
            return
        self._next_beat = mono + BEAT_S
        detail = {
            "doors": {d: run.state.value for d, run in self.engine.doors.items()},
            "relay_errors": self.relay_errors,
            "clock_trusted": self.engine.clock.trusted(),
        }
        try:
            beat(self.engine.rep, "door", self.started, self.engine.clock.now(), detail)
        except sqlite3.OperationalError as exc:  # a long writer elsewhere: try next time
            log.warning("heartbeat not written: %s", exc)

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

    def run(self) -> None:
        """Start everything and loop until ``stop_event`` is set."""
        self.apply(self.engine.start())
        started: list[ReaderPort] = []
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
                self.heartbeat()
        finally:
            self.notifier.stopping()
            for bus in started:
                bus.stop()
            for board in self.hw.boards.values():
                board.close()

    def step(self, buses: Sequence[ReaderPort]) -> None:
        for bus in buses:
            for ev in bus.poll(POLL_S / len(buses)):  # the whole round waits ~POLL_S
                self.apply(self.engine.handle(ev))
        if not buses:
            self.stop_event.wait(POLL_S)
        self.apply(self.engine.tick())


def install_signal_handlers(stop: Callable[[], None]) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(cfg: NodeConfig, *, assume_clock_trusted: bool = False) -> int:
    """Run the door controller for ``cfg`` until a signal stops it."""
    clock = SystemClock(assume_clock_trusted)
    with open_or_exit(cfg.database, default_tz=cfg.timezone) as rep:  # one line, exit 78
        daemon = DoorDaemon(build_engine(cfg, rep, clock), build_hardware(cfg))
        install_signal_handlers(daemon.stop_event.set)
        daemon.run()
    return 0
