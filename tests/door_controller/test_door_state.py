"""The door state machine over every (state, event) pair, and its invariants."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from door_controller.door_state import (
    ALARM_STATES,
    LOCK_HELD,
    TABLE,
    Action,
    DoorEvent,
    DoorState,
    DoorStateError,
    Transition,
    _row,
    physical_lock,
    restart_state,
    step,
)

ALL_PAIRS = list(itertools.product(DoorState, DoorEvent))


def test_table_is_complete_and_holds_only_known_states() -> None:
    assert set(TABLE) == set(ALL_PAIRS)
    assert all(isinstance(t.state, DoorState) for t in TABLE.values())


def test_pair_outside_table_raises() -> None:
    partial = {pair: t for pair, t in TABLE.items() if pair != (DoorState.LOCKED, DoorEvent.GRANT)}
    with pytest.raises(DoorStateError, match="no transition for grant in locked"):
        step(DoorState.LOCKED, DoorEvent.GRANT, partial)
    assert step(DoorState.LOCKED, DoorEvent.GRANT).state is DoorState.UNLOCKED  # TABLE untouched


def test_a_row_names_events_not_strings() -> None:
    row = _row(DoorState.OPEN, {DoorEvent.HELD_TIMEOUT: Transition(DoorState.HELD_OPEN)})
    assert row[(DoorState.OPEN, DoorEvent.HELD_TIMEOUT)].state is DoorState.HELD_OPEN
    with pytest.raises(DoorStateError, match="unknown events"):
        _row(DoorState.OPEN, {"HELD_TIMEOUT": Transition(DoorState.HELD_OPEN)})  # type: ignore[dict-item]


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=lambda x: x.value)
def test_every_pair_keeps_the_lock_consistent(state: DoorState, event: DoorEvent) -> None:
    """After any transition the lock commands leave the lock as the new state holds it."""
    t = step(state, event)
    lock_cmds = [a for a in t.actions if a in (Action.LOCK, Action.RELEASE)]
    held = LOCK_HELD[t.state]
    if lock_cmds:
        assert (lock_cmds[-1] is Action.LOCK) == held
    elif t.state is not state:
        # a state change without a lock command must not change what is held
        assert LOCK_HELD[state] == held or held is None
    # forced and held-open are reported the moment they start
    if t.state is DoorState.FORCED and state is not DoorState.FORCED:
        assert Action.EMIT_FORCED in t.actions
    if t.state is DoorState.HELD_OPEN and state is not DoorState.HELD_OPEN:
        assert Action.EMIT_HELD_OPEN in t.actions


@pytest.mark.parametrize("state", list(DoorState), ids=lambda s: s.value)
def test_fire_releases_from_every_powered_state(state: DoorState) -> None:
    t = step(state, DoorEvent.FIRE_ON)
    if state is DoorState.POWERLESS:
        assert t.state is DoorState.POWERLESS
    else:
        assert t.state is DoorState.FIRE_RELEASE
        assert Action.RELEASE in t.actions


@pytest.mark.parametrize("state", [s for s in DoorState if s is not DoorState.FIRE_RELEASE])
def test_lockdown_locks_unless_fire(state: DoorState) -> None:
    t = step(state, DoorEvent.LOCKDOWN_ON)
    if state is DoorState.POWERLESS:
        assert t.state is DoorState.POWERLESS
    else:
        assert t.state is DoorState.LOCKDOWN and LOCK_HELD[t.state] is True
    assert step(DoorState.FIRE_RELEASE, DoorEvent.LOCKDOWN_ON).state is DoorState.FIRE_RELEASE


def test_grant_open_close_relocks() -> None:
    s = DoorState.LOCKED
    seen: list[Action] = []
    for ev in (DoorEvent.GRANT, DoorEvent.DOOR_OPENED, DoorEvent.DOOR_CLOSED):
        t = step(s, ev)
        s = t.state
        seen.extend(t.actions)
    assert s is DoorState.LOCKED
    assert seen[-2:] == [Action.LOCK, Action.EMIT_CLOSED]
    assert Action.EMIT_OPENED in seen


def test_unopened_grant_relocks_on_timeout_and_late_timer_is_a_no_op() -> None:
    t = step(DoorState.UNLOCKED, DoorEvent.UNLOCK_TIMEOUT)
    assert t.state is DoorState.LOCKED and t.actions == (Action.LOCK,)
    late = step(DoorState.LOCKED, DoorEvent.UNLOCK_TIMEOUT)
    assert late.state is DoorState.LOCKED and late.actions == ()


def test_opened_while_locked_is_forced_but_not_after_rex() -> None:
    assert step(DoorState.LOCKED, DoorEvent.DOOR_OPENED).state is DoorState.FORCED
    after_rex = step(step(DoorState.LOCKED, DoorEvent.REX).state, DoorEvent.DOOR_OPENED)
    assert after_rex.state is DoorState.OPEN


def test_held_open_alarm_then_close() -> None:
    t = step(DoorState.OPEN, DoorEvent.HELD_TIMEOUT)
    assert t.state is DoorState.HELD_OPEN and t.state in ALARM_STATES
    assert step(t.state, DoorEvent.DOOR_CLOSED).state is DoorState.LOCKED


def test_fail_modes_on_power_loss() -> None:
    s = step(DoorState.LOCKED, DoorEvent.POWER_LOST).state
    assert s is DoorState.POWERLESS
    assert physical_lock(s, "secure") is True
    assert physical_lock(s, "safe") is False
    assert step(s, DoorEvent.POWER_RESTORED).state is DoorState.LOCKED


@pytest.mark.parametrize("previous", [None, *DoorState], ids=lambda s: str(s and s.value))
@pytest.mark.parametrize("lockdown", [False, True], ids=["no-lockdown", "lockdown"])
def test_restart_asserts_the_lock_unless_fire_release(
    previous: DoorState | None, lockdown: bool
) -> None:
    t = restart_state(previous, lockdown=lockdown)
    lock = [a for a in t.actions if a in (Action.LOCK, Action.RELEASE)]
    if previous is DoorState.FIRE_RELEASE:  # fire wins: released until the input reads inactive
        assert (t.state, lock) == (DoorState.FIRE_RELEASE, [Action.RELEASE])
        return
    assert lock == [Action.LOCK]
    if lockdown:
        assert t.state is DoorState.LOCKDOWN
    elif previous in (DoorState.OPEN, DoorState.HELD_OPEN, DoorState.FORCED):
        assert t.state is previous  # the alarm (or its timer) carries on until closed
    else:
        assert t.state is DoorState.LOCKED
    # a restored state answers every event through the table
    for ev in DoorEvent:
        step(t.state, ev)


def test_every_grant_drives_the_lock_even_when_unlocked() -> None:
    for ev in (DoorEvent.GRANT, DoorEvent.REX):
        t = step(DoorState.UNLOCKED, ev)
        assert (t.state, t.actions) == (
            DoorState.UNLOCKED,
            (Action.RELEASE, Action.START_UNLOCK_TIMER),
        )


@given(st.lists(st.sampled_from(list(DoorEvent)), max_size=60))
def test_any_event_sequence_is_defined_and_lockdown_never_releases(events: list[DoorEvent]) -> None:
    s = DoorState.LOCKED
    for ev in events:
        t = step(s, ev)
        if s is DoorState.LOCKDOWN and t.state is DoorState.LOCKDOWN:
            assert Action.RELEASE not in t.actions
        s = t.state
    assert s in LOCK_HELD
