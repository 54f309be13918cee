"""The attendance report: per association, every session, its evidence and the rule's verdict.

Rules this module guarantees:
- Sessions are the central bookings of associations (holder kind
  ``association``) in the period, active or released, ended by ``now``; a
  session not ended yet is listed as ``pending`` and not judged.
- Each session is judged by its facility's municipality's rule
  (``rules.judge``): the evidence decides time, headcount and a leader, and
  every judgement says what it cannot decide (ages, membership, one session
  per participant a day).
- ``same_day`` marks a session whose association had another one that local
  day (at any facility of the report): the rule counts a participant once a
  day per sport, which heads cannot show, so the officer may want to look.
- Summaries per association and reporting period: sessions, with an entry,
  meeting the rule, and the participants the rule counts in those.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from ..evidence.rules import GrantRule, Judgement, Session, judge, period_of
from ..evidence.settings import Settings
from ..store import Store
from . import data
from .data import Facility, Query, Row


@dataclass(frozen=True, slots=True)
class Attended:
    facility: Facility
    row: Row
    rule: GrantRule
    period: tuple[date, date]
    judgement: Judgement | None  # None: not ended yet
    same_day: bool

    @property
    def day(self) -> date:
        return data.local(self.row.start_ts, self.facility.tz).date()

    @property
    def entry_delay(self) -> int | None:
        """Minutes from the start to the first entry (negative: before the start)."""
        e = self.row.first_entry_ts
        return None if e is None else (e - self.row.start_ts) // 60


@dataclass(slots=True)
class Summary:
    holder: str
    name: str
    period: tuple[date, date]
    sessions: int = 0
    entered: int = 0
    meeting: int = 0
    counted: int = 0  # participants the rule counts, in sessions meeting it


@dataclass(frozen=True, slots=True)
class AttendanceReport:
    query: Query
    sessions: list[Attended]  # by association name, then start
    summaries: list[Summary] = field(default_factory=list)
    rules: tuple[GrantRule, ...] = ()


def attendance(
    store: Store,
    q: Query,
    settings: Callable[[str], Settings],
    holder: str | None = None,
) -> AttendanceReport:
    """The attendance report for ``q`` (module rules); only ``holder`` when given."""
    now_ts = int(q.now.timestamp())
    found: list[tuple[Facility, Row, GrantRule]] = []
    for f in data.facilities(store, q.facilities):
        rule = settings(f.municipality).grant
        for row in data.sessions(store, f, q.start, q.end):
            if row.origin != "central" or not row.booked:
                continue
            if f.holder_kind(row.holder) != "association":
                continue
            if holder is not None and row.holder != holder:
                continue
            found.append((f, row, rule))
    days = Counter((r.holder, data.local(r.start_ts, f.tz).date()) for f, r, _ in found)
    out: list[Attended] = []
    for f, row, rule in found:
        day = data.local(row.start_ts, f.tz).date()
        j = None
        if row.end_ts <= now_ts:
            j = judge(rule, _session(row))
        out.append(
            Attended(f, row, rule, period_of(day, rule.periods), j, days[row.holder, day] > 1)
        )
    out.sort(
        key=lambda a: (
            a.facility.holder_name(a.row.holder).casefold(),
            a.row.holder or "",
            a.row.start_ts,
            a.row.booking,
        )
    )
    sums: dict[tuple[str, date], Summary] = {}
    for a in out:
        key = (a.row.holder or "", a.period[0])
        s = sums.setdefault(key, Summary(key[0], a.facility.holder_name(a.row.holder), a.period))
        s.sessions += 1
        s.entered += a.row.used
        if a.judgement is not None and a.judgement.meets:
            s.meeting += 1
            s.counted += a.judgement.counted or 0
    rules = tuple(dict.fromkeys(a.rule for a in out))
    return AttendanceReport(q, out, list(sums.values()), rules)


def _session(row: Row) -> Session:
    return Session(
        row.start_ts,
        row.end_ts,
        row.active or row.released_ts is not None,
        row.first_entry_ts,
        row.leader_entry_ts,
        row.participants,
        row.leaders,
    )
