"""Messages from the broker, one at a time: retries, drops and quarantine (sans-I/O).

``Inbound`` holds what the broker delivered and the core has not finished.
Rules it guarantees (sync/link/core.py states the link's whole contract):
- Messages are handled in arrival order; ``AckInbound`` for one comes after
  the commit of its effect, or after the decision to drop it, so PUBACKs stay
  in order. Consecutive acks waiting together are applied in one transaction
  (one commit for all, their PUBACKs after it).
- A message whose handling raises is kept and tried again after ``RETRY_S``
  (later messages wait behind it), as a redelivery (``dup``): its effect may be
  committed already. After ``MAX_ATTEMPTS`` it is quarantined as
  ``unprocessable``; if even that fails, it is tried again.
- A disconnect forgets every message not acknowledged: the broker delivers
  them again on the next connection, and their refs of this one are dead.
- A dropped message changes nothing but its record: a security reason appends
  one ``security.rejected`` event (at most ``SECURITY_EVENTS_PER_MIN`` a
  minute; the next one counts the ones left out), ``malformed`` and
  ``unknown_kind`` are quarantined (PROTOCOL.md §4).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections import deque
from collections.abc import Callable

from sync.protocol import Rejected
from sync.protocol.topics import Suffix
from sync.replica import Replica, append_event, quarantine

from .events import AckInbound, MessageIn, Moment, Output
from .pacing import DropLimit

log = logging.getLogger("hallvakt.sync")

MAX_ATTEMPTS = 5  # tries at one received message before it is quarantined
RETRY_S = 1.0  # wait between those tries
ACK_SUFFIX = "/" + Suffix.ACK.value  # central's acks (PROTOCOL.md §3): applied together
SECURITY_EVENTS_PER_MIN = 30

Receive = Callable[[MessageIn, Moment, list[Output]], None]


class Inbound:
    """The queue of received messages and the record of dropped ones (module rules)."""

    def __init__(self, rep: Replica) -> None:
        self.rep = rep
        self.queue: deque[MessageIn] = deque()
        self.failures = 0
        self.retry_at: float | None = None
        self.drops = DropLimit(SECURITY_EVENTS_PER_MIN)
        self.rejected: collections.Counter[str] = collections.Counter()
        self.quarantined = 0

    def push(self, msg: MessageIn) -> None:
        self.queue.append(msg)

    def forget(self) -> None:
        """The connection ended: its unacknowledged messages come again."""
        self.queue.clear()
        self.failures, self.retry_at = 0, None

    def next_wakeup(self) -> float | None:
        return self.retry_at if self.queue else None

    def drain(self, receive: Receive, at: Moment, out: list[Output]) -> None:
        """Hand each waiting message to ``receive``, in order, and acknowledge it."""
        while self.queue:
            if self.retry_at is not None and at.mono < self.retry_at:
                return
            if self.failures == 0:
                together = self._acks_together(receive, at, out)
                if together is None:
                    return  # they failed together: one by one after RETRY_S
                if together:
                    continue
            msg = self.queue[0]
            try:
                receive(msg, at, out)
            except Exception as exc:  # a transient database error, or a bug: retry, then give up
                self.failures += 1
                log.exception("handling a message on %s failed (try %d)", msg.topic, self.failures)
                if self.failures < MAX_ATTEMPTS:
                    self.retry_at = at.mono + RETRY_S
                    # Its effect may be committed already: the next try is a redelivery.
                    self.queue[0] = dataclasses.replace(msg, dup=True)
                    return
                try:
                    self.quarantine(msg, "unprocessable", repr(exc), at)
                except Exception:
                    log.exception("cannot quarantine the message either; retrying it")
                    self.retry_at = at.mono + RETRY_S
                    return
            self.queue.popleft()
            self.failures, self.retry_at = 0, None
            if msg.ref is not None:
                out.append(AckInbound(msg.ref))

    def _acks_together(self, receive: Receive, at: Moment, out: list[Output]) -> bool | None:
        """The acks at the head of the queue (two or more on ``dn/ack``), handled
        in ONE write transaction: each acknowledge a savepoint of it, one
        commit (one flush, one turn of the write lock the door and the kiosk
        share) for all; their PUBACKs follow the commit. False, with nothing
        taken from the queue, when there are fewer than two. None when
        handling one of them raised: the whole transaction is rolled back, and
        after ``RETRY_S`` each is handled on its own, as any message (what was
        done in memory, the window's acknowledgement, is done again then)."""
        run = 0
        for msg in self.queue:
            if not msg.topic.endswith(ACK_SUFFIX):
                break
            run += 1
        if run < 2:
            return False
        group = [self.queue[i] for i in range(run)]
        said: list[Output] = []
        try:
            with self.rep.write():
                for msg in group:
                    receive(msg, at, said)
        except Exception as exc:
            self.failures += 1
            self.retry_at = at.mono + RETRY_S
            log.warning("%d acks together failed (%r): each on its own next", run, exc)
            return None
        for _ in group:
            self.queue.popleft()
        out.extend(said)
        out.extend(AckInbound(m.ref) for m in group if m.ref is not None)
        return True

    def drop(self, msg: MessageIn, rejected: Rejected, at: Moment) -> None:
        """Record a dropped message (module rules)."""
        self.rejected[rejected.reason.value] += 1
        if rejected.quarantine:
            self.quarantine(msg, rejected.reason.value, rejected.detail, at)
            return
        reason, detail = rejected.reason, rejected.detail
        log.warning("dropped a message on %s: %s (%s)", msg.topic[:200], reason, detail)
        left_out = self.drops.admit(at.mono)
        if left_out is None:
            return
        body = rejected.event_body(msg.topic)
        if left_out:
            body["suppressed"] = left_out
        append_event(self.rep, "security.rejected", body, at.wall)

    def quarantine(self, msg: MessageIn, reason: str, detail: str, at: Moment) -> None:
        log.warning("quarantined a message on %s: %s (%s)", msg.topic[:200], reason, detail)
        quarantine(self.rep, msg.topic, reason, detail, msg.payload, at.wall)
        self.quarantined += 1
