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

from dataclasses import dataclass, field

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


def spread(f: Facility, start_ts: int, end_ts: int, grid: list[list[int]]) -> None:
    """Add ``[start_ts, end_ts)`` to ``grid`` by facility-local weekday and hour."""
    at = data.local(start_ts, f.tz)
    ts = start_ts
    while ts < end_ts:
        # to the next local hour boundary (whole-minute offsets: exact)
        step = min(end_ts - ts, 3600 - at.minute * 60 - at.second)
        grid[at.weekday()][at.hour] += step // 60
        ts += step
        at = data.local(ts, f.tz)


def usage(store: Store, q: Query) -> UsageReport:
    """The usage report for ``q`` (module rules)."""
    now_ts = int(q.now.timestamp())
    out: list[FacilityUsage] = []
    for f in data.facilities(store, q.facilities):
        u = FacilityUsage(f, resources={r: Minutes() for r in sorted(f.resources)})
        for row in data.sessions(store, f, q.start, q.end):
            u.total.add(row, now_ts)
            for r in row.resources:
                u.resources.setdefault(r, Minutes()).add(row, now_ts)
            if row.origin == "walkin":
                if row.active:
                    spread(f, row.start_ts, row.end_ts, u.heat_walkin)
            elif row.booked:
                spread(f, row.start_ts, row.end_ts, u.heat_booked)
                if row.used:
                    spread(f, row.start_ts, row.end_ts, u.heat_used)
        out.append(u)
    return UsageReport(q, out)
