"""The data of the sync contract as it travels (PROTOCOL.md §5, §6): central's
``changes`` batches and ``snapshot`` parts, and the node's outbox events.

Rules this module guarantees:
- An upsert's ``data`` need not repeat the op's ``id`` (the record's id); a
  ``data.id`` that differs from it makes the batch malformed (PROTOCOL.md §6).
- ``ChangeBatch.from_wire`` and ``SnapshotPart.from_wire`` validate a whole
  ``changes`` or ``snapshot`` body, every record through
  ``sync.protocol.records.parse_record``, and raise ``BatchError`` naming what
  is wrong; a batch or part exists only if it validated. ``sync.protocol.messages``
  decodes both bodies with them, and the node database applies what they hold
  (sync/replica/apply.py): one rule set.
- ``EVENT_TYPES`` are the event types a node may send (§5); ``MAX_BATCH`` is
  the most events one ``events`` message carries.
- ``OutboxEvent.to_wire`` is an event as it travels in an ``events`` message.
- ``body_error(type, body)`` checks the body of an event type whose body this
  module knows (``door.state``: ``{"door", "state"}``, ``state`` one of
  ``DOOR_STATES``, the door table's states of docs/door.md) and names what is
  wrong, or returns None. The node refuses to record a body it names
  (``sync.replica.outbox.append_event``); central folds only bodies it
  accepts (``sync.central.observed``). It is no rule of the ``events``
  message: one odd body never holds back a batch of alarms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .fast_records import fast_records
from .records import ENTITIES, Record, RecordError, parse_record
from .timeutil import format_instant

MAX_OPS = 10_000_000  # far above what one 256 KiB message carries


class BatchError(ValueError):
    """A changes batch or snapshot part is malformed; nothing was applied."""


@dataclass(frozen=True, slots=True)
class Op:
    op: str  # "upsert" | "delete"
    entity: str
    id: str
    record: Record | None  # the validated record of an upsert


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    base: int
    rev: int
    ops: tuple[Op, ...]

    @classmethod
    def from_wire(cls, msg: Mapping[str, Any]) -> ChangeBatch:
        """Validate the ``base``, ``rev`` and ``ops`` of a ``changes`` message."""
        base, rev = _rev(msg, "base"), _rev(msg, "rev")
        if rev <= base:
            raise BatchError(f"changes: rev {rev} must be above base {base}")
        raw = msg.get("ops")
        if not isinstance(raw, list) or len(raw) > MAX_OPS:
            raise BatchError("changes: ops must be a list")
        return cls(base, rev, tuple(_op(i, o) for i, o in enumerate(raw)))


def _rev(msg: Mapping[str, Any], key: str) -> int:
    v = msg.get(key) if isinstance(msg, Mapping) else None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**63:
        raise BatchError(f"{key} must be a non-negative integer")
    return v


def _op(i: int, o: Any) -> Op:
    if not isinstance(o, Mapping):
        raise BatchError(f"ops[{i}]: must be an object")
    kind, entity, ident = o.get("op"), o.get("entity"), o.get("id")
    if not isinstance(entity, str) or entity not in ENTITIES:
        raise BatchError(f"ops[{i}].entity: unknown entity {entity!r}")
    if not isinstance(ident, str) or not ident:
        raise BatchError(f"ops[{i}].id: must be a non-empty string")
    if kind == "delete":
        return Op("delete", entity, ident, None)
    if kind != "upsert":
        raise BatchError(f"ops[{i}].op: must be upsert or delete")
    data = o.get("data")
    if isinstance(data, Mapping) and "id" not in data:
        data = {**data, "id": ident}  # PROTOCOL.md §6: the op's id is the record's id
    try:
        rec = parse_record(entity, data)  # type: ignore[arg-type]
    except (RecordError, AttributeError) as exc:
        raise BatchError(f"ops[{i}].data: {exc}") from None
    if rec.id != ident:
        raise BatchError(f"ops[{i}]: data.id {rec.id!r} differs from id {ident!r}")
    return Op("upsert", entity, ident, rec)


@dataclass(frozen=True, slots=True)
class SnapshotPart:
    rev: int
    part: int
    parts: int
    records: tuple[Record, ...]

    @classmethod
    def from_wire(cls, msg: Mapping[str, Any]) -> SnapshotPart:
        """Validate a ``snapshot`` message: ``rev``, ``part`` (1-based), ``parts``, ``entities``."""
        rev, part, parts = _rev(msg, "rev"), _rev(msg, "part"), _rev(msg, "parts")
        if not 1 <= part <= parts <= 100_000:
            raise BatchError(f"snapshot: part {part} of {parts} is out of range")
        ents = msg.get("entities")
        if not isinstance(ents, Mapping):
            raise BatchError("snapshot: entities must be an object")
        out: list[Record] = []
        for entity, items in ents.items():
            if entity not in ENTITIES:
                raise BatchError(f"snapshot: unknown entity {entity!r}")
            if not isinstance(items, list):
                raise BatchError(f"snapshot: entities.{entity} must be a list")
            fast = fast_records(entity, items)  # in C, where that is parse_record's result
            if fast is not None:
                out += fast
                continue
            for i, item in enumerate(items):
                try:
                    out.append(parse_record(entity, item))
                except RecordError as exc:
                    raise BatchError(f"snapshot: entities.{entity}[{i}]: {exc}") from None
        return cls(rev, part, parts, tuple(out))


# --- the node's events (PROTOCOL.md §5) ---------------------------------------------

EVENT_TYPES = frozenset(
    {
        "access.granted",
        "access.denied",
        "door.opened",
        "door.closed",
        "door.held_open",
        "door.forced",
        "door.tamper",
        "door.fire_release",  # docs/protocol.md: this node's additions to §5's list
        "door.exit_request",
        "door.state",
        "reader.online",
        "reader.offline",
        "walkin.created",
        "walkin.cancelled",
        "booking.checked_in",
        "booking.no_show",
        "booking.released",  # the project's addition: docs/protocol.md, docs/reports.md
        "attendance.reported",
        "command.done",
        "security.rejected",
    }
)
MAX_BATCH = 256
# The door table's states (door_controller/door_state.py, docs/door.md).
DOOR_STATES = (
    "locked",
    "unlocked",
    "open",
    "held_open",
    "forced",
    "lockdown",
    "fire_release",
    "powerless",
)
DOOR_ID_MAX = 128


def body_error(type_: str, body: object) -> str | None:
    """What is wrong with ``body`` for an event of ``type_`` (module rules), or None."""
    if type_ != "door.state":
        return None
    if not isinstance(body, Mapping):
        return "door.state: body must be an object"
    door, state = body.get("door"), body.get("state")
    if not isinstance(door, str) or not 0 < len(door) <= DOOR_ID_MAX:
        return f"door.state: door must be a string of 1..{DOOR_ID_MAX} characters"
    if not isinstance(state, str) or state not in DOOR_STATES:
        return f"door.state: state must be one of {', '.join(DOOR_STATES)}"
    return None


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    seq: int
    id: str
    type: str
    at: datetime
    body: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        """The event as it travels in an ``events`` message."""
        return {
            "seq": self.seq,
            "id": self.id,
            "type": self.type,
            "at": format_instant(self.at),
            "body": self.body,
        }


# The slots' own setters: ``outbox_event`` fills a new instance through them.
_OUTBOX_SLOTS = tuple(OutboxEvent.__dict__[f].__set__ for f in ("seq", "id", "type", "at", "body"))


def outbox_event(
    seq: int, ident: str, type_: str, at: datetime, body: dict[str, Any]
) -> OutboxEvent:
    """``OutboxEvent(seq, ident, type_, at, body)``, the same value (equal, same
    repr, as frozen; tests/sync/test_protocol_events_fastpath.py), made for the
    hot loops that make one per event (the gateway's decode of a batch, the
    link's read of its outbox): a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``, twice the cost of the slots' own
    setters used here (1.6 against 0.8 us)."""
    e = object.__new__(OutboxEvent)
    s_seq, s_id, s_type, s_at, s_body = _OUTBOX_SLOTS
    s_seq(e, seq)
    s_id(e, ident)
    s_type(e, type_)
    s_at(e, at)
    s_body(e, body)
    return e


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # "accepted" | "rejected"
    reason: str = ""
