"""What every report reads: the facilities, their resources and holders, and the sessions' evidence.

Rules this module guarantees:
- ``Query`` is what a report is asked for: facilities (None = all), a period of
  facility-local dates ``[start, end]`` (both inclusive), and ``now`` (what has
  ended by now can be judged; what has not is ``pending``).
- A session belongs to the period when its booking starts on one of its
  local dates (the facility's time zone).
- Reports name holders as the booking system names organisations: an
  association's or internal customer's ``display_name``; a private person is
  ``PRIVATE`` and never named (docs/privacy.md). Cards, PINs, phones and
  credential digests are never read here.
- ``sessions`` reads only known bookings (``evidence.known``) and a row
  ``removed`` at central is left out: the booking system withdrew it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sync.protocol.timeutil import local_to_instant, to_ts, zone

from ..store import Store
from ..store.base import StoreError

PRIVATE = "Private person"
ACTIVE = ("confirmed", "tentative")


class ReportError(StoreError):
    """A report that cannot be made as asked (unknown facility, bad period...)."""


@dataclass(frozen=True, slots=True)
class Query:
    """Which facilities (None: all), which local dates, and the time of the report."""

    facilities: tuple[str, ...] | None
    start: date
    end: date
    now: datetime

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ReportError(f"the period ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True, slots=True)
class Facility:
    id: str
    name: str
    tz: ZoneInfo
    municipality: str
    resources: dict[str, tuple[str, str | None]]  # id -> (name, parent)
    holders: dict[str, tuple[str, str]]  # id -> (kind, display_name)

    def resource_name(self, rid: str) -> str:
        return self.resources.get(rid, (rid, None))[0]

    def holder_name(self, hid: str | None) -> str:
        """How a report names ``hid`` (module rules)."""
        if hid is None:
            return "(no holder)"
        kind, name = self.holders.get(hid, ("", hid))
        return PRIVATE if kind == "person" else name

    def holder_kind(self, hid: str | None) -> str:
        return "" if hid is None else self.holders.get(hid, ("", ""))[0]

    def bounds(self, start: date, end: date) -> tuple[int, int]:
        """Unix seconds of local midnight opening ``start`` and closing ``end``."""
        lo = local_to_instant(start, time(0), self.tz)
        hi = local_to_instant(end + timedelta(days=1), time(0), self.tz)
        return to_ts(lo), to_ts(hi)


@dataclass(frozen=True, slots=True)
class Row:
    """One session's booking and evidence, as the evidence table holds them."""

    facility: str
    booking: str
    resources: tuple[str, ...]
    start_ts: int
    end_ts: int
    holder: str | None
    title: str
    status: str
    origin: str
    first_entry_ts: int | None
    last_entry_ts: int | None
    entries: int
    leader_entry_ts: int | None
    no_show_ts: int | None
    released_ts: int | None
    participants: int | None
    leaders: int | None
    verdict: str | None

    @property
    def minutes(self) -> int:
        return (self.end_ts - self.start_ts) // 60

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def used(self) -> bool:
        return self.first_entry_ts is not None

    @property
    def booked(self) -> bool:
        """Time the booking held: active, or released at the hall for a no-show."""
        return self.active or self.released_ts is not None

    def outcome(self, now_ts: int) -> str:
        """The session's outcome (``outcome``)."""
        return outcome(
            self.status, self.first_entry_ts, self.no_show_ts, self.released_ts, self.end_ts, now_ts
        )


def outcome(
    status: str,
    first_entry_ts: int | None,
    no_show_ts: int | None,
    released_ts: int | None,
    end_ts: int,
    now_ts: int,
) -> str:
    """``used``, ``released``, ``no_show``, ``not_entered`` (ended, no entry and
    no word from a node), ``pending`` (not ended), or ``cancelled``."""
    if first_entry_ts is not None:
        return "used"
    if released_ts is not None:
        return "released"
    if status not in ACTIVE:
        return "cancelled"
    if no_show_ts is not None:
        return "no_show"
    return "pending" if end_ts > now_ts else "not_entered"


def outcome_sql(now_ts: int) -> str:
    """``outcome`` as an SQL expression over the evidence table's columns (for
    reports that group in the store; a test holds the two equal)."""
    return (
        "CASE WHEN first_entry_ts IS NOT NULL THEN 'used'"
        " WHEN released_ts IS NOT NULL THEN 'released'"
        " WHEN status NOT IN ('confirmed', 'tentative') THEN 'cancelled'"
        " WHEN no_show_ts IS NOT NULL THEN 'no_show'"
        f" WHEN end_ts > {int(now_ts)} THEN 'pending' ELSE 'not_entered' END"
    )


_COLUMNS = (
    "facility, booking_id, resources, start_ts, end_ts, holder, title, status, origin,"
    " first_entry_ts, last_entry_ts, entries, leader_entry_ts, no_show_ts, released_ts,"
    " start_participants, start_leaders, verdict"
)


def facilities(store: Store, wanted: Sequence[str] | None) -> list[Facility]:
    """The facilities asked for (all when ``wanted`` is None), by id; raises
    ``ReportError`` naming a facility central does not know."""
    rows = {f: json.loads(d) for f, d in store.execute("SELECT id, data FROM facilities")}
    if wanted is not None:
        unknown = [f for f in wanted if f not in rows]
        if unknown:
            known = ", ".join(sorted(rows)) or "none"
            raise ReportError(f"unknown facility {', '.join(unknown)} (known: {known})")
    ids = sorted(rows if wanted is None else set(wanted))
    out: list[Facility] = []
    for fid in ids:
        res = {
            i: (str(d["name"]), _opt_str(d.get("parent")))
            for i, d in _records(store, "resources", fid)
        }
        holders = {
            i: (str(d["kind"]), str(d["display_name"])) for i, d in _records(store, "holders", fid)
        }
        f = rows[fid]
        out.append(
            Facility(
                fid,
                str(f["name"]),
                zone(str(f.get("timezone") or "Europe/Stockholm")),
                str(f.get("municipality") or ""),
                res,
                holders,
            )
        )
    return out


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _records(store: Store, table: str, facility: str) -> Iterator[tuple[str, dict[str, object]]]:
    for i, d in store.execute(f"SELECT id, data FROM {table} WHERE facility = ?", [facility]):
        yield str(i), json.loads(d)


def sessions(store: Store, f: Facility, start: date, end: date) -> list[Row]:
    """The known, not removed sessions of ``f`` starting on local dates
    ``[start, end]``, by start then booking id."""
    lo, hi = f.bounds(start, end)
    rows = store.execute(
        f"SELECT {_COLUMNS} FROM evidence WHERE facility = ? AND known = 1 AND removed = 0"
        " AND start_ts >= ? AND start_ts < ? ORDER BY start_ts, booking_id",
        [f.id, lo, hi],
    ).fetchall()
    return [_row(r) for r in rows]


def _row(r: tuple[Any, ...]) -> Row:
    def i(v: Any) -> int | None:
        return None if v is None else int(v)

    return Row(
        str(r[0]),
        str(r[1]),
        tuple(str(r[2]).split()),
        int(r[3]),
        int(r[4]),
        None if r[5] is None else str(r[5]),
        str(r[6] or ""),
        str(r[7]),
        str(r[8]),
        i(r[9]),
        i(r[10]),
        int(r[11] or 0),
        i(r[12]),
        i(r[13]),
        i(r[14]),
        i(r[15]),
        i(r[16]),
        None if r[17] is None else str(r[17]),
    )


def local(ts: int, tz: ZoneInfo) -> datetime:
    """Unix seconds as facility-local time."""
    return datetime.fromtimestamp(ts, tz)
