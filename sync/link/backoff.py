"""Reconnect backoff: exponential, capped, with full jitter (PROTOCOL.md §2).

The n-th wait after a failure (n from 0) is uniform in ``[0, min(cap, base * 2**n)]``
("full jitter"), so that nodes that lost the broker together do not come back
together. A connection that stayed up ``stable_after`` seconds resets n.
Pure: the random source and the times are passed in.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self,
        *,
        base: float = 1.0,
        cap: float = 300.0,
        stable_after: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < base <= cap:
            raise ValueError("0 < base <= cap")
        self.base, self.cap, self.stable_after = base, cap, stable_after
        self.failures = 0
        self._rng = rng or random.Random()
        self._up_since: float | None = None

    def ceiling(self) -> float:
        """The largest wait the next failure can draw."""
        return float(min(self.cap, self.base * 2 ** min(self.failures, 64)))

    def connected(self, mono: float) -> None:
        self._up_since = mono

    def next_delay(self, mono: float) -> float:
        """A connection ended or an attempt failed at ``mono``: how long to wait."""
        if self._up_since is not None and mono - self._up_since >= self.stable_after:
            self.failures = 0
        self._up_since = None
        delay = self._rng.uniform(0.0, self.ceiling())
        self.failures += 1
        return delay
