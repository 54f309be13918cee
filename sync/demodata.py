"""Deterministic demo and benchmark data: one Swedish sports facility as central
sends it (PROTOCOL.md §6, a snapshot's ``entities``).

Rules this module guarantees:
- Same arguments, same output. All randomness comes from ``random.Random``
  instances seeded from ``seed`` (never the global generator) and no clock is
  read: the caller passes ``today`` and the facility time zone.
- Every record is in canonical wire form: ``parse_record(entity, d)`` accepts it
  and ``.to_wire()`` gives ``d`` back unchanged.
- No two active bookings overlap on related resources (a hall conflicts with
  its sections), and no lease overlaps any booking on a related resource.
- Times are laid out in facility-local time and converted with
  ``local_to_instant``: a weekly slot at 18:00 stays at 18:00 across DST.
- A person (leader, private customer, staff) has a first name as its only name,
  and a private person's booking has no title, so no public screen names them.
- Card ids and PINs exist only as keyed digests (PROTOCOL.md "Credential
  digests"); ``demo_credentials`` recomputes the plain values of a few people.
- ``credentials`` and ``bookings``, when given, are exact counts. To hold many
  bookings the facility grows: every started 20,000 bookings add one extra hall
  (three sections, own door) and one extra room (own door), up to 16 of each,
  booked 07:00-23:00 every day; then the horizon is extended forward by whole
  weeks until its weekly season slots alone can hold the target; the result is
  thinned to the exact count by a seeded sample. 500,000 bookings give 17
  halls, 17 rooms and a horizon of about two and a half years.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .replica.apply import replace_all
from .replica.digests import card_digest, card_id, pin_digest
from .replica.records import ENTITIES, Record, parse_record
from .replica.store import Replica
from .replica.timeutil import format_instant, local_to_instant, parse_instant, zone

Wire = dict[str, Any]
Entities = dict[str, list[Wire]]

DEMO_CREDENTIAL_KEY = b"hallvakt-demo-credential-key-32b"
DEMO_NODE = "demo.node.n1"
FACILITY_ID = "kroksbackshallen"
ENTITY_ORDER = tuple(ENTITIES)  # facility, resource, door, holder, credential, booking, ...
FIELDS = {e: tuple(f.name for f in dataclasses.fields(cls)) for e, cls in ENTITIES.items()}
MAX_EXTRA_SPACES = 16
BOOKINGS_PER_EXTRA_SPACE = 20_000


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(sep))


FIRST_NAMES = _words(
    """
    Anna Erik Maria Lars Karin Johan Sara Anders Emma Mikael Elin Per Ida Fredrik Linnea
    Jonas Maja Ahmed Fatima Ali Leyla Mohammed Amira Omar Zeynep Nils Astrid Oskar Ebba
    Gustav Alva Hugo Saga Viktor Klara Emil Wilma Adam Selma Noah Ella Liam Alice Elias Vera
    Hassan Nour Dragan Milica Tomasz Kasia Björn
    """
)
PLACES = _words(
    """
    Kroksbäck Hyllie Limhamn Bunkeflo Rosengård Husie Oxie Fosie Kirseberg Lindängen Holma
    Bellevue Möllevången Sorgenfri Augustenborg Värnhem Hermodsdal Tygelsjö Klagshamn
    Kulladal Jägersro Höja Lorensborg Malmö Lund Lomma Arlöv Burlöv Vellinge Höllviken
    Skanör Staffanstorp Svedala Trelleborg Landskrona Eslöv Höör Kävlinge Bjärred Ystad
    Skurup Sjöbo Hörby Helsingborg Ängelholm Höganäs Kristianstad Hässleholm Simrishamn
    Tomelilla
    """
)
CLUB_FORMS = _words(
    "IFK {p}|IK {p}|{p} IF|{p} BK|{p} SK|{p} FF|BK {p}|{p} AIS|Team {p}|{p} GoIF", "|"
)
SPORTS = _words(
    """
    Innebandy Basket Handboll Volleyboll Futsal Badminton Gymnastik Bordtennis Judo
    Friidrott Taekwondo Dans
    """
)
CLUB_WORDS = _words(
    """
    Innebandyklubb Basketklubb Handbollsklubb Volleybollklubb Badmintonklubb Judoklubb
    """
)
TEAM_SPORTS = ("Innebandy", "Basket", "Handboll", "Volleyboll", "Futsal")
ROOM_NAMES = _words(
    """
    Dojon Danssalen Styrkerummet Pingisrummet Samlingssalen Gymnastiksalen Brottningsrummet
    Spinningsalen
    """
)

WEEKDAYS = (1, 2, 3, 4, 5)
WEEKEND = (6, 7)
ALL_DAYS = (1, 2, 3, 4, 5, 6, 7)
Zone = tuple[tuple[int, ...], int, int, str]
# (weekdays, from, to, use) in facility-local minutes after midnight. The zones
# of one space never overlap, so a lease never meets a booking.
MAIN_HALL_ZONES: tuple[Zone, ...] = (
    (WEEKDAYS, 7 * 60, 9 * 60, "oneoff"),
    (WEEKDAYS, 9 * 60, 16 * 60, "lease"),
    (WEEKDAYS, 16 * 60, 17 * 60, "oneoff"),
    (WEEKDAYS, 17 * 60, 22 * 60, "season"),
    (WEEKEND, 9 * 60, 13 * 60, "oneoff"),
    (WEEKEND, 13 * 60, 17 * 60, "lease"),
    (WEEKEND, 17 * 60, 20 * 60, "season"),
)
GYM_ZONES: tuple[Zone, ...] = (
    (WEEKDAYS, 7 * 60, 17 * 60, "oneoff"),
    (WEEKDAYS, 17 * 60, 22 * 60, "season"),
    (WEEKEND, 9 * 60, 17 * 60, "oneoff"),
)
EXTRA_ZONES: tuple[Zone, ...] = ((ALL_DAYS, 7 * 60, 23 * 60, "season"),)


def _rec(entity: str, *values: Any) -> Wire:
    """A wire record from its field values in ``to_wire`` order."""
    return dict(zip(FIELDS[entity], values, strict=True))


@dataclass(frozen=True, slots=True)
class _Space:
    """A hall (booked whole or by section) or a room, and its zones."""

    id: str
    name: str
    sections: tuple[str, ...]
    zones: tuple[Zone, ...]

    @property
    def lanes(self) -> int:
        return max(1, len(self.sections))

    def resource(self, lane: int) -> str:
        """The resource of a packed lane (-1: the whole hall)."""
        return self.sections[lane] if lane >= 0 and self.sections else self.id


def _extra_spaces(bookings: int | None) -> int:
    """How many extra halls (and as many extra rooms) ``bookings`` needs."""
    if bookings is None or bookings <= 2_000:
        return 0
    return min(MAX_EXTRA_SPACES, math.ceil(bookings / BOOKINGS_PER_EXTRA_SPACE))


def _layout(extra: int) -> tuple[list[_Space], list[Wire], list[Wire]]:
    """The spaces, resource records and door records of the facility."""
    main = _Space("hall", "Stora hallen", ("hall.a", "hall.b", "hall.c"), MAIN_HALL_ZONES)
    spaces = [main, _Space("gym", "Gymmet", (), GYM_ZONES)]
    for n in range(2, extra + 2):
        sections = tuple(f"hall{n}.{s}" for s in "abc")
        spaces.append(_Space(f"hall{n}", f"Hall {n}", sections, EXTRA_ZONES))
        room, again = ROOM_NAMES[(n - 2) % len(ROOM_NAMES)], (n - 2) // len(ROOM_NAMES)
        spaces.append(_Space(f"room{n}", f"{room} {again + 1}" if again else room, (), EXTRA_ZONES))
    resources: list[Wire] = []
    doors: list[Wire] = []
    for sort, sp in enumerate(spaces):
        kind = "hall" if sp.sections else "room"
        resources.append(_rec("resource", sp.id, sp.name, kind, None, None, 2, sort * 10, None))
        for i, sec in enumerate(sp.sections):
            name = f"Sektion {'ABC'[i]}" if sp is main else f"{sp.name} sektion {'ABC'[i]}"
            walkin = 60 if sp is main else None
            resources.append(
                _rec("resource", sec, name, "section", sp.id, walkin, 2, sort * 10 + i + 1, None)
            )
        if sp is main:  # the main entrance is an escape route: fail-safe
            doors.append(_rec("door", "door.main", "Huvudentrén", [sp.id], 30, 15, 5, 30, "safe"))
        elif sp.id == "gym":
            doors.append(_rec("door", "door.gym", "Gymdörren", [sp.id], 15, 15, 5, 30, "secure"))
        else:
            name = f"Entré {sp.name}"
            doors.append(_rec("door", f"door.{sp.id}", name, [sp.id], 30, 15, 5, 30, "secure"))
    return spaces, resources, doors


def _club_names(rng: random.Random) -> list[str]:
    """Every association name this module can make, in a seeded order."""
    names: list[str] = []
    for p in PLACES:
        names.extend(f"{p} {s}" for s in SPORTS)
        names.extend(f"{p} {w}" for w in CLUB_WORDS)
        names.extend(f"{form.format(p=p)} {s}" for form in CLUB_FORMS for s in SPORTS)
    names = list(dict.fromkeys(names))
    rng.shuffle(names)
    return names


def _pack(
    rng: random.Random, lanes: int, lo: int, hi: int, gap: float
) -> list[tuple[int, int, int]]:
    """Non-overlapping (lane, start, end) in [lo, hi): lane -1 is the whole hall,
    which starts only when every section is free and then blocks them all."""
    cur = [lo] * lanes
    out: list[tuple[int, int, int]] = []
    choices = ([-1] if lanes > 1 else []) + list(range(lanes))
    while True:
        opts = [
            (lane, d)
            for d in (60, 90)
            for lane in choices
            if (max(cur) if lane < 0 else cur[lane]) + d <= hi
        ]
        if not opts:
            return out
        lane, d = rng.choice(opts)
        start = max(cur) if lane < 0 else cur[lane]
        end = start + (30 if rng.random() < gap else d)  # a gap leaves 30 min free
        if end - start == d:
            out.append((lane, start, end))
        if lane < 0:
            cur = [end] * lanes
        else:
            cur[lane] = end


def _secret(seed: int, holder_id: str, tag: str) -> tuple[str, str]:
    """A person's plain card id and PIN, derived from seed, holder id and tag only."""
    r = random.Random(f"{seed}:{holder_id}:{tag}")
    x = r.random()
    if x < 0.6:  # a MIFARE 7-byte UID (NXP manufacturer byte 04)
        cid = card_id(b"\x04" + r.randbytes(6), 56)
    elif x < 0.85:  # a 26-bit Wiegand read: 26 bits in 4 bytes
        cid = card_id(r.randbytes(3) + bytes([r.choice((0x00, 0x40, 0x80, 0xC0))]), 26)
    else:  # a MIFARE Classic 4-byte UID
        cid = card_id(r.randbytes(4), 32)
    return cid, f"{r.randrange(10_000):04d}"


def _oneoff(
    rng: random.Random,
    assocs: list[str],
    names: list[str],
    people: list[str],
    lane: int,
    weekend: bool,
) -> tuple[str, str]:
    """(holder, public title) of a one-off booking; private persons get no title."""
    if lane < 0:  # the whole hall
        if weekend:  # a home match against a visiting club (not a holder here)
            a = rng.randrange(len(assocs))
            sport = next((s for s in SPORTS if s in names[a]), "")
            if sport not in TEAM_SPORTS:
                event = "Uppvisning" if sport in ("Gymnastik", "Dans") else "Tävling"
                return assocs[a], f"{event}: {names[a]}"
            guest = f"{rng.choice(CLUB_FORMS).format(p=rng.choice(PLACES))} {sport}"
            return assocs[a], f"Seriematch: {names[a]} – {guest}"
        return "internal.school", rng.choice(("Skolavslutning", "Idrottsdag", "Skolidrott"))
    x = rng.random()
    if x < 0.55:
        return rng.choice(people), ""
    if x < 0.8 or weekend:
        return rng.choice(assocs), ""
    return "internal.fritid", rng.choice(("Seniorgympa", "Öppen hall", "Prova på"))


class _UtcCache:
    """Local (date, minute) -> RFC 3339 UTC text, memoised (many bookings share it)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.memo: dict[tuple[date, int], str] = {}

    def __call__(self, day: date, minute: int) -> str:
        text = self.memo.get((day, minute))
        if text is None:
            wall = time(minute // 60, minute % 60)
            text = self.memo[day, minute] = format_instant(local_to_instant(day, wall, self.tz))
        return text


def generate(
    *,
    seed: int,
    today: date,
    tz: str = "Europe/Stockholm",
    credentials: int | None = None,
    bookings: int | None = None,
    days_before: int = 7,
    days_after: int = 14,
    key: bytes = DEMO_CREDENTIAL_KEY,
) -> Entities:
    """The facility as ``{entity: [wire records]}`` over the facility-local
    dates ``today - days_before`` through ``today + days_after`` (inclusive;
    bookings go further when ``bookings`` needs it, see the module docstring).

    ``credentials`` / ``bookings`` of None give the natural demo size (about 60
    credentials and 300 bookings). Raises ``ValueError`` for a negative count or
    horizon, an unknown time zone, or a key that is not 32 bytes.
    """
    if min(credentials or 0, bookings or 0, days_before, days_after) < 0:
        raise ValueError("counts and horizon must not be negative")
    tzinfo = zone(tz)
    card_digest(key, "00/1")  # checks the key before any work
    rng = random.Random(seed)
    spaces, resources, doors = _layout(_extra_spaces(bookings))
    utc = _UtcCache(tzinfo)

    # --- who: associations, internal customers, private persons ----------------------
    if credentials is None:
        n_staff, n_assoc, n_leaders, spare = 3, 10, None, 1
    else:
        n_staff = min(credentials, 3 + credentials // 20_000)
        n_leaders, spare = divmod(credentials - n_staff, 2)
        if n_leaders == 0 and spare:  # no leader to own a lost card: one more staff card
            n_staff, spare = n_staff + 1, 0
        n_assoc = max(6, n_leaders // 8)
    names = _club_names(rng)
    assoc_ids = [f"assoc.{i:04d}" for i in range(min(n_assoc, len(names)))]
    holders = [_rec("holder", a, "association", names[i], []) for i, a in enumerate(assoc_ids)]
    holders.append(_rec("holder", "internal.school", "internal", "Kroksbäcksskolan", []))
    holders.append(_rec("holder", "internal.fritid", "internal", "Fritid Malmö", []))
    customers = [f"customer.{i:03d}" for i in range(20)]
    holders.extend(_rec("holder", c, "person", rng.choice(FIRST_NAMES), []) for c in customers)

    # --- bookings: weekly season slots per association, then one-offs per date ----------
    season: dict[int, list[tuple[str, int, int, str]]] = {d: [] for d in ALL_DAYS}
    for sp in spaces:
        for days, lo, hi, use in sp.zones:
            for wd in days if use == "season" else ():
                for lane, s, e in _pack(rng, sp.lanes, lo, hi, 0.08):
                    season[wd].append((sp.resource(lane), s, e, rng.choice(assoc_ids)))
    first = today - timedelta(days=days_before)
    horizon = [first + timedelta(days=i) for i in range(days_before + days_after + 1)]
    dates = horizon
    held = sum(len(season[d.isoweekday()]) for d in horizon)
    if bookings is not None and held < bookings:
        weeks = math.ceil((bookings - held) / sum(len(v) for v in season.values()))
        dates = [first + timedelta(days=i) for i in range(len(horizon) + 7 * weeks)]
    fields = FIELDS["booking"]
    out_bookings: list[Wire] = []
    for day in dates:
        wd, stamp = day.isoweekday(), day.strftime("%Y%m%d")
        todo = [(rid, s, e, h, "") for rid, s, e, h in season[wd]]
        for sp in spaces[:2]:  # one-offs in the main hall and the gym
            for days, lo, hi, use in sp.zones:
                if use == "oneoff" and wd in days:
                    for lane, s, e in _pack(rng, sp.lanes, lo, hi, 0.45):
                        h, title = _oneoff(rng, assoc_ids, names, customers, lane, wd in WEEKEND)
                        todo.append((sp.resource(lane), s, e, h, title))
        for rid, s, e, h, title in todo:
            x = rng.random()
            status = "cancelled" if x < 0.02 else "tentative" if x < 0.03 else "confirmed"
            bid = f"b.{rid}.{stamp}.{s // 60:02d}{s % 60:02d}"
            values = (bid, [rid], utc(day, s), utc(day, e), h, title, status, "central", None, None)
            out_bookings.append(dict(zip(fields, values, strict=True)))
    if bookings is not None and len(out_bookings) > bookings:
        drop = set(rng.sample(range(len(out_bookings)), len(out_bookings) - bookings))
        out_bookings = [b for i, b in enumerate(out_bookings) if i not in drop]

    # --- leaders and staff with their credentials; staff grants --------------------------
    creds: list[Wire] = []
    revocations: list[Wire] = []
    cards_seen: set[str] = set()

    def card(hid: str, tag: str) -> tuple[str, str]:
        for attempt in range(100):  # a card id is unique in the facility
            cid, pin = _secret(seed, hid, f"{tag}{attempt}")
            if cid not in cards_seen:
                cards_seen.add(cid)
                return card_digest(key, cid), pin
        raise RuntimeError("no free card id")  # pragma: no cover

    def cred(cid: str, hid: str, kind: str, digest: str) -> None:
        creds.append(_rec("credential", cid, hid, kind, digest, None, None, None))

    if n_leaders is None:
        leaders_of = [a for a in assoc_ids for _ in range(rng.randint(2, 4))]
    else:
        leaders_of = [assoc_ids[i % len(assoc_ids)] for i in range(n_leaders)]
    for i, assoc in enumerate(leaders_of):
        hid = f"person.{i:06d}"
        also = rng.choice(assoc_ids) if rng.random() < 0.05 else assoc  # leads in two clubs
        member = [assoc] if also == assoc else [assoc, also]
        holders.append(_rec("holder", hid, "person", rng.choice(FIRST_NAMES), member))
        digest, pin = card(hid, "card")
        cred(f"card.{hid}", hid, "card", digest)
        cred(f"pin.{hid}", hid, "pin", pin_digest(key, hid, pin))
    if spare and leaders_of:  # a lost card: still a credential, revoked by id
        cred("card.person.000000.lost", "person.000000", "card", card("person.000000", "lost")[0])
        revocations.append(
            _rec("revocation", "rev.lost.1", "card.person.000000.lost", None, "Borttappat kort")
        )
    stolen = card("unknown", "stolen")[0]  # a card never enrolled here, revoked by digest
    revocations.append(_rec("revocation", "rev.stolen.1", None, stolen, "Stulet kort"))
    all_doors = [d["id"] for d in doors]
    grants: list[Wire] = []
    for i in range(n_staff):
        hid = f"staff.{i:02d}"
        holders.append(_rec("holder", hid, "staff", rng.choice(FIRST_NAMES), []))
        cred(f"card.{hid}", hid, "card", card(hid, "card")[0])
        if i % 3 == 1:  # night patrol: every night, across midnight
            windows = [_window(ALL_DAYS, "22:00", "06:00")]
        elif i % 3 == 2:  # cleaning
            windows = [_window(ALL_DAYS, "05:00", "09:00")]
        else:  # caretaker
            windows = [_window(WEEKDAYS, "06:00", "22:00"), _window(WEEKEND, "08:00", "18:00")]
        grants.append(_rec("grant", f"grant.{hid}", hid, all_doors, windows, None, None))

    # --- leases: walk-in authority for the demo node on the main hall's sections -------
    leases: list[Wire] = []
    for day in horizon:
        for days, lo, hi, use in spaces[0].zones:
            for sec in spaces[0].sections if use == "lease" and day.isoweekday() in days else ():
                lid = f"lease.{sec}.{day:%Y%m%d}.{lo // 60:02d}00"
                leases.append(_rec("lease", lid, DEMO_NODE, sec, utc(day, lo), utc(day, hi)))

    facility = _rec("facility", FACILITY_ID, "Kroksbäckshallen", tz, "Malmö")
    policy = _rec("policy", "default", 72, True, 5, 60, False, 15)
    return {
        "facility": [facility],
        "resource": resources,
        "door": doors,
        "holder": holders,
        "credential": creds,
        "booking": out_bookings,
        "grant": grants,
        "lease": leases,
        "revocation": revocations,
        "policy": [policy],
    }


def _window(days: tuple[int, ...], start: str, end: str) -> Wire:
    return {"days": list(days), "from": start, "to": end}


def as_records(entities: Mapping[str, list[Wire]]) -> list[tuple[str, Wire]]:
    """The same data as ``(entity, record)`` pairs, entities in ``ENTITY_ORDER``."""
    order = [e for e in ENTITY_ORDER if e in entities]
    order += [e for e in entities if e not in ENTITY_ORDER]
    return [(e, rec) for e in order for rec in entities[e]]


def parsed(entities: Mapping[str, list[Wire]]) -> Iterator[Record]:
    """Every record validated by ``parse_record`` (raises ``RecordError``)."""
    for entity, rec in as_records(entities):
        yield parse_record(entity, rec)


def load_into(replica: Replica, entities: Mapping[str, list[Wire]], rev: int, now: datetime) -> int:
    """Replace ``replica``'s contents with ``entities`` at ``rev`` in one
    transaction (``replace_all``); return the number of records loaded.
    Raises ``RecordError`` for a record that does not validate."""
    records = list(parsed(entities))
    replace_all(replica, rev, records, now)
    return len(records)


def demo_credentials(
    entities: Mapping[str, list[Wire]], *, seed: int, today: date, key: bytes = DEMO_CREDENTIAL_KEY
) -> dict[str, str]:
    """A few demo people's plain credentials: label -> what to present at a door.

    Leaders of associations booked on ``today`` first (the main hall first, with
    where and when),
    then the caretaker and the night patrol. Labels never name a person.
    Raises ``ValueError`` when ``entities`` were not made with ``seed`` and ``key``.
    """
    tz = zone(entities["facility"][0]["timezone"])
    holders = {h["id"]: h for h in entities["holder"]}
    places = {r["id"]: r["name"] for r in entities["resource"]}
    creds = entities["credential"]
    cards = {c["holder"]: c["digest"] for c in creds if c["id"] == f"card.{c['holder']}"}
    leader_of: dict[str, str] = {}
    for h in holders.values():
        if h["kind"] == "person" and h["member_of"]:
            leader_of.setdefault(h["member_of"][0], h["id"])
    picks: dict[str, str] = {}
    today_s = format_instant(local_to_instant(today, time(0), tz))
    tomorrow_s = format_instant(local_to_instant(today + timedelta(days=1), time(0), tz))
    todays = [b for b in entities["booking"] if today_s <= b["start"] < tomorrow_s]
    hall = {r["id"] for r in entities["resource"] if "hall" in (r["id"], r["parent"])}
    for b in sorted(todays, key=lambda b: (b["resources"][0] not in hall, b["start"], b["id"])):
        if b["holder"] in leader_of and b["status"] == "confirmed" and len(picks) < 2:
            at = parse_instant(b["start"]).astimezone(tz)
            picks.setdefault(b["holder"], f" ({places[b['resources'][0]]} {at:%H:%M})")
    if not picks and leader_of:
        picks[next(iter(leader_of))] = ""
    out: dict[str, str] = {}
    for assoc, when in picks.items():
        cid, pin = _recover(seed, leader_of[assoc], cards, key)
        out[f"leader of {holders[assoc]['display_name']}{when}"] = f"card {cid} + PIN {pin}"
    for sid, role in (("staff.00", "caretaker"), ("staff.01", "night patrol")):
        if sid in holders:
            out[role] = f"card {_recover(seed, sid, cards, key)[0]}"
    return out


def _recover(seed: int, hid: str, cards: Mapping[str, str], key: bytes) -> tuple[str, str]:
    """The plain card id and PIN behind ``hid``'s card digest."""
    for attempt in range(100):
        cid, pin = _secret(seed, hid, f"card{attempt}")
        if card_digest(key, cid) == cards.get(hid):
            return cid, pin
    raise ValueError(f"{hid}: no card matches; were these entities made with seed {seed}?")
