"""A generated season with planted truth: facilities, bookings, the node events they cause, and
what every report must say about them, exactly.

- ``generate(seed, facilities, days, rooms, ...)`` lays out facilities (a
  divisible hall with two sections, ``rooms`` rooms, a drop-in room with a
  walk-in lease each weekday), associations, private persons, and bookings
  every evening and weekend morning in facility-local time. Each booking gets
  a planted outcome (used, no-show, released, never reported, cancelled,
  cancelled after it was used, moved after the fact, not ended yet), and the
  events a node would send for it: door grants by the leader's card and by
  visitor codes, the check-in, start headcounts (sometimes two: the later
  counts), no-shows, releases, walk-ins (accepted and rejected).
- The truth is computed here, from what was planted, by its own arithmetic
  (never by the code under test): minutes per facility and resource by
  outcome, booked and used minutes per local weekday and hour, no-shows per
  holder and season, and each session's grant verdict.
- Deterministic: one ``random.Random(seed)``; event ids are UUIDv7 built from
  it. Times are whole minutes.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sync.protocol.timeutil import format_instant, local_to_instant, to_ts
from sync.protocol.wire import OutboxEvent

TZ = ZoneInfo("Europe/Stockholm")
MUNICIPALITIES = ("Malmö", "Robertsfors")  # Robertsfors: a local rule (central.toml in tests)
OUTCOMES = (
    ("used", 0.70),
    ("no_show", 0.08),
    ("released", 0.03),
    ("silent", 0.05),  # ended, no word from a node
    ("cancelled", 0.03),
    ("used_then_cancelled", 0.02),
    ("moved", 0.04),  # used, and central moved it 30 min later afterwards (the truth)
    ("used_no_headcount", 0.05),
)
Wire = dict[str, Any]


@dataclass
class Planted:
    """One booking as planted: its final record and what happened."""

    facility: str
    id: str
    resources: list[str]
    start: int  # final, Unix seconds
    end: int
    holder: str
    holder_kind: str
    outcome: str
    first_entry: int | None = None
    leader_entry: int | None = None
    participants: int | None = None
    leaders: int | None = None
    entries: int = 0


@dataclass
class Truth:
    # (facility, resource or "") -> minutes by column
    minutes: dict[tuple[str, str], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    heat_booked: dict[str, dict[tuple[int, int], int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    heat_used: dict[str, dict[tuple[int, int], int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    # (holder key, season first day) -> booking ids of no-shows (incl. released)
    noshows: dict[tuple[str, date], list[str]] = field(default_factory=lambda: defaultdict(list))
    # booking id -> (meets, reasons, minutes, counted) for ended association sessions
    attendance: dict[str, tuple[bool, tuple[str, ...], int | None, int | None]] = field(
        default_factory=dict
    )
    pending: set[str] = field(default_factory=set)  # association sessions not ended


@dataclass
class Season:
    start: date
    end: date
    now: datetime
    entities: dict[str, dict[str, list[Wire]]]  # facility -> entity -> records (first version)
    corrections: dict[str, list[Wire]]  # facility -> booking records changed after the fact
    nodes: dict[str, str]  # node -> facility
    events: dict[str, list[OutboxEvent]]  # node -> its events, seq 1..n
    planted: dict[str, Planted]
    truth: Truth
    local_rule: dict[str, int]  # the Robertsfors rule's keys, for central.toml in tests


# The local rule the truth judges Robertsfors' sessions by (as central.toml says in the tests).
LOCAL_RULE = {
    "min_minutes": 60,
    "min_participants": 5,
    "participants_include_leaders": 1,
    "max_per_leader": 0,
    "max_participants": 30,
}
NATIONAL = {
    "min_minutes": 45,
    "min_participants": 3,
    "participants_include_leaders": 0,
    "max_per_leader": 20,
    "max_participants": 0,
}


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid7(self, ts: int) -> str:
        ms = ts * 1000 + self.rng.randrange(1000)
        rand = self.rng.getrandbits(74)
        value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62
        value |= rand & (2**62 - 1)
        return str(uuid.UUID(int=value))


def _at(day: date, minute: int) -> int:
    return to_ts(local_to_instant(day, time(minute // 60, minute % 60), TZ))


def _season_first(day: date) -> date:
    return date(day.year, 1, 1) if day.month <= 6 else date(day.year, 7, 1)


def generate(
    *,
    seed: int,
    facilities: int = 3,
    first: int = 0,
    days: int = 42,
    rooms: int = 1,
    start: date = date(2026, 2, 2),
    now_day: int | None = None,
    walkins: bool = True,
) -> Season:
    """A season (module docstring). ``now`` is local noon of day ``now_day``
    (default: three days before the end, so some sessions are still to come)."""
    rng = random.Random(seed)
    ids = _Ids(rng)
    end = start + timedelta(days=days - 1)
    now_day = days - 3 if now_day is None else now_day
    now = local_to_instant(start + timedelta(days=now_day), time(12), TZ)
    now_ts = to_ts(now)
    truth = Truth()
    entities: dict[str, dict[str, list[Wire]]] = {}
    corrections: dict[str, list[Wire]] = defaultdict(list)
    nodes: dict[str, str] = {}
    events: dict[str, list[OutboxEvent]] = {}
    planted: dict[str, Planted] = {}
    for fi in range(first, first + facilities):
        fid = f"fac{fi:02d}"
        node = f"node.{fid}"
        nodes[node] = fid
        muni = MUNICIPALITIES[fi % len(MUNICIPALITIES)]
        rule = LOCAL_RULE if muni == "Robertsfors" else NATIONAL
        ev: list[tuple[int, str, Wire]] = []  # (at, type, body)
        resources: list[Wire] = [
            {"id": "hall", "name": "Stora hallen", "kind": "hall"},
            {"id": "hall.a", "name": "Sektion A", "kind": "section", "parent": "hall"},
            {"id": "hall.b", "name": "Sektion B", "kind": "section", "parent": "hall"},
            {
                "id": "dropin",
                "name": "Drop-in-rummet",
                "kind": "room",
                "walkin_slot_minutes": 30,
                "walkin_max_slots": 4,
            },
        ]
        rooms_ids = [f"room{r}" for r in range(rooms)]
        resources += [
            {"id": r, "name": f"Rum {i + 1}", "kind": "room"} for i, r in enumerate(rooms_ids)
        ]
        assocs = [f"{fid}.assoc{j}" for j in range(6)]
        persons = [f"{fid}.person{j}" for j in range(2)]
        holders = [
            {"id": a, "kind": "association", "display_name": f"IK {fid.upper()} lag {j}"}
            for j, a in enumerate(assocs)
        ]
        holders += [{"id": p, "kind": "person", "display_name": "Anna"} for p in persons]
        bookings: list[Wire] = []
        leases: list[Wire] = []
        for d in range(days):
            day = start + timedelta(days=d)
            weekend = day.isoweekday() >= 6
            lanes: list[tuple[list[str], int, int]] = []
            for res in ["hall.a", "hall.b", *rooms_ids]:
                lo, hi = (600, 780) if weekend else (1020, 1320)
                t = lo
                while t + 60 <= hi:
                    dur = rng.choice((60, 90))
                    if t + dur > hi:
                        dur = hi - t
                    if rng.random() < 0.85:
                        lanes.append(([res], t, t + dur))
                    t += dur
            if weekend:  # a match on both sections (one booking, two resources)
                lanes.append((["hall.a", "hall.b"], 840, 960))
            for res_list, s, e in lanes:
                bid = f"{fid}.b{day:%m%d}.{res_list[0]}.{s}"
                private = res_list[0] in rooms_ids and rng.random() < 0.3
                holder = rng.choice(persons) if private else rng.choice(assocs)
                kind = "person" if private else "association"
                p = _plant(rng, fid, bid, res_list, _at(day, s), _at(day, e), holder, kind, now_ts)
                planted[bid] = p
                first = p.start - 1800 if p.outcome == "moved" else p.start
                bookings.append(_booking(p, first_start=first, cancelled=p.outcome == "cancelled"))
                if p.outcome in ("moved", "used_then_cancelled"):
                    corrections[fid].append(
                        _booking(p, first_start=p.start, cancelled=p.outcome != "moved")
                    )
                ev += _events(rng, p, now_ts)
            if walkins and not weekend:  # the drop-in room: a lease 10-14, walk-ins in it
                ls, le = _at(day, 600), _at(day, 840)
                lid = f"{fid}.lease.{day:%m%d}"
                leases.append(
                    {
                        "id": lid,
                        "node": node,
                        "resource": "dropin",
                        "start": format_instant(_dt(ls)),
                        "end": format_instant(_dt(le)),
                    }
                )
                if ls < now_ts:
                    ev += _walkins(rng, fid, node, lid, day, truth)
        entities[fid] = {
            "facility": [
                {
                    "id": fid,
                    "name": f"Hallen {fi:02d}",
                    "timezone": "Europe/Stockholm",
                    "municipality": muni,
                }
            ],
            "resource": resources,
            "holder": holders,
            "booking": bookings,
            "lease": leases,
        }
        ev.sort(key=lambda x: (x[0], x[1]))
        events[node] = [
            OutboxEvent(i, ids.uuid7(at), t, _dt(at), body) for i, (at, t, body) in enumerate(ev, 1)
        ]
        _truth(truth, [p for p in planted.values() if p.facility == fid], rule, now_ts)
    return Season(
        start, end, now, entities, dict(corrections), nodes, events, planted, truth, LOCAL_RULE
    )


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _pick(rng: random.Random) -> str:
    x = rng.random()
    for name, p in OUTCOMES:
        if x < p:
            return name
        x -= p
    return "used"


def _plant(
    rng: random.Random,
    fid: str,
    bid: str,
    res: list[str],
    s: int,
    e: int,
    holder: str,
    kind: str,
    now_ts: int,
) -> Planted:
    outcome = _pick(rng)
    if e > now_ts and outcome not in ("cancelled",):
        outcome = "pending_used" if s < now_ts and rng.random() < 0.5 else "pending"
    p = Planted(fid, bid, res, s, e, holder, kind, outcome)
    if outcome in ("used", "moved", "used_then_cancelled", "used_no_headcount", "pending_used"):
        p.first_entry = s + 60 * rng.randint(-20, 25)
        if outcome == "pending_used":
            p.first_entry = min(p.first_entry, now_ts - 60)
        if rng.random() < 0.85:
            p.leader_entry = p.first_entry
        if outcome != "used_no_headcount" and rng.random() < 0.92:
            p.participants, p.leaders = rng.randint(0, 34), rng.randint(0, 2)
    return p


def _booking(p: Planted, *, first_start: int, cancelled: bool) -> Wire:
    shift = first_start - p.start
    return {
        "id": p.id,
        "resources": list(p.resources),
        "start": format_instant(_dt(p.start + shift)),
        "end": format_instant(_dt(p.end + shift)),
        "holder": p.holder,
        "title": "" if p.holder_kind == "person" else "Träning",
        "status": "cancelled" if cancelled else "confirmed",
    }


def _events(rng: random.Random, p: Planted, now_ts: int) -> list[tuple[int, str, Wire]]:
    out: list[tuple[int, str, Wire]] = []
    if p.first_entry is not None:
        first = p.first_entry
        leader = p.leader_entry is not None
        later = sorted(first + 60 * rng.randint(1, 20) for _ in range(rng.randint(0, 3)))
        entries = [first, *later]
        entries = [t for t in entries if t < now_ts]
        for i, t in enumerate(entries):
            reason = "booking" if leader and i == 0 else "visitor_code"
            out.append(
                (
                    t,
                    "access.granted",
                    {
                        "door": "door.main",
                        "reader": "r1",
                        "credential": "digest",
                        "credential_id": None,
                        "booking": p.id,
                        "grant": None,
                        "reason": reason,
                        "rev": 1,
                        "clock": {"trusted": True},
                        "stale": False,
                    },
                )
            )
        p.entries = len(entries)
        out.append(
            (
                first,
                "booking.checked_in",
                {"booking": p.id, "door": "door.main", "at": format_instant(_dt(first))},
            )
        )
        out.append(
            (
                first + 60,
                "access.denied",
                {"door": "door.main", "booking": p.id, "reason": "pin_wrong"},
            )
        )
        if p.participants is not None:
            at = max(first, p.start) + 120
            if rng.random() < 0.2:  # a first count, corrected two minutes later
                wrong = {
                    "booking": p.id,
                    "stage": "start",
                    "participants": p.participants + 3,
                    "leaders": p.leaders,
                    "reported_by": "card.x",
                    "at": "",
                }
                out.append((at, "attendance.reported", wrong))
                at += 120
            body = {
                "booking": p.id,
                "stage": "start",
                "participants": p.participants,
                "leaders": p.leaders,
                "reported_by": "card.x",
                "at": "",
            }
            if at < now_ts:
                out.append((at, "attendance.reported", body))
            else:
                p.participants = p.leaders = None
    elif p.outcome == "no_show":
        out.append(
            (
                p.end + 900,
                "booking.no_show",
                {
                    "booking": p.id,
                    "start": format_instant(_dt(p.start)),
                    "end": format_instant(_dt(p.end)),
                },
            )
        )
    elif p.outcome == "released":
        out.append(
            (
                p.start + 1200,
                "booking.released",
                {
                    "booking": p.id,
                    "start": format_instant(_dt(p.start)),
                    "end": format_instant(_dt(p.end)),
                },
            )
        )
    return out


def _walkins(
    rng: random.Random, fid: str, node: str, lid: str, day: date, truth: Truth
) -> list[tuple[int, str, Wire]]:
    out: list[tuple[int, str, Wire]] = []
    t = 600
    for k in range(rng.randint(0, 3)):
        dur = rng.choice((30, 60))
        if t + dur > 840:
            break
        s, e = _at(day, t), _at(day, t + dur)
        b = {
            "id": f"{fid}.w{day:%m%d}.{k}",
            "resources": ["dropin"],
            "start": format_instant(_dt(s)),
            "end": format_instant(_dt(e)),
            "holder": None,
            "title": "Drop-in",
            "status": "confirmed",
            "origin": "walkin",
            "lease": lid,
            "node": node,
        }
        out.append((s - 300, "walkin.created", {"booking": b, "code_digest": "x" * 43}))
        truth.minutes[fid, "dropin"]["walkin"] += dur
        truth.minutes[fid, ""]["walkin"] += dur
        t += dur + rng.choice((0, 30))
    if rng.random() < 0.3:  # one that overlaps the first: central rejects it (conflict)
        s, e = _at(day, 600), _at(day, 630)
        b = {
            "id": f"{fid}.w{day:%m%d}.x",
            "resources": ["dropin"],
            "start": format_instant(_dt(s)),
            "end": format_instant(_dt(e)),
            "holder": None,
            "title": "Drop-in",
            "status": "confirmed",
            "origin": "walkin",
            "lease": lid,
            "node": node,
        }
        if out:
            out.append((s - 200, "walkin.created", {"booking": b, "code_digest": "x" * 43}))
    return out


def _spread(grid: dict[tuple[int, int], int], s: int, e: int) -> None:
    """Minutes of [s, e) by local (weekday, hour), from the planted local day and
    minutes (bookings here never cross midnight nor a DST change)."""
    at = datetime.fromtimestamp(s, TZ)
    lo = at.hour * 60 + at.minute
    hi = lo + (e - s) // 60
    for h in range(lo // 60, (hi + 59) // 60):
        grid[at.weekday(), h] += min(hi, (h + 1) * 60) - max(lo, h * 60)


def _truth(t: Truth, planted: list[Planted], rule: dict[str, int], now_ts: int) -> None:
    for p in planted:
        booked = p.outcome not in ("cancelled", "used_then_cancelled")
        if not booked:
            continue
        m = (p.end - p.start) // 60
        ended = p.end <= now_ts
        used = p.first_entry is not None
        if used:
            col = "used"
        elif not ended:
            col = "pending"
        else:
            col = "not_entered"
        keys = [(p.facility, "")] + [(p.facility, r) for r in p.resources]
        for k in keys:
            t.minutes[k]["booked"] += m
            t.minutes[k][col] += m
            if p.outcome in ("no_show", "released"):
                t.minutes[k]["no_show"] += m
        _spread(t.heat_booked[p.facility], p.start, p.end)
        if used:
            _spread(t.heat_used[p.facility], p.start, p.end)
        day = datetime.fromtimestamp(p.start, TZ).date()
        key = f"{p.facility}/private" if p.holder_kind == "person" else p.holder
        if p.outcome in ("no_show", "released") and ended:
            t.noshows[key, _season_first(day)].append(p.id)
        if p.holder_kind != "association":
            continue
        if not ended:
            t.pending.add(p.id)
            continue
        reasons: list[str] = []
        minutes = None if p.first_entry is None else (p.end - max(p.start, p.first_entry)) // 60
        if minutes is None:
            reasons.append("no_entry")
        elif minutes < rule["min_minutes"]:
            reasons.append("too_short")
        counted = None
        if p.participants is None:
            reasons.append("no_headcount")
        else:
            lead = p.leaders or (1 if p.leader_entry is not None else 0)
            # a leader's card at the door is a leader even when the report counted none
            heads = p.participants + (lead if rule["participants_include_leaders"] else 0)
            if heads < rule["min_participants"]:
                reasons.append("too_few")
            counted = p.participants
            if rule["max_per_leader"]:
                counted = min(counted, rule["max_per_leader"] * lead)
            if rule["max_participants"]:
                counted = min(counted, rule["max_participants"])
        if p.leader_entry is None and not p.leaders:
            reasons.append("no_leader")
        t.attendance[p.id] = (not reasons, tuple(reasons), minutes, counted)
