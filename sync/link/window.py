"""The outbound window: which outbox ranges are in flight, and when each is sent again.

Rules this module guarantees (PROTOCOL.md §5 events, §6 ack):
- At most ``max_batches`` ranges are in flight at once; a resend takes the slot
  of the range it replaces.
- After ``acked(through)`` no range in flight, nor any range handed out later,
  holds a ``seq <= through``: partly acknowledged ranges are trimmed, wholly
  acknowledged ones dropped.
- A range not fully acknowledged by its deadline is handed back by ``due`` to
  be sent again; each further attempt doubles its timeout up to
  ``resend_max``. Progress of the acknowledgements (central is alive and
  storing) moves every deadline not yet passed to at least ``resend_after``
  from then; a range already due stays due.
- ``restart`` (a new connection) forgets every range: sending starts again at
  the first unacknowledged ``seq``.
- Until central is heard on a connection (``heard``), only the oldest range
  in flight goes again, as a probe: every ``resend_unheard`` (1 s) for the
  first ``PROBE_FAST_S`` (10 s) of the connection, then every
  ``resend_after`` (10 s); the others wait. After a broker restart the node may
  connect before central subscribed again (central's own back-off is capped
  at 5 s), and what it sent then reached nobody: the probe finds central
  within a second of its return, and costs one batch a second, not the
  window. When central is first heard, every range sent at least
  ``STALE_S`` before is due at once (its ack is unknown and it likely went
  unheard); younger ones get the ordinary timeout.

Pure: no clock (``mono`` is passed in), no database, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

STALE_S = 1.0  # central answers in milliseconds: a range older than this went unheard
PROBE_FAST_S = 10.0  # the probe's pace stays resend_unheard this long after connecting


@dataclass(slots=True)
class Flight:
    """Events ``first..last`` sent at ``sent_at`` and not yet acknowledged."""

    first: int
    last: int
    deadline: float
    attempts: int
    sent_at: float = 0.0

    @property
    def size(self) -> int:
        return self.last - self.first + 1


class Window:
    def __init__(
        self,
        *,
        max_batches: int = 4,
        resend_after: float = 10.0,
        resend_max: float = 300.0,
        resend_unheard: float = 1.0,
    ) -> None:
        if max_batches < 1 or not 0 < resend_unheard <= resend_after <= resend_max:
            raise ValueError(
                "max_batches >= 1 and 0 < resend_unheard <= resend_after <= resend_max"
            )
        self.max_batches = max_batches
        self.resend_after = resend_after
        self.resend_max = resend_max
        self.resend_unheard = resend_unheard
        self.heard = False  # central answered on this connection
        self.acked = 0  # highest seq acknowledged
        self.next_seq = 1  # the first seq not yet sent on this connection
        self.flights: list[Flight] = []
        self.since: float | None = None  # the first send on this connection

    def restart(self, acked: int) -> None:
        """A new connection: nothing is in flight; send from ``acked + 1``."""
        self.acked = acked
        self.next_seq = acked + 1
        self.flights.clear()
        self.heard = False
        self.since = None

    def central_heard(self, mono: float) -> None:
        """The first verified message from central on this connection (module rules)."""
        if self.heard:
            return
        self.heard = True
        for f in self.flights:
            if f.sent_at <= mono - STALE_S:
                f.deadline = min(f.deadline, mono)
            else:  # likely on its way to an ack: the ordinary timeout
                f.deadline = max(f.deadline, f.sent_at + self.timeout(f.attempts))

    @property
    def room(self) -> bool:
        return len(self.flights) < self.max_batches

    @property
    def events_in_flight(self) -> int:
        return sum(f.size for f in self.flights)

    def timeout(self, attempts: int, mono: float | None = None) -> float:
        """The wait before try ``attempts + 1`` of a range sent at ``mono``."""
        if not self.heard:
            if mono is not None and self.since is not None and mono - self.since < PROBE_FAST_S:
                return self.resend_unheard
            return self.resend_after
        return float(min(self.resend_after * 2**attempts, self.resend_max))

    def sent(self, first: int, last: int, mono: float, attempts: int = 0) -> None:
        """Events ``first..last`` were just published (``attempts`` earlier tries)."""
        if not self.acked < first <= last:
            raise ValueError(f"cannot send {first}..{last}: acknowledged through {self.acked}")
        if self.since is None:
            self.since = mono
        deadline = mono + self.timeout(attempts, mono)
        self.flights.append(Flight(first, last, deadline, attempts, mono))
        self.flights.sort(key=lambda f: f.first)
        self.next_seq = max(self.next_seq, last + 1)

    def acknowledge(self, through: int, mono: float) -> bool:
        """Central stored everything up to ``through``; True if that is news."""
        if through <= self.acked:
            return False
        self.acked = through
        self.next_seq = max(self.next_seq, through + 1)
        kept: list[Flight] = []
        for f in self.flights:
            if f.last <= through:
                continue
            f.first = max(f.first, through + 1)
            if f.deadline > mono:  # one due already (unheard when central came) stays due
                f.deadline = max(f.deadline, mono + self.resend_after)
            kept.append(f)
        self.flights = kept
        return True

    def due(self, mono: float) -> list[Flight]:
        """Remove and return the ranges whose deadline has passed (oldest first);
        the caller sends each again with ``attempts + 1``. Until central is
        heard only the oldest of them goes (the probe, module rules); the
        others wait as long as it does."""
        late = [f for f in self.flights if f.deadline <= mono]
        if late and not self.heard:
            probe, rest = late[0], late[1:]
            for f in rest:
                f.deadline = mono + self.timeout(probe.attempts + 1, mono)
            late = [probe]
        if late:
            gone = {id(f) for f in late}
            self.flights = [f for f in self.flights if id(f) not in gone]
        return late

    def next_deadline(self) -> float | None:
        return min((f.deadline for f in self.flights), default=None)
