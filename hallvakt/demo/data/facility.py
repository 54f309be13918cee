"""The demo facility's spaces: halls, sections, rooms and their doors, the
zones of the week each space is used for, and packing bookings into a zone.

Rules this module guarantees:
- Records are wire records (``rec``: field values in ``to_wire`` order).
- The zones of one space never overlap, so a lease never meets a booking.
- ``pack`` never overlaps two bookings on related resources: the whole hall
  starts only when every section is free, and then blocks them all.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Any

from sync.protocol.records import ENTITIES

from .words import ROOM_NAMES

Wire = dict[str, Any]
Entities = dict[str, list[Wire]]

ENTITY_ORDER = tuple(ENTITIES)  # facility, resource, door, holder, credential, booking, ...
FIELDS = {e: tuple(f.name for f in dataclasses.fields(cls)) for e, cls in ENTITIES.items()}
MAX_EXTRA_SPACES = 16
BOOKINGS_PER_EXTRA_SPACE = 20_000

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


def rec(entity: str, *values: Any) -> Wire:
    """A wire record from its field values in ``to_wire`` order."""
    return dict(zip(FIELDS[entity], values, strict=True))


@dataclass(frozen=True, slots=True)
class Space:
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


def extra_spaces(bookings: int | None) -> int:
    """How many extra halls (and as many extra rooms) ``bookings`` needs."""
    if bookings is None or bookings <= 2_000:
        return 0
    return min(MAX_EXTRA_SPACES, math.ceil(bookings / BOOKINGS_PER_EXTRA_SPACE))


def layout(extra: int) -> tuple[list[Space], list[Wire], list[Wire]]:
    """The spaces, resource records and door records of the facility."""
    main = Space("hall", "Stora hallen", ("hall.a", "hall.b", "hall.c"), MAIN_HALL_ZONES)
    spaces = [main, Space("gym", "Gymmet", (), GYM_ZONES)]
    for n in range(2, extra + 2):
        sections = tuple(f"hall{n}.{s}" for s in "abc")
        spaces.append(Space(f"hall{n}", f"Hall {n}", sections, EXTRA_ZONES))
        room, again = ROOM_NAMES[(n - 2) % len(ROOM_NAMES)], (n - 2) // len(ROOM_NAMES)
        spaces.append(Space(f"room{n}", f"{room} {again + 1}" if again else room, (), EXTRA_ZONES))
    resources: list[Wire] = []
    doors: list[Wire] = []
    for sort, sp in enumerate(spaces):
        kind = "hall" if sp.sections else "room"
        resources.append(rec("resource", sp.id, sp.name, kind, None, None, 2, sort * 10, None))
        for i, sec in enumerate(sp.sections):
            name = f"Sektion {'ABC'[i]}" if sp is main else f"{sp.name} sektion {'ABC'[i]}"
            walkin = 60 if sp is main else None
            resources.append(
                rec("resource", sec, name, "section", sp.id, walkin, 2, sort * 10 + i + 1, None)
            )
        if sp is main:  # the main entrance is an escape route: fail-safe
            doors.append(rec("door", "door.main", "Huvudentrén", [sp.id], 30, 15, 5, 30, "safe"))
        elif sp.id == "gym":
            doors.append(rec("door", "door.gym", "Gymdörren", [sp.id], 15, 15, 5, 30, "secure"))
        else:
            name = f"Entré {sp.name}"
            doors.append(rec("door", f"door.{sp.id}", name, [sp.id], 30, 15, 5, 30, "secure"))
    return spaces, resources, doors


def pack(
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
