"""The no-shows report: per association, its no-shows with dates, and strikes per season.

Rules this module guarantees:
- A no-show is a central booking a node reported unused: ``booking.no_show``
  (nobody entered by the end and its grace) or ``booking.released`` (nobody
  entered N minutes after the start, and the hall released it), with no entry
  at all. A booking nobody reported on (no node, events not in yet) is not a
  no-show: a strike needs the door's word (it is ``not_entered`` in usage).
- A season is a reporting period of the facility's grant rule (by default
  January-June and July-December). Strikes are counted per holder and season
  over every facility of the report; the holder is ``flagged`` in a season
  when its strikes reach the municipality's ``strike_threshold``. A report
  period cutting a season counts the no-shows inside the report only, and
  says so (``partial``).
- Private persons are listed as one anonymous holder per facility (data.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from ..evidence.rules import period_of
from ..evidence.settings import Settings
from ..store import Store
from . import data
from .data import Facility, Query, Row


@dataclass(frozen=True, slots=True)
class NoShow:
    facility: Facility
    row: Row
    kind: str  # "no_show" | "released"
    strike: int  # its number in the holder's season


@dataclass(slots=True)
class Season:
    holder: str  # the holder id ("" for private persons)
    name: str
    first: date
    last: date
    threshold: int
    partial: bool
    no_shows: list[NoShow] = field(default_factory=list)

    @property
    def strikes(self) -> int:
        return len(self.no_shows)

    @property
    def flagged(self) -> bool:
        return self.strikes >= self.threshold


@dataclass(frozen=True, slots=True)
class NoShowReport:
    query: Query
    seasons: list[Season]  # by name, then season
    booked: dict[str, int]  # holder -> central bookings in the period that ended


def noshows(store: Store, q: Query, settings: Callable[[str], Settings]) -> NoShowReport:
    """The no-shows report for ``q`` (module rules); ``settings(municipality)``
    gives each facility's periods and threshold."""
    seasons: dict[tuple[str, date], Season] = {}
    booked: dict[str, int] = {}
    now_ts = int(q.now.timestamp())
    for f in data.facilities(store, q.facilities):
        s = settings(f.municipality)
        for row in data.sessions(store, f, q.start, q.end):
            if row.origin != "central" or not row.booked or row.end_ts > now_ts:
                continue
            private = f.holder_kind(row.holder) == "person"
            key = f"{f.id}/private" if private else (row.holder or "")
            booked[key] = booked.get(key, 0) + 1
            outcome = row.outcome(now_ts)
            if outcome not in ("no_show", "released"):
                continue
            day = data.local(row.start_ts, f.tz).date()
            first, last = period_of(day, s.grant.periods)
            season = seasons.get((key, first))
            if season is None:
                name = f.holder_name(row.holder) + (f" ({f.name})" if private else "")
                partial = first < q.start or last > q.end
                season = Season(key, name, first, last, s.strike_threshold, partial)
                seasons[key, first] = season
            season.no_shows.append(NoShow(f, row, outcome, 0))
    out = sorted(seasons.values(), key=lambda x: (x.name.casefold(), x.holder, x.first))
    for season in out:
        season.no_shows.sort(key=lambda n: (n.row.start_ts, n.row.booking))
        season.no_shows[:] = [
            NoShow(n.facility, n.row, n.kind, i) for i, n in enumerate(season.no_shows, 1)
        ]
    return NoShowReport(q, out, booked)
