"""Deterministic demo and benchmark data: one Swedish sports facility as central
sends it (PROTOCOL.md §6, a snapshot's ``entities``). ``hallvakt demo`` loads it,
and tests and bench/ import it from here.

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

Its modules, each with its rules: ``words`` (names, places, sports), ``facility``
(spaces, zones, doors, packing a zone), ``bookings`` (season and one-off bookings,
leases), ``people`` (holders, credentials, grants; the seeded secrets) and
``credentials`` (a few people's plain credentials again).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta

from sync.protocol.records import Record, parse_record
from sync.protocol.timeutil import zone
from sync.replica.apply import replace_all
from sync.replica.digests import card_digest
from sync.replica.store import Replica

from . import bookings as _bookings
from . import people as _people
from .bookings import DEMO_NODE, UtcCache
from .credentials import DEMO_CREDENTIAL_KEY, demo_credentials
from .facility import ENTITY_ORDER, FIELDS, Entities, Wire, extra_spaces, layout, rec
from .people import recover

FACILITY_ID = "kroksbackshallen"

__all__ = [
    "DEMO_CREDENTIAL_KEY",
    "DEMO_NODE",
    "ENTITY_ORDER",
    "FACILITY_ID",
    "FIELDS",
    "Entities",
    "Wire",
    "as_records",
    "demo_credentials",
    "generate",
    "load_into",
    "parsed",
    "recover",
]


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
    rng = random.Random(seed)  # one generator, drawn from in this order: same seed, same data
    spaces, resources, doors = layout(extra_spaces(bookings))
    utc = UtcCache(tzinfo)
    who = _people.who(rng, credentials)
    first = today - timedelta(days=days_before)
    horizon = [first + timedelta(days=i) for i in range(days_before + days_after + 1)]
    booked = _bookings.book(
        rng, spaces, who.assocs, who.names, who.customers, horizon, bookings, utc
    )
    enrolled = _people.enrol(rng, who, seed=seed, key=key, doors=[d["id"] for d in doors])
    return {
        "facility": [rec("facility", FACILITY_ID, "Kroksbäckshallen", tz, "Malmö")],
        "resource": resources,
        "door": doors,
        "holder": who.holders,
        "credential": enrolled.credentials,
        "booking": booked,
        "grant": enrolled.grants,
        "lease": _bookings.leases(spaces[0], horizon, utc),
        "revocation": enrolled.revocations,
        "policy": [rec("policy", "default", 72, True, 5, 60, False, 15)],
    }


def as_records(entities: Mapping[str, list[Wire]]) -> list[tuple[str, Wire]]:
    """The same data as ``(entity, record)`` pairs, entities in ``ENTITY_ORDER``."""
    order = [e for e in ENTITY_ORDER if e in entities]
    order += [e for e in entities if e not in ENTITY_ORDER]
    return [(e, r) for e in order for r in entities[e]]


def parsed(entities: Mapping[str, list[Wire]]) -> Iterator[Record]:
    """Every record validated by ``parse_record`` (raises ``RecordError``)."""
    for entity, r in as_records(entities):
        yield parse_record(entity, r)


def load_into(replica: Replica, entities: Mapping[str, list[Wire]], rev: int, now: datetime) -> int:
    """Replace ``replica``'s contents with ``entities`` at ``rev`` in one
    transaction (``replace_all``); return the number of records loaded.
    Raises ``RecordError`` for a record that does not validate."""
    records = list(parsed(entities))
    replace_all(replica, rev, records, now)
    return len(records)
