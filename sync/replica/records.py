"""Typed records of central's entities (PROTOCOL.md §6) and their wire form.

Rules this module guarantees:
- Every entity is a frozen dataclass; a record exists only if it validated.
- ``from_wire`` is strict about the fields it knows (type, range, enum, format)
  and ignores unknown fields (PROTOCOL.md §4: receivers ignore unknown fields).
  It raises ``RecordError`` naming the entity, the id and the field.
- ``to_wire(from_wire(d))`` keeps every known field, so a record survives a
  round trip through the wire and through the database unchanged.
- Instants are aware UTC datetimes; on the wire RFC 3339 ``Z`` strings.
The field list of each entity is documented in docs/protocol.md.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from .timeutil import format_instant, parse_hhmm, parse_instant

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")  # always used with fullmatch
_DIGEST = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of 32 bytes, unpadded
_NODE = re.compile(r"[a-z0-9.-]{1,64}")
_id_ok = _ID.fullmatch
_digest_ok = _DIGEST.fullmatch


class RecordError(ValueError):
    """A record from central (or from the database) does not match its schema."""

    def __init__(self, entity: str, ident: object, field: str, problem: str) -> None:
        self.entity, self.ident, self.field, self.problem = entity, ident, field, problem
        super().__init__(f"{entity} {ident!r}: {field}: {problem}")


# --- field readers: each returns the typed value or raises RecordError ---------


class _Reader:
    """Field readers over one wire record. Every stored row is read through
    here too (the replica validates on read), so each reader does one dict
    lookup and one type test on the happy path."""

    __slots__ = ("data", "entity", "ident")

    def __init__(self, entity: str, data: Mapping[str, Any]) -> None:
        if type(data) is not dict and not isinstance(data, Mapping):
            raise RecordError(entity, None, "(record)", "must be a JSON object")
        self.entity, self.data = entity, data
        raw = data.get("id")
        self.ident: object = raw
        if type(raw) is not str or not _id_ok(raw):
            raise RecordError(entity, raw, "id", "must be 1-128 of A-Z a-z 0-9 . _ : @ -")

    def fail(self, field: str, problem: str) -> RecordError:
        return RecordError(self.entity, self.ident, field, problem)

    def _get(self, field: str, default: Any, required: bool) -> Any:
        v = self.data.get(field)  # absent and null are the same (PROTOCOL.md §4)
        if v is None:
            if required:
                raise self.fail(field, "is required")
            return default
        return v

    def text(self, field: str, default: str | None = None, *, max_len: int = 200) -> str:
        v = self._get(field, default, default is None)
        if not isinstance(v, str) or len(v) > max_len:
            raise self.fail(field, f"must be a string of at most {max_len} characters")
        return v

    def opt_text(self, field: str, *, max_len: int = 200) -> str | None:
        if self.data.get(field) is None:
            return None
        return self.text(field, max_len=max_len)

    def ref(self, field: str) -> str:
        v = self.data.get(field)
        if type(v) is str and _id_ok(v):
            return v
        if v is None:
            raise self.fail(field, "is required")
        raise self.fail(field, "must be an id")

    def opt_ref(self, field: str) -> str | None:
        v = self.data.get(field)
        if v is None or (type(v) is str and _id_ok(v)):
            return v
        raise self.fail(field, "must be an id")

    def refs(self, field: str, *, non_empty: bool = False) -> tuple[str, ...]:
        v = self._get(field, [], non_empty)
        if type(v) is not list:
            raise self.fail(field, "must be a list of ids")
        for x in v:
            if type(x) is not str or not _id_ok(x):
                raise self.fail(field, "must be a list of ids")
        if non_empty and not v:
            raise self.fail(field, "must not be empty")
        if len(v) > 1 and len(set(v)) != len(v):
            raise self.fail(field, "has duplicate ids")
        return tuple(v)

    def integer(self, field: str, default: int | None, lo: int, hi: int) -> int:
        v = self._get(field, default, default is None)
        if type(v) is not int or not lo <= v <= hi:  # bool is not int here
            raise self.fail(field, f"must be an integer in {lo}..{hi}")
        return v

    def opt_integer(self, field: str, lo: int, hi: int) -> int | None:
        return None if self.data.get(field) is None else self.integer(field, None, lo, hi)

    def flag(self, field: str, default: bool) -> bool:
        v = self._get(field, default, False)
        if type(v) is not bool:
            raise self.fail(field, "must be true or false")
        return v

    def choice(self, field: str, choices: tuple[str, ...], default: str | None = None) -> str:
        v = self._get(field, default, default is None)
        if type(v) is not str or v not in choices:
            raise self.fail(field, f"must be one of {', '.join(choices)}")
        return v

    def instant(self, field: str) -> datetime:
        v = self._get(field, None, True)
        try:
            return parse_instant(v)
        except ValueError as exc:
            raise self.fail(field, str(exc)) from None

    def opt_instant(self, field: str) -> datetime | None:
        return None if self.data.get(field) is None else self.instant(field)

    def digest(self, field: str) -> str:
        v = self._get(field, None, True)
        if type(v) is not str or not _digest_ok(v):
            raise self.fail(field, "must be an unpadded base64url HMAC-SHA256 digest")
        return v


R = TypeVar("R", bound="Record")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A record class's field names in order (``dataclasses.fields`` is slow
    to call for every record written)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclass(frozen=True, slots=True)
class Record:
    """Base of every entity: an id, a wire name, a codec."""

    ENTITY: ClassVar[str] = ""
    id: str

    @classmethod
    def from_wire(cls: type[R], data: Mapping[str, Any]) -> R:
        """Validate a wire record; return the typed record or raise ``RecordError``."""
        raise NotImplementedError

    def to_wire(self) -> dict[str, Any]:
        """The record as a JSON-ready dict (instants as RFC 3339 ``Z`` strings)."""
        out: dict[str, Any] = {}
        for name in _field_names(type(self)):
            v = getattr(self, name)
            if isinstance(v, datetime):
                v = format_instant(v)
            elif isinstance(v, tuple):
                v = [x.to_wire() if isinstance(x, WeeklyWindow) else x for x in v]
            out[name] = v
        return out


@dataclass(frozen=True, slots=True)
class Facility(Record):
    ENTITY: ClassVar[str] = "facility"
    name: str
    timezone: str = "Europe/Stockholm"
    municipality: str = ""

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Facility:
        r = _Reader(cls.ENTITY, data)
        from .timeutil import zone

        tzname = r.text("timezone", "Europe/Stockholm", max_len=64)
        try:
            zone(tzname)
        except ValueError as exc:
            raise r.fail("timezone", str(exc)) from None
        return cls(str(r.ident), r.text("name"), tzname, r.text("municipality", ""))


RESOURCE_KINDS = ("hall", "section", "room", "field", "pool", "other")


@dataclass(frozen=True, slots=True)
class Resource(Record):
    """A bookable space. ``parent`` makes a divisible hall: a hall and its
    sections conflict with each other (either both booked or neither)."""

    ENTITY: ClassVar[str] = "resource"
    name: str
    kind: str = "room"
    parent: str | None = None
    walkin_slot_minutes: int | None = None  # None: no walk-ins on this resource
    walkin_max_slots: int = 2
    sort: int = 0
    release_after_minutes: int | None = None  # None: no no-show release (docs/reports.md)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Resource:
        r = _Reader(cls.ENTITY, data)
        parent = r.opt_ref("parent")
        if parent == r.ident:
            raise r.fail("parent", "a resource cannot be its own parent")
        return cls(
            str(r.ident),
            r.text("name"),
            r.choice("kind", RESOURCE_KINDS, "room"),
            parent,
            r.opt_integer("walkin_slot_minutes", 15, 240),
            r.integer("walkin_max_slots", 2, 1, 16),
            r.integer("sort", 0, -10_000, 10_000),
            r.opt_integer("release_after_minutes", 5, 240),
        )


@dataclass(frozen=True, slots=True)
class Door(Record):
    ENTITY: ClassVar[str] = "door"
    name: str
    resources: tuple[str, ...] = ()
    before_minutes: int = 30
    after_minutes: int = 15
    unlock_seconds: int = 5
    held_open_seconds: int = 30
    fail_mode: str = "secure"

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Door:
        r = _Reader(cls.ENTITY, data)
        return cls(
            str(r.ident),
            r.text("name"),
            r.refs("resources"),
            r.integer("before_minutes", 30, 0, 240),
            r.integer("after_minutes", 15, 0, 240),
            r.integer("unlock_seconds", 5, 1, 600),
            r.integer("held_open_seconds", 30, 5, 3600),
            r.choice("fail_mode", ("secure", "safe"), "secure"),
        )


HOLDER_KINDS = ("association", "person", "staff", "internal")


@dataclass(frozen=True, slots=True)
class Holder(Record):
    """Who books or holds credentials. ``display_name`` is the only name a node
    keeps; a person's is never shown on a public screen. ``member_of`` links a
    leader (a person) to the associations whose bookings the leader opens."""

    ENTITY: ClassVar[str] = "holder"
    kind: str
    display_name: str
    member_of: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Holder:
        r = _Reader(cls.ENTITY, data)
        return cls(
            str(r.ident),
            r.choice("kind", HOLDER_KINDS),
            r.text("display_name", max_len=120),
            r.refs("member_of"),
        )


CREDENTIAL_KINDS = ("card", "pin", "code")


@dataclass(frozen=True, slots=True)
class Credential(Record):
    """A keyed digest (PROTOCOL.md "Credential digests"), never a raw number.
    ``code`` credentials are visitor codes bound to one ``booking``."""

    ENTITY: ClassVar[str] = "credential"
    holder: str | None
    kind: str
    digest: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    booking: str | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Credential:
        r = _Reader(cls.ENTITY, data)
        kind = r.choice("kind", CREDENTIAL_KINDS)
        holder = r.opt_ref("holder")
        booking = r.opt_ref("booking")
        if kind == "code" and booking is None:
            raise r.fail("booking", "is required for a visitor code")
        if kind != "code" and holder is None:
            raise r.fail("holder", f"is required for a {kind}")
        vf, vt = r.opt_instant("valid_from"), r.opt_instant("valid_to")
        if vf is not None and vt is not None and vt <= vf:
            raise r.fail("valid_to", "must be after valid_from")
        return cls(str(r.ident), holder, kind, r.digest("digest"), vf, vt, booking)

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
    resources: tuple[str, ...]
    start: datetime
    end: datetime
    holder: str | None = None
    title: str = ""
    status: str = "confirmed"
    origin: str = "central"
    lease: str | None = None
    node: str | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Booking:
        r = _Reader(cls.ENTITY, data)
        start, end = r.instant("start"), r.instant("end")
        if end <= start:
            raise r.fail("end", "must be after start")
        origin = r.choice("origin", BOOKING_ORIGINS, "central")
        lease = r.opt_ref("lease")
        if origin == "walkin" and lease is None:
            raise r.fail("lease", "is required for a walk-in")
        node = r.opt_text("node", max_len=64)
        if node is not None and not _NODE.fullmatch(node):
            raise r.fail("node", "must be a node id")
        return cls(
            str(r.ident),
            r.refs("resources", non_empty=True),
            start,
            end,
            r.opt_ref("holder"),
            r.text("title", "", max_len=120),
            r.choice("status", BOOKING_STATUSES, "confirmed"),
            origin,
            lease,
            node,
        )

    @property
    def active(self) -> bool:
        """Whether the booking holds its time (not cancelled nor rejected)."""
        return self.status in ("confirmed", "tentative")


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """ISO weekdays (1 = Monday) and a facility-time span [start, end) in minutes
    after local midnight; ``end`` <= ``start`` spans midnight into the next day."""

    days: tuple[int, ...]
    start: int
    end: int

    @classmethod
    def from_wire(cls, data: Any, r: _Reader, field: str) -> WeeklyWindow:
        if not isinstance(data, Mapping):
            raise r.fail(field, "must be an object with days, from, to")
        days = data.get("days")
        if (
            not isinstance(days, list)
            or not days
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days)
        ):
            raise r.fail(f"{field}.days", "must be a non-empty list of ISO weekdays 1..7")
        try:
            start, end = parse_hhmm(str(data.get("from"))), parse_hhmm(str(data.get("to")))
        except ValueError as exc:
            raise r.fail(field, str(exc)) from None
        if start == end:
            raise r.fail(field, "from and to must differ")
        return cls(tuple(sorted(set(days))), start, end)

    def to_wire(self) -> dict[str, Any]:
        from .timeutil import format_hhmm

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


@dataclass(frozen=True, slots=True)
class Grant(Record):
    """Standing access for staff and caretakers: doors and weekly windows."""

    ENTITY: ClassVar[str] = "grant"
    holder: str
    doors: tuple[str, ...]
    windows: tuple[WeeklyWindow, ...]
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Grant:
        r = _Reader(cls.ENTITY, data)
        raw = r._get("windows", None, True)
        if not isinstance(raw, list) or not raw:
            raise r.fail("windows", "must be a non-empty list")
        windows = tuple(WeeklyWindow.from_wire(w, r, f"windows[{i}]") for i, w in enumerate(raw))
        vf, vt = r.opt_instant("valid_from"), r.opt_instant("valid_to")
        if vf is not None and vt is not None and vt <= vf:
            raise r.fail("valid_to", "must be after valid_from")
        return cls(str(r.ident), r.ref("holder"), r.refs("doors", non_empty=True), windows, vf, vt)


@dataclass(frozen=True, slots=True)
class Lease(Record):
    """The sole right of one node to book ``resource`` in [start, end) (walk-ins)."""

    ENTITY: ClassVar[str] = "lease"
    node: str
    resource: str
    start: datetime
    end: datetime

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Lease:
        r = _Reader(cls.ENTITY, data)
        node = r.text("node", max_len=64)
        if not _NODE.fullmatch(node):
            raise r.fail("node", "must be a node id")
        start, end = r.instant("start"), r.instant("end")
        if end <= start:
            raise r.fail("end", "must be after start")
        return cls(str(r.ident), node, r.ref("resource"), start, end)


@dataclass(frozen=True, slots=True)
class Revocation(Record):
    """A credential (by id or by digest) that must never open a door again."""

    ENTITY: ClassVar[str] = "revocation"
    credential: str | None = None
    digest: str | None = None
    reason: str = ""

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Revocation:
        r = _Reader(cls.ENTITY, data)
        cred = r.opt_ref("credential")
        digest = None if data.get("digest") is None else r.digest("digest")
        if cred is None and digest is None:
            raise r.fail("credential", "a revocation names a credential or a digest")
        return cls(str(r.ident), cred, digest, r.text("reason", "", max_len=200))


@dataclass(frozen=True, slots=True)
class Policy(Record):
    """Facility rules (PROTOCOL.md §7). The record with id ``default`` applies."""

    ENTITY: ClassVar[str] = "policy"
    max_offline_hours: int = 72
    pin_required: bool = True
    pin_max_attempts: int = 5
    pin_lockout_seconds: int = 60
    codes_after_leader: bool = False
    no_show_grace_minutes: int = 15

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Policy:
        r = _Reader(cls.ENTITY, data)
        return cls(
            str(r.ident),
            r.integer("max_offline_hours", 72, 1, 24 * 60),
            r.flag("pin_required", True),
            r.integer("pin_max_attempts", 5, 1, 20),
            r.integer("pin_lockout_seconds", 60, 1, 86_400),
            r.flag("codes_after_leader", False),
            r.integer("no_show_grace_minutes", 15, 0, 240),
        )


ENTITIES: dict[str, type[Record]] = {
    cls.ENTITY: cls
    for cls in (
        Facility,
        Resource,
        Door,
        Holder,
        Credential,
        Booking,
        Grant,
        Lease,
        Revocation,
        Policy,
    )
}


def parse_record(entity: str, data: Mapping[str, Any]) -> Record:
    """Validate ``data`` as ``entity``; raise ``RecordError`` for an unknown entity too."""
    cls = ENTITIES.get(entity)
    if cls is None:
        raise RecordError(
            str(entity),
            data.get("id") if isinstance(data, Mapping) else None,
            "entity",
            "unknown entity",
        )
    return cls.from_wire(data)
