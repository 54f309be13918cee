"""PIN attempt limits: lockouts per credential and per reader, growing."""

from __future__ import annotations

from door_controller.pin_guard import FORGET_S, MAX_LOCKOUT_S, PinGuard


def test_credential_locked_after_max_attempts_on_every_reader() -> None:
    g = PinGuard(max_attempts=3, base_lockout_s=60)
    assert g.failure("r1", "c1", 0) is None
    assert g.failure("r2", "c1", 1) is None
    assert g.failure("r1", "c1", 2) == 62
    assert g.locked_until("r9", "c1", 10) == 62  # another reader: still locked
    assert g.locked_until("r1", "c2", 10) is None  # another card on r1: free
    assert g.locked_until("r1", "c1", 62) is None


def test_lockouts_grow_and_are_capped() -> None:
    g = PinGuard(max_attempts=1, base_lockout_s=60)
    now, lengths = 0.0, []
    for _ in range(8):
        until = g.failure("r1", "c1", now)
        assert until is not None
        lengths.append(until - now)
        now = until
    assert lengths[:4] == [60, 120, 240, 480]
    assert max(lengths) == MAX_LOCKOUT_S


def test_reader_locked_after_many_cards() -> None:
    g = PinGuard(max_attempts=3, base_lockout_s=30)
    for i in range(5):
        assert g.failure("r1", f"c{i}", i) is None
    assert g.failure("r1", "c5", 5) == 35
    assert g.locked_until("r1", "fresh-card", 6) == 35


def test_success_resets_run_and_growth_is_forgotten() -> None:
    g = PinGuard(max_attempts=3, base_lockout_s=60)
    g.failure("r1", "c1", 0)
    g.failure("r1", "c1", 1)
    g.success("r1", "c1", 2)
    assert g.failure("r1", "c1", 3) is None  # the run started again
    g.failure("r1", "c1", 4)
    assert g.failure("r1", "c1", 5) == 65
    later = 5 + FORGET_S + 100
    for t in range(2):
        assert g.failure("r1", "c1", later + t) is None
    assert g.failure("r1", "c1", later + 2) == later + 2 + 60  # growth forgotten


def test_wrong_codes_lock_only_their_own_reader() -> None:
    g = PinGuard(max_attempts=3, base_lockout_s=60)
    for t in range(3):  # max_attempts wrong codes: no lockout anywhere
        assert g.failure("r1", None, t) is None
    assert g.locked_until("r1", None, 3) is None
    for t in range(3, 5):
        assert g.failure("r1", None, t) is None
    assert g.failure("r1", None, 5) == 65  # the sixth (2 x max) locks r1's keypad
    assert g.locked_until("r1", None, 6) == 65
    assert g.locked_until("r2", None, 6) is None  # the other keypad is free


def test_an_opening_code_resets_its_readers_run() -> None:
    g = PinGuard(max_attempts=3, base_lockout_s=60)
    for t in range(5):
        g.failure("r1", None, t)
    g.success("r1", None, 5)
    for t in range(6, 11):
        assert g.failure("r1", None, t) is None  # five again: the run started over
    assert g.locked_until("r1", None, 11) is None
