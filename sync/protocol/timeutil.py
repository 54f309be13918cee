"""Instants and facility time.

Rules this module guarantees:
- An instant is an aware ``datetime`` in UTC; on disk it is integer Unix seconds.
  PROTOCOL.md §4: on the wire it is RFC 3339 in UTC with a ``Z`` suffix, and we
  accept nothing else (no offsets, no naive times), so one instant has one text.
- Facility time (Europe/Stockholm by default) is derived with ``zoneinfo`` and is
  used only for display, for "today" and for weekly windows.
- A local day is [local midnight, next local midnight): 23 hours on the spring
  DST day, 25 hours on the autumn one.
- A wall-clock time that does not exist (the skipped spring hour) is read with
  the offset before the gap (RFC 5545); one that exists twice (the repeated
  autumn hour) maps to its first occurrence, unless ``fold=1`` asks for the second.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = UTC

# fullmatch and ASCII digits only: one instant has one spelling (no "\n", no
# other scripts' digits).
_RFC3339_Z = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z"
)
_PARSED: dict[str, datetime] = {}  # whole-second texts parse_instant met (the last few thousand)
_HHMM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")


def zone(name: str) -> ZoneInfo:
    """Return the ``ZoneInfo`` for ``name``; raise ``ValueError`` if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # a folder name is an OSError
        raise ValueError(f"unknown time zone {name!r}") from exc


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 UTC instant (``2026-03-29T01:30:00Z``).

    Fractions of a second are accepted and truncated. Raises ``ValueError``.
    """
    if type(text) is str and (known := _PARSED.get(text)) is not None:
        return known  # a text met before (the events of a batch share a few seconds)
    if (
        type(text) is str
        and len(text) == 20
        and text[19] == "Z"
        and text[10] == "T"
        and text[4] == text[7] == "-"
        and text[13] == text[16] == ":"
    ):
        # The common whole-second spelling, without the pattern: with every
        # separator in place, the C parser accepts only ASCII digits between
        # (and the "+00:00" suffix gives the UTC singleton without a replace).
        try:
            at = datetime.fromisoformat(text[:19] + "+00:00")
        except ValueError:
            pass  # the checks below name what is wrong
        else:
            if len(_PARSED) >= _FORMATTED_MAX:
                _PARSED.clear()
            _PARSED[text] = at
            return at
    m = _RFC3339_Z.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"not an RFC 3339 UTC instant with Z suffix: {text!r}")
    try:
        # The pattern has checked the shape (ASCII digits, one spelling); the
        # C parser then reads the fields (every stored row passes here).
        return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"not a valid instant: {text!r}") from exc


def format_instant(at: datetime) -> str:
    """Format an aware instant as RFC 3339 UTC with ``Z``, whole seconds
    (truncated), the year in four digits."""
    # The text of each whole second is kept (the last few thousand): the
    # events of one batch share a handful of seconds, and the integer second
    # (exact: timedelta arithmetic, no float, any fold) is cheaper to find
    # than the text is to make.
    second = (require_aware(at) - _EPOCH) // _SECOND
    text = _FORMATTED.get(second)
    if text is None:
        # isoformat, not strftime: three times faster (every stored record
        # passes here), and it pads the year where glibc's %Y does not.
        text = at.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"
        if len(_FORMATTED) >= _FORMATTED_MAX:
            _FORMATTED.clear()
        _FORMATTED[second] = text
    return text


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_FORMATTED: dict[int, str] = {}
_FORMATTED_MAX = 4096


def require_aware(at: datetime) -> datetime:
    """Return ``at`` if it carries a time zone; raise ``ValueError`` if naive."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime where an instant is required: {at!r}")
    return at


def to_ts(at: datetime) -> int:
    """Integer Unix seconds of an aware instant (sub-seconds truncated)."""
    return int(require_aware(at).timestamp() // 1)


def from_ts(ts: int) -> datetime:
    """The UTC instant of integer Unix seconds."""
    # Kept per second, as ``format_instant``'s texts (a datetime is immutable):
    # a batch of events read from the outbox shares a handful of seconds.
    at = _INSTANTS.get(ts)
    if at is None:
        at = datetime.fromtimestamp(ts, UTC)
        if len(_INSTANTS) >= _FORMATTED_MAX:
            _INSTANTS.clear()
        _INSTANTS[ts] = at
    return at


_INSTANTS: dict[int, datetime] = {}


def local_to_instant(day: date, wall: time, tz: ZoneInfo, *, fold: int = 0) -> datetime:
    """The UTC instant of wall-clock ``wall`` on ``day`` in ``tz``.

    In the repeated autumn hour ``fold`` picks the occurrence (0 = first). A wall
    time inside the spring-forward gap does not exist; as in RFC 5545 §3.3.5 it
    is read with the offset in force before the gap, so 02:30 on the spring day
    in Stockholm is 03:30 CEST.
    """
    return datetime.combine(day, wall).replace(tzinfo=tz, fold=fold).astimezone(UTC)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC instants of ``day``'s local midnight and the next day's local midnight."""
    start = local_to_instant(day, time(0, 0), tz)
    end = local_to_instant(day + timedelta(days=1), time(0, 0), tz)
    return start, end


def local_day(at: datetime, tz: ZoneInfo) -> date:
    """The facility-local calendar date of an instant."""
    return require_aware(at).astimezone(tz).date()


def parse_hhmm(text: str) -> int:
    """Minutes after local midnight of ``HH:MM`` (``24:00`` allowed); raises ``ValueError``."""
    if not isinstance(text, str) or not _HHMM.fullmatch(text):
        raise ValueError(f"not a HH:MM time: {text!r}")
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def format_hhmm(minutes: int) -> str:
    """``HH:MM`` of minutes after midnight."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def age_s(seconds: float) -> str:
    """A duration for an operator to read: "95 s", "12 min", "5 h", "3 days"
    (whole units, truncated). ``hallvakt status``, its ``--watch`` and
    central's ``status`` all say ages this way."""
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} days"
