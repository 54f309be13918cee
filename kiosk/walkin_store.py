"""Writing a walk-in: the booking, its event and its visitor code, as one fact.

Rules this module guarantees:
- The visitor code is 6 random digits from ``secrets``; it is unique among the
  facility's credentials (PROTOCOL.md: "a code is unique within its facility
  while it is valid"), checked by its digest before it is handed out.
- The kiosk never stores the code itself: only its keyed digest
  (``code_digest``), in a local ``code`` credential bound to the booking, so
  the door controller honours it at once, offline too.
- ``create_walkin`` (sync.replica) and the credential commit in one
  transaction: a refused walk-in leaves neither behind. A phone booker's
  digest is stored with the walk-in in that transaction (it finds their
  rejected walk-ins after a kiosk restart).
- The ``walkin.created`` body carries ``code_digest`` (and ``phone_digest``
  for a phone-identified person); see docs/kiosk.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sync.replica import (
    Booking,
    Credential,
    OutboxEvent,
    Replica,
    code_digest,
    create_walkin,
    credentials_by_digest,
)

from .qrtext import calendar_entry, from_template
from .services import Services

CODE_DIGITS = 6
CODE_VALID_AFTER = timedelta(minutes=240)  # the longest `after_minutes` a door may have


class NoFreeCode(Exception):
    """No unused visitor code was found (the facility's code space is crowded)."""


def credential_id(booking_id: str) -> str:
    """The id of a walk-in's visitor code credential; central reuses it."""
    return f"walkin-code.{booking_id}"


def new_code(
    rep: Replica,
    key: bytes,
    facility_id: str,
    draw: Callable[[int], int] = secrets.randbelow,
    tries: int = 50,
) -> tuple[str, str]:
    """A fresh visitor code and its digest; raises ``NoFreeCode``."""
    for _ in range(tries):
        code = f"{draw(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        digest = code_digest(key, facility_id, code)
        if not credentials_by_digest(rep, digest):
            return code, digest
    raise NoFreeCode(f"no unused {CODE_DIGITS}-digit code in {tries} tries")


def store_walkin(
    rep: Replica,
    node: str,
    booking: Booking,
    digest: str,
    now: datetime,
    phone_digest: str | None = None,
) -> OutboxEvent:
    """Create the walk-in and its local visitor code credential atomically.

    Raises ``WalkinRefused`` (from ``create_walkin``) with nothing written.
    """
    with rep.write():
        event = create_walkin(
            rep, node, booking, now, {"code_digest": digest}, phone_digest=phone_digest
        )
        rep.put(
            Credential(
                credential_id(booking.id),
                None,
                "code",
                digest,
                None,
                booking.end + CODE_VALID_AFTER,
                booking.id,
            )
        )
    return event


def qr_payload(svc: Services, booking: Booking, resource_name: str, code: str) -> str:
    """What the QR code holds (``kiosk.qrtext``): the municipality's e-service
    link when node.toml gives a template, else a calendar entry with the
    booking's time, the room and the door code."""
    template = svc.settings.qr_url_template
    if template:
        return from_template(
            template, facility=svc.facility_id, booking=booking.id, code=code,
            start=booking.start, end=booking.end, resource=booking.resources[0],
        )  # fmt: skip
    facility = svc.rep.facility()
    place = facility.name if facility else svc.facility_id
    return calendar_entry(
        title=f"{resource_name}, {place}",
        place=place,
        description=f"Door code / Dörrkod: {code[:3]} {code[3:]} #",
        start=booking.start,
        end=booking.end,
    )
