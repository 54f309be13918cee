"""Access decisions: grant or deny one presentation at one door. Pure.

Rules this module guarantees (PROTOCOL.md §6, §7; docs/door.md):
1. A revocation of any credential matching the presentation denies it; so does
   a credential outside its validity. These win over every grant.
2. A standing grant opens its doors inside its weekly windows (facility time),
   whatever the state of the replica or the clock: staff must get in.
3. With a stale replica (no fresh head for ``policy.max_offline_hours``) or an
   untrusted clock, nothing else opens: never anybody, never everybody.
4. A card opens during an active booking of its holder or the holder's
   associations, from the door's minutes-before to minutes-after; with
   ``policy.pin_required`` only with the holder's correct PIN.
5. A visitor code opens only inside its own booking's window, and with
   ``policy.codes_after_leader`` only once the booking's leader has entered.
6. Every decision names its reason, the booking or grant used, the replica rev
   and the clock state, for the ``access.*`` event.
Nothing here reads a clock, a file or the network: time and facts come in.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sync.replica.access import AccessContext, Candidate


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
    PIN_LOCKED = "pin_locked"  # too many wrong PINs: decided by the caller's PinGuard
    PIN_TIMEOUT = "pin_timeout"  # the card asked for a PIN that never came
    LEADER_NOT_IN = "leader_not_in"
    STALE_REPLICA = "stale_replica"
    CLOCK_UNTRUSTED = "clock_untrusted"


class PinCheck(enum.Enum):
    """The second factor as checked by the caller against the holder's PIN digests."""

    NONE = "none"  # no PIN entered (yet)
    OK = "ok"
    WRONG = "wrong"


@dataclass(frozen=True, slots=True)
class Decision:
    granted: bool
    reason: Reason
    credential: str | None
    holder: str | None
    booking: str | None
    grant: str | None
    rev: int
    clock_trusted: bool
    stale: bool

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
    Reason.STALE_REPLICA,
    Reason.CLOCK_UNTRUSTED,
    Reason.LEADER_NOT_IN,
    Reason.PIN_REQUIRED,
    Reason.PIN_WRONG,
]


def is_stale(ctx: AccessContext) -> bool:
    """Whether the replica is too old to trust (PROTOCOL.md §7): no verified head
    ever, or none within ``policy.max_offline_hours`` of the decision instant."""
    seen = ctx.state.head_seen_at
    if seen is None:
        return True
    return ctx.at - seen > timedelta(hours=ctx.policy.max_offline_hours)


def grant_open(cand: Candidate, at: datetime, tz: ZoneInfo) -> str | None:
    """The id of a standing grant of ``cand`` open at ``at`` (facility time), if any."""
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
    pin: PinCheck = PinCheck.NONE,
    leaders_in: Collection[str] = (),
) -> Decision:
    """Decide the presentation gathered in ``ctx`` (see the module rules).

    ``leaders_in`` holds the ids of bookings whose leader has entered today.
    """
    stale = is_stale(ctx)
    rev = ctx.state.applied_rev

    def result(
        granted: bool, reason: Reason, c: Candidate | None = None, **ids: str | None
    ) -> Decision:
        cred = c.credential if c else None
        return Decision(
            granted,
            reason,
            cred.id if cred else None,
            cred.holder if cred else None,
            ids.get("booking"),
            ids.get("grant"),
            rev,
            clock_trusted,
            stale,
        )

    if ctx.door is None:
        return result(False, Reason.UNKNOWN_DOOR)
    if not ctx.candidates:
        return result(False, Reason.UNKNOWN_CREDENTIAL)
    for cand in ctx.candidates:  # rule 1: a revocation anywhere wins
        if cand.revoked:
            return result(False, Reason.REVOKED, cand)
    denials: list[tuple[Reason, Candidate]] = []
    for cand in ctx.candidates:
        outcome = _decide_one(ctx, cand, tz, clock_trusted, stale, pin, leaders_in)
        if isinstance(outcome, Decision):
            return outcome
        denials.append((outcome, cand))
    reason, cand = max(denials, key=lambda d: _DENY_RANK.index(d[0]))
    return result(False, reason, cand)


def _decide_one(
    ctx: AccessContext,
    cand: Candidate,
    tz: ZoneInfo,
    clock_trusted: bool,
    stale: bool,
    pin: PinCheck,
    leaders_in: Collection[str],
) -> Decision | Reason:
    cred, at, rev = cand.credential, ctx.at, ctx.state.applied_rev

    def grant(reason: Reason, booking: str | None = None, grant_id: str | None = None) -> Decision:
        return Decision(
            True, reason, cred.id, cred.holder, booking, grant_id, rev, clock_trusted, stale
        )

    if not cred.valid_at(at):
        return Reason.NOT_VALID
    if cred.kind == "pin":
        return Reason.UNKNOWN_CREDENTIAL  # a PIN is a second factor, never a key alone
    if cred.kind == "card":  # rule 2
        grant_id = grant_open(cand, at, tz)
        if grant_id is not None:
            return grant(Reason.GRANT, grant_id=grant_id)
    if not clock_trusted:  # rule 3
        return Reason.CLOCK_UNTRUSTED
    if stale:
        return Reason.STALE_REPLICA
    if not cand.bookings:
        return Reason.OUTSIDE_WINDOW if cred.kind == "code" else Reason.NO_BOOKING
    booking = cand.bookings[0]
    if cred.kind == "code":  # rule 5
        if ctx.policy.codes_after_leader and booking.id not in leaders_in:
            return Reason.LEADER_NOT_IN
        return grant(Reason.VISITOR_CODE, booking=booking.id)
    if ctx.policy.pin_required:  # rule 4
        if pin is PinCheck.NONE:
            return Reason.PIN_REQUIRED
        if pin is PinCheck.WRONG:
            return Reason.PIN_WRONG
    return grant(Reason.BOOKING, booking=booking.id)
