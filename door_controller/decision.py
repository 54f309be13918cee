"""Access decisions: grant or deny one presentation at one door. Pure.

Rules this module guarantees (PROTOCOL.md §6, §7; docs/door.md):
1. A revocation of any credential matching the presentation denies it; so does
   a credential outside its validity. These win over every grant.
2. A standing grant opens its doors inside its weekly windows (facility time),
   whatever the state of the replica or the clock: staff must get in. When
   the replica cannot be read at all, the staff grants last read are all
   there is (``ctx.source == "fallback"``): everything else is denied
   ``replica_unreadable``.
3. With a stale replica (no fresh head for ``policy.max_offline_hours``) or an
   untrusted clock, nothing else opens: never anybody, never everybody, with
   one exception (PROTOCOL.md §7): with a trusted clock, the visitor code of a
   walk-in this node sold inside a lease it holds opens in its booking window
   until the lease's end (``sync.replica.walkin_rule``, the rule the kiosk
   asks too).
4. A booking opens a door (``booking_opens``) when it is active, books a
   resource the door serves, and the instant lies in [start -
   ``before_minutes``, end + ``after_minutes``). A card opens during such a
   booking of its holder or the holder's associations; with
   ``policy.pin_required`` only with the holder's correct PIN.
5. A visitor code opens only inside its own booking's window, and with
   ``policy.codes_after_leader`` only once the booking's leader has entered;
   a walk-in has no leader, so that policy never applies to it.
6. Every decision names its reason, the booking or grant used, the replica rev
   and the clock state, for the ``access.*`` event.
Nothing here reads a clock, a file or the network: time and facts come in.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sync.replica import Booking, Door
from sync.replica.access import AccessContext, Candidate
from sync.replica.walkin_rule import WalkinAccess, walkin_access


class Reason(enum.StrEnum):
    """Why a presentation was granted or denied (the ``reason`` of access events)."""

    BOOKING = "booking"
    GRANT = "grant"
    VISITOR_CODE = "visitor_code"
    UNKNOWN_DOOR = "unknown_door"
    UNKNOWN_CREDENTIAL = "unknown_credential"
    REVOKED = "revoked"
    NOT_VALID = "not_valid"
    NO_BOOKING = "no_booking"
    OUTSIDE_WINDOW = "outside_window"
    PIN_REQUIRED = "pin_required"
    PIN_WRONG = "pin_wrong"
    PIN_LOCKED = "pin_locked"  # too many wrong PINs or codes: decided by the caller's PinGuard
    PIN_TIMEOUT = "pin_timeout"  # the card asked for a PIN that never came
    LEADER_NOT_IN = "leader_not_in"
    STALE_REPLICA = "stale_replica"
    CLOCK_UNTRUSTED = "clock_untrusted"
    REPLICA_UNREADABLE = "replica_unreadable"  # staff grants only, from the fallback


class PinCheck(enum.Enum):
    """The second factor as checked by the caller against the holder's PIN digests."""

    NONE = "none"  # no PIN entered (yet)
    OK = "ok"
    WRONG = "wrong"
    UNKNOWN = "unknown"  # the replica could not be read to check it


class Decision(NamedTuple):
    """One decision (immutable; a tuple, as it is made on every tap)."""

    granted: bool
    reason: Reason
    credential: str | None
    holder: str | None
    booking: str | None
    grant: str | None
    rev: int
    clock_trusted: bool
    stale: bool
    fallback: bool = False  # decided on the staff fallback (replica unreadable)

    @property
    def needs_pin(self) -> bool:
        """The card is good but the policy wants its PIN before opening."""
        return self.reason is Reason.PIN_REQUIRED


# How specific a deny reason is: with several matching credentials the most
# telling one is reported (e.g. "pin_wrong" beats "no_booking").
_DENY_RANK = [
    Reason.UNKNOWN_CREDENTIAL,
    Reason.NO_BOOKING,
    Reason.OUTSIDE_WINDOW,
    Reason.NOT_VALID,
    Reason.REPLICA_UNREADABLE,
    Reason.STALE_REPLICA,
    Reason.CLOCK_UNTRUSTED,
    Reason.LEADER_NOT_IN,
    Reason.PIN_REQUIRED,
    Reason.PIN_WRONG,
]


@functools.cache
def _hours(n: int) -> timedelta:
    return timedelta(hours=n)


@functools.cache
def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def is_stale(ctx: AccessContext) -> bool:
    """Whether the replica is too old to trust (PROTOCOL.md §7): no verified head
    ever, or none within ``policy.max_offline_hours`` of the decision instant."""
    seen = ctx.state.head_seen_at
    if seen is None:
        return True
    return ctx.at - seen > _hours(ctx.policy.max_offline_hours)


def booking_opens(door: Door, served: frozenset[str], booking: Booking, at: datetime) -> bool:
    """Whether ``booking`` opens ``door`` at ``at`` (rule 4): active, on a served
    resource, and ``at`` in [start - before_minutes, end + after_minutes)."""
    return _Window(door, served, at).opens(booking)


class _Window:
    """Rule 4 for one door and instant: start - before <= at < end + after is
    start <= at + before and end > at - after, computed once per decision."""

    __slots__ = ("hi", "lo", "served")

    def __init__(self, door: Door, served: frozenset[str], at: datetime) -> None:
        self.served = served
        self.hi = at + _minutes(door.before_minutes)
        self.lo = at - _minutes(door.after_minutes)

    def opens(self, b: Booking) -> bool:
        return (
            b.start <= self.hi
            and b.end > self.lo
            and b.active
            and not self.served.isdisjoint(b.resources)
        )


def grant_open(cand: Candidate, at: datetime, tz: ZoneInfo) -> str | None:
    """The id of a standing grant of ``cand`` open at ``at`` (facility time), if any."""
    if not cand.grants:
        return None
    local = at.astimezone(tz)
    weekday, minute = local.isoweekday(), local.hour * 60 + local.minute
    for g in cand.grants:
        valid = (g.valid_from is None or g.valid_from <= at) and (
            g.valid_to is None or at < g.valid_to
        )
        if valid and any(w.contains(weekday, minute) for w in g.windows):
            return g.id
    return None


def decide(
    ctx: AccessContext,
    tz: ZoneInfo,
    *,
    clock_trusted: bool,
    node: str = "",
    pin: PinCheck = PinCheck.NONE,
    leaders_in: Collection[str] = (),
) -> Decision:
    """Decide the presentation gathered in ``ctx`` (see the module rules).

    ``node`` is this node's id (whose walk-ins the lease exception covers);
    ``leaders_in`` holds the ids of bookings whose leader has entered.
    """
    stale = is_stale(ctx)
    rev = ctx.state.applied_rev
    fallback = ctx.source == "fallback"

    def result(granted: bool, reason: Reason, c: Candidate | None = None) -> Decision:
        cred = c.credential if c else None
        return Decision(
            granted,
            reason,
            cred.id if cred else None,
            cred.holder if cred else None,
            None,
            None,
            rev,
            clock_trusted,
            stale,
            fallback,
        )

    if ctx.door is None:
        return result(False, Reason.REPLICA_UNREADABLE if fallback else Reason.UNKNOWN_DOOR)
    if not ctx.candidates:
        return result(False, Reason.REPLICA_UNREADABLE if fallback else Reason.UNKNOWN_CREDENTIAL)
    for cand in ctx.candidates:  # rule 1: a revocation anywhere wins
        if cand.revoked:
            return result(False, Reason.REVOKED, cand)
    rule = _Rule(ctx, ctx.door, tz, clock_trusted, stale, node, pin, leaders_in)
    denials: list[tuple[Reason, Candidate]] = []
    for cand in ctx.candidates:
        outcome = rule.one(cand)
        if isinstance(outcome, Decision):
            return outcome
        denials.append((outcome, cand))
    reason, cand = max(denials, key=lambda d: _DENY_RANK.index(d[0]))
    return result(False, reason, cand)


class _Rule:
    """The rules for one presentation's candidates (a plain class: it is made
    on every decision)."""

    __slots__ = (
        "clock_trusted",
        "ctx",
        "door",
        "leaders_in",
        "node",
        "pin",
        "stale",
        "tz",
        "window",
    )

    def __init__(
        self,
        ctx: AccessContext,
        door: Door,
        tz: ZoneInfo,
        clock_trusted: bool,
        stale: bool,
        node: str,
        pin: PinCheck,
        leaders_in: Collection[str],
    ) -> None:
        self.ctx, self.door, self.tz = ctx, door, tz
        self.clock_trusted, self.stale, self.node = clock_trusted, stale, node
        self.pin, self.leaders_in = pin, leaders_in
        self.window = _Window(door, ctx.served, ctx.at)

    def grant(
        self,
        cand: Candidate,
        reason: Reason,
        booking: str | None = None,
        grant_id: str | None = None,
    ) -> Decision:
        cred = cand.credential
        return Decision(
            True,
            reason,
            cred.id,
            cred.holder,
            booking,
            grant_id,
            self.ctx.state.applied_rev,
            self.clock_trusted,
            self.stale,
            self.ctx.source == "fallback",
        )

    def one(self, cand: Candidate) -> Decision | Reason:
        cred, at = cand.credential, self.ctx.at
        if not cred.valid_at(at):
            return Reason.NOT_VALID
        if cred.kind == "pin":
            return Reason.UNKNOWN_CREDENTIAL  # a PIN is a second factor, never a key alone
        if cred.kind == "card":  # rule 2
            grant_id = grant_open(cand, at, self.tz)
            if grant_id is not None:
                return self.grant(cand, Reason.GRANT, grant_id=grant_id)
        if self.ctx.source == "fallback":
            return Reason.REPLICA_UNREADABLE
        if not self.clock_trusted:  # rule 3
            return Reason.CLOCK_UNTRUSTED
        if cred.kind == "code":
            return self.code(cand)
        if self.stale:
            return Reason.STALE_REPLICA
        opening = [b for b in cand.bookings if self.window.opens(b)]
        if not opening:
            return Reason.NO_BOOKING
        if self.ctx.policy.pin_required:  # rule 4
            if self.pin is PinCheck.NONE:
                return Reason.PIN_REQUIRED
            if self.pin is PinCheck.UNKNOWN:
                return Reason.REPLICA_UNREADABLE
            if self.pin is PinCheck.WRONG:
                return Reason.PIN_WRONG
        return self.grant(cand, Reason.BOOKING, booking=opening[0].id)

    def code(self, cand: Candidate) -> Decision | Reason:
        """Rule 5, and rule 3's exception for this node's own walk-ins."""
        at = self.ctx.at
        booking = next((b for b in cand.bookings if b.id == cand.credential.booking), None)
        if booking is None:
            return Reason.STALE_REPLICA if self.stale else Reason.OUTSIDE_WINDOW
        walkin = booking.origin == "walkin"
        if self.stale:
            if not walkin:
                return Reason.STALE_REPLICA
            lease = next((le for le in cand.leases if le.id == booking.lease), None)
            rule = walkin_access(
                booking, lease, node=self.node, at=at, clock_trusted=self.clock_trusted
            )
            if rule is not WalkinAccess.OPENS:
                return Reason.STALE_REPLICA
        if not self.window.opens(booking):
            return Reason.OUTSIDE_WINDOW
        if not walkin and self.ctx.policy.codes_after_leader and booking.id not in self.leaders_in:
            return Reason.LEADER_NOT_IN
        return self.grant(cand, Reason.VISITOR_CODE, booking=booking.id)
