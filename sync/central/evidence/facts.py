"""What one node event says about one booking, and how facts about a booking combine (pure).

Rules this module guarantees:
- ``fact_of`` reads one stored event (type, time, body) and returns the fact it
  states about a booking, or None. Bodies are the node's (docs/protocol.md,
  "Event bodies") and were not checked on the wire: a body that is not as
  documented (no booking id, a count that is not a non-negative integer) states
  nothing, and never raises.
- The facts and what they mean:
  * an entry: ``access.granted`` for a booking by its leader's card (reason
    ``booking``) or by its visitor code (``visitor_code``), and
    ``booking.checked_in`` (the node's first granted entry, also the kiosk's).
    Staff grants name no booking and are no entry of one;
  * ``booking.no_show`` and ``booking.released`` (PROTOCOL.md §5, docs/protocol.md);
  * a headcount: ``attendance.reported`` with its stage (``start``/``end``).
- ``Summary`` folds facts with operations that do not depend on order:
  first entry = min, last entry = max, entries = count, a leader's first
  entry = min, no-show and release = the earliest, a headcount = the report
  with the latest (time, event id). So a booking's summary is the same whatever
  order its events arrive in; that each event is folded once is the caller's
  promise (events take effect once, when contiguous: sync/central/events.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

FactKind = Literal["entry", "no_show", "released", "report"]
ENTRY_REASONS = frozenset({"booking", "visitor_code"})
LEADER_REASON = "booking"
INTERPRETED = (
    "access.granted",
    "booking.checked_in",
    "booking.no_show",
    "booking.released",
    "attendance.reported",
)
_INTERPRETED = frozenset(INTERPRETED)
MAX_COUNT = 100_000  # a headcount above this is not a headcount


@dataclass(frozen=True, slots=True)
class Fact:
    """One event's statement about one booking (module rules)."""

    booking: str
    kind: FactKind
    ts: int
    event_id: str = ""
    node: str = ""
    leader: bool = False  # an entry by the leader's card
    repeat: bool = False  # ``booking.checked_in``: repeats the first granted entry
    stage: str = ""  # a report's stage
    participants: int = 0
    leaders: int = 0


def _booking(body: Mapping[str, Any]) -> str | None:
    b = body.get("booking")
    return b if isinstance(b, str) and 0 < len(b) <= 128 else None


def _count(value: object) -> int | None:
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    return None


def fact_of(type_: str, ts: int, body: object, event_id: str = "", node: str = "") -> Fact | None:
    """The fact one event states (module rules), or None."""
    if type_ not in _INTERPRETED or not (type(body) is dict or isinstance(body, Mapping)):
        return None
    booking = _booking(body)
    if booking is None:
        return None
    if type_ == "access.granted":
        reason = body.get("reason")
        if not isinstance(reason, str) or reason not in ENTRY_REASONS:  # a list is unhashable
            return None
        return Fact(booking, "entry", ts, event_id, node, leader=reason == LEADER_REASON)
    if type_ == "booking.checked_in":
        return Fact(booking, "entry", ts, event_id, node, repeat=True)
    if type_ == "booking.no_show":
        return Fact(booking, "no_show", ts, event_id, node)
    if type_ == "booking.released":
        return Fact(booking, "released", ts, event_id, node)
    stage = body.get("stage")
    participants, leaders = _count(body.get("participants")), _count(body.get("leaders"))
    if stage not in ("start", "end") or participants is None or leaders is None:
        return None
    return Fact(
        booking,
        "report",
        ts,
        event_id,
        node,
        stage=str(stage),
        participants=participants,
        leaders=leaders,
    )


@dataclass(frozen=True, slots=True)
class Report:
    """A headcount: participants and leaders, when, and the event that said it."""

    participants: int
    leaders: int
    ts: int
    event_id: str

    def later_than(self, other: Report | None) -> bool:
        return other is None or (self.ts, self.event_id) > (other.ts, other.event_id)


def _later(a: Report | None, b: Report | None) -> Report | None:
    return b if b is not None and b.later_than(a) else a


def _lo(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _hi(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass(slots=True)
class Summary:
    """Everything the events say about one booking (module rules)."""

    first_entry: int | None = None
    last_entry: int | None = None
    entries: int = 0
    leader_entry: int | None = None
    no_show: int | None = None
    released: int | None = None
    released_node: str | None = None
    start: Report | None = None
    end: Report | None = None

    def add_entry(self, ts: int, leader: bool = False, repeat: bool = False) -> None:
        """An entry at ``ts``. ``booking.checked_in`` repeats the first
        ``access.granted`` (``repeat``): it moves the first entry (it may be all
        that arrived) but is not one more entry. (``_lo`` and ``_hi`` spelt out:
        the gateway folds every ``access.granted`` through here.)"""
        if self.first_entry is None or ts < self.first_entry:
            self.first_entry = ts
        if self.last_entry is None or ts > self.last_entry:
            self.last_entry = ts
        if repeat:
            return
        self.entries += 1
        if leader and (self.leader_entry is None or ts < self.leader_entry):
            self.leader_entry = ts

    def add(self, f: Fact) -> None:
        if f.kind == "entry":
            self.add_entry(f.ts, f.leader, f.repeat)
        elif f.kind == "no_show":
            self.no_show = _lo(self.no_show, f.ts)
        elif f.kind == "released":
            if self.released is None or (f.ts, f.node) < (self.released, self.released_node or ""):
                self.released, self.released_node = f.ts, f.node
        else:
            r = Report(f.participants, f.leaders, f.ts, f.event_id)
            if f.stage == "start" and r.later_than(self.start):
                self.start = r
            elif f.stage == "end" and r.later_than(self.end):
                self.end = r

    def merge(self, other: Summary) -> Summary:
        """The summary of both sets of facts (what the store's upsert computes)."""
        out = Summary(
            _lo(self.first_entry, other.first_entry),
            _hi(self.last_entry, other.last_entry),
            self.entries + other.entries,
            _lo(self.leader_entry, other.leader_entry),
            _lo(self.no_show, other.no_show),
        )
        mine = None if self.released is None else (self.released, self.released_node or "")
        theirs = None if other.released is None else (other.released, other.released_node or "")
        if mine is not None and (theirs is None or mine <= theirs):
            out.released, out.released_node = self.released, self.released_node
        else:
            out.released, out.released_node = other.released, other.released_node
        out.start = _later(self.start, other.start)
        out.end = _later(self.end, other.end)
        return out


def summarise(facts: Iterable[Fact]) -> dict[str, Summary]:
    """Facts grouped and folded per booking id."""
    out: dict[str, Summary] = {}
    for f in facts:
        out.setdefault(f.booking, Summary()).add(f)
    return out


def summarise_events(events: Iterable[tuple[str, int, Any, str]], node: str) -> dict[str, Summary]:
    """``summarise`` of the facts ``fact_of`` finds in ``(type, ts, body, event
    id)`` events of ``node``: the same summaries (a property test compares
    them), with the common fact, an entry by ``access.granted``, folded in
    place without making a ``Fact`` (a third of the evidence's CPU per event)."""
    out: dict[str, Summary] = {}
    for type_, ts, body, ident in events:
        if type_ == "access.granted" and type(body) is dict:
            booking, reason = _booking(body), body.get("reason")
            if booking is not None and isinstance(reason, str) and reason in ENTRY_REASONS:
                s = out.get(booking)
                if s is None:
                    s = out[booking] = Summary()
                s.add_entry(ts, reason == LEADER_REASON)
                continue
        f = fact_of(type_, ts, body, ident, node)
        if f is not None:
            out.setdefault(f.booking, Summary()).add(f)
    return out
