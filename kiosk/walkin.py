"""The walk-in flow: pick a free slot and a length, identify, see the price
category, confirm; then the door code, its QR code and central's verdict.

Rules this module guarantees:
- The flow is one explicit table ``(state, event) -> state`` (ARCHITECTURE.md
  point 2); a pair not in the table raises ``InvalidTransition`` and changes
  nothing. docs/kiosk.md shows the table; a test checks every pair.
- Only slots ``free_slots`` offers inside this node's leases can be picked,
  the slot in progress from now (rounded down to 5 minutes, ``today.open_slots``);
  a length is whole slots, consecutive, free, inside one lease and at most
  the resource's ``walkin_max_slots``.
- Nothing is sold that the door would refuse: before writing, the walk-in is
  put to ``walkin_access`` (PROTOCOL.md §7) at its start with the clock state
  the kiosk knows; anything but ``OPENS`` refuses with ``access_<reason>``
  and writes nothing. Slots that would be refused are not offered at all.
- Identification: a card tapped on the kiosk's reader (its digest), or for a
  private person a phone number, kept only as a keyed digest.
- Confirming writes the booking, its ``walkin.created`` event and a local
  visitor code credential in one transaction (``walkin_store``); a refusal
  (the time was taken meanwhile, a divisible hall's conflict) writes nothing.
- The door code is shown, never spoken unless asked (``code_speech``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from sync.replica import (
    Booking,
    Holder,
    Slot,
    WalkinRefused,
    day_bounds,
    local_day,
    uuid7,
    walkin_states,
)
from sync.replica.walkin_rule import WalkinAccess

from .identity import (
    BadPhone,
    IdentifyFailed,
    Identity,
    identify,
    normalise_phone,
    phone_digest,
    price_category,
)
from .services import Services
from .today import open_slots, round_down, sell_check
from .walkin_store import NoFreeCode, new_code, qr_payload, store_walkin


class W(Enum):
    """States of the walk-in flow."""

    CHOOSE = "choose"
    IDENTIFY = "identify"
    CONFIRM = "confirm"
    DONE = "done"
    REFUSED = "refused"
    CLOSED = "closed"


class E(Enum):
    """Events of the walk-in flow."""

    PICK = "pick"
    NEXT = "next"
    CARD_OK = "card_ok"
    CARD_BAD = "card_bad"
    PHONE_OK = "phone_ok"
    PHONE_BAD = "phone_bad"
    BACK = "back"
    CONFIRM_OK = "confirm_ok"
    CONFIRM_REFUSED = "confirm_refused"
    VERDICT = "verdict"
    CANCEL = "cancel"
    TIMEOUT = "timeout"


TABLE: dict[tuple[W, E], W] = {
    (W.CHOOSE, E.PICK): W.CHOOSE,
    (W.CHOOSE, E.NEXT): W.IDENTIFY,
    (W.CHOOSE, E.CANCEL): W.CLOSED,
    (W.CHOOSE, E.TIMEOUT): W.CLOSED,
    (W.IDENTIFY, E.CARD_OK): W.CONFIRM,
    (W.IDENTIFY, E.CARD_BAD): W.IDENTIFY,
    (W.IDENTIFY, E.PHONE_OK): W.CONFIRM,
    (W.IDENTIFY, E.PHONE_BAD): W.IDENTIFY,
    (W.IDENTIFY, E.BACK): W.CHOOSE,
    (W.IDENTIFY, E.CANCEL): W.CLOSED,
    (W.IDENTIFY, E.TIMEOUT): W.CLOSED,
    (W.CONFIRM, E.CONFIRM_OK): W.DONE,
    (W.CONFIRM, E.CONFIRM_REFUSED): W.REFUSED,
    (W.CONFIRM, E.BACK): W.IDENTIFY,
    (W.CONFIRM, E.CANCEL): W.CLOSED,
    (W.CONFIRM, E.TIMEOUT): W.CLOSED,
    (W.DONE, E.VERDICT): W.DONE,
    (W.DONE, E.CANCEL): W.CLOSED,
    (W.DONE, E.TIMEOUT): W.CLOSED,
    (W.REFUSED, E.BACK): W.CHOOSE,
    (W.REFUSED, E.CANCEL): W.CLOSED,
    (W.REFUSED, E.TIMEOUT): W.CLOSED,
}


class InvalidTransition(Exception):
    def __init__(self, state: W, event: E) -> None:
        self.state, self.event = state, event
        super().__init__(f"{event.value} is not allowed in {state.value}")


def step(state: W, event: E) -> W:
    """The next state; raises ``InvalidTransition`` for a pair not in ``TABLE``."""
    try:
        return TABLE[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None


@dataclass(frozen=True, slots=True)
class Done:
    """What the confirmation screen shows."""

    booking: str
    code: str
    qr: str
    start: datetime  # facility-local
    end: datetime
    verdict: str  # pending, accepted, rejected (central's, PROTOCOL.md §6 ack)
    reason: str


@dataclass(frozen=True, slots=True)
class WalkinView:
    state: W
    resource: str
    resource_name: str
    slots: tuple[Slot, ...]  # free starts to pick from
    chosen: Slot | None
    lengths: tuple[int, ...]  # allowed lengths in slots for the chosen start
    length: int
    slot_minutes: int
    start: datetime | None  # facility-local
    end: datetime | None
    payer: str  # public name of who books ("" for a private person)
    price: str | None  # association, person, internal
    phone_allowed: bool
    error: str | None  # a stable code: card_unknown, card_revoked, phone_bad, conflict, ...
    done: Done | None


@dataclass(slots=True)
class WalkinFlow:
    """One visitor's walk-in, from the Today screen to the door code."""

    svc: Services
    resource: str
    state: W = W.CHOOSE
    chosen: Slot | None = None
    length: int = 1
    identity: Identity | None = None
    payer: Holder | None = None
    phone: str | None = None  # keyed digest only
    error: str | None = None
    done: Done | None = None
    refusal: str | None = None  # why free slots are not offered (a WalkinAccess value)
    _slots: list[Slot] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._load_slots()

    # --- reading -----------------------------------------------------------

    def _load_slots(self) -> None:
        rep, now = self.svc.rep, self.svc.clock.now()
        _, end = day_bounds(local_day(now, rep.tz), rep.tz)
        _, minutes, _ = self._res()
        trusted = self.svc.clock.trusted()
        self._slots, self.refusal = [], None
        for s in open_slots(rep, self.svc.node_id, self.resource, minutes, now, end):
            verdict = sell_check(rep, self.svc.node_id, s, clock_trusted=trusted)
            if verdict is WalkinAccess.OPENS:
                self._slots.append(s)
            elif self.refusal is None:
                self.refusal = verdict.value
        if self.chosen is not None:
            # The slot in progress moves with the clock: keep it picked by its end.
            self.chosen = next(
                (
                    s
                    for s in self._slots
                    if (s.end, s.lease) == (self.chosen.end, self.chosen.lease)
                ),
                None,
            )
            if self.chosen is None:
                self.length = 1

    def _res(self) -> tuple[str, int, int]:
        from sync.replica import Resource

        res = self.svc.rep.get(Resource, self.resource)
        if res is None:
            return self.resource, 60, 1
        return res.name, res.walkin_slot_minutes or 60, res.walkin_max_slots

    def lengths(self) -> tuple[int, ...]:
        """Allowed lengths (in slots) from the chosen start: consecutive free
        slots of one lease, at most ``walkin_max_slots``."""
        if self.chosen is None:
            return ()
        _, _, most = self._res()
        out, cur = [1], self.chosen
        by_start = {(s.start, s.lease): s for s in self._slots}
        while len(out) < most:
            nxt = by_start.get((cur.end, cur.lease))
            if nxt is None:
                break
            out.append(len(out) + 1)
            cur = nxt
        return tuple(out)

    def view(self) -> WalkinView:
        name, minutes, _ = self._res()
        tz = self.svc.rep.tz
        start = end = None
        if self.chosen is not None:
            start = self.chosen.start.astimezone(tz)
            end = self._end().astimezone(tz)
        return WalkinView(
            self.state,
            self.resource,
            name,
            tuple(self._slots),
            self.chosen,
            self.lengths(),
            self.length,
            minutes,
            start,
            end,
            "" if self.payer is None or self.payer.kind == "person" else self.payer.display_name,
            price_category(self.payer) if self.state is W.CONFIRM or self.done else None,
            self.svc.settings.phone_walkins,
            self.error,
            self.done,
        )

    def _end(self) -> datetime:
        assert self.chosen is not None
        _, minutes, _ = self._res()
        return self.chosen.end + timedelta(minutes=minutes * (self.length - 1))

    # --- events --------------------------------------------------------------

    def _go(self, event: E) -> None:
        self.state = step(self.state, event)

    @property
    def slots(self) -> tuple[Slot, ...]:
        return tuple(self._slots)

    def pick(self, start: datetime) -> None:
        """Choose the free slot holding ``start``; raises ``ValueError`` if none."""
        slot = next((s for s in self._slots if s.start <= start < s.end), None)
        if slot is None:
            raise ValueError(f"no free slot at {start}")
        self._go(E.PICK)
        self.chosen, self.length, self.error = slot, 1, None

    def set_length(self, slots: int) -> None:
        if slots not in self.lengths():
            raise ValueError(f"{slots} slots are not allowed here")
        self._go(E.PICK)
        self.length = slots

    def next(self) -> None:
        if self.chosen is None:
            raise InvalidTransition(self.state, E.NEXT)
        self._go(E.NEXT)
        self.error = None

    def tap(self, digest: str) -> None:
        """A card on the kiosk's reader while waiting to identify."""
        if self.state is not W.IDENTIFY:
            raise InvalidTransition(self.state, E.CARD_OK)
        try:
            who = identify(self.svc.rep, digest, self.svc.clock.now())
        except IdentifyFailed as exc:
            self._go(E.CARD_BAD)
            self.error = f"card_{exc.reason}"
            return
        self._go(E.CARD_OK)
        self.identity, self.phone, self.error = who, None, None
        # A leader books for the association; anyone else for themselves.
        self.payer = who.groups[0] if who.is_leader else who.holder

    def enter_phone(self, text: str) -> None:
        """A private person's phone number (only its keyed digest is kept)."""
        if self.state is not W.IDENTIFY or not self.svc.settings.phone_walkins:
            raise InvalidTransition(self.state, E.PHONE_OK)
        try:
            e164 = normalise_phone(text)
        except BadPhone:
            self._go(E.PHONE_BAD)
            self.error = "phone_bad"
            return
        self._go(E.PHONE_OK)
        self.phone = phone_digest(self.svc.credential_key, self.svc.facility_id, e164)
        self.identity, self.payer, self.error = None, None, None

    def back(self) -> None:
        self._go(E.BACK)
        self.error = None
        if self.state is W.CHOOSE:
            self._load_slots()

    def cancel(self) -> None:
        self._go(E.CANCEL)

    def timeout(self) -> None:
        self._go(E.TIMEOUT)

    def confirm(self) -> None:
        """Write the walk-in; on refusal the state says why (``error``)."""
        if self.state is not W.CONFIRM or self.chosen is None:
            raise InvalidTransition(self.state, E.CONFIRM_OK)
        svc, now = self.svc, self.svc.clock.now()
        start = self.chosen.start
        if start < now:  # the slot in progress: from now, rounded down to 5 minutes
            start = max(start, round_down(now))
        booking = Booking(
            f"w.{uuid7()}",
            (self.resource,),
            start,
            self._end(),
            None if self.payer is None else self.payer.id,
            "",
            "confirmed",
            "walkin",
            self.chosen.lease,
            svc.node_id,
        )
        slot = Slot(self.resource, booking.start, booking.end, self.chosen.lease)
        verdict = sell_check(svc.rep, svc.node_id, slot, clock_trusted=svc.clock.trusted())
        if verdict is not WalkinAccess.OPENS:
            # PROTOCOL.md §7: never sell what the door would refuse at its start.
            self._go(E.CONFIRM_REFUSED)
            self.error = f"access_{verdict.value}"
            return
        try:
            code, digest = new_code(svc.rep, svc.credential_key, svc.facility_id)
            store_walkin(svc.rep, svc.node_id, booking, digest, now, self.phone)
        except WalkinRefused as exc:
            self._go(E.CONFIRM_REFUSED)
            self.error = exc.reason
            return
        except NoFreeCode:
            self._go(E.CONFIRM_REFUSED)
            self.error = "no_code"
            return
        self._go(E.CONFIRM_OK)
        tz = svc.rep.tz
        name, _, _ = self._res()
        self.done = Done(
            booking.id,
            code,
            qr_payload(svc, booking, name, code),
            booking.start.astimezone(tz),
            booking.end.astimezone(tz),
            "pending",
            "",
        )

    def refresh(self) -> None:
        """Re-read central's verdict (DONE) or the free slots (CHOOSE)."""
        if self.state is W.DONE and self.done is not None:
            verdict, reason = walkin_states(self.svc.rep).get(self.done.booking, ("pending", ""))
            if (verdict, reason) != (self.done.verdict, self.done.reason):
                self._go(E.VERDICT)
                d = self.done
                self.done = Done(d.booking, d.code, d.qr, d.start, d.end, verdict, reason)
        elif self.state is W.CHOOSE:
            self._load_slots()
