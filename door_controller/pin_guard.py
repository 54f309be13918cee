"""PIN attempt limits with growing lockouts, per reader and per credential. Pure.

Rules this module guarantees:
- After ``max_attempts`` wrong PINs in a row for one credential, that credential
  is locked out on every reader; after ``2 * max_attempts`` wrong PINs or
  visitor codes in a row at one reader (whatever the cards), that reader's
  keypad is locked out, and no other reader's.
- A visitor code belongs to no credential until it matches (``credential``
  None): wrong codes count against the reader only, so guessing at one
  keypad never locks a visitor out at another.
- Each new lockout of the same key doubles (``base``, 2x, 4x …, at most
  ``MAX_LOCKOUT_S``); the growth is forgotten after ``FORGET_S`` without a
  failure. A correct PIN (or a code that opens) clears the runs of the credential and
  the reader, not their lockouts.
- While locked out, a PIN is not even checked: the caller denies at once.
Time is passed in (monotonic seconds); nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LOCKOUT_S = 3600.0
FORGET_S = 24 * 3600.0


@dataclass(slots=True)
class _Run:
    failures: int = 0  # wrong PINs in a row
    lockouts: int = 0  # lockouts so far (growth)
    locked_until: float = 0.0
    last_failure: float = 0.0


@dataclass(slots=True)
class PinGuard:
    max_attempts: int = 5
    base_lockout_s: float = 60.0
    _runs: dict[tuple[str, str], _Run] = field(default_factory=dict)

    def _run(self, kind: str, key: str, now: float) -> _Run:
        run = self._runs.setdefault((kind, key), _Run())
        if run.last_failure and now - run.last_failure > FORGET_S and now >= run.locked_until:
            run.failures = run.lockouts = 0
        return run

    def _keys(self, reader: str, credential: str | None) -> list[tuple[str, str, int]]:
        keys = [("reader", reader, 2 * self.max_attempts)]
        if credential is not None:
            keys.insert(0, ("cred", credential, self.max_attempts))
        return keys

    def locked_until(self, reader: str, credential: str | None, now: float) -> float | None:
        """When the lockout on ``reader`` (or ``credential``, if given) ends, or None if free."""
        ends = [
            r.locked_until
            for r in (self._run(kind, key, now) for kind, key, _ in self._keys(reader, credential))
            if r.locked_until > now
        ]
        return max(ends) if ends else None

    def failure(self, reader: str, credential: str | None, now: float) -> float | None:
        """Count a wrong PIN (or, with ``credential`` None, a wrong visitor code);
        return when a lockout it started ends, else None."""
        started: float | None = None
        for kind, key, limit in self._keys(reader, credential):
            run = self._run(kind, key, now)
            run.failures += 1
            run.last_failure = now
            if run.failures >= limit:
                length = min(self.base_lockout_s * 2**run.lockouts, MAX_LOCKOUT_S)
                run.lockouts += 1
                run.failures = 0
                run.locked_until = max(run.locked_until, now + length)
                started = max(started or 0.0, run.locked_until)
        return started

    def success(self, reader: str, credential: str | None, now: float) -> None:
        """A correct PIN or an opening code ends the wrong runs of the credential and the reader."""
        for kind, key, _ in self._keys(reader, credential):
            self._run(kind, key, now).failures = 0
