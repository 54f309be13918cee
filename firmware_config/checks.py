"""Cross-field checks of a node config (pass 2; see firmware_config.config).

Rules this module guarantees:
- Runs only on list items that passed the schema, and names them by their
  index in the file (``readers[2]``), as the schema pass does.
- A reference to an item that exists in the file but did not validate is not
  reported again: that item's own problems say what to fix.
- Ids are unique within doors, readers, outputs and kiosks.
- Readers: the door or kiosk exists; on one port every reader speaks the same
  protocol at the same baud rate; OSDP addresses are unique per port; a
  serial-line port carries one reader.
- A port is used by readers or by one output board, never both.
- Locks: the output exists, the channel is on the board, and no relay channel
  locks two doors.
- Door inputs: the source reader exists and is an OSDP reader with that
  input (from 0; a serial-line reader has none), and one input feeds one door
  input, except that doors may share a fire release.
- Every secret (node key, credential key, broker key and password, reader
  keys) has a file of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .keypath import KeyPath, format_path
from .model import Broker, Door, DoorInput, Kiosk, Output, Reader
from .schema import Context, Entry, quote, suggest

T = TypeVar("T", Door, Reader, Output, Kiosk)
READER_INPUTS = 16  # OSDP osdp_ISTATR reports inputs from 0
LISTS = ("outputs", "doors", "readers", "kiosks")
DOOR_INPUTS = ("contact", "request_to_exit", "fire_release", "tamper")


@dataclass(frozen=True, slots=True)
class Parts:
    """What passed the schema: list items with their indices, and the ids
    written in each list (valid items or not; None if the list is not an array)."""

    outputs: tuple[Entry[Output], ...]
    doors: tuple[Entry[Door], ...]
    readers: tuple[Entry[Reader], ...]
    kiosks: tuple[Entry[Kiosk], ...]
    written: Mapping[str, frozenset[str] | None]
    secret_files: tuple[tuple[KeyPath, Path], ...] = ()

    @classmethod
    def of(cls, values: Mapping[str, Any], raw: Mapping[str, object]) -> Parts:
        """From ``Table.fields(..., partial=True)`` output and the raw document."""
        written: dict[str, frozenset[str] | None] = {}
        for name in LISTS:
            items = raw.get(name, [])
            written[name] = (
                frozenset(
                    item["id"]
                    for item in items
                    if isinstance(item, dict) and isinstance(item.get("id"), str)
                )
                if isinstance(items, list)
                else None  # the list itself is broken: its ids are unknown
            )
        got = {name: values.get(name) or () for name in LISTS}
        files: list[tuple[KeyPath, Path | None]] = [
            (("node_key",), values.get("node_key")),
            (("credential_key",), values.get("credential_key")),
        ]
        broker = values.get("broker")
        if isinstance(broker, Broker):
            files += [
                (("broker", "key"), broker.key),
                (("broker", "password_file"), broker.password_file),
            ]
        files += [(("readers", i, "key"), r.key) for i, r in got["readers"]]
        secret_files = tuple((at, p) for at, p in files if p is not None)
        return cls(
            got["outputs"], got["doors"], got["readers"], got["kiosks"], written, secret_files
        )


def _by_id(ctx: Context, name: str, entries: Sequence[Entry[T]]) -> dict[str, Entry[T]]:
    """First item of each id; a later one with the same id is a problem."""
    out: dict[str, Entry[T]] = {}
    for e in entries:
        first = out.get(e.value.id)
        if first is None:
            out[e.value.id] = e
        else:
            ctx.report(
                (name, e.pos, "id"),
                f"{quote(e.value.id)} is already used by {name}[{first.pos}]",
            )
    return out


def _missing(
    kind: str, ident: str, known: Mapping[str, object], written: frozenset[str] | None
) -> str | None:
    """Why ``ident`` does not name a valid item, or None if it does (or if the
    item is written but invalid, which is reported on its own)."""
    if written is None or ident in known or ident in written:
        return None
    hint = suggest(ident, known) or (
        f" ({kind}s: {', '.join(known)})" if known else f" (no {kind}s are configured)"
    )
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{quote(ident)} is not {article} {kind}{hint}"


def cross_check(parts: Parts, ctx: Context) -> None:
    """Report every cross-field problem of ``parts`` into ``ctx``."""
    outputs = _by_id(ctx, "outputs", parts.outputs)
    doors = _by_id(ctx, "doors", parts.doors)
    readers = _by_id(ctx, "readers", parts.readers)
    kiosks = _by_id(ctx, "kiosks", parts.kiosks)
    _check_reader_refs(ctx, parts, doors, kiosks)
    reader_ports = _check_buses(ctx, parts.readers)
    _check_output_ports(ctx, parts.outputs, reader_ports)
    _check_locks(ctx, parts, outputs)
    _check_inputs(ctx, parts, readers)
    _check_secret_files(ctx, parts.secret_files)


def _check_secret_files(ctx: Context, files: Sequence[tuple[KeyPath, Path]]) -> None:
    """Each secret has a file of its own: provisioning writes one per key."""
    seen: dict[Path, KeyPath] = {}
    for at, path in files:
        first = seen.setdefault(path, at)
        if first != at:
            ctx.report(at, f"{path} is already the file of {format_path(first)}")


def _check_reader_refs(
    ctx: Context, parts: Parts, doors: Mapping[str, object], kiosks: Mapping[str, object]
) -> None:
    for i, r in parts.readers:
        if r.door is not None:
            why = _missing("door", r.door, doors, parts.written["doors"])
            if why:
                ctx.report(("readers", i, "door"), why)
        if r.kiosk is not None:
            why = _missing("kiosk", r.kiosk, kiosks, parts.written["kiosks"])
            if why:
                ctx.report(("readers", i, "kiosk"), why)


def _check_buses(ctx: Context, entries: Sequence[Entry[Reader]]) -> dict[str, int]:
    """Per port: one protocol, one baud rate, unique OSDP addresses, one
    serial-line reader. Returns each port's first reader index."""
    first: dict[str, Entry[Reader]] = {}
    addresses: dict[tuple[str, int], int] = {}
    for e in entries:
        r, i = e.value, e.pos
        head = first.setdefault(r.port, e)
        if head is not e:
            h = head.value
            if r.kind != h.kind:
                ctx.report(
                    ("readers", i, "kind"),
                    f"{r.kind} on {r.port}, but readers[{head.pos}] there is {h.kind} "
                    "(one protocol per port)",
                )
                continue
            if r.kind == "serial-line":
                ctx.report(
                    ("readers", i, "port"),
                    f"{r.port} is already used by readers[{head.pos}] "
                    "(a serial-line port carries one reader)",
                )
                continue
            if r.baud != h.baud:
                ctx.report(
                    ("readers", i, "baud"),
                    f"{r.baud} on {r.port}, but readers[{head.pos}] there uses {h.baud} "
                    "(one baud rate per bus)",
                )
        if r.address is not None:
            other = addresses.setdefault((r.port, r.address), i)
            if other != i:
                ctx.report(
                    ("readers", i, "address"),
                    f"{r.address} is already used by readers[{other}] on {r.port}",
                )
    return {port: e.pos for port, e in first.items()}


def _check_output_ports(
    ctx: Context, entries: Sequence[Entry[Output]], reader_ports: Mapping[str, int]
) -> None:
    seen: dict[str, int] = {}
    for i, o in entries:
        if o.port in reader_ports:
            ctx.report(
                ("outputs", i, "port"),
                f"{o.port} is already used by readers[{reader_ports[o.port]}]",
            )
        elif seen.setdefault(o.port, i) != i:
            ctx.report(
                ("outputs", i, "port"), f"{o.port} is already used by outputs[{seen[o.port]}]"
            )


def _check_locks(ctx: Context, parts: Parts, outputs: Mapping[str, Entry[Output]]) -> None:
    used: dict[tuple[str, int], int] = {}
    for i, d in parts.doors:
        lock, at = d.lock, ("doors", i, "lock")
        why = _missing("output", lock.output, outputs, parts.written["outputs"])
        if why:
            ctx.report((*at, "output"), why)
            continue
        board = outputs.get(lock.output)
        if board is None:
            continue
        if lock.channel > board.value.channels:
            ctx.report(
                (*at, "channel"),
                f"{lock.channel} is not a channel of {lock.output} (it has {board.value.channels})",
            )
            continue
        other = used.setdefault((lock.output, lock.channel), i)
        if other != i:
            ctx.report(
                (*at, "channel"),
                f"{lock.output} channel {lock.channel} is already the lock of doors[{other}]",
            )


def _input_problem(
    parts: Parts, inp: DoorInput, readers: Mapping[str, Entry[Reader]]
) -> str | None:
    src = inp.source
    why = _missing("reader", src.reader, readers, parts.written["readers"])
    reader = readers.get(src.reader)
    if why or reader is None:
        return why and f"{quote(str(src))}: {why}"
    if reader.value.kind != "osdp":
        return (
            f"{quote(str(src))}: {src.reader} is a {reader.value.kind} reader, which has no inputs"
        )
    if src.number >= READER_INPUTS:
        return f"{quote(str(src))}: a reader's inputs are 0..{READER_INPUTS - 1}"
    return None


def _check_inputs(ctx: Context, parts: Parts, readers: Mapping[str, Entry[Reader]]) -> None:
    used: dict[str, tuple[int, str]] = {}
    for i, d in parts.doors:
        for name in DOOR_INPUTS:
            inp: DoorInput | None = getattr(d, name)
            if inp is None:
                continue
            at = ("doors", i, name, "source")
            why = _input_problem(parts, inp, readers)
            if why:
                ctx.report(at, why)
                continue
            key = str(inp.source)
            other = used.setdefault(key, (i, name))
            if other != (i, name) and not (name == other[1] == "fire_release"):
                ctx.report(at, f"{quote(key)} is already used by doors[{other[0]}].{other[1]}")
