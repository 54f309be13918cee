"""What a walk-in's QR code holds: something the visitor's phone can use.

Rules this module guarantees:
- With a URL template (node.toml ``qr_url_template``), the municipality's
  e-service link: the template's fields ``{facility}``, ``{booking}``,
  ``{code}``, ``{start}``, ``{end}`` (UTC, ``YYYYMMDDTHHMMSSZ``) and
  ``{resource}`` are filled in, URL-quoted. ``check_template`` refuses any
  other field, and anything but an ``https://`` link.
- Without one, a calendar entry (RFC 5545 ``VEVENT``, which phone cameras
  offer to add to the calendar): the booking's time, the room and place,
  and the door code in its description, so the code is at hand at the door.
  Text values are escaped as RFC 5545 §3.3.11 asks.
- The QR symbol itself is made by ``segno`` (level M) in the screen code.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from urllib.parse import quote

FIELDS = frozenset({"facility", "booking", "code", "start", "end", "resource"})


class BadTemplate(ValueError):
    """A ``qr_url_template`` the kiosk cannot use; says why."""


def check_template(template: str) -> str:
    """``template`` if usable; raises ``BadTemplate``."""
    if not template.startswith("https://"):
        raise BadTemplate("must be an https:// link")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise BadTemplate(f"is not a valid template: {exc}") from None
    unknown = sorted(names - FIELDS)
    if unknown:
        raise BadTemplate(f"has unknown fields {unknown}; allowed: {sorted(FIELDS)}")
    if len(template) > 300:
        raise BadTemplate("is longer than 300 characters")
    return template


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    """RFC 5545 §3.3.11 TEXT escaping."""
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def from_template(
    template: str,
    *,
    facility: str,
    booking: str,
    code: str,
    start: datetime,
    end: datetime,
    resource: str,
) -> str:
    values = {
        "facility": facility, "booking": booking, "code": code,
        "start": _utc(start), "end": _utc(end), "resource": resource,
    }  # fmt: skip
    return check_template(template).format(**{k: quote(v, safe="") for k, v in values.items()})


def calendar_entry(
    *,
    title: str,
    place: str,
    description: str,
    start: datetime,
    end: datetime,
) -> str:
    """A ``VEVENT`` for the visitor's calendar (CRLF line ends, RFC 5545)."""
    lines = [
        "BEGIN:VEVENT",
        f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(end)}",
        f"SUMMARY:{_escape(title)}",
        f"LOCATION:{_escape(place)}",
        f"DESCRIPTION:{_escape(description)}",
        "END:VEVENT",
    ]
    return "\r\n".join(lines)
