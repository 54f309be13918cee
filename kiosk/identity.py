"""Who tapped a card on the kiosk's reader, and what they may do here.

Rules this module guarantees:
- A tap is a keyed card digest (the door controller owns the reader and hands
  taps over through the database); the kiosk never sees a card number.
- Only ``card`` credentials identify; a revoked credential, one outside its
  validity, or one with no holder fails with a stable reason code.
- A holder of kind ``staff`` with any standing grant is a caretaker. A person
  who is a member of associations is a leader of those associations.
- Phone numbers are normalised to E.164 and kept only as a keyed digest
  (``phone:<facility>:<number>``, the same HMAC scheme as PROTOCOL.md
  "Credential digests"); the number itself is never stored.
- Price categories are derived from the booking holder's kind, for display only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from sync.replica import Grant, Holder, Replica, credentials_by_digest, is_revoked


class IdentifyFailed(Exception):
    """The card cannot identify anyone; ``reason`` is ``unknown``, ``revoked``,
    ``not_valid`` or ``no_holder``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Identity:
    """A card's holder as the kiosk sees it."""

    credential: str  # credential id (who gave a caretaker command)
    holder: Holder
    groups: tuple[Holder, ...]  # associations the holder is a member of
    caretaker: bool

    @property
    def is_leader(self) -> bool:
        return self.holder.kind == "person" and bool(self.groups)


def identify(rep: Replica, digest: str, at: datetime) -> Identity:
    """The identity behind a card digest; raises ``IdentifyFailed``."""
    cards = [c for c in credentials_by_digest(rep, digest) if c.kind == "card"]
    if not cards:
        raise IdentifyFailed("unknown")
    live = [c for c in cards if not is_revoked(rep, c)]
    if not live:
        raise IdentifyFailed("revoked")
    valid = [c for c in live if c.valid_at(at)]
    if not valid:
        raise IdentifyFailed("not_valid")
    cred = valid[0]
    holder = rep.get(Holder, cred.holder) if cred.holder is not None else None
    if holder is None:
        raise IdentifyFailed("no_holder")
    groups = tuple(g for g in (rep.get(Holder, gid) for gid in holder.member_of) if g is not None)
    caretaker = holder.kind == "staff" and any(g.holder == holder.id for g in rep.all(Grant))
    return Identity(cred.id, holder, groups, caretaker)


PRICE_CATEGORIES = ("association", "person", "internal")


def price_category(holder: Holder | None) -> str:
    """``association``, ``person`` or ``internal`` (staff book at internal rates)."""
    if holder is None or holder.kind == "person":
        return "person"
    if holder.kind == "association":
        return "association"
    return "internal"


_PHONE_JUNK = re.compile(r"[\s\-()./]")


class BadPhone(ValueError):
    """Not a phone number the kiosk accepts."""


def normalise_phone(text: str, country: str = "46") -> str:
    """E.164 (``+46701234567``) from what a person types; raises ``BadPhone``.

    A leading ``0`` is the national trunk prefix of ``country`` (Sweden: 46);
    ``00`` and ``+`` start an international number. 8 to 15 digits in all.
    """
    s = _PHONE_JUNK.sub("", text)
    if s.startswith("+"):
        digits = s[1:]
    elif s.startswith("00"):
        digits = s[2:]
    elif s.startswith("0"):
        digits = country + s[1:]
    else:
        raise BadPhone(text)
    if not (digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 15):
        raise BadPhone(text)
    return "+" + digits


def phone_digest(key: bytes, facility_id: str, e164: str) -> str:
    """``base64url(HMAC-SHA256(K, "phone:" + facility_id + ":" + e164))``."""
    if len(key) != 32:
        raise ValueError("the credential key must be exactly 32 bytes")
    mac = hmac.new(key, f"phone:{facility_id}:{e164}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
