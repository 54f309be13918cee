"""What central has to tell the people at a kiosk, besides the day's schedule:
its messages, and its verdicts on walk-ins booked here. ``KioskModel`` shows
and speaks them; this module only keeps them.

Rules this module guarantees:
- ``message`` commands from central (PROTOCOL.md §6) are taken by
  ``Messages.take`` (``take_message``, which answers ``command.done``), one
  per audience (``public``, ``caretaker``): a newer one replaces it, an empty
  text clears it, and all of them are gone when the facility day turns
  (``new_day``). The ones already taken today are read back at start
  (``load``), so a restart loses nothing.
- ``Rejections.unseen``: walk-ins central rejected, booked by a person (or
  the associations they belong to) or with a phone digest, each at most once
  per kiosk run. Who booked comes from the node database
  (``rejected_walkins``), so a restart loses nothing; only "already shown in
  this run" is in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sync.replica import (
    KioskMessage,
    day_bounds,
    local_day,
    pending_messages,
    rejected_walkins,
    shown_messages,
    take_message,
)

from .caretaker import RejectedLine
from .identity import Identity
from .services import Services


class Messages:
    """Central's messages shown on this kiosk today, by audience."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.by_audience: dict[str, KioskMessage] = {}
        self._day: datetime | None = None

    @property
    def public(self) -> str | None:
        m = self.by_audience.get("public")
        return m.text if m else None

    @property
    def caretaker(self) -> str | None:
        m = self.by_audience.get("caretaker")
        return m.text if m else None

    def _day_start(self) -> datetime:
        now = self.svc.clock.now()
        return day_bounds(local_day(now, self.svc.rep.tz), self.svc.rep.tz)[0]

    def load(self) -> None:
        """Today's messages already taken (by this kiosk before a restart, or another)."""
        day = self._day = self._day_start()
        self.by_audience = shown_messages(self.svc.rep, day)

    def new_day(self) -> bool:
        """When the facility day has turned since ``load``: today's messages
        instead of yesterday's (True)."""
        if self._day_start() == self._day:
            return False
        self.load()
        return True

    def take(self) -> Iterator[KioskMessage]:
        """Take central's pending messages (answers ``command.done``), each
        kept before it is yielded."""
        svc = self.svc
        for pending in pending_messages(svc.rep):
            now, trusted = svc.clock.now(), svc.clock.trusted()
            msg = take_message(svc.rep, pending.id, svc.settings.id, now, clock_trusted=trusted)
            if msg is None:
                continue
            if msg.text:
                self.by_audience[msg.audience] = msg
            else:
                self.by_audience.pop(msg.audience, None)  # an empty text clears
            yield msg


class Rejections:
    """Walk-ins central rejected, each shown once in this kiosk run."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.shown: set[str] = set()  # booking ids

    def unseen(self, who: Identity | None, phone: str | None) -> tuple[RejectedLine, ...]:
        """Those ``who`` (or whoever booked with the phone digest ``phone``)
        has not been shown in this kiosk run; now they have."""
        holders = set() if who is None else {who.holder.id, *(g.id for g in who.groups)}
        out = []
        for rej in rejected_walkins(self.svc.rep, holders, phone):
            if rej.booking.id in self.shown:
                continue
            out.append(RejectedLine.of(self.svc.rep, rej.booking, rej.reason))
            self.shown.add(rej.booking.id)
        return tuple(out)
