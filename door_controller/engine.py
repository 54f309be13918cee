"""The door controller's application core: readers and door inputs in, lock
commands, reader feedback and outbox events out.

Rules this module guarantees:
- A card read is decided at once from a read of the replica (WAL readers never
  wait for a writer); a card that needs its PIN waits for it on that reader's
  keypad, and every wrong PIN is an ``access.denied`` event.
- Keypad entry without a card is a visitor code (PROTOCOL.md: ``code:`` digests,
  so a typed number never matches a card).
- PIN and code attempts pass through ``PinGuard``: while a reader or a
  credential is locked out nothing is checked and the attempt is denied.
- Every decision and door change becomes an outbox event (``record_access``,
  ``door.*``, ``reader.*``); lock commands follow the door state table only.
- Time comes from the ``Clock`` port: wall time for decisions and events,
  monotonic time for timers, and the clock's own word on whether it is trusted.
Only ``tick`` makes timers fire, so a test drives the engine with a fake clock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sync.replica import (
    DOOR_COMMANDS,
    AccessContext,
    AccessRecord,
    Door,
    Replica,
    access_context,
    append_event,
    card_digest,
    card_id,
    code_digest,
    finish,
    leaders_in,
    pending_commands,
    pin_digest,
    pin_matches,
    record_access,
    record_kiosk_tap,
    set_door_state,
    set_reader_state,
    sweep_no_shows,
)

from .decision import Decision, PinCheck, Reason, decide
from .door_state import Action, DoorEvent, DoorState, restart_state, step
from .pin_guard import PinGuard
from .readers.events import (
    DENIED,
    GRANTED,
    AbandonReason,
    BuzzerSignal,
    CardPresented,
    Feedback,
    InputChanged,
    KeyPressed,
    LedColor,
    LedSignal,
    PinAbandoned,
    PinEntry,
    PinSubmitted,
    ReaderEvent,
    ReaderOffline,
    ReaderOnline,
    ReaderTamper,
)

log = logging.getLogger(__name__)
KIOSK_TAP = (BuzzerSignal(on_ms=100, count=1),)
PIN_PROMPT = (LedSignal(LedColor.AMBER, on_ms=300, off_ms=300, duration_ms=10_000),)
SWEEP_EVERY_S = 60.0
COMMANDS_EVERY_S = 0.5


class Clock(Protocol):
    """Time as the door controller may use it."""

    def now(self) -> datetime:
        """Wall time, an aware UTC instant."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go backwards (timers)."""
        ...

    def trusted(self) -> bool:
        """Whether wall time is synchronised (NTP or a good RTC), PROTOCOL.md §7."""
        ...


@dataclass(frozen=True, slots=True)
class LockCommand:
    door: str
    locked: bool


@dataclass(frozen=True, slots=True)
class ReaderFeedback:
    reader: str
    feedback: Feedback


Effect = LockCommand | ReaderFeedback


@dataclass(frozen=True, slots=True)
class ReaderSite:
    """Where a reader stands: its door and side (``in``/``out``)."""

    door: str
    direction: str = "in"


@dataclass(frozen=True, slots=True)
class DoorInputs:
    """Which reader inputs are this door's contact, request-to-exit and fire input
    (``(reader, index, active_when_closed)``; ``None`` when not wired)."""

    contact: tuple[str, int, bool] | None = None
    rex: tuple[str, int, bool] | None = None
    fire: tuple[str, int, bool] | None = None


@dataclass(slots=True)
class _PendingPin:
    ctx: AccessContext
    holder: str
    credential: str
    digest: str


@dataclass(slots=True)
class _DoorRun:
    state: DoorState
    timers: dict[str, float] = field(default_factory=dict)


class DoorEngine:
    """One facility node's doors and readers."""

    def __init__(
        self,
        rep: Replica,
        clock: Clock,
        *,
        credential_key: bytes,
        facility_id: str,
        readers: Mapping[str, ReaderSite],
        inputs: Mapping[str, DoorInputs] | None = None,
        guard: PinGuard | None = None,
        pin_timeout_s: float = 10.0,
        kiosk_readers: Mapping[str, str] | None = None,
    ) -> None:
        self.rep, self.clock = rep, clock
        self._key, self._facility = credential_key, facility_id
        self.readers = dict(readers)
        self.kiosk_readers = dict(kiosk_readers or {})  # reader id -> kiosk id
        self.inputs = dict(inputs or {})
        policy = rep.policy()
        self.guard = guard or PinGuard(policy.pin_max_attempts, float(policy.pin_lockout_seconds))
        self._entries = {r: PinEntry(pin_timeout_s) for r in self.readers}
        self._pending: dict[str, _PendingPin] = {}
        self.doors: dict[str, _DoorRun] = {}
        self._next_sweep = 0.0  # set at start(): the first sweep waits a minute
        self._next_commands = 0.0

    # --- start and time -------------------------------------------------------

    def start(self, *, fire_active: bool = False, lockdown: bool = False) -> list[Effect]:
        """Assert every door's lock as the controller (re)starts."""
        out: list[Effect] = []
        # The first no-show sweep may read days of bookings: not before the
        # doors have been answering for a while.
        self._next_sweep = self.clock.monotonic() + SWEEP_EVERY_S
        for door in sorted({site.door for site in self.readers.values()} | set(self.inputs)):
            t = restart_state(fire_active=fire_active, lockdown=lockdown)
            self.doors[door] = _DoorRun(t.state)
            set_door_state(self.rep, door, t.state.value, self.clock.now())
            out.extend(self._actions(door, t.actions))
        return out

    def tick(self) -> list[Effect]:
        """Fire due timers (unlock, held-open, PIN entry) and sweep no-shows."""
        mono = self.clock.monotonic()
        out: list[Effect] = []
        for door, run in self.doors.items():
            for name, event in (
                ("unlock", DoorEvent.UNLOCK_TIMEOUT),
                ("held", DoorEvent.HELD_TIMEOUT),
            ):
                due = run.timers.get(name)
                if due is not None and mono >= due:
                    del run.timers[name]
                    out.extend(self.door_event(door, event))
        for reader, entry in self._entries.items():
            if entry.expire(mono) is not None:
                out.extend(self._abandon(reader))
        if mono >= self._next_sweep:
            self._next_sweep = mono + SWEEP_EVERY_S
            sweep_no_shows(self.rep, self.clock.now())
        if mono >= self._next_commands:
            self._next_commands = mono + COMMANDS_EVERY_S
            out.extend(self.run_commands())
        return out

    def run_commands(self) -> list[Effect]:
        """Carry out central's door commands queued by the sync link (PROTOCOL.md §6)."""
        out: list[Effect] = []
        now = self.clock.now()
        for cmd in pending_commands(self.rep, DOOR_COMMANDS):
            if self.clock.trusted() and now >= cmd.exp:
                finish(self.rep, cmd.id, "expired", "arrived after its exp", now)
                continue
            if cmd.cmd == "unlock":
                door = str(cmd.args.get("door", ""))
                if door not in self.doors:
                    finish(self.rep, cmd.id, "failed", f"no door {door!r} here", now)
                    continue
                seconds = int(cmd.args.get("seconds", 5))
                out.extend(unlock_for(self, door, seconds))
                finish(self.rep, cmd.id, "done", f"{door} unlocked {seconds} s", now)
                continue
            event = DoorEvent.LOCKDOWN_ON if cmd.cmd == "lockdown" else DoorEvent.LOCKDOWN_OFF
            for door in sorted(self.doors):
                out.extend(self.door_event(door, event))
            finish(self.rep, cmd.id, "done", f"{cmd.cmd}: {len(self.doors)} doors", now)
        return out

    # --- inputs -----------------------------------------------------------------

    def handle(self, ev: ReaderEvent) -> list[Effect]:
        """Apply one reader event."""
        now = self.clock.now()
        if isinstance(ev, ReaderOnline | ReaderOffline):
            kind = "reader.online" if isinstance(ev, ReaderOnline) else "reader.offline"
            body = {"reader": ev.reader}
            if isinstance(ev, ReaderOffline):
                body["reason"] = ev.reason
            with self.rep.write():
                append_event(self.rep, kind, body, now)
                set_reader_state(
                    self.rep, ev.reader, isinstance(ev, ReaderOnline), body.get("reason", ""), now
                )
            return []
        if isinstance(ev, ReaderTamper):
            append_event(self.rep, "door.tamper", {"reader": ev.reader, "active": ev.active}, now)
            return []
        if isinstance(ev, InputChanged):
            return self._input(ev)
        site = self.readers.get(ev.reader)
        if site is None:
            kiosk = self.kiosk_readers.get(ev.reader)
            if kiosk is not None and isinstance(ev, CardPresented):
                digest = card_digest(self._key, card_id(ev.data, ev.bits))
                record_kiosk_tap(self.rep, kiosk, ev.reader, digest, now)
                return [ReaderFeedback(ev.reader, f) for f in KIOSK_TAP]
            return []  # a reader not in the config
        if isinstance(ev, CardPresented):
            return self._card(ev, site)
        return self._keypress(ev, site)

    def door_event(self, door: str, event: DoorEvent) -> list[Effect]:
        """Feed the door state machine (also used for commands and inputs)."""
        run = self.doors.setdefault(door, _DoorRun(DoorState.LOCKED))
        t = step(run.state, event)
        before, run.state = run.state, t.state
        if before is not t.state:
            log.info("door %s: %s -> %s on %s", door, before.value, t.state.value, event.value)
            set_door_state(self.rep, door, t.state.value, self.clock.now())
        return self._actions(door, t.actions)

    def _input(self, ev: InputChanged) -> list[Effect]:
        out: list[Effect] = []
        for door, wiring in self.inputs.items():
            for name, spec in (
                ("contact", wiring.contact),
                ("rex", wiring.rex),
                ("fire", wiring.fire),
            ):
                if spec is None or (spec[0], spec[1]) != (ev.reader, ev.index):
                    continue
                # active_when_closed: the input reads active while the door is shut
                closed = ev.active == spec[2]
                if name == "contact":
                    out += self.door_event(
                        door, DoorEvent.DOOR_CLOSED if closed else DoorEvent.DOOR_OPENED
                    )
                elif name == "rex" and ev.active:
                    out += self.door_event(door, DoorEvent.REX)
                elif name == "fire":
                    out += self.door_event(
                        door, DoorEvent.FIRE_ON if ev.active else DoorEvent.FIRE_OFF
                    )
        return out

    # --- cards, PINs and codes ------------------------------------------------------

    def _card(self, ev: CardPresented, site: ReaderSite) -> list[Effect]:
        self._pending.pop(ev.reader, None)
        self._entries[ev.reader].reset()
        now = self.clock.now()
        digest = card_digest(self._key, card_id(ev.data, ev.bits))
        ctx = access_context(self.rep, site.door, digest, now)
        d = self._decide(ctx)
        if d.needs_pin and site.direction == "out":
            d = self._decide(ctx, pin=PinCheck.OK)  # leaving needs no PIN
        if d.needs_pin and d.credential is not None and d.holder is not None:
            if self.guard.locked_until(ev.reader, d.credential, self.clock.monotonic()):
                return self._finish(ev.reader, site, digest, d, Reason.PIN_LOCKED)
            self._pending[ev.reader] = _PendingPin(ctx, d.holder, d.credential, digest)
            self._entries[ev.reader].open(self.clock.monotonic())
            return [ReaderFeedback(ev.reader, f) for f in PIN_PROMPT]
        return self._finish(ev.reader, site, digest, d)

    def _keypress(self, ev: KeyPressed, site: ReaderSite) -> list[Effect]:
        entry = self._entries[ev.reader]
        result = entry.feed(ev.key, self.clock.monotonic())
        if isinstance(result, PinAbandoned):
            if result.reason is AbandonReason.CLEARED and ev.reader in self._pending:
                entry.open(self.clock.monotonic())  # '*' starts the PIN again
                return []
            if result.reason is AbandonReason.TOO_LONG and ev.reader in self._pending:
                return self._wrong_pin(ev.reader, site)
            return self._abandon(ev.reader)
        if not isinstance(result, PinSubmitted):
            return []
        pending = self._pending.pop(ev.reader, None)
        if pending is None:
            return self._code(ev.reader, site, result.pin)
        mono, now = self.clock.monotonic(), self.clock.now()
        if self.guard.locked_until(ev.reader, pending.credential, mono):
            d = self._decide(pending.ctx, pin=PinCheck.WRONG)
            return self._finish(ev.reader, site, pending.digest, d, Reason.PIN_LOCKED)
        ok = pin_matches(
            self.rep, pending.holder, pin_digest(self._key, pending.holder, result.pin), now
        )
        if ok:
            self.guard.success(ev.reader, pending.credential, mono)
        else:
            self.guard.failure(ev.reader, pending.credential, mono)
        d = self._decide(pending.ctx, pin=PinCheck.OK if ok else PinCheck.WRONG)
        return self._finish(ev.reader, site, pending.digest, d)

    def _wrong_pin(self, reader: str, site: ReaderSite) -> list[Effect]:
        """A PIN entry that cannot be right (too long): a failed attempt."""
        pending = self._pending.pop(reader)
        self.guard.failure(reader, pending.credential, self.clock.monotonic())
        d = self._decide(pending.ctx, pin=PinCheck.WRONG)
        return self._finish(reader, site, pending.digest, d)

    def _code(self, reader: str, site: ReaderSite, code: str) -> list[Effect]:
        mono, now = self.clock.monotonic(), self.clock.now()
        try:
            digest = code_digest(self._key, self._facility, code)
        except ValueError:
            digest = None  # too short or long to be any code: still an attempt
        if self.guard.locked_until(reader, "code", mono):
            d = self._decide(access_context(self.rep, site.door, "", now))
            return self._finish(reader, site, digest, d, Reason.PIN_LOCKED)
        ctx = access_context(self.rep, site.door, digest or "", now)
        d = self._decide(ctx)
        if not d.granted:
            self.guard.failure(reader, "code", mono)
        return self._finish(reader, site, digest if ctx.candidates else None, d)

    def _abandon(self, reader: str) -> list[Effect]:
        pending = self._pending.pop(reader, None)
        if pending is None:
            return []
        site = self.readers[reader]
        d = self._decide(pending.ctx)
        return self._finish(reader, site, pending.digest, d, Reason.PIN_TIMEOUT)

    def _decide(self, ctx: AccessContext, pin: PinCheck = PinCheck.NONE) -> Decision:
        codes = [b.id for c in ctx.candidates if c.credential.kind == "code" for b in c.bookings]
        return decide(
            ctx,
            self.rep.tz,
            clock_trusted=self.clock.trusted(),
            pin=pin,
            leaders_in=leaders_in(self.rep, codes),
        )

    def _finish(
        self,
        reader: str,
        site: ReaderSite,
        digest: str | None,
        d: Decision,
        override: Reason | None = None,
    ) -> list[Effect]:
        granted = d.granted and override is None
        reason = override or d.reason
        now = self.clock.now()
        # The record and the door's new state commit together, before the
        # lock command goes out: one durable write on the way to the relay.
        with self.rep.write():
            record_access(
                self.rep,
                AccessRecord(
                    site.door,
                    reader,
                    digest if d.credential is not None else None,
                    granted,
                    reason.value,
                    credential=d.credential,
                    booking=d.booking if granted else None,
                    grant=d.grant if granted else None,
                    rev=d.rev,
                    clock_trusted=d.clock_trusted,
                    stale=d.stale,
                ),
                now,
            )
            out: list[Effect] = [
                ReaderFeedback(reader, f) for f in (GRANTED if granted else DENIED)
            ]
            if granted:
                out = self.door_event(site.door, DoorEvent.GRANT) + out
        return out

    # --- actions -------------------------------------------------------------------

    def _actions(self, door: str, actions: tuple[Action, ...]) -> list[Effect]:
        out: list[Effect] = []
        run = self.doors[door]
        rec = self.rep.memo(
            self.rep.state().applied_rev, f"door:{door}", lambda: self.rep.get(Door, door)
        )
        unlock_s = rec.unlock_seconds if rec else 5
        held_s = rec.held_open_seconds if rec else 30
        mono = self.clock.monotonic()
        for a in actions:
            if a is Action.LOCK:
                out.append(LockCommand(door, True))
            elif a is Action.RELEASE:
                out.append(LockCommand(door, False))
            elif a is Action.START_UNLOCK_TIMER:
                run.timers["unlock"] = mono + unlock_s
            elif a is Action.START_HELD_TIMER:
                run.timers["held"] = mono + held_s
            elif a is Action.CANCEL_TIMERS:
                run.timers.clear()
            else:  # an EMIT_*: the action's value is the event type
                body = {"door": door, "state": run.state.value}
                append_event(self.rep, a.value, body, self.clock.now())
        return out


def unlock_for(engine: DoorEngine, door: str, seconds: int) -> list[Effect]:
    """Central's ``unlock`` command: release ``door`` as a grant would."""
    out = engine.door_event(door, DoorEvent.GRANT)
    run = engine.doors[door]
    if "unlock" in run.timers:
        run.timers["unlock"] = engine.clock.monotonic() + seconds
    return out
