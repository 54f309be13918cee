"""The door controller's core: one event, the time and the facts in; effects and records out. Pure.

``DoorCore.handle(event, now, facts) -> Step(effects, records)``:
- ``event``: a reader event (card, key, input, tamper, online/offline),
  ``Started`` (what the door last recorded), ``Tick`` (timers), or
  ``CommandDue`` (a command of central or of the caretaker view);
- ``now``: wall time, monotonic time and whether the clock is trusted, read
  once by the daemon for this event (``sync.replica.clock.ClockReading``);
- ``facts``: the ``Facts`` port, what the daemon reads from the replica (a
  WAL read that never waits for a writer, or the staff fallback when the
  replica cannot be read);
- ``effects``: lock commands and reader feedback, which the daemon drives
  first; ``records``: what it then persists (``sync.replica.door_records``),
  to the database or, when that fails, to its journal.
These types are in ``core_io`` (and importable from here).

Rules this module guarantees:
- Nothing here reads a clock, a file or a device, or writes anything; the
  core holds only in-memory state (door states and timers, PIN entries,
  lockouts, input levels, the lockdown).
- No relay without a record: every lock command comes with at least one
  record of its door in the same step.
- A card read is decided at once; a card that needs its PIN waits for it on
  that reader's keypad; keypad entry without a card is a visitor code.
  PINs and codes pass ``PinGuard`` first: a locked-out reader or credential is
  denied ``pin_locked`` without a check. Wrong codes count against their
  reader only.
- Each input turns its raw level into active/inactive through its wiring
  (``inputs``). The contact drives the door table; a fire release releases
  every door it is wired to (fail-safe: an open normally-closed loop is a
  fire) and relocks when it clears, each as a ``door.fire_release`` event
  naming the input; each exit request is a ``door.exit_request`` event; a
  tamper input is a ``door.tamper`` event. A reader's first report after it
  comes online is the state of the world: a fire already active releases at
  once; an exit button already held is not a press.
- Lockdown (a command) is node-wide and remembered with who set it; while it
  holds, no decision opens a door (a granted decision is recorded as denied
  ``lockdown``), and a door whose fire release clears goes back to lockdown.
  Fire release wins over lockdown.
- ``Started`` asserts every door's lock from the state it last recorded
  (``door_state.restart_state``) and restores the lockdown.
- Central learns every door's state (``door.state``, ``{door, state}``): at
  ``Started``; when a reader that came online has reported every input of the
  door wired to it (the state of the world; at once for a door with no input
  on it); and after any step that leaves a door in a state central was not
  told by a ``door.*`` event carrying a ``state`` (a lockdown, a relock
  after an unlock command). A grant's or exit button's short ``unlocked``
  is not reported (``access.granted`` and ``door.exit_request`` say it).
- ``handle`` never raises for any event; an event for an unknown reader,
  door or input changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.replica.access import AccessContext
from sync.replica.attendance import AccessRecord
from sync.replica.clock import ClockReading
from sync.replica.commands import QueuedCommand
from sync.replica.digests import card_digest, card_id, code_digest, pin_digest
from sync.replica.door_records import (
    AccessRecorded,
    CommandFinished,
    DoorRecord,
    DoorStateRecorded,
    EventRecorded,
    KioskTapRecorded,
    Lockdown,
    LockdownRecorded,
    ReaderStateRecorded,
)

from .core_io import (
    CommandDue,
    CoreEvent,
    Effect,
    Facts,
    LockCommand,
    ReaderFeedback,
    ReaderSite,
    Started,
    Step,
    Tick,
)
from .decision import Decision, PinCheck, Reason, decide
from .door_state import Action, DoorEvent, DoorState, restart_state, step
from .inputs import InputChange, InputKind, InputLevels, InputWiring
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
    ReaderOffline,
    ReaderOnline,
    ReaderTamper,
)

KIOSK_TAP = (BuzzerSignal(on_ms=100, count=1),)
PIN_PROMPT = (LedSignal(LedColor.AMBER, on_ms=300, off_ms=300, duration_ms=10_000),)
DEFAULT_UNLOCK_S, DEFAULT_HELD_S = 5, 30
FORGET_LEADERS_S = 24 * 3600.0
FORGET_COMMANDS_S = 3600.0
LOCKDOWN = "lockdown"  # the deny reason of a granted decision at a door in lockdown
DOOR_STATE = "door.state"
# door.* events whose ``state`` central takes as the door's (sync/central/observed.py)
_NOT_STATE = frozenset({"door.tamper", "door.exit_request"})
# Deny reasons that count as a guess at a keypad (a real code used at the
# wrong time, or refused for a stale replica, is no guess).
_GUESSES = frozenset({Reason.UNKNOWN_CREDENTIAL, Reason.NOT_VALID, Reason.REVOKED})


# --- state -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _PendingPin:
    ctx: AccessContext
    holder: str
    credential: str
    digest: str


@dataclass(slots=True)
class DoorRun:
    state: DoorState
    timers: dict[str, float] = field(default_factory=dict)
    told: str | None = None  # the state central was last told (door.* with a state)


class _Out:
    """The effects and records of one step, in order."""

    def __init__(self, now: ClockReading) -> None:
        self.now = now
        self.effects: list[Effect] = []
        self.records: list[DoorRecord] = []
        self.stated: set[str] = set()  # doors whose state an event of this step carries

    def event(self, type_: str, body: Mapping[str, Any]) -> None:
        self.records.append(EventRecorded(type_, dict(body), self.now.wall))
        if type_.startswith("door.") and type_ not in _NOT_STATE and "state" in body:
            self.stated.add(str(body.get("door", "")))

    def feedback(self, reader: str, signals: Iterable[Feedback]) -> None:
        self.effects.extend(ReaderFeedback(reader, f) for f in signals)


class DoorCore:
    """One facility node's doors and readers, in memory."""

    def __init__(
        self,
        *,
        node: str,
        facility_id: str,
        credential_key: bytes,
        readers: Mapping[str, ReaderSite],
        inputs: Sequence[InputWiring] = (),
        kiosk_readers: Mapping[str, str] | None = None,
        doors: Iterable[str] = (),
        pin_timeout_s: float = 10.0,
    ) -> None:
        self.node, self._facility, self._key = node, facility_id, credential_key
        self.readers = dict(readers)
        self.kiosk_readers = dict(kiosk_readers or {})  # reader id -> kiosk id
        self.levels = InputLevels(inputs)
        names = {*doors, *(s.door for s in self.readers.values()), *(w.door for w in inputs)}
        self.doors = {d: DoorRun(DoorState.LOCKED, told="locked") for d in sorted(names)}
        self.guard = PinGuard()
        self.lockdown: Lockdown | None = None
        self._entries = {r: PinEntry(pin_timeout_s) for r in self.readers}
        self._pending: dict[str, _PendingPin] = {}
        self._leaders: dict[str, float] = {}  # booking id -> when its leader entered (mono)
        self._done: dict[int, float] = {}  # command id -> when carried out (mono)
        self._unknown: dict[str, set[str]] = {}  # reader -> doors whose world it has yet to report
        self._said: dict[str, set[str]] = {}  # reader -> doors an event stated since it came online

    @property
    def in_lockdown(self) -> bool:
        return self.lockdown is not None and self.lockdown.active

    def handle(self, event: CoreEvent, now: ClockReading, facts: Facts) -> Step:
        """Apply one event (see the module rules); never raises for any event."""
        out = _Out(now)
        if isinstance(event, Started):
            self._start(event, out, facts)
        elif isinstance(event, Tick):
            self._tick(out, facts)
        elif isinstance(event, CommandDue):
            self._command(event.command, out, facts)
        elif isinstance(event, ReaderOnline | ReaderOffline):
            self._link(event, out)
        elif isinstance(event, ReaderTamper):
            out.event("door.tamper", {"reader": event.reader, "active": event.active})
        elif isinstance(event, InputChanged):
            for change in self.levels.report(event.reader, event.index, event.active):
                self._input(change, out, facts)
            self._learnt(event.reader, out)
        elif isinstance(event, CardPresented):
            self._card(event, out, facts)
        elif isinstance(event, KeyPressed):
            self._keypress(event, out, facts)
        self._tell(out)
        for said in self._said.values():
            said |= out.stated
        return Step(out.effects, out.records)

    def _tell(self, out: _Out) -> None:
        """Note what this step told central of each door; report a state it was not told."""
        for r in out.records:
            if isinstance(r, EventRecorded) and r.type.startswith("door."):
                run = self.doors.get(str(r.body.get("door", "")))
                state = r.body.get("state")
                if run is not None and isinstance(state, str) and r.type not in _NOT_STATE:
                    run.told = state
        for door, run in self.doors.items():
            if run.state.value != run.told and run.state is not DoorState.UNLOCKED:
                self._report(door, out)

    def _report(self, door: str, out: _Out) -> None:
        run = self.doors[door]
        out.event(DOOR_STATE, {"door": door, "state": run.state.value})
        run.told = run.state.value

    # --- the door table ----------------------------------------------------------------

    def door_event(self, door: str, event: DoorEvent, out: _Out, facts: Facts) -> bool:
        """Feed ``door``'s state machine; True when its state changed."""
        run = self.doors.get(door)
        if run is None:
            return False
        t = step(run.state, event)
        before, run.state = run.state, t.state
        self._actions(door, run, t.actions, out, facts)
        changed = before is not t.state
        if changed or any(a in (Action.LOCK, Action.RELEASE) for a in t.actions):
            out.records.append(DoorStateRecorded(door, t.state.value, out.now.wall))
        if changed and before is DoorState.FIRE_RELEASE and self.in_lockdown:
            self.door_event(door, DoorEvent.LOCKDOWN_ON, out, facts)  # back to the lockdown
        return changed

    def _actions(
        self, door: str, run: DoorRun, actions: Iterable[Action], out: _Out, facts: Facts
    ) -> None:
        mono = out.now.mono
        for a in actions:
            if a is Action.LOCK:
                out.effects.append(LockCommand(door, True))
            elif a is Action.RELEASE:
                out.effects.append(LockCommand(door, False))
            elif a is Action.START_UNLOCK_TIMER:
                rec = facts.door(door)
                run.timers["unlock"] = mono + (rec.unlock_seconds if rec else DEFAULT_UNLOCK_S)
            elif a is Action.START_HELD_TIMER:
                rec = facts.door(door)
                run.timers["held"] = mono + (rec.held_open_seconds if rec else DEFAULT_HELD_S)
            elif a is Action.CANCEL_TIMERS:
                run.timers.clear()
            else:  # an EMIT_*: the action's value is the event type
                out.event(a.value, {"door": door, "state": run.state.value})

    # --- start, time, commands ---------------------------------------------------------------

    def _start(self, ev: Started, out: _Out, facts: Facts) -> None:
        self.lockdown = ev.lockdown
        for door, run in self.doors.items():
            try:
                previous: DoorState | None = DoorState(ev.doors.get(door, ""))
            except ValueError:
                previous = None
            t = restart_state(previous, lockdown=self.in_lockdown)
            run.state, run.timers = t.state, {}
            self._actions(door, run, t.actions, out, facts)
            out.records.append(DoorStateRecorded(door, t.state.value, out.now.wall))
            self._report(door, out)

    def _tick(self, out: _Out, facts: Facts) -> None:
        mono = out.now.mono
        for door, run in self.doors.items():
            for name, event in (
                ("unlock", DoorEvent.UNLOCK_TIMEOUT),
                ("held", DoorEvent.HELD_TIMEOUT),
            ):
                due = run.timers.get(name)
                if due is not None and mono >= due:
                    del run.timers[name]
                    self.door_event(door, event, out, facts)
        for reader, entry in self._entries.items():
            if entry.expire(mono) is not None:
                self._abandon(reader, out, facts)
        for booking in [b for b, t in self._leaders.items() if mono - t > FORGET_LEADERS_S]:
            del self._leaders[booking]
        for ident in [i for i, t in self._done.items() if mono - t > FORGET_COMMANDS_S]:
            del self._done[ident]

    def _command(self, cmd: QueuedCommand, out: _Out, facts: Facts) -> None:
        """Carry out central's or the caretaker's door command (PROTOCOL.md §6), once."""
        if cmd.id in self._done:
            return  # carried out; its record is on its way
        self._done[cmd.id] = out.now.mono
        now = out.now

        def finish(result: str, detail: str) -> None:
            out.records.append(CommandFinished(cmd.id, result, detail, now.wall))

        if now.trusted and now.wall >= cmd.exp:
            return finish("expired", "arrived after its exp")
        if cmd.cmd == "unlock":
            door = str(cmd.args.get("door", ""))
            if door not in self.doors:
                return finish("failed", f"no door {door!r} here")
            seconds = cmd.args.get("seconds", DEFAULT_UNLOCK_S)
            if type(seconds) is not int or not 1 <= seconds <= 3600:
                return finish("failed", f"seconds must be 1..3600, not {seconds!r}")
            self.door_event(door, DoorEvent.GRANT, out, facts)
            run = self.doors[door]
            if run.state is not DoorState.UNLOCKED:
                return finish("failed", f"{door} is {run.state.value}")
            run.timers["unlock"] = now.mono + seconds
            self._report(door, out)  # held open by a command: central shows it
            return finish("done", f"{door} unlocked {seconds} s")
        if cmd.cmd not in (LOCKDOWN, "release"):
            return finish("failed", f"not a door command: {cmd.cmd!r}")
        active = cmd.cmd == LOCKDOWN
        by = f"central command {cmd.seq}" if cmd.seq is not None else f"{cmd.origin} {cmd.by}"
        self.lockdown = Lockdown(active, by, now.wall)
        out.records.append(LockdownRecorded(active, by, now.wall))
        event = DoorEvent.LOCKDOWN_ON if active else DoorEvent.LOCKDOWN_OFF
        for door in self.doors:
            self.door_event(door, event, out, facts)
        return finish("done", f"{cmd.cmd}: {len(self.doors)} doors")

    # --- readers and inputs ---------------------------------------------------------------------

    def _link(self, ev: ReaderOnline | ReaderOffline, out: _Out) -> None:
        self.levels.forget(ev.reader)  # its next report is the state of the world
        online = isinstance(ev, ReaderOnline)
        body = {"reader": ev.reader}
        if isinstance(ev, ReaderOffline):
            body["reason"] = ev.reason
        out.event("reader.online" if online else "reader.offline", body)
        out.records.append(
            ReaderStateRecorded(ev.reader, online, body.get("reason", ""), out.now.wall)
        )
        self._unknown.pop(ev.reader, None)
        self._said.pop(ev.reader, None)
        if online:
            doors = {w.door for w in self.levels.wirings if w.reader == ev.reader}
            if doors & self.doors.keys():
                self._unknown[ev.reader] = doors & self.doors.keys()
                self._said[ev.reader] = set()
            site = self.readers.get(ev.reader)
            if site is not None and site.door in self.doors and site.door not in doors:
                self._report(site.door, out)  # nothing to learn: its state stands

    def _learnt(self, reader: str, out: _Out) -> None:
        """After a report of ``reader``: report each door whose inputs on it are all known."""
        waiting = self._unknown.get(reader)
        if not waiting:
            return
        for door in sorted(waiting):
            wired = [w for w in self.levels.wirings if w.reader == reader and w.door == door]
            if all(self.levels.active(w) is not None for w in wired):
                waiting.discard(door)
                if door not in out.stated | self._said[reader]:  # else a door.* event said it
                    self._report(door, out)
        if not waiting:
            del self._unknown[reader], self._said[reader]

    def _input(self, change: InputChange, out: _Out, facts: Facts) -> None:
        w, door = change.wiring, change.wiring.door
        if door not in self.doors:
            return
        if w.kind is InputKind.CONTACT:
            self.door_event(
                door, DoorEvent.DOOR_OPENED if change.active else DoorEvent.DOOR_CLOSED, out, facts
            )
        elif w.kind is InputKind.FIRE_RELEASE:
            before = len(out.records)
            ev = DoorEvent.FIRE_ON if change.active else DoorEvent.FIRE_OFF
            if self.door_event(door, ev, out, facts) or len(out.records) > before:
                body = {"door": door, "input": w.source, "active": change.active}
                out.event("door.fire_release", {**body, "state": self.doors[door].state.value})
        elif w.kind is InputKind.EXIT_REQUEST:
            if change.active and change.was is False:  # a press, not a button held at start
                self.door_event(door, DoorEvent.REX, out, facts)
                body = {"door": door, "input": w.source, "state": self.doors[door].state.value}
                out.event("door.exit_request", body)
        elif change.active or change.was is not None:  # tamper: learnt active, or changed
            body = {"door": door, "reader": w.reader, "input": w.source, "active": change.active}
            out.event("door.tamper", body)

    # --- cards, PINs and codes ----------------------------------------------------------------

    def _card(self, ev: CardPresented, out: _Out, facts: Facts) -> None:
        site = self.readers.get(ev.reader)
        digest = card_digest(self._key, card_id(ev.data, ev.bits))
        if site is None:
            kiosk = self.kiosk_readers.get(ev.reader)
            if kiosk is not None:
                out.records.append(KioskTapRecorded(kiosk, ev.reader, digest, out.now.wall))
                out.feedback(ev.reader, KIOSK_TAP)
            return  # else a reader not in the config
        self._pending.pop(ev.reader, None)
        self._entries[ev.reader].reset()
        ctx = facts.access(site.door, digest, out.now.wall)
        d = self._decide(ctx, out.now, facts)
        if d.needs_pin and site.direction == "out":
            d = self._decide(ctx, out.now, facts, PinCheck.OK)  # leaving needs no PIN
        if d.needs_pin and d.credential is not None and d.holder is not None:
            self._limits(facts)
            if self.guard.locked_until(ev.reader, d.credential, out.now.mono):
                return self._finish(ev.reader, site, digest, d, out, facts, Reason.PIN_LOCKED)
            self._pending[ev.reader] = _PendingPin(ctx, d.holder, d.credential, digest)
            self._entries[ev.reader].open(out.now.mono)
            return out.feedback(ev.reader, PIN_PROMPT)
        self._finish(ev.reader, site, digest, d, out, facts)

    def _keypress(self, ev: KeyPressed, out: _Out, facts: Facts) -> None:
        site = self.readers.get(ev.reader)
        if site is None:
            return
        mono = out.now.mono
        entry = self._entries[ev.reader]
        result = entry.feed(ev.key, mono)
        if isinstance(result, PinAbandoned):
            if result.reason is AbandonReason.CLEARED and ev.reader in self._pending:
                return entry.open(mono)  # '*' starts the PIN again
            if result.reason is AbandonReason.TOO_LONG and ev.reader in self._pending:
                return self._wrong_pin(ev.reader, site, out, facts)
            return self._abandon(ev.reader, out, facts)
        if not isinstance(result, PinSubmitted):
            return None
        pending = self._pending.pop(ev.reader, None)
        if pending is None:
            return self._code(ev.reader, site, result.pin, out, facts)
        self._limits(facts)
        if self.guard.locked_until(ev.reader, pending.credential, mono):
            d = self._decide(pending.ctx, out.now, facts, PinCheck.WRONG)
            return self._finish(ev.reader, site, pending.digest, d, out, facts, Reason.PIN_LOCKED)
        ok = facts.pin_matches(
            pending.holder, pin_digest(self._key, pending.holder, result.pin), out.now.wall
        )
        if ok:
            self.guard.success(ev.reader, pending.credential, mono)
        elif ok is not None:
            self.guard.failure(ev.reader, pending.credential, mono)
        check = PinCheck.UNKNOWN if ok is None else PinCheck.OK if ok else PinCheck.WRONG
        d = self._decide(pending.ctx, out.now, facts, check)
        self._finish(ev.reader, site, pending.digest, d, out, facts)

    def _wrong_pin(self, reader: str, site: ReaderSite, out: _Out, facts: Facts) -> None:
        """A PIN entry that cannot be right (too long): a failed attempt."""
        pending = self._pending.pop(reader)
        self._limits(facts)
        self.guard.failure(reader, pending.credential, out.now.mono)
        d = self._decide(pending.ctx, out.now, facts, PinCheck.WRONG)
        self._finish(reader, site, pending.digest, d, out, facts)

    def _code(self, reader: str, site: ReaderSite, code: str, out: _Out, facts: Facts) -> None:
        mono = out.now.mono
        try:
            digest: str | None = code_digest(self._key, self._facility, code)
        except ValueError:
            digest = None  # too short or long to be any code: still an attempt
        self._limits(facts)
        if self.guard.locked_until(reader, None, mono):
            d = self._decide(facts.access(site.door, "", out.now.wall), out.now, facts)
            return self._finish(reader, site, digest, d, out, facts, Reason.PIN_LOCKED)
        ctx = facts.access(site.door, digest or "", out.now.wall)
        d = self._decide(ctx, out.now, facts)
        if d.granted:
            self.guard.success(reader, None, mono)
        elif d.reason in _GUESSES or digest is None:
            self.guard.failure(reader, None, mono)
        self._finish(reader, site, digest if ctx.candidates else None, d, out, facts)

    def _abandon(self, reader: str, out: _Out, facts: Facts) -> None:
        pending = self._pending.pop(reader, None)
        if pending is None:
            return
        d = self._decide(pending.ctx, out.now, facts)
        self._finish(
            reader, self.readers[reader], pending.digest, d, out, facts, Reason.PIN_TIMEOUT
        )

    def _limits(self, facts: Facts) -> None:
        policy = facts.policy()
        self.guard.max_attempts = policy.pin_max_attempts
        self.guard.base_lockout_s = float(policy.pin_lockout_seconds)

    def _decide(
        self, ctx: AccessContext, now: ClockReading, facts: Facts, pin: PinCheck = PinCheck.NONE
    ) -> Decision:
        codes = [b.id for c in ctx.candidates if c.credential.kind == "code" for b in c.bookings]
        leaders = facts.leaders_in(codes) | {b for b in codes if b in self._leaders}
        return decide(
            ctx, facts.tz(), clock_trusted=now.trusted, node=self.node, pin=pin, leaders_in=leaders
        )

    def _finish(
        self,
        reader: str,
        site: ReaderSite,
        digest: str | None,
        d: Decision,
        out: _Out,
        facts: Facts,
        override: Reason | None = None,
    ) -> None:
        reason: str = (override or d.reason).value
        granted = d.granted and override is None
        if granted and self.doors[site.door].state is DoorState.LOCKDOWN:
            granted, reason = False, LOCKDOWN  # no decision opens a door in lockdown
        if granted:
            self.door_event(site.door, DoorEvent.GRANT, out, facts)
            if d.reason is Reason.BOOKING and d.booking is not None:
                self._leaders[d.booking] = out.now.mono  # codes_after_leader, before it is written
        access = AccessRecord(
            site.door,
            reader,
            digest if d.credential is not None else None,
            granted,
            reason,
            credential=d.credential,
            booking=d.booking if granted else None,
            grant=d.grant if granted else None,
            rev=d.rev,
            clock_trusted=d.clock_trusted,
            stale=d.stale,
            fallback=d.fallback,
        )
        out.records.append(AccessRecorded(access, out.now.wall))
        out.feedback(reader, GRANTED if granted else DENIED)

    # --- for the daemon's heartbeat -----------------------------------------------------------

    def door_states(self) -> dict[str, str]:
        return {d: run.state.value for d, run in self.doors.items()}


__all__ = [
    "CommandDue",
    "CoreEvent",
    "DoorCore",
    "Effect",
    "Facts",
    "LockCommand",
    "ReaderFeedback",
    "ReaderSite",
    "Started",
    "Step",
    "Tick",
]
