"""The usage report: booked versus used time per facility and resource, and when (weekday x hour).

Rules this module guarantees (in minutes, exact; hours only when printed):
- ``booked``: central bookings that held their time: active ones, and those
  released at the hall for a no-show (they were booked, and not used).
- ``used``: booked, with an entry (door or kiosk, docs/reports.md).
- ``not_entered``: booked, ended, no entry; ``no_show`` is the part a node
  reported (``booking.no_show`` or ``booking.released``), the rest had no word
  from a node (no node, or its events not in yet).
- ``pending``: booked, not ended yet, no entry so far.
  So ``booked == used + not_entered + pending`` for every resource, facility
  and heatmap cell.
- ``walkin``: walk-ins sold at the hall and accepted by central.
- A booking of several resources counts for each resource, and once for its
  facility and its heatmap. The heatmap splits each booking over the
  facility-local weekday and hour it covers, minute by minute.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..store import Store
from . import data
from .data import Facility, Query, Row

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(slots=True)
class Minutes:
    booked: int = 0
    used: int = 0
    not_entered: int = 0
    no_show: int = 0
    pending: int = 0
    walkin: int = 0

    def add(self, row: Row, now_ts: int) -> None:
        m = row.minutes
        if row.origin == "walkin":
            self.walkin += m if row.active else 0
            return
        if not row.booked:
            return
        self.booked += m
        outcome = row.outcome(now_ts)
        if outcome == "used":
            self.used += m
        elif outcome == "pending":
            self.pending += m
        else:
            self.not_entered += m
            if outcome in ("no_show", "released"):
                self.no_show += m


Grid = list[list[int]]


def _grid() -> list[list[int]]:
    return [[0] * 24 for _ in range(7)]


@dataclass(slots=True)
class FacilityUsage:
    facility: Facility
    total: Minutes = field(default_factory=Minutes)
    resources: dict[str, Minutes] = field(default_factory=dict)
    heat_booked: list[list[int]] = field(default_factory=_grid)  # [weekday][hour] minutes
    heat_used: list[list[int]] = field(default_factory=_grid)
    heat_walkin: list[list[int]] = field(default_factory=_grid)


@dataclass(frozen=True, slots=True)
class UsageReport:
    query: Query
    facilities: list[FacilityUsage]


class LocalClock:
    """Facility-local weekday and hour of Unix seconds, fast: the zone's UTC
    offset is looked up once per UTC hour (time zones change offset on whole
    UTC hours) and kept."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.offsets: dict[int, int] = {}

    def local(self, ts: int) -> int:
        """``ts`` as seconds since 1970-01-01T00:00 local wall-clock time."""
        h = ts // 3600
        off = self.offsets.get(h)
        if off is None:
            delta = datetime.fromtimestamp(h * 3600, UTC).astimezone(self.tz).utcoffset()
            off = self.offsets[h] = int(delta.total_seconds()) if delta is not None else 0
        return ts + off


def cells(clock: LocalClock, start_ts: int, end_ts: int) -> list[tuple[int, int, int]]:
    """``[start_ts, end_ts)`` as (local weekday, local hour, minutes) pieces."""
    out: list[tuple[int, int, int]] = []
    ts = start_ts
    while ts < end_ts:
        loc = clock.local(ts)
        step = min(end_ts - ts, 3600 - loc % 3600)  # to the next local hour
        # 1970-01-01 was a Thursday: weekday 3 when Monday is 0
        out.append(((loc // 86_400 + 3) % 7, loc // 3600 % 24, step // 60))
        ts += step
    return out


def spread(clock: LocalClock, start_ts: int, end_ts: int, grid: list[list[int]]) -> None:
    """Add ``[start_ts, end_ts)`` to ``grid`` by facility-local weekday and hour."""
    for d, h, m in cells(clock, start_ts, end_ts):
        grid[d][h] += m


_COL = {"used": 1, "pending": 4, "not_entered": 2, "no_show": 2, "released": 2}
_KEY = (
    "origin, CASE WHEN status IN ('confirmed', 'tentative') THEN 1 ELSE 0 END,"
    " CASE WHEN released_ts IS NULL THEN 0 ELSE 1 END"
)
_USED = "CASE WHEN first_entry_ts IS NULL THEN 0 ELSE 1 END"
_WHERE = "facility = ? AND known = 1 AND removed = 0 AND start_ts >= ? AND start_ts < ?"


def _add(cells: list[int], kind: str, m: int) -> None:
    cells[0] += m
    cells[_COL[kind]] += m
    if kind in ("no_show", "released"):
        cells[3] += m


@functools.lru_cache(maxsize=64)
def transitions(tz: ZoneInfo, lo: int, hi: int) -> tuple[tuple[int, int], ...]:
    """The zone's (from Unix second, UTC offset) pieces over ``[lo, hi)``: one
    piece, or a few around daylight-saving changes. The offset is compared a day
    apart, and read hour by hour only inside a day whose two ends differ (no zone
    changes its offset and back within one day). Kept per zone and range: every
    facility of a report usually shares them."""
    clock = LocalClock(tz)

    def offset(h: int) -> int:
        return clock.local(h * 3600) - h * 3600

    out = [(lo, clock.local(lo) - lo)]
    first, last = lo // 3600 + 1, hi // 3600
    for day in range(first, last + 1, 24):
        end = min(day + 23, last)
        if offset(end) == out[-1][1]:
            continue
        for h in range(day, end + 1):
            off = offset(h)
            if off != out[-1][1]:
                out.append((h * 3600, off))
    return tuple(out)


def _local_sql(pieces: Sequence[tuple[int, int]]) -> str:
    """``start_ts`` in local seconds as SQL (integers only: both engines)."""
    if len(pieces) == 1:
        return f"(start_ts + {pieces[0][1]})"
    cases = " ".join(
        f"WHEN start_ts < {t} THEN {off}"
        for (t, _), (_, off) in zip(pieces[1:], pieces, strict=False)
    )
    return f"(start_ts + CASE {cases} ELSE {pieces[-1][1]} END)"


def _straddles(pieces: Sequence[tuple[int, int]]) -> str:
    """SQL: the session spans an offset change (spread exactly, one by one)."""
    terms = [f"(start_ts < {t} AND end_ts > {t})" for t, _ in pieces[1:]]
    return "(" + " OR ".join(terms) + ")" if terms else "(1 = 0)"


def _grids(u: FacilityUsage, origin: str, active: int, released: int, used: int) -> list[Grid]:
    if origin == "walkin":
        return [u.heat_walkin] if active else []
    if active or released:
        return [u.heat_booked, u.heat_used] if used else [u.heat_booked]
    return []


def _count(
    acc: dict[str, list[int]],
    total: list[int],
    res: str,
    origin: str,
    active: int,
    released: int,
    kind: str,
    secs: int,
) -> None:
    """Add ``secs`` of sessions on ``res`` to the minutes (module rules)."""
    names = [acc.setdefault(r, [0] * 6) for r in res.split()]
    m = secs // 60
    if origin == "walkin":
        for x in (total, *names) if active else ():
            x[5] += m
    elif active or released:
        for x in (total, *names):
            _add(x, kind, m)


def usage(store: Store, q: Query) -> UsageReport:
    """The usage report for ``q`` (module rules). One scan of the store per
    facility groups the sessions (a season of a large municipality is half a
    million) by resources, outcome, local hour of the week, second within that
    hour and length (local time from the zone's offsets, passed in as SQL);
    the minutes and the heatmap are added up here from the groups. A session
    across an offset change is read and spread on its own."""
    now_ts = int(q.now.timestamp())
    kind_sql = data.outcome_sql(now_ts)
    out: list[FacilityUsage] = []
    for f in data.facilities(store, q.facilities):
        u = FacilityUsage(f)
        clock = LocalClock(f.tz)
        # booked, used, not_entered, no_show, pending, walkin
        acc: dict[str, list[int]] = {r: [0] * 6 for r in sorted(f.resources)}
        total = [0] * 6
        lo, hi = f.bounds(q.start, q.end)
        span = [f.id, lo, hi]
        pieces = transitions(f.tz, lo, hi + 7 * 86_400)  # sessions may end after hi
        local = _local_sql(pieces)
        straddles = _straddles(pieces)

        # hour of the week from Monday 00:00: 1970-01-01 was a Thursday (+72 h)
        for res, origin, active, released, kind, used, week_hour, sec, length, n in store.execute(
            f"SELECT resources, {_KEY}, {kind_sql}, {_USED}, ({local} / 3600 + 72) % 168,"
            f" {local} % 3600, end_ts - start_ts, count(*) FROM evidence WHERE {_WHERE}"
            f" AND NOT {straddles} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
            span,
        ).rows:
            n, left = int(n), int(length)
            _count(acc, total, str(res), str(origin), active, released, str(kind), left * n)
            grids = _grids(u, str(origin), active, released, used)
            wh, at = int(week_hour), int(sec)
            while left > 0 and grids:
                step = min(left, 3600 - at)
                for g in grids:
                    g[wh // 24][wh % 24] += step // 60 * n
                wh, at, left = (wh + 1) % 168, 0, left - step
        for res, origin, active, released, kind, used, s, e in store.execute(
            f"SELECT resources, {_KEY}, {kind_sql}, {_USED}, start_ts, end_ts FROM evidence"
            f" WHERE {_WHERE} AND {straddles}",
            span,
        ).rows:
            _count(acc, total, str(res), str(origin), active, released, str(kind), int(e) - int(s))
            for g in _grids(u, str(origin), active, released, used):
                spread(clock, int(s), int(e), g)
        u.total = Minutes(*total)
        u.resources = {r: Minutes(*v) for r, v in acc.items()}
        out.append(u)
    return UsageReport(q, out)
