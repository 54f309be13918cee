"""The messages of the sync contract (PROTOCOL.md §5, §6) and their claims.

Rules this module guarantees:
- Every kind is a frozen dataclass; ``decode`` returns one only if every field
  it knows is valid, and ignores fields it does not know (PROTOCOL.md §4).
- Common claims (§4): ``v`` is the integer 1, ``kind`` a ``Kind``, ``node`` a
  node id (§2), ``iat`` integer Unix seconds, ``exp`` optional integer Unix
  seconds after ``iat``. ``head`` and ``command`` require ``exp``; a command's
  ``exp`` is at most 300 s after its ``iat`` (§6).
- ``changes`` and ``snapshot`` bodies are validated by
  ``ChangeBatch.from_wire`` and ``SnapshotPart.from_wire`` (``sync.protocol.wire``),
  the types the node database applies: one rule set.
- ``events``: 1-256 events with contiguous ``seq`` from 1 up, distinct
  lowercase UUIDv7 ids, types in ``EVENT_TYPES``, ``at`` RFC 3339 ``Z``,
  object bodies.
- ``encode`` checks its output with ``decode``: we never send what a receiver
  of this module would refuse. ``decode(encode(m, node, iat)) == m``.
- Errors are ``MessageError`` naming kind and field; an unknown ``kind`` is
  ``UnknownKind``. ``decode`` raises nothing else for any JSON value.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from annotated_types import Len
from pydantic_core import core_schema

from .codec import Checked, Choice, Flag, Integer, Says, _Schema
from .codes import (
    PROTOCOL_VERSION,
    Audience,
    ClockSource,
    Cmd,
    Kind,
    State,
    VerdictStatus,
    Want,
)
from .errors import MessageError, UnknownKind
from .fields import (
    INT63,
    U64,
    UINT64,
    UUID7,
    Bad,
    Chars,
    DoorId,
    Instant,
    Int63,
    NodeId,
    Object,
    Seq,
    Uuid7,
    one_of,
    read,
)
from .timeutil import parse_instant
from .wire import (
    EVENT_TYPES,
    MAX_BATCH,
    BatchError,
    ChangeBatch,
    OutboxEvent,
    SnapshotPart,
    Verdict,
    outbox_event,
)

COMMAND_MAX_LIFETIME = 300  # PROTOCOL.md §6: exp at most 5 minutes after iat
UNLOCK_MAX_SECONDS = 3600
MESSAGE_MAX_CHARS = 500
REASON_MAX_CHARS = 1000
TEXT_MAX_CHARS = 128  # boot_id, software


@dataclass(frozen=True, slots=True)
class Common:
    """The claims every message carries (PROTOCOL.md §4)."""

    kind: Kind
    node: str
    iat: int
    exp: int | None


# --- node → central (PROTOCOL.md §5) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxRange(Checked):
    first_unacked: Seq
    last: Int63

    def check(self) -> None:
        if self.first_unacked > self.last + 1:
            raise Bad("first_unacked", "must be at most last + 1")


@dataclass(frozen=True, slots=True)
class Clock:
    trusted: Flag
    source: Annotated[ClockSource, one_of(ClockSource)]


@dataclass(frozen=True, slots=True)
class Hello:
    KIND: ClassVar[Kind] = Kind.HELLO
    epoch: U64
    boot_id: Annotated[str, Chars(1, TEXT_MAX_CHARS)]
    applied_rev: Int63
    outbox: OutboxRange
    software: Annotated[str, Chars(1, TEXT_MAX_CHARS)]
    clock: Clock
    exp: Int63 | None = None


@dataclass(frozen=True, slots=True)
class Events:
    KIND: ClassVar[Kind] = Kind.EVENTS
    epoch: int
    events: tuple[OutboxEvent, ...]
    exp: int | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    KIND: ClassVar[Kind] = Kind.CURSOR
    applied_rev: Int63
    want: Annotated[Want, one_of(Want)]
    exp: Int63 | None = None


@dataclass(frozen=True, slots=True)
class Status:
    KIND: ClassVar[Kind] = Kind.STATUS
    state: Annotated[State, one_of(State)]
    epoch: U64
    exp: Int63 | None = None


# --- central → node (PROTOCOL.md §6) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Head(Checked):
    KIND: ClassVar[Kind] = Kind.HEAD
    rev: Int63
    oldest_rev: Int63
    exp: Int63

    def check(self) -> None:
        if self.oldest_rev > self.rev:
            raise Bad("oldest_rev", "must be at most rev")


@dataclass(frozen=True, slots=True)
class Changes:
    KIND: ClassVar[Kind] = Kind.CHANGES
    batch: ChangeBatch
    exp: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One snapshot part. Its records are kept grouped by entity in name order
    (order within an entity as sent): the JSON object ``entities`` has no order."""

    KIND: ClassVar[Kind] = Kind.SNAPSHOT
    part: SnapshotPart
    exp: int | None = None

    def __post_init__(self) -> None:
        p = self.part
        records = tuple(sorted(p.records, key=lambda r: r.ENTITY))
        if records != p.records:
            object.__setattr__(self, "part", SnapshotPart(p.rev, p.part, p.parts, records))


@dataclass(frozen=True, slots=True)
class Ack:
    KIND: ClassVar[Kind] = Kind.ACK
    epoch: int
    through: int
    verdicts: Mapping[str, Verdict]
    exp: int | None = None


@dataclass(frozen=True, slots=True)
class Unlock:
    door: DoorId
    seconds: Annotated[int, Integer(1, UNLOCK_MAX_SECONDS)]


@dataclass(frozen=True, slots=True)
class KioskText:
    text: Annotated[str, Chars(0, MESSAGE_MAX_CHARS)]
    audience: Annotated[Audience, one_of(Audience)] = Audience.PUBLIC  # docs/protocol.md


@dataclass(frozen=True, slots=True)
class Command:
    """``args`` is ``Unlock`` for ``unlock``, ``KioskText`` for ``message``, else None."""

    KIND: ClassVar[Kind] = Kind.COMMAND
    seq: int
    cmd: Cmd
    exp: int
    args: Unlock | KioskText | None = None


Message = Hello | Events | Cursor | Status | Head | Changes | Snapshot | Ack | Command
MESSAGE_TYPES: dict[Kind, type[Message]] = {
    cls.KIND: cls for cls in (Hello, Events, Cursor, Status, Head, Changes, Snapshot, Ack, Command)
}


# --- encode ----------------------------------------------------------------------


def encode(msg: Message, node: str, iat: int) -> dict[str, Any]:
    """The claims of ``msg`` sent by ``node`` at ``iat`` (Unix seconds), ready to sign.

    Raises ``MessageError`` if the result would not decode (a field out of range,
    a command ``exp`` too far after ``iat``, a bad node id).
    """
    claims: dict[str, Any] = {"v": PROTOCOL_VERSION, "kind": msg.KIND.value, "node": node}
    claims["iat"] = iat
    if msg.exp is not None:
        claims["exp"] = msg.exp
    claims.update(_body(msg))
    _validate(claims)
    return claims


def _validate(claims: Mapping[str, Any]) -> None:
    """Every check ``decode`` makes of ``claims``, without building the message
    (``encode``'s own check: an ``events`` message's 256 events are read, not
    made into objects again)."""
    common = read_common(claims)
    if common.kind is Kind.EVENTS:
        if _events_fast(claims, common.exp) is None:  # what it accepts, the types accept
            read(common.kind, _Events, claims)
    else:
        decode(claims)


def _body(msg: Message) -> dict[str, Any]:
    match msg:
        case Hello():
            return {
                "epoch": msg.epoch,
                "boot_id": msg.boot_id,
                "applied_rev": msg.applied_rev,
                "outbox": {"first_unacked": msg.outbox.first_unacked, "last": msg.outbox.last},
                "software": msg.software,
                "clock": {"trusted": msg.clock.trusted, "source": msg.clock.source.value},
            }
        case Events():
            return {"epoch": msg.epoch, "events": [e.to_wire() for e in msg.events]}
        case Cursor():
            return {"applied_rev": msg.applied_rev, "want": msg.want.value}
        case Status():
            return {"state": msg.state.value, "epoch": msg.epoch}
        case Head():
            return {"rev": msg.rev, "oldest_rev": msg.oldest_rev}
        case Changes():
            return {"base": msg.batch.base, "rev": msg.batch.rev, "ops": _ops(msg.batch)}
        case Snapshot():
            entities: dict[str, list[dict[str, Any]]] = {}
            for rec in msg.part.records:
                entities.setdefault(rec.ENTITY, []).append(rec.to_wire())
            p = msg.part
            return {"rev": p.rev, "part": p.part, "parts": p.parts, "entities": entities}
        case Ack():
            verdicts = {
                event_id: {"status": str(v.status), "reason": v.reason}
                for event_id, v in msg.verdicts.items()
            }
            return {"epoch": msg.epoch, "through": msg.through, "verdicts": verdicts}
        case Command():
            args: dict[str, Any] = {}
            if isinstance(msg.args, Unlock):
                args = {"door": msg.args.door, "seconds": msg.args.seconds}
            elif isinstance(msg.args, KioskText):
                args = {"text": msg.args.text}
                if msg.args.audience is not Audience.PUBLIC:  # absent = public
                    args["audience"] = str(msg.args.audience)
            return {"seq": msg.seq, "cmd": msg.cmd.value, "args": args}
    raise TypeError(f"not a message: {msg!r}")  # pragma: no cover - the union is closed


def _ops(batch: ChangeBatch) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for op in batch.ops:
        wire: dict[str, Any] = {"op": op.op, "entity": op.entity, "id": op.id}
        if op.record is not None:
            wire["data"] = op.record.to_wire()
        out.append(wire)
    return out


# --- decode ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Common(Checked):
    """The common claims as sent (PROTOCOL.md §4); ``kind`` is read first."""

    v: Annotated[
        int, _Schema(core_schema.literal_schema([PROTOCOL_VERSION]), f"must be {PROTOCOL_VERSION}")
    ]
    node: NodeId
    iat: Int63
    exp: Int63 | None = None

    def check(self) -> None:
        if self.exp is not None and self.exp <= self.iat:
            raise Bad("exp", "must be after iat")


def read_common(claims: object) -> Common:
    """Validate the common claims (PROTOCOL.md §4); raise ``MessageError``/``UnknownKind``."""
    if not isinstance(claims, Mapping):
        raise MessageError("(message)", "", "claims must be a JSON object")
    raw_kind = claims.get("kind")
    if not isinstance(raw_kind, str):
        raise MessageError("(message)", "kind", "must be a string")
    try:
        kind = Kind(raw_kind)
    except ValueError:
        raise UnknownKind(raw_kind[:64]) from None
    if type(claims.get("v")) is not int:  # a literal 1 would take True and 1.0
        raise MessageError(kind, "v", f"must be {PROTOCOL_VERSION}")
    c = read(kind, _Common, claims)
    return Common(kind, c.node, c.iat, c.exp)


def decode(claims: object) -> Message:
    """The typed message of verified ``claims``.

    Raises ``UnknownKind`` for a kind not in version 1, ``MessageError`` naming
    the field for anything else invalid.
    """
    common = read_common(claims)
    if not isinstance(claims, Mapping):  # pragma: no cover - read_common checked it
        raise MessageError(common.kind, "", "claims must be a JSON object")
    return _DECODERS[common.kind](claims, common)


def _hello(claims: Mapping[str, Any], c: Common) -> Hello:
    return read(c.kind, Hello, claims)


@dataclass(frozen=True, slots=True)
class _Event:
    """One event of an ``events`` message as sent (PROTOCOL.md §5)."""

    seq: Seq
    id: Uuid7
    type: Annotated[
        str, Choice(*sorted(EVENT_TYPES)), Says("is not an event type of PROTOCOL.md §5")
    ]
    at: Instant
    body: Object


@dataclass(frozen=True, slots=True)
class _Events(Checked):
    epoch: U64
    events: Annotated[
        tuple[_Event, ...],
        Len(1, MAX_BATCH),
        Says(f"must be a list of 1..{MAX_BATCH} items"),
    ]

    def check(self) -> None:
        seen: set[str] = set()
        first = self.events[0].seq
        for i, e in enumerate(self.events):
            if e.seq != first + i:
                raise Bad(f"events[{i}].seq", f"must be {first + i} (contiguous)")
            if e.id in seen:
                raise Bad(f"events[{i}].id", "repeats an id of this batch")
            seen.add(e.id)


def _events(claims: Mapping[str, Any], c: Common) -> Events:
    fast = _events_fast(claims, c.exp)
    if fast is not None:
        return fast
    return _events_checked(claims, c)


def _events_checked(claims: Mapping[str, Any], c: Common) -> Events:
    """``events`` through the field types (pydantic): any claims, the exact error."""
    w = read(c.kind, _Events, claims)
    events = tuple(OutboxEvent(e.seq, e.id, e.type, e.at, e.body) for e in w.events)
    return Events(w.epoch, events, c.exp)


def _events_fast(claims: Mapping[str, Any], exp: int | None) -> Events | None:
    """The ``Events`` that ``_events_checked`` returns for ``claims``, when every
    field is plainly valid (exact JSON types, in range, contiguous seqs,
    distinct ids); else None, and the checked path decides and names the
    error. It accepts a subset of what the checked path accepts, with the
    same value: tests/sync/test_protocol_events_fastpath.py compares the two
    on generated claims. A batch of 256 events took 4 us an event through
    the field types, mostly building and copying one dataclass per event."""
    epoch, raw = claims.get("epoch"), claims.get("events")
    if type(epoch) is not int or not 0 <= epoch <= UINT64:
        return None
    if type(raw) is not list or not 1 <= len(raw) <= MAX_BATCH:
        return None
    out: list[OutboxEvent] = []
    ids: set[str] = set()
    first = None
    for e in raw:
        if type(e) is not dict:
            return None
        seq, ident, type_, at, body = (
            e.get("seq"),
            e.get("id"),
            e.get("type"),
            e.get("at"),
            e.get("body"),
        )
        if type(seq) is not int or type(ident) is not str or type(body) is not dict:
            return None
        if first is None:
            first = seq
        if seq != first + len(out) or not 1 <= seq <= INT63:
            return None
        if type(type_) is not str or type_ not in EVENT_TYPES or ident in ids:
            return None
        if len(ident) != 36 or type(at) is not str:  # 36: with the pattern below, one UUIDv7
            return None
        try:
            instant = parse_instant(at)
        except ValueError:
            return None
        ids.add(ident)
        out.append(outbox_event(seq, ident, type_, instant, body))
    # Every id has 36 characters: joined by commas, each is matched whole by one
    # UUIDv7 of the pattern (no comma in one; 0.3 us an event less than one match each).
    if _UUID7_RUN.fullmatch(",".join(e.id for e in out)) is None:
        return None
    return Events(epoch, tuple(out), exp)


_UUID7_RUN = re.compile(f"{UUID7}(?:,{UUID7})*")


def _cursor(claims: Mapping[str, Any], c: Common) -> Cursor:
    return read(c.kind, Cursor, claims)


def _status(claims: Mapping[str, Any], c: Common) -> Status:
    return read(c.kind, Status, claims)


def _head(claims: Mapping[str, Any], c: Common) -> Head:
    return read(c.kind, Head, claims)


def _changes(claims: Mapping[str, Any], c: Common) -> Changes:
    try:
        return Changes(ChangeBatch.from_wire(claims), c.exp)
    except (BatchError, ValueError) as exc:
        raise MessageError(c.kind, "", str(exc)) from None


def _snapshot(claims: Mapping[str, Any], c: Common) -> Snapshot:
    try:
        return Snapshot(SnapshotPart.from_wire(claims), c.exp)
    except (BatchError, ValueError) as exc:
        raise MessageError(c.kind, "", str(exc)) from None


@dataclass(frozen=True, slots=True)
class _Verdict:
    status: Annotated[VerdictStatus, one_of(VerdictStatus)]
    reason: Annotated[str, Chars(0, REASON_MAX_CHARS)] = ""


@dataclass(frozen=True, slots=True)
class _Ack:
    epoch: U64
    through: Int63
    verdicts: Annotated[
        Mapping[Annotated[Uuid7, Says("must be keyed by an event's UUIDv7")], _Verdict],
        Says("must be a JSON object"),
    ] = dataclasses.field(default_factory=dict)


def _ack(claims: Mapping[str, Any], c: Common) -> Ack:
    w = read(c.kind, _Ack, claims)
    verdicts = {k: Verdict(v.status, v.reason) for k, v in w.verdicts.items()}
    return Ack(w.epoch, w.through, verdicts, c.exp)


@dataclass(frozen=True, slots=True)
class _Command:
    seq: Seq
    cmd: Annotated[Cmd, one_of(Cmd)]
    args: Object = dataclasses.field(default_factory=dict)


def _command(claims: Mapping[str, Any], c: Common) -> Command:
    if c.exp is None:
        raise MessageError(c.kind, "exp", "is required")
    if c.exp > c.iat + COMMAND_MAX_LIFETIME:
        raise MessageError(c.kind, "exp", f"must be at most {COMMAND_MAX_LIFETIME} s after iat")
    w = read(c.kind, _Command, claims)
    args: Unlock | KioskText | None = None
    if w.cmd is Cmd.UNLOCK:
        args = read(c.kind, Unlock, w.args, ("args",))
    elif w.cmd is Cmd.MESSAGE:
        args = read(c.kind, KioskText, w.args, ("args",))
    return Command(w.seq, w.cmd, c.exp, args)


_DECODERS: dict[Kind, Callable[[Mapping[str, Any], Common], Message]] = {
    Kind.HELLO: _hello,
    Kind.EVENTS: _events,
    Kind.CURSOR: _cursor,
    Kind.STATUS: _status,
    Kind.HEAD: _head,
    Kind.CHANGES: _changes,
    Kind.SNAPSHOT: _snapshot,
    Kind.ACK: _ack,
    Kind.COMMAND: _command,
}

__all__ = [
    "COMMAND_MAX_LIFETIME",
    "INT63",
    "MESSAGE_TYPES",
    "Ack",
    "Changes",
    "Clock",
    "Command",
    "Common",
    "Cursor",
    "Events",
    "Head",
    "Hello",
    "KioskText",
    "Message",
    "OutboxRange",
    "Snapshot",
    "Status",
    "Unlock",
    "decode",
    "encode",
    "read_common",
]
