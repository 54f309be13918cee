"""The claims check: each session an association claims, with the evidence for it or "no evidence".

Matching rules (docs/reports.md, "Claims check"), in order:
1. **Place.** The claim's place, compared case-blind with runs of spaces as
   one, is looked up in ``[evidence] places`` of central.toml (a name ->
   ``facility`` or ``facility/resource``); else it is a facility's name or id;
   else a facility's name followed by one of its resources' names or ids
   ("Kroksbäckshallen Sektion A"); else a resource name that exactly one
   facility of the report has. Otherwise the claim is ``unknown_place``.
2. **Time.** The claim's date and times are facility-local; an end at or
   before the start runs past midnight. A booking of the association matches
   when the claim lies inside it widened by ``claim_tolerance_minutes`` at
   both ends, on the claimed resource, one containing it, or one it contains
   (a claim of "Sektion A" inside a booking of the whole hall, and the other
   way round). Of several, the one overlapping the claim most (then the
   earliest) is taken. Bookings that held their time count (active, or
   released at the hall for a no-show).
3. **One claim per booking.** A booking already backing an earlier line of the
   file makes a later claim on it ``duplicate``.
4. **Verdict.** ``evidence``: the matched booking had an entry (door or kiosk);
   ``no_entry``: it had none (``no_show`` when a node reported it, or it was
   released); ``no_booking``: the place is known but no booking of the
   association matches; ``outside_period``: the claim's date is outside the
   report's period (its evidence was not read). Every verdict but
   ``evidence`` reads as "no evidence" in the PDF.
5. **Notes.** A claimed participant count above the leader's start
   headcount, and the first entry later than the claimed start by more than
   the tolerance, are noted (not verdicts: the officer decides).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sync.protocol.timeutil import local_to_instant, to_ts

from ..evidence.settings import Settings
from ..store import Store
from . import data
from .claimsfile import Claim
from .data import Facility, Query, ReportError, Row

VERDICT_TEXT = {
    "evidence": "evidence",
    "no_entry": "no evidence: booked, nobody entered",
    "no_show": "no evidence: no-show reported by the hall",
    "no_booking": "no evidence: no booking",
    "unknown_place": "no evidence: place unknown",
    "duplicate": "no evidence: booking already claimed",
    "outside_period": "not checked: outside the report period",
}


@dataclass(frozen=True, slots=True)
class Place:
    facility: Facility
    resource: str | None


@dataclass(frozen=True, slots=True)
class Note:
    """A remark on a matched claim: ``more_claimed`` (claimed, reported) or
    ``late`` (minutes after the claimed start)."""

    kind: str
    a: int
    b: int = 0

    def text(self) -> str:
        if self.kind == "more_claimed":
            return f"claims {self.a} participants; the leader reported {self.b} at the start"
        return f"first entry {self.a} min after the claimed start"


@dataclass(frozen=True, slots=True)
class Checked:
    claim: Claim
    place: Place | None
    row: Row | None
    verdict: str
    notes: tuple[Note, ...]
    backs: int | None = None  # for a duplicate: the line whose claim took the booking


@dataclass(frozen=True, slots=True)
class ClaimsReport:
    query: Query
    holder: str
    holder_name: str
    tolerance_minutes: int
    checked: list[Checked]


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def resolve_place(
    text: str, facilities: Sequence[Facility], places: Mapping[str, str]
) -> Place | None:
    """The facility (and resource) a claim's place names (module rule 1)."""
    want = _norm(text)
    by_id = {f.id: f for f in facilities}
    for name, target in places.items():
        if _norm(name) == want:
            fid, _, rid = target.partition("/")
            if fid in by_id and (not rid or rid in by_id[fid].resources):
                return Place(by_id[fid], rid or None)
            return None  # mapped to a facility outside the report
    for f in facilities:
        if want in (_norm(f.name), _norm(f.id)):
            return Place(f, None)
    for f in facilities:
        for prefix in (_norm(f.name), _norm(f.id)):
            if want.startswith(prefix + " "):
                rest = want[len(prefix) :].strip(" -,:/")
                for rid, (rname, _) in f.resources.items():
                    if rest in (_norm(rname), _norm(rid)):
                        return Place(f, rid)
    hits = [
        Place(f, rid)
        for f in facilities
        for rid, (rname, _) in f.resources.items()
        if want in (_norm(rname), _norm(rid))
    ]
    return hits[0] if len({h.facility.id for h in hits}) == 1 and len(hits) == 1 else None


def _lineage(f: Facility, rid: str) -> set[str]:
    """``rid``, its ancestors and its descendants (a hall and its sections)."""
    up = {rid}
    cur: str | None = rid
    while cur is not None and cur in f.resources:
        cur = f.resources[cur][1]
        if cur is not None:
            if cur in up:
                break
            up.add(cur)
    down = {rid}
    grew = True
    while grew:
        more = {r for r, (_, parent) in f.resources.items() if parent in down} - down
        down |= more
        grew = bool(more)
    return up | down


def claims_check(
    store: Store,
    q: Query,
    holder: str,
    claims: Sequence[Claim],
    defaults: Settings,
) -> ClaimsReport:
    """Each claim with its evidence (module rules). ``holder`` is the
    association's id or its exact display name; raises ``ReportError`` when
    no facility of the report knows it."""
    facs = data.facilities(store, q.facilities)
    hid = _holder_id(facs, holder)
    tol = defaults.claim_tolerance_minutes
    cache: dict[str, list[Row]] = {}
    taken: dict[tuple[str, str], int] = {}
    out: list[Checked] = []
    for c in claims:
        if not q.start <= c.day <= q.end:
            out.append(Checked(c, None, None, "outside_period", ()))
            continue
        place = resolve_place(c.place, facs, defaults.places)
        if place is None:
            out.append(Checked(c, None, None, "unknown_place", ()))
            continue
        f = place.facility
        rows = cache.get(f.id)
        if rows is None:
            rows = cache[f.id] = [
                r for r in data.sessions(store, f, q.start, q.end) if r.holder == hid and r.booked
            ]
        cs = to_ts(local_to_instant(c.day, c.start, f.tz))
        end_day = c.day if c.end > c.start else c.day + timedelta(days=1)
        ce = to_ts(local_to_instant(end_day, c.end, f.tz))
        ok = None if place.resource is None else _lineage(f, place.resource)
        tol_s = tol * 60
        fits = [
            r
            for r in rows
            if r.start_ts - tol_s <= cs
            and ce <= r.end_ts + tol_s
            and (ok is None or ok & set(r.resources))
        ]
        if not fits:
            out.append(Checked(c, place, None, "no_booking", ()))
            continue
        row = max(fits, key=lambda r: (min(ce, r.end_ts) - max(cs, r.start_ts), -r.start_ts))
        key = (f.id, row.booking)
        if key in taken:
            out.append(Checked(c, place, row, "duplicate", (), taken[key]))
            continue
        taken[key] = c.line
        out.append(_verdict(c, place, row, cs, tol_s))
    return ClaimsReport(q, hid, _holder_name(facs, hid), tol, out)


def _verdict(c: Claim, place: Place, row: Row, cs: int, tol_s: int) -> Checked:
    notes: list[Note] = []
    if row.participants is not None and c.participants > row.participants:
        notes.append(Note("more_claimed", c.participants, row.participants))
    if row.first_entry_ts is not None and row.first_entry_ts > cs + tol_s:
        notes.append(Note("late", (row.first_entry_ts - cs) // 60))
    if row.used:
        verdict = "evidence"
    elif row.released_ts is not None or row.no_show_ts is not None:
        verdict = "no_show"
    else:
        verdict = "no_entry"
    return Checked(c, place, row, verdict, tuple(notes))


def _holder_id(facs: Sequence[Facility], holder: str) -> str:
    for f in facs:
        if holder in f.holders and f.holders[holder][0] == "association":
            return holder
    for f in facs:
        for hid, (kind, name) in f.holders.items():
            if kind == "association" and _norm(name) == _norm(holder):
                return hid
    raise ReportError(f"no association {holder!r} (an id or display name) in these facilities")


def _holder_name(facs: Sequence[Facility], hid: str) -> str:
    return next((f.holder_name(hid) for f in facs if hid in f.holders), hid)
