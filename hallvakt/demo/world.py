"""The demo municipality as the demo shows it: names, people, and what central
gets beyond ``demo-seed``.

Rules this module guarantees:
- Pure: ``plan(seed, now)`` is a function of the demo data seed and the moment
  (facility day and hour); it reads no clock and writes nothing.
- For the demo to work at any hour, central also gets (by ``import``) a room
  booked now for the first demo leader's association ("Demosalen", four hours
  from the start of this hour) and a drop-in room with walk-in windows round the
  clock, both behind the main entrance, the door the node controls.
- Every demo credential of ``hallvakt.demo.data`` becomes a ``Person`` the panel
  offers: card, PIN, and what the door will do (a leader whose team is booked
  now, a leader whose booking is later, staff with their weekly hours).
- ``DemoError`` is the one error the demo reports instead of starting; its
  message says why and where to look.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from hallvakt.demo.data import (
    DEMO_CREDENTIAL_KEY,
    DEMO_NODE,
    Entities,
    demo_credentials,
    generate,
)
from sync.protocol.timeutil import local_to_instant, zone
from sync.replica import Booking, Door, Resource, card_digest

DEMO_TZ = "Europe/Stockholm"
CENTRAL_KID = "central-demo"
DOOR = "door.main"
READER = "main-in"
KIOSK_READER = "foyer-kiosk"
DEMO_ROOM, DROPIN_ROOM = "demo.room", "demo.dropin"
DEMO_BOOKING = "b.demo.now"
DEMO_HOURS = 4

# Runs one `hallvakt` command line in this process and returns its exit status.
Hallvakt = Callable[[Sequence[str]], int]


class DemoError(Exception):
    """The demo cannot start; the message says why and where to look."""


@dataclass(frozen=True, slots=True)
class Person:
    label: str
    card: str
    pin: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """What the demo seeds beyond ``demo-seed`` and who to be at the door."""

    people: tuple[Person, ...]
    extras: dict[str, Any]
    booked_until: datetime  # the demo booking's end, facility time
    book_start: datetime  # the suggested central booking, facility time
    book_end: datetime


def plan(seed: int, now: datetime) -> Plan:
    """The demo's people and extra records for the facility day of ``now``."""
    tz = zone(DEMO_TZ)
    local = now.astimezone(tz)
    entities = generate(seed=seed, today=local.date(), tz=DEMO_TZ)
    start = local.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=DEMO_HOURS)
    people: list[Person] = []
    team: str | None = None
    for label, what in demo_credentials(entities, seed=seed, today=local.date()).items():
        card, _, pin = what.removeprefix("card ").partition(" + PIN ")
        holder = _holder_of(entities, card)
        if not pin:
            note = f"staff grant {_hours(entities, holder)}; no PIN"
        elif team is None:
            team = str(holder["member_of"][0])
            note = f"the team is booked in Demosalen now, until {end:%H:%M}"
        else:
            note = "opens from 30 min before the team's booking"
        people.append(Person(label, card, pin or None, note))
    if team is None:
        raise DemoError(f"demo data seed {seed} has no leader to show")
    main = next(Door.from_wire(d) for d in entities["door"] if d["id"] == DOOR)
    door = Door(
        main.id,
        main.name,
        (*main.resources, DEMO_ROOM, DROPIN_ROOM),
        main.before_minutes,
        main.after_minutes,
        main.unlock_seconds,
        main.held_open_seconds,
        main.fail_mode,
    )
    booking = Booking(
        DEMO_BOOKING,
        (DEMO_ROOM,),
        start.astimezone(UTC),
        end.astimezone(UTC),
        team,
        "Demo: träning",
    )
    extras = {
        "resource": [
            Resource(DEMO_ROOM, "Demosalen", "room", None, None, 2, 100).to_wire(),
            Resource(DROPIN_ROOM, "Drop-in-salen", "room", None, 30, 4, 110).to_wire(),
        ],
        "door": [door.to_wire()],
        "booking": [booking.to_wire()],
        "walkin_windows": [
            {
                "resource": DROPIN_ROOM,
                "node": DEMO_NODE,
                "windows": [{"days": [1, 2, 3, 4, 5, 6, 7], "from": "00:00", "to": "24:00"}],
            }
        ],
    }
    # Gymmet is free from 22:00 every day (hallvakt/demo/data.py: its zones end by then).
    book_start = local_to_instant(local.date(), time(22, 0), tz).astimezone(tz)
    return Plan(tuple(people), extras, end, book_start, book_start + timedelta(hours=1))


def _holder_of(entities: Entities, card: str) -> dict[str, Any]:
    """The holder record behind a demo card."""
    digest = card_digest(DEMO_CREDENTIAL_KEY, card)
    holder = next(c["holder"] for c in entities["credential"] if c["digest"] == digest)
    return next(h for h in entities["holder"] if h["id"] == holder)


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _hours(entities: Entities, holder: Mapping[str, Any]) -> str:
    """A staff grant's weekly windows, e.g. ``Mon-Fri 06:00-22:00, Sat-Sun 08:00-18:00``."""
    out = []
    for g in entities["grant"]:
        if g["holder"] != holder["id"]:
            continue
        for w in g["windows"]:
            days = sorted(w["days"])
            if days == list(range(1, 8)):
                span = "every day"
            elif days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
                span = f"{DAY_NAMES[days[0] - 1]}-{DAY_NAMES[days[-1] - 1]}"
            else:
                span = ",".join(DAY_NAMES[d - 1] for d in days)
            out.append(f"{span} {w['from']}-{w['to']}")
    return ", ".join(out) or "(none)"
