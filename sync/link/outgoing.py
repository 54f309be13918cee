"""Events up (PROTOCOL.md §5 events): the outbox, read in batches into the window.

``EventSender.pump`` sends again every batch the window says is late (from the
database, so that nothing at or below an acknowledged ``through`` goes out),
then fills the window's free slots with batches of at most ``batch_events``
events from its next seq; a batch short of that goes only while fewer than
``PARTIAL_AFTER`` (4) are in flight, so that events written while many
batches are in flight wait to fill one. A batch ``pack`` finds ``TooLarge`` (256 KiB) is
halved until it fits; a single event too large alone travels with its body
replaced by ``{"truncated": true, "bytes": n}`` (docs/sync.md), because an
event that never goes would stop central's contiguous ``through`` for good. An
event that cannot be encoded at all (a damaged outbox row) stops sending at
its seq, and says so in the log. A message whose events all have their body's
canonical text in the outbox (``sync.replica.pending_texts``) is signed with
those texts spliced in (``sign_events``: the same bytes, checked the same);
any other goes through ``sign``, bodies encoded from their parsed form.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence

from sync.protocol import Events, Message, MessageError, TooLarge
from sync.replica import OutboxEvent, Replica, pending_texts

from .events import Moment, Publish
from .window import Window

log = logging.getLogger("hallvakt.sync")

# A new batch short of ``batch_events`` goes only while fewer than this many
# are in flight: with events trickling in, a wide window would otherwise go
# out as many small batches (a signature, a verification, a commit and an ack
# each); so the first events after a quiet spell still go at once.
PARTIAL_AFTER = 4


class EventSender:
    def __init__(
        self,
        rep: Replica,
        window: Window,
        batch_events: int,
        sign: Callable[[Message, Moment], Publish],
        sign_events: Callable[[Events, Sequence[str], Moment], Publish] | None = None,
    ) -> None:
        self.rep, self.window, self.batch_events, self._sign = rep, window, batch_events, sign
        self._sign_events = sign_events
        self.blocked_seq: int | None = None
        self.resent_batches = 0

    def pump(self, epoch: int, at: Moment) -> list[Publish]:
        """The publishes due now: late batches again, then new ones while there is room."""
        out: list[Publish] = []
        for flight in self.window.due(at.mono):
            self.resent_batches += 1
            log.info("resending events %d..%d", flight.first, flight.last)
            self._send(epoch, flight.first, flight.last, flight.attempts + 1, at, out)
        while self.window.room and self.blocked_seq is None:
            if not self._send(epoch, self.window.next_seq, None, 0, at, out):
                break
        return out

    def _send(
        self,
        epoch: int,
        first: int,
        last: int | None,
        attempts: int,
        at: Moment,
        out: list[Publish],
    ) -> bool:
        """Publish the pending events ``first..last`` (a batch's worth if ``last``
        is None) in as many messages as their size needs. False if there were none."""
        limit = self.batch_events if last is None else last - first + 1
        events, texts = pending_texts(self.rep, after=first - 1, limit=limit)
        if not events:
            return False
        if last is None and len(events) < limit and len(self.window.flights) >= PARTIAL_AFTER:
            return False  # a short batch waits while enough are in flight (module rules)
        while events:
            packed = self._encode(epoch, events, texts, at)
            if packed is None:
                return False
            publish, n = packed
            out.append(publish)
            self.window.sent(events[0].seq, events[n - 1].seq, at.mono, attempts)
            events, texts = events[n:], texts[n:]
        return True

    def _encode(
        self, epoch: int, events: list[OutboxEvent], texts: list[str | None], at: Moment
    ) -> tuple[Publish, int] | None:
        """One signed ``events`` message of a prefix of ``events`` and its length."""
        n = len(events)
        while True:
            try:
                msg = Events(epoch, tuple(events[:n]))
                bodies = texts[:n]
                if self._sign_events is not None and None not in bodies:
                    return self._sign_events(msg, bodies, at), n  # type: ignore[arg-type]
                return self._sign(msg, at), n
            except TooLarge:
                if n > 1:
                    n //= 2
                    continue
                ev = events[0]
                size = len(json.dumps(ev.body, ensure_ascii=False).encode())
                log.error("event %d is too large to send (%d bytes): body truncated", ev.seq, size)
                small = dataclasses.replace(ev, body={"truncated": True, "bytes": size})
                return self._sign(Events(epoch, (small,)), at), 1
            except MessageError as exc:
                if n > 1:
                    n //= 2
                    continue
                self.blocked_seq = events[0].seq
                log.error("outbox event %d cannot be encoded: %s", events[0].seq, exc)
                return None
