"""The link's view of the node clock: one ``Moment`` per reading.

The node has one clock adapter (``sync.replica.clock``: ``SystemClock``, and
``sync.replica.testing.FakeClock``); this only turns its ``ClockReading`` into
the link core's ``Moment`` (wall, monotonic, trusted, source for ``hello``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.replica.clock import NodeClock

from .events import Moment


@dataclass(slots=True)
class LinkClock:
    clock: NodeClock

    def now(self) -> Moment:
        r = self.clock.read()
        return Moment(r.wall, r.mono, r.trusted, r.source)
