"""One clear log line per store outage, not a traceback per redelivered message.

While central's store is unreachable (PostgreSQL down or its connection
lost, a SQLite file locked or on a full disk), a gateway acknowledges
nothing it receives, and the broker delivers the same messages again after
every reconnect: each redelivery fails the same way. ``StoreOutage`` logs:

- the first failure as an error, once, with its traceback and what it means
  (nothing is acknowledged; the broker delivers it again);
- then only a count: a warning every ``every_s`` while it lasts, with the
  failures since the last one and the latest error in one line;
- the first success after it: how long it lasted and how many failed.

No clock of its own: ``clock`` (monotonic seconds) comes in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class StoreOutage:
    """Tracks whether the store is reachable, and logs as the module says."""

    def __init__(
        self,
        logger: logging.Logger,
        every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log, self.every_s, self.clock = logger, every_s, clock
        self.since: float | None = None  # when the outage began; None: reachable
        self.failures = 0  # in this outage
        self._reported_at = 0.0
        self._unreported = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException, what: str) -> None:
        """The store failed at ``what`` (a connection-level error)."""
        now = self.clock()
        self.failures += 1
        if self.since is None:
            self.since = self._reported_at = now
            self._unreported = 0
            self.log.error(
                "the store is unreachable (%s: %s): nothing received is acknowledged, the"
                " broker delivers it again; further failures are counted, not logged each",
                what,
                exc,
                exc_info=exc,
            )
            return
        self._unreported += 1
        if now - self._reported_at >= self.every_s:
            self.log.warning(
                "the store is still unreachable after %.0f s: %d more failures in the last %.0f s"
                " (latest: %s: %s)",
                now - self.since,
                self._unreported,
                now - self._reported_at,
                what,
                exc,
            )
            self._reported_at, self._unreported = now, 0

    def ok(self) -> None:
        """The store answered: an outage, if any, is over."""
        if self.since is None:
            return
        self.log.warning(
            "the store is reachable again after %.0f s; %d failures meanwhile",
            self.clock() - self.since,
            self.failures,
        )
        self.since, self.failures = None, 0
