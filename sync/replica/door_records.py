"""What the door controller records, as values, and how they are written.

The door's pure core (door_controller.core) returns these records; its daemon
writes them with ``write_records``, or, when the database cannot take them,
journals them (``door_journal``) and merges them later, in order.

Rules this module guarantees:
- Each record is a frozen dataclass carrying its own instant ``at``; writing
  it later (after a journal merge) records the instant of the decision, not of
  the write.
- ``write_records`` writes a batch in one transaction through the replica's
  own writers (``record_access``, ``append_event``, ``set_door_state``,
  ``finish``…): all or nothing.
- ``to_json``/``from_json`` are exact inverses for every record;
  ``from_json`` raises ``ValueError`` for anything else. Only ``DURABLE``
  records travel through the journal: a kiosk tap is an interactive hand-over
  that means nothing minutes later, so it is dropped when it cannot be written.
- The lockdown (``LockdownRecorded``) is kept with who set it and since when;
  ``lockdown_state`` reads it back at start (None: never set).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.protocol.timeutil import from_ts, to_ts

from .attendance import AccessRecord, record_access
from .commands import finish
from .device_status import set_door_state, set_reader_state
from .kiosk_taps import record_kiosk_tap
from .outbox import append_event
from .store import Replica


@dataclass(frozen=True, slots=True)
class AccessRecorded:
    """One access decision (``access.granted``/``access.denied``)."""

    access: AccessRecord
    at: datetime


@dataclass(frozen=True, slots=True)
class EventRecorded:
    """An outbox event of the door: ``door.*``, ``reader.*``."""

    type: str
    body: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class DoorStateRecorded:
    """The door's state for the caretaker view and ``status`` (and for a restart)."""

    door: str
    state: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReaderStateRecorded:
    reader: str
    online: bool
    detail: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LockdownRecorded:
    """Lockdown set (``active``) or released, by whom (a command, a caretaker)."""

    active: bool
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CommandFinished:
    """A command carried out: ``command.done`` and the command's end."""

    command: int
    result: str  # done | failed | expired
    detail: str
    at: datetime


@dataclass(frozen=True, slots=True)
class KioskTapRecorded:
    """A card on a kiosk's own reader, handed over to the kiosk (not durable)."""

    kiosk: str
    reader: str
    digest: str
    at: datetime


DoorRecord = (
    AccessRecorded
    | EventRecorded
    | DoorStateRecorded
    | ReaderStateRecorded
    | LockdownRecorded
    | CommandFinished
    | KioskTapRecorded
)
DURABLE = (
    AccessRecorded,
    EventRecorded,
    DoorStateRecorded,
    ReaderStateRecorded,
    LockdownRecorded,
    CommandFinished,
)


@dataclass(frozen=True, slots=True)
class Lockdown:
    active: bool
    by: str
    since: datetime


def _write(rep: Replica, rec: DoorRecord) -> None:
    if isinstance(rec, AccessRecorded):
        record_access(rep, rec.access, rec.at)
    elif isinstance(rec, EventRecorded):
        append_event(rep, rec.type, rec.body, rec.at)
    elif isinstance(rec, DoorStateRecorded):
        set_door_state(rep, rec.door, rec.state, rec.at)
    elif isinstance(rec, ReaderStateRecorded):
        set_reader_state(rep, rec.reader, rec.online, rec.detail, rec.at)
    elif isinstance(rec, LockdownRecorded):
        rep.conn.execute(
            "INSERT INTO door_lockdown VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE"
            " SET active = excluded.active, by = excluded.by, since_ts = excluded.since_ts",
            [int(rec.active), rec.by[:200], to_ts(rec.at)],
        )
    elif isinstance(rec, CommandFinished):
        finish(rep, rec.command, rec.result, rec.detail, rec.at)
    else:
        record_kiosk_tap(rep, rec.kiosk, rec.reader, rec.digest, rec.at)


def write_records(rep: Replica, records: Sequence[DoorRecord]) -> None:
    """Write ``records`` in order, in one transaction (joins the caller's)."""
    with rep.write():
        for rec in records:
            _write(rep, rec)


def lockdown_state(rep: Replica) -> Lockdown | None:
    """The persisted lockdown, or None if none was ever set."""
    row = rep.conn.execute("SELECT active, by, since_ts FROM door_lockdown WHERE id = 1").fetchone()
    return None if row is None else Lockdown(bool(row[0]), row[1], from_ts(row[2]))


# --- the journal's form --------------------------------------------------------------

_KINDS: dict[str, type[Any]] = {
    "access": AccessRecorded,
    "event": EventRecorded,
    "door": DoorStateRecorded,
    "reader": ReaderStateRecorded,
    "lockdown": LockdownRecorded,
    "command": CommandFinished,
    "kiosk_tap": KioskTapRecorded,
}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}
_ACCESS_FIELDS = {f.name for f in dataclasses.fields(AccessRecord)}
_PLAIN: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "str | None": (str, type(None)),
    "bool": (bool,),
    "int": (int,),
}


def _plain(cls: type[Any], data: Mapping[str, Any], skip: frozenset[str]) -> dict[str, Any]:
    """``cls``'s plain fields from ``data``, each of its declared type, else ``ValueError``."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        v = data[f.name]
        allowed = _PLAIN[str(f.type)]
        if not isinstance(v, allowed) or (bool not in allowed and isinstance(v, bool)):
            raise ValueError(f"{f.name}: must be {f.type}")
        out[f.name] = v
    return out


def to_json(rec: DoorRecord) -> dict[str, Any]:
    """A JSON-ready dict of ``rec`` (instants in full precision)."""
    out: dict[str, Any] = {"kind": _KIND_OF[type(rec)]}
    for f in dataclasses.fields(rec):
        v = getattr(rec, f.name)
        if isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, AccessRecord):
            v = dataclasses.asdict(v)
        elif isinstance(v, Mapping):
            v = dict(v)
        out[f.name] = v
    return out


def from_json(data: Mapping[str, Any]) -> DoorRecord:
    """The record ``to_json`` made; ``ValueError`` for anything else."""
    try:
        cls = _KINDS[data["kind"]]
        kwargs = _plain(cls, data, frozenset({"at", "access", "body"}))
        at = datetime.fromisoformat(data["at"])
        if at.tzinfo is None:
            raise ValueError("at: a naive instant")
        kwargs["at"] = at
        if cls is AccessRecorded:
            access = data["access"]
            if not isinstance(access, Mapping) or set(access) != _ACCESS_FIELDS:
                raise ValueError("access: not an access record")
            kwargs["access"] = AccessRecord(**_plain(AccessRecord, access, frozenset()))
        elif cls is EventRecorded:
            if not isinstance(data["body"], Mapping):
                raise ValueError("body: must be an object")
            kwargs["body"] = dict(data["body"])
        rec: DoorRecord = cls(**kwargs)
        return rec
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a door record: {exc!r}") from None
