"""Central's entities (PROTOCOL.md §6), each a frozen dataclass with its wire rules.

Rules this module guarantees:
- A field's annotation is its wire rule (sync.protocol.codec): type, range,
  enum, format. ``check`` holds the rules across fields, run after every
  field validated.
- Defaults are the protocol's: an absent (or null) optional field takes them.
The field list of each entity is documented in docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import ValidationError
from pydantic_core import core_schema

from firmware_config.vocabulary import DEFAULT_TZ

from .codec import (
    Bad,
    Choice,
    Digest,
    Flag,
    Id,
    IdList,
    Instant,
    Integer,
    NodeName,
    NonEmptyIdList,
    Record,
    Says,
    Text,
    Then,
    _Schema,
    bad,
)
from .timeutil import format_hhmm, parse_hhmm, zone


def _known_zone(name: str) -> str:
    zone(name)  # raises ValueError: unknown time zone '...'
    return name


def _valid_span(start: datetime | None, end: datetime | None, field: str, after: str) -> None:
    if start is not None and end is not None and end <= start:
        raise Bad(field, f"must be after {after}")


@dataclass(frozen=True, slots=True)
class Facility(Record):
    ENTITY: ClassVar[str] = "facility"
    name: Annotated[str, Text()]
    timezone: Annotated[str, Text(64), Then(_known_zone)] = DEFAULT_TZ
    municipality: Annotated[str, Text()] = ""


RESOURCE_KINDS = ("hall", "section", "room", "field", "pool", "other")


@dataclass(frozen=True, slots=True)
class Resource(Record):
    """A bookable space. ``parent`` makes a divisible hall: a hall and its
    sections conflict with each other (either both booked or neither)."""

    ENTITY: ClassVar[str] = "resource"
    name: Annotated[str, Text()]
    kind: Annotated[str, Choice(*RESOURCE_KINDS)] = "room"
    parent: Id | None = None
    # None: no walk-ins on this resource
    walkin_slot_minutes: Annotated[int | None, Integer(15, 240)] = None
    walkin_max_slots: Annotated[int, Integer(1, 16)] = 2
    sort: Annotated[int, Integer(-10_000, 10_000)] = 0
    # None: no no-show release at the hall (docs/reports.md)
    release_after_minutes: Annotated[int | None, Integer(5, 240)] = None

    def check(self) -> None:
        if self.parent == self.id:
            raise Bad("parent", "a resource cannot be its own parent")


@dataclass(frozen=True, slots=True)
class Door(Record):
    ENTITY: ClassVar[str] = "door"
    name: Annotated[str, Text()]
    resources: IdList = ()
    before_minutes: Annotated[int, Integer(0, 240)] = 30
    after_minutes: Annotated[int, Integer(0, 240)] = 15
    unlock_seconds: Annotated[int, Integer(1, 600)] = 5
    held_open_seconds: Annotated[int, Integer(5, 3600)] = 30
    fail_mode: Annotated[str, Choice("secure", "safe")] = "secure"


HOLDER_KINDS = ("association", "person", "staff", "internal")


@dataclass(frozen=True, slots=True)
class Holder(Record):
    """Who books or holds credentials. ``display_name`` is the only name a node
    keeps; a person's is never shown on a public screen. ``member_of`` links a
    leader (a person) to the associations whose bookings the leader opens."""

    ENTITY: ClassVar[str] = "holder"
    kind: Annotated[str, Choice(*HOLDER_KINDS)]
    display_name: Annotated[str, Text(120)]
    member_of: IdList = ()


CREDENTIAL_KINDS = ("card", "pin", "code")


@dataclass(frozen=True, slots=True)
class Credential(Record):
    """A keyed digest (PROTOCOL.md "Credential digests"), never a raw number.
    ``code`` credentials are visitor codes bound to one ``booking``."""

    ENTITY: ClassVar[str] = "credential"
    holder: Id | None
    kind: Annotated[str, Choice(*CREDENTIAL_KINDS)]
    digest: Digest
    valid_from: Instant | None = None
    valid_to: Instant | None = None
    booking: Id | None = None

    def check(self) -> None:
        if self.kind == "code" and self.booking is None:
            raise Bad("booking", "is required for a visitor code")
        if self.kind != "code" and self.holder is None:
            raise Bad("holder", f"is required for a {self.kind}")
        _valid_span(self.valid_from, self.valid_to, "valid_to", "valid_from")

    def valid_at(self, at: datetime) -> bool:
        """Whether ``at`` lies in [valid_from, valid_to)."""
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_to is None or at < self.valid_to
        )


BOOKING_STATUSES = ("confirmed", "tentative", "cancelled", "rejected")
BOOKING_ORIGINS = ("central", "walkin")


@dataclass(frozen=True, slots=True)
class Booking(Record):
    """A booking of one or more resources in [start, end). ``title`` is public."""

    ENTITY: ClassVar[str] = "booking"
    resources: NonEmptyIdList
    start: Instant
    end: Instant
    holder: Id | None = None
    title: Annotated[str, Text(120)] = ""
    status: Annotated[str, Choice(*BOOKING_STATUSES)] = "confirmed"
    origin: Annotated[str, Choice(*BOOKING_ORIGINS)] = "central"
    lease: Id | None = None
    node: NodeName | None = None

    def check(self) -> None:
        _valid_span(self.start, self.end, "end", "start")
        if self.origin == "walkin" and self.lease is None:
            raise Bad("lease", "is required for a walk-in")

    @property
    def active(self) -> bool:
        """Whether the booking holds its time (not cancelled nor rejected)."""
        return self.status in ("confirmed", "tentative")


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """ISO weekdays (1 = Monday) and a facility-time span [start, end) in minutes
    after local midnight; ``end`` <= ``start`` spans midnight into the next day.
    On the wire: ``{"days": [1, 2], "from": "HH:MM", "to": "HH:MM"}``."""

    days: tuple[int, ...]
    start: int
    end: int

    @classmethod
    def from_wire(cls, data: Any) -> WeeklyWindow:
        """A window from its wire object; raises ``bad`` (a codec error) naming
        ``days`` or the window itself."""
        if not isinstance(data, Mapping):
            raise bad("must be an object with days, from, to")
        days = data.get("days")
        if (
            not isinstance(days, list)
            or not days
            or not all(type(d) is int and 1 <= d <= 7 for d in days)
        ):
            raise ValidationError.from_exception_data(
                "window",
                [
                    {
                        "type": bad("must be a non-empty list of ISO weekdays 1..7"),
                        "loc": ("days",),
                        "input": days,
                    }
                ],
            )
        try:
            start, end = parse_hhmm(str(data.get("from"))), parse_hhmm(str(data.get("to")))
        except ValueError as exc:
            raise bad(str(exc)) from None
        if start == end:
            raise bad("from and to must differ")
        return cls(tuple(sorted(set(days))), start, end)

    def to_wire(self) -> dict[str, Any]:
        return {
            "days": list(self.days),
            "from": format_hhmm(self.start),
            "to": format_hhmm(self.end),
        }

    def contains(self, iso_weekday: int, minute_of_day: int) -> bool:
        """Whether a facility-local weekday and minute fall inside the window."""
        if self.start < self.end:
            return iso_weekday in self.days and self.start <= minute_of_day < self.end
        previous = 7 if iso_weekday == 1 else iso_weekday - 1
        return (iso_weekday in self.days and minute_of_day >= self.start) or (
            previous in self.days and minute_of_day < self.end
        )


def _window(data: Any) -> WeeklyWindow:
    return WeeklyWindow.from_wire(data)


Windows = Annotated[
    tuple[WeeklyWindow, ...],
    _Schema(
        core_schema.tuple_variable_schema(
            core_schema.no_info_plain_validator_function(_window), min_length=1
        )
    ),
    Says("must be a non-empty list"),
]


@dataclass(frozen=True, slots=True)
class Grant(Record):
    """Standing access for staff and caretakers: doors and weekly windows."""

    ENTITY: ClassVar[str] = "grant"
    holder: Id
    doors: NonEmptyIdList
    windows: Windows
    valid_from: Instant | None = None
    valid_to: Instant | None = None

    def check(self) -> None:
        _valid_span(self.valid_from, self.valid_to, "valid_to", "valid_from")


@dataclass(frozen=True, slots=True)
class Lease(Record):
    """The sole right of one node to book ``resource`` in [start, end) (walk-ins)."""

    ENTITY: ClassVar[str] = "lease"
    node: NodeName
    resource: Id
    start: Instant
    end: Instant

    def check(self) -> None:
        _valid_span(self.start, self.end, "end", "start")


@dataclass(frozen=True, slots=True)
class Revocation(Record):
    """A credential (by id or by digest) that must never open a door again."""

    ENTITY: ClassVar[str] = "revocation"
    credential: Id | None = None
    digest: Digest | None = None
    reason: Annotated[str, Text(200)] = ""

    def check(self) -> None:
        if self.credential is None and self.digest is None:
            raise Bad("credential", "a revocation names a credential or a digest")


@dataclass(frozen=True, slots=True)
class Policy(Record):
    """Facility rules (PROTOCOL.md §7). The record with id ``default`` applies."""

    ENTITY: ClassVar[str] = "policy"
    max_offline_hours: Annotated[int, Integer(1, 24 * 60)] = 72
    pin_required: Flag = True
    pin_max_attempts: Annotated[int, Integer(1, 20)] = 5
    pin_lockout_seconds: Annotated[int, Integer(1, 86_400)] = 60
    codes_after_leader: Flag = False
    no_show_grace_minutes: Annotated[int, Integer(0, 240)] = 15
