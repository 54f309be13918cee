"""The activity-grant rule, the reporting periods, and what the evidence can judge (pure).

Rules this module guarantees:
- ``GrantRule()`` is the national LOK-stöd rule in force since 1 July 2023
  (Riksidrottsförbundet; sources in docs/reports.md): an activity of at least
  45 minutes, led by a leader the association appointed, with at least 3
  participants besides the leader, counted up to 20 participants per leader,
  participants aged 7-25, periods 1 January-30 June and 1 July-31 December.
  A municipality's own rule (central.toml ``[municipalities.*.grant]``) is
  another ``GrantRule``, e.g. 60 minutes and 5 participants counting the leader.
- ``judge`` decides what the door's evidence can decide: whether the session
  took place (an entry), its length from the first entry (or the start, when
  the door opened earlier) to the booking's end, the headcount the leader
  reported at the start, and a leader present (a leader's card at the door, or
  a leader counted in that report). It never claims to judge what the node
  does not know: participants' ages, membership, and whether one participant
  came to two sessions on one day (the node counts heads, not persons); those
  are ``NOT_JUDGED`` notes on every judgement.
- ``period_of(day, periods)`` is the reporting period holding ``day``; the
  periods of a rule cover the whole year without overlap (``check_periods``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated

from firmware_config.schema import Optional as Opt
from firmware_config.schema import table
from firmware_config.validators import Array, Bool, Int, Text

PERIOD_TEXT = re.compile(r"(\d{2})-(\d{2})\.\.(\d{2})-(\d{2})")
NATIONAL_NAME = "LOK-stöd, RF:s regler från 2023-07-01"
NATIONAL_PERIODS = ("01-01..06-30", "07-01..12-31")

# reasons a session does not meet the rule (codes in CSV; words in docs/reports.md)
NO_ENTRY = "no_entry"
TOO_SHORT = "too_short"
NO_HEADCOUNT = "no_headcount"
TOO_FEW = "too_few"
NO_LEADER = "no_leader"
CANCELLED = "cancelled"
REASON_TEXT = {
    NO_ENTRY: "nobody entered",
    TOO_SHORT: "shorter than the rule",
    NO_HEADCOUNT: "no headcount reported",
    TOO_FEW: "too few participants",
    NO_LEADER: "no leader seen",
    CANCELLED: "booking cancelled",
}
NOT_JUDGED = "ages, membership and one session per participant a day are not judged"


def _periods(value: tuple[str, ...]) -> tuple[str, ...]:
    check_periods(value)  # its ValueError is the config's problem, in its words
    return value


@table(
    "An activity-grant rule. Absent keys take the national LOK-stöd rule in force since"
    " 1 July 2023 (docs/reports.md, with sources)."
)
@dataclass(frozen=True, slots=True)
class GrantRule:
    """One municipality's activity-grant rule (module rules); 0 means no cap.
    Also the ``[evidence.grant]`` table of central.toml."""

    name: Annotated[
        str, Text(max_len=120), Opt(NATIONAL_NAME, "the rule's name, printed on reports")
    ] = NATIONAL_NAME
    min_minutes: Annotated[
        int, Int(1, 600), Opt(45, "an activity lasts at least this many minutes")
    ] = 45
    min_participants: Annotated[int, Int(0, 1000), Opt(3, "at least this many participants")] = 3
    participants_include_leaders: Annotated[
        bool,
        Bool(),
        Opt(
            False, "true: the minimum counts the leaders too (a local rule: 5 including the leader)"
        ),
    ] = False
    max_participants: Annotated[
        int, Int(0, 10_000), Opt(0, "count at most this many participants (0: no cap)")
    ] = 0
    max_per_leader: Annotated[
        int, Int(0, 1000), Opt(20, "count at most this many per leader (0: no cap)")
    ] = 20
    leader_required: Annotated[bool, Bool(), Opt(True, "a leader must be present")] = True
    min_age: Annotated[
        int, Int(0, 120), Opt(7, "participants' lowest age (stated; not judged)")
    ] = 7
    max_age: Annotated[
        int, Int(0, 120), Opt(25, "participants' highest age (stated; not judged)")
    ] = 25
    one_session_per_day: Annotated[
        bool,
        Bool(),
        Opt(True, "a participant counts once a day (stated; heads are not persons: not judged)"),
    ] = True
    periods: Annotated[
        tuple[str, ...],
        Array(Text(r"\d{2}-\d{2}\.\.\d{2}-\d{2}", "MM-DD..MM-DD"), min_len=1).then(
            _periods, "array of `MM-DD..MM-DD` covering the year"
        ),
        Opt(list(NATIONAL_PERIODS), "reporting periods, `MM-DD..MM-DD`, covering the year"),
    ] = NATIONAL_PERIODS

    def describe(self) -> str:
        """The rule in one line, for a report's header."""
        who = "including" if self.participants_include_leaders else "besides"
        parts = [
            f"at least {self.min_minutes} min",
            f"at least {self.min_participants} participants {who} the leader",
        ]
        if self.max_per_leader:
            parts.append(f"counted up to {self.max_per_leader} per leader")
        if self.max_participants:
            parts.append(f"at most {self.max_participants} counted")
        if self.leader_required:
            parts.append("a leader present")
        parts.append(f"ages {self.min_age}-{self.max_age} (not judged)")
        return f"{self.name}: " + ", ".join(parts)


def check_periods(periods: tuple[str, ...]) -> tuple[tuple[int, int, int, int], ...]:
    """The periods as (from month, day, to month, day), in order; raises
    ``ValueError`` unless they cover every day of a (leap) year exactly once."""
    out: list[tuple[int, int, int, int]] = []
    for text in periods:
        m = PERIOD_TEXT.fullmatch(text)
        if m is None:
            raise ValueError(f"{text!r} is not MM-DD..MM-DD")
        a, b, c, d = (int(x) for x in m.groups())
        try:
            lo, hi = date(2024, a, b), date(2024, c, d)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
        if hi < lo:
            raise ValueError(f"{text!r} ends before it starts (a period stays within a year)")
        out.append((a, b, c, d))
    out.sort()
    day = date(2024, 1, 1)
    for a, b, c, d in out:
        if date(2024, a, b) != day:
            raise ValueError(f"the periods leave a gap or overlap at {day:%m-%d}")
        nxt = date(2024, c, d).toordinal() + 1
        day = date.fromordinal(nxt) if nxt <= date(2024, 12, 31).toordinal() else date(2025, 1, 1)
    if day != date(2025, 1, 1):
        raise ValueError(f"the periods do not reach the end of the year (from {day:%m-%d})")
    return tuple(out)


def period_of(day: date, periods: tuple[str, ...]) -> tuple[date, date]:
    """The reporting period (first day, last day) holding ``day``."""
    for a, b, c, d in check_periods(periods):
        lo = date(day.year, a, b)
        hi = date(day.year, c, d if (c, d) != (2, 29) or _leap(day.year) else 28)
        if lo <= day <= hi:
            return lo, hi
    raise ValueError(f"no period holds {day}")  # check_periods makes this unreachable


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


@dataclass(frozen=True, slots=True)
class Session:
    """What the evidence says about one booked session (times in Unix seconds)."""

    start_ts: int
    end_ts: int
    active: bool
    first_entry_ts: int | None
    leader_entry_ts: int | None
    participants: int | None  # the leader's start headcount
    leaders: int | None


@dataclass(frozen=True, slots=True)
class Judgement:
    """``meets``; the reasons it does not; the evidenced minutes; the
    participants the rule counts; notes on what was not judged."""

    meets: bool
    reasons: tuple[str, ...]
    minutes: int | None
    counted: int | None
    notes: tuple[str, ...] = field(default=(NOT_JUDGED,))


def evidenced_minutes(s: Session) -> int | None:
    """Minutes from the first entry (or the start, if the door opened before it)
    to the booking's end; None without an entry. The door records entries, not
    exits: this is the longest the session can have lasted inside the booking."""
    if s.first_entry_ts is None:
        return None
    return max(0, (s.end_ts - max(s.start_ts, s.first_entry_ts)) // 60)


def judge(rule: GrantRule, s: Session) -> Judgement:
    """Does session ``s`` meet ``rule`` on what the evidence shows (module rules)?"""
    reasons: list[str] = []
    if not s.active:
        reasons.append(CANCELLED)
    minutes = evidenced_minutes(s)
    if minutes is None:
        reasons.append(NO_ENTRY)
    elif minutes < rule.min_minutes:
        reasons.append(TOO_SHORT)
    counted: int | None = None
    if s.participants is None:
        reasons.append(NO_HEADCOUNT)
    else:
        # a leader's card at the door is one leader even if the report counted none
        leaders = s.leaders or (1 if s.leader_entry_ts is not None else 0)
        heads = s.participants + (leaders if rule.participants_include_leaders else 0)
        if heads < rule.min_participants:
            reasons.append(TOO_FEW)
        counted = s.participants
        if rule.max_per_leader:
            counted = min(counted, rule.max_per_leader * leaders)
        if rule.max_participants:
            counted = min(counted, rule.max_participants)
    has_leader = s.leader_entry_ts is not None or bool(s.leaders)
    if rule.leader_required and not has_leader:
        reasons.append(NO_LEADER)
    return Judgement(not reasons, tuple(reasons), minutes, counted)
