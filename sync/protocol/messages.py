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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .codes import (
    PROTOCOL_VERSION,
    ClockSource,
    Cmd,
    Kind,
    State,
    VerdictStatus,
    Want,
    is_node_id,
)
from .errors import MessageError, UnknownKind
from .fields import INT63, UINT64, Fields, is_uuid7
from .wire import (
    EVENT_TYPES,
    MAX_BATCH,
    BatchError,
    ChangeBatch,
    OutboxEvent,
    SnapshotPart,
    Verdict,
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
class OutboxRange:
    first_unacked: int
    last: int


@dataclass(frozen=True, slots=True)
class Clock:
    trusted: bool
    source: ClockSource


@dataclass(frozen=True, slots=True)
class Hello:
    KIND: ClassVar[Kind] = Kind.HELLO
    epoch: int
    boot_id: str
    applied_rev: int
    outbox: OutboxRange
    software: str
    clock: Clock
    exp: int | None = None


@dataclass(frozen=True, slots=True)
class Events:
    KIND: ClassVar[Kind] = Kind.EVENTS
    epoch: int
    events: tuple[OutboxEvent, ...]
    exp: int | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    KIND: ClassVar[Kind] = Kind.CURSOR
    applied_rev: int
    want: Want
    exp: int | None = None


@dataclass(frozen=True, slots=True)
class Status:
    KIND: ClassVar[Kind] = Kind.STATUS
    state: State
    epoch: int
    exp: int | None = None


# --- central → node (PROTOCOL.md §6) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Head:
    KIND: ClassVar[Kind] = Kind.HEAD
    rev: int
    oldest_rev: int
    exp: int


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
    door: str
    seconds: int


@dataclass(frozen=True, slots=True)
class KioskText:
    text: str


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
    decode(claims)
    return claims


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
    f = Fields(kind, claims)
    v = f.raw("v")
    if isinstance(v, bool) or v != PROTOCOL_VERSION or not isinstance(v, int):
        raise f.fail("v", f"must be {PROTOCOL_VERSION}")
    node = f.raw("node")
    if not is_node_id(node):
        raise f.fail("node", "must be 1-64 of a-z 0-9 - .")
    iat = f.integer("iat")
    exp = f.opt_integer("exp")
    if exp is not None and exp <= iat:
        raise f.fail("exp", "must be after iat")
    return Common(kind, node, iat, exp)


def decode(claims: object) -> Message:
    """The typed message of verified ``claims``.

    Raises ``UnknownKind`` for a kind not in version 1, ``MessageError`` naming
    the field for anything else invalid.
    """
    common = read_common(claims)
    if not isinstance(claims, Mapping):  # pragma: no cover - read_common checked it
        raise MessageError(common.kind, "", "claims must be a JSON object")
    return _DECODERS[common.kind](Fields(common.kind, claims), common)


def _hello(f: Fields, c: Common) -> Hello:
    outbox, clock = f.obj("outbox"), f.obj("clock")
    first, last = outbox.integer("first_unacked", 1), outbox.integer("last")
    if first > last + 1:
        raise outbox.fail("first_unacked", "must be at most last + 1")
    return Hello(
        f.integer("epoch", 0, UINT64),
        f.text("boot_id", lo=1, hi=TEXT_MAX_CHARS),
        f.integer("applied_rev"),
        OutboxRange(first, last),
        f.text("software", lo=1, hi=TEXT_MAX_CHARS),
        Clock(clock.flag("trusted"), clock.choice("source", ClockSource)),
        c.exp,
    )


def _events(f: Fields, c: Common) -> Events:
    out: list[OutboxEvent] = []
    seen: set[str] = set()
    for i, raw in enumerate(f.items("events", lo=1, hi=MAX_BATCH)):
        e = Fields(f.kind, raw, f"events[{i}]")
        seq = e.integer("seq", 1)
        if out and seq != out[0].seq + i:
            raise e.fail("seq", f"must be {out[0].seq + i} (contiguous)")
        event_id = e.uuid7("id")
        if event_id in seen:
            raise e.fail("id", "repeats an id of this batch")
        seen.add(event_id)
        type_ = e.raw("type")
        if not isinstance(type_, str) or type_ not in EVENT_TYPES:
            raise e.fail("type", "is not an event type of PROTOCOL.md §5")
        body = e.raw("body")
        if not isinstance(body, dict):
            raise e.fail("body", "must be a JSON object")
        out.append(OutboxEvent(seq, event_id, type_, e.instant("at"), body))
    return Events(f.integer("epoch", 0, UINT64), tuple(out), c.exp)


def _cursor(f: Fields, c: Common) -> Cursor:
    return Cursor(f.integer("applied_rev"), f.choice("want", Want), c.exp)


def _status(f: Fields, c: Common) -> Status:
    return Status(f.choice("state", State), f.integer("epoch", 0, UINT64), c.exp)


def _head(f: Fields, c: Common) -> Head:
    if c.exp is None:
        raise f.fail("exp", "is required")
    rev = f.integer("rev")
    oldest = f.integer("oldest_rev")
    if oldest > rev:
        raise f.fail("oldest_rev", "must be at most rev")
    return Head(rev, oldest, c.exp)


def _changes(f: Fields, c: Common) -> Changes:
    try:
        return Changes(ChangeBatch.from_wire(f.data), c.exp)
    except (BatchError, ValueError) as exc:
        raise MessageError(f.kind, "", str(exc)) from None


def _snapshot(f: Fields, c: Common) -> Snapshot:
    try:
        return Snapshot(SnapshotPart.from_wire(f.data), c.exp)
    except (BatchError, ValueError) as exc:
        raise MessageError(f.kind, "", str(exc)) from None


def _ack(f: Fields, c: Common) -> Ack:
    verdicts: dict[str, Verdict] = {}
    raw = f.obj("verdicts", optional=True)
    for event_id in raw.data:
        if not isinstance(event_id, str) or not is_uuid7(event_id):
            raise raw.fail(str(event_id)[:64], "must be keyed by an event's UUIDv7")
        v = raw.obj(event_id)
        reason = v.text("reason", hi=REASON_MAX_CHARS) if v.has("reason") else ""
        verdicts[event_id] = Verdict(v.choice("status", VerdictStatus), reason)
    return Ack(f.integer("epoch", 0, UINT64), f.integer("through"), verdicts, c.exp)


def _command(f: Fields, c: Common) -> Command:
    if c.exp is None:
        raise f.fail("exp", "is required")
    if c.exp > c.iat + COMMAND_MAX_LIFETIME:
        raise f.fail("exp", f"must be at most {COMMAND_MAX_LIFETIME} s after iat")
    seq, cmd = f.integer("seq", 1), f.choice("cmd", Cmd)
    a = f.obj("args", optional=True)
    args: Unlock | KioskText | None = None
    if cmd is Cmd.UNLOCK:
        args = Unlock(a.ident("door"), a.integer("seconds", 1, UNLOCK_MAX_SECONDS))
    elif cmd is Cmd.MESSAGE:
        args = KioskText(a.text("text", hi=MESSAGE_MAX_CHARS))
    return Command(seq, cmd, c.exp, args)


_DECODERS: dict[Kind, Callable[[Fields, Common], Message]] = {
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
