"""The door state machine: one explicit table ``(state, event) -> (state, actions)``. Pure.

Rules this module guarantees (docs/door.md has the table as a diagram):
- Every (state, event) pair is in ``TABLE``; a pair that is not raises
  ``DoorStateError``. Late timer events and contact bounce are explicit no-ops,
  so no input from the field can crash the controller.
- The lock is driven only by actions: ``LOCKED``, ``FORCED``, ``LOCKDOWN``
  hold it locked; ``UNLOCKED``, ``OPEN``, ``HELD_OPEN`` and ``FIRE_RELEASE``
  hold it released; ``POWERLESS`` drives nothing (the lock does what its fail
  mode does: fail-safe releases, fail-secure stays locked).
- A door that was granted relocks when it closes, or when its unlock time runs
  out unopened; every grant (and exit request) drives the lock, also while
  the door is already unlocked. A door opened while locked is forced (alarm)
  unless request-to-exit released it.
- On a restart (``restart_state``) the lock is asserted, locked, from the
  state the door last recorded; only a door in fire release stays released.
- Fire release overrides everything until the fire input clears; lockdown
  overrides everything but fire.
- Each door change emits the PROTOCOL.md §5 event type it stands for.
Time never appears here: timers are actions the caller runs and feeds back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class DoorState(enum.Enum):
    LOCKED = "locked"
    UNLOCKED = "unlocked"  # released for unlock_seconds, not yet opened
    OPEN = "open"  # opened after a grant or request-to-exit
    HELD_OPEN = "held_open"  # open past held_open_seconds: alarm
    FORCED = "forced"  # opened while locked: alarm
    LOCKDOWN = "lockdown"
    FIRE_RELEASE = "fire_release"
    POWERLESS = "powerless"


class DoorEvent(enum.Enum):
    GRANT = "grant"  # an access decision granted
    REX = "rex"  # request-to-exit pressed
    UNLOCK_TIMEOUT = "unlock_timeout"
    DOOR_OPENED = "door_opened"
    DOOR_CLOSED = "door_closed"
    HELD_TIMEOUT = "held_timeout"
    LOCKDOWN_ON = "lockdown_on"
    LOCKDOWN_OFF = "lockdown_off"
    FIRE_ON = "fire_on"
    FIRE_OFF = "fire_off"
    POWER_LOST = "power_lost"
    POWER_RESTORED = "power_restored"


class Action(enum.Enum):
    LOCK = "lock"
    RELEASE = "release"
    START_UNLOCK_TIMER = "start_unlock_timer"
    START_HELD_TIMER = "start_held_timer"
    CANCEL_TIMERS = "cancel_timers"
    EMIT_OPENED = "door.opened"
    EMIT_CLOSED = "door.closed"
    EMIT_HELD_OPEN = "door.held_open"
    EMIT_FORCED = "door.forced"


class DoorStateError(Exception):
    """An event the table does not define for the current state."""


@dataclass(frozen=True, slots=True)
class Transition:
    state: DoorState
    actions: tuple[Action, ...] = ()


S, E, A = DoorState, DoorEvent, Action
_RELOCK = (A.CANCEL_TIMERS, A.LOCK)

# Events every ordinary state answers the same way.
_OVERRIDES: dict[DoorEvent, Transition] = {
    E.LOCKDOWN_ON: Transition(S.LOCKDOWN, _RELOCK),
    E.FIRE_ON: Transition(S.FIRE_RELEASE, (A.CANCEL_TIMERS, A.RELEASE)),
    E.POWER_LOST: Transition(S.POWERLESS, (A.CANCEL_TIMERS,)),
}


def _row(
    state: DoorState, specific: Mapping[DoorEvent, Transition] | None = None
) -> dict[tuple[DoorState, DoorEvent], Transition]:
    """A state's row: its specific transitions, the overrides, and explicit
    no-ops (stay, do nothing) for every other event. Keyed by the events
    themselves, so a misspelt event cannot be silently ignored."""
    specific = dict(specific or {})
    row: dict[tuple[DoorState, DoorEvent], Transition] = {}
    for ev in DoorEvent:
        t = specific.pop(ev, None) or _OVERRIDES.get(ev) or Transition(state)
        row[(state, ev)] = t
    if specific:  # keys that are no DoorEvent (mypy refuses them too)
        raise DoorStateError(f"row {state.value}: unknown events {sorted(map(str, specific))}")
    return row


TABLE: dict[tuple[DoorState, DoorEvent], Transition] = {
    **_row(
        S.LOCKED,
        {
            E.GRANT: Transition(S.UNLOCKED, (A.RELEASE, A.START_UNLOCK_TIMER)),
            E.REX: Transition(S.UNLOCKED, (A.RELEASE, A.START_UNLOCK_TIMER)),
            E.DOOR_OPENED: Transition(S.FORCED, (A.EMIT_FORCED,)),
        },
    ),
    **_row(
        S.UNLOCKED,
        {
            # Another grant restarts the time and drives the lock again, so
            # every grant reaches the relay (a lost frame is made good).
            E.GRANT: Transition(S.UNLOCKED, (A.RELEASE, A.START_UNLOCK_TIMER)),
            E.REX: Transition(S.UNLOCKED, (A.RELEASE, A.START_UNLOCK_TIMER)),
            E.UNLOCK_TIMEOUT: Transition(S.LOCKED, (A.LOCK,)),
            E.DOOR_OPENED: Transition(S.OPEN, (A.CANCEL_TIMERS, A.START_HELD_TIMER, A.EMIT_OPENED)),
        },
    ),
    **_row(
        S.OPEN,
        {
            E.DOOR_CLOSED: Transition(S.LOCKED, (*_RELOCK, A.EMIT_CLOSED)),
            E.HELD_TIMEOUT: Transition(S.HELD_OPEN, (A.EMIT_HELD_OPEN,)),
        },
    ),
    **_row(S.HELD_OPEN, {E.DOOR_CLOSED: Transition(S.LOCKED, (*_RELOCK, A.EMIT_CLOSED))}),
    **_row(S.FORCED, {E.DOOR_CLOSED: Transition(S.LOCKED, (A.LOCK, A.EMIT_CLOSED))}),
    **_row(
        S.LOCKDOWN,
        {
            E.DOOR_OPENED: Transition(S.LOCKDOWN, (A.EMIT_FORCED,)),
            E.DOOR_CLOSED: Transition(S.LOCKDOWN, (A.EMIT_CLOSED,)),
            E.LOCKDOWN_OFF: Transition(S.LOCKED, (A.LOCK,)),
        },
    ),
    **_row(
        S.FIRE_RELEASE,
        {
            E.LOCKDOWN_ON: Transition(S.FIRE_RELEASE),  # fire wins over lockdown
            E.FIRE_OFF: Transition(S.LOCKED, (A.LOCK,)),
            E.DOOR_OPENED: Transition(S.FIRE_RELEASE, (A.EMIT_OPENED,)),
            E.DOOR_CLOSED: Transition(S.FIRE_RELEASE, (A.EMIT_CLOSED,)),
        },
    ),
    **_row(
        S.POWERLESS,
        {
            E.LOCKDOWN_ON: Transition(S.POWERLESS),
            E.FIRE_ON: Transition(S.POWERLESS),
            E.POWER_RESTORED: Transition(S.LOCKED, (A.LOCK,)),
        },
    ),
}

# What each state holds the lock at (None: not driven; see the fail mode).
LOCK_HELD: dict[DoorState, bool | None] = {
    S.LOCKED: True,
    S.UNLOCKED: False,
    S.OPEN: False,
    S.HELD_OPEN: False,
    S.FORCED: True,
    S.LOCKDOWN: True,
    S.FIRE_RELEASE: False,
    S.POWERLESS: None,
}
ALARM_STATES = frozenset({S.HELD_OPEN, S.FORCED})


def step(
    state: DoorState,
    event: DoorEvent,
    table: Mapping[tuple[DoorState, DoorEvent], Transition] = TABLE,
) -> Transition:
    """The transition for ``event`` in ``state`` (from ``table``, by default the
    door table); raises ``DoorStateError`` if the pair is not defined."""
    try:
        return table[(state, event)]
    except KeyError:
        raise DoorStateError(f"no transition for {event.value} in {state.value}") from None


def restart_state(previous: DoorState | None, *, lockdown: bool) -> Transition:
    """Where a door starts when the controller (re)starts, from the state it
    last recorded (``previous``, None if never) and the persisted lockdown.

    The lock is asserted at once, locked, except for a door that was in fire
    release: it stays released until its fire input is read inactive (the
    reader reports its inputs when its secure channel comes up). A door that
    was open stays ``open`` (its held-open timer starts again), held open or
    forced keeps its alarm, until its contact is read closed; a lockdown
    holds. A grant in progress (``unlocked``) is forgotten."""
    if previous is S.FIRE_RELEASE:
        return Transition(S.FIRE_RELEASE, (A.RELEASE,))
    if lockdown:
        return Transition(S.LOCKDOWN, (A.LOCK,))
    if previous is S.OPEN:
        return Transition(S.OPEN, (A.LOCK, A.START_HELD_TIMER))
    if previous in (S.HELD_OPEN, S.FORCED):
        return Transition(previous, (A.LOCK,))
    return Transition(S.LOCKED, (A.LOCK,))


def physical_lock(state: DoorState, fail_mode: str) -> bool:
    """Whether the door is physically locked in ``state`` for a ``fail_mode``
    (``secure`` or ``safe``) lock: in ``POWERLESS`` the fail mode decides."""
    held = LOCK_HELD[state]
    if held is None:
        return fail_mode == "secure"
    return held


def markdown_table() -> str:
    """The transition table as Markdown: only the pairs that do something
    (every other pair is an explicit no-op). docs/door.md embeds this text."""
    lines = ["| state | event | next state | actions |", "|---|---|---|---|"]
    for (state, event), t in TABLE.items():
        if t.state is state and not t.actions:
            continue
        acts = ", ".join(a.value for a in t.actions) or "—"
        lines.append(f"| {state.value} | {event.value} | {t.state.value} | {acts} |")
    return "\n".join(lines) + "\n"
