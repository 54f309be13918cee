"""What the nodes report about themselves, kept current as their events are stored.

Central's web page (sync/central/web/) shows each node's doors and readers and
the answer to each command. Nodes report those only as events (PROTOCOL.md §5,
docs/protocol.md "Event bodies"), so ``note`` turns each newly stored event
into the latest known state, in the caller's transaction (``events.store_events``
calls it after the node's lock): the page reads one small table instead of
scanning the event store.

Rules this module guarantees:
- ``node_devices`` holds one row per (node, kind, id): kind ``door`` (state
  from the ``state`` field of ``door.*`` bodies but ``door.tamper`` and
  ``door.exit_request``; ``fire_release`` for a ``door.fire_release`` body
  without one; a ``door.state`` body only if ``sync.protocol.wire.body_error``
  accepts it: the node reports it at start and when a reader has told it the
  state of the world, so a started node's doors are known before anything
  happens at them), ``reader`` (``online`` / ``offline`` with its
  reason) and ``tamper`` (``active`` / ``clear``, per reader). A row changes only
  for an event at least as new (``at``, then ``seq`` within one epoch): events
  arriving late or twice never move a state back. ``since_ts`` is when the
  current state began (kept while repeated events say the same).
- ``node_state.event_ts`` is the newest ``at`` of any event stored for the node
  (its "last heard" through events).
- A ``command.done`` with a ``seq`` answers central's command of that seq:
  ``commands.done_ts``, ``result`` (``done`` / ``failed`` / ``expired``) and
  ``detail`` are set once; a second answer changes nothing.
- Bodies are untrusted text: ids and details are cut to fixed lengths, a body
  that is not what the type says is skipped, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.protocol.timeutil import to_ts
from sync.protocol.wire import OutboxEvent, body_error

from .store import Store

ID_MAX = 128
DETAIL_MAX = 200
RESULTS = frozenset({"done", "failed", "expired"})
_TELLING = ("command.done", "door.", "reader.")  # the types ``note`` reads


@dataclass(frozen=True, slots=True)
class Device:
    """One row of ``node_devices`` to upsert."""

    kind: str
    id: str
    state: str
    detail: str


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[:limit].replace("\x00", "\ufffd")


def device_of(type_: str, body: Mapping[str, Any]) -> Device | None:
    """The device state an event reports (module rules), or None."""
    if type_.startswith("door.") and type_ not in ("door.tamper", "door.exit_request"):
        if body_error(type_, body) is not None:
            return None
        door, state = _text(body.get("door"), ID_MAX), _text(body.get("state"), 32)
        if type_ == "door.fire_release" and state is None:
            state = "fire_release"  # the relock says its state ("locked", "lockdown")
        if door is None or state is None:
            return None
        return Device("door", door, state, "")
    reader = _text(body.get("reader"), ID_MAX)
    if reader is None:
        return None
    if type_ == "reader.online":
        return Device("reader", reader, "online", "")
    if type_ == "reader.offline":
        return Device("reader", reader, "offline", _text(body.get("reason"), DETAIL_MAX) or "")
    if type_ == "door.tamper" and isinstance(body.get("active"), bool):
        return Device("tamper", reader, "active" if body["active"] else "clear", "")
    return None


def note(store: Store, node: str, epoch: str, events: Iterable[OutboxEvent]) -> None:
    """Fold newly stored ``events`` of ``node`` into its device states, its
    last event time and its commands' answers (module rules). Runs inside the
    caller's write transaction."""
    newest: datetime | None = None
    devices: list[list[Any]] = []
    for e in events:
        if newest is None or e.at > newest:
            newest = e.at
        # Only ``command.done``, ``door.*`` and ``reader.*`` events say
        # anything here (``device_of``): the rest cost one comparison.
        if not e.type.startswith(_TELLING):
            continue
        at = to_ts(e.at)
        body = e.body if isinstance(e.body, Mapping) else {}
        if e.type == "command.done":
            _answer(store, node, body, at)
            continue
        dev = device_of(e.type, body)
        if dev is not None:
            devices.append([node, dev.kind, dev.id, dev.state, dev.detail, at, at, epoch, e.seq])
    if devices:
        store.executemany(
            "INSERT INTO node_devices (node, kind, id, state, detail, since_ts, at_ts, epoch, seq)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (node, kind, id) DO UPDATE SET state = excluded.state,"
            " detail = excluded.detail, at_ts = excluded.at_ts, epoch = excluded.epoch,"
            " seq = excluded.seq, since_ts = CASE WHEN node_devices.state = excluded.state"
            " THEN node_devices.since_ts ELSE excluded.since_ts END"
            " WHERE excluded.at_ts > node_devices.at_ts OR (excluded.at_ts = node_devices.at_ts"
            " AND (excluded.epoch != node_devices.epoch OR excluded.seq > node_devices.seq))",
            devices,
        )
    if newest is not None:
        last = to_ts(newest)  # the newest instant's second: the newest second
        store.execute(
            "UPDATE node_state SET event_ts = ?"
            " WHERE node = ? AND (event_ts IS NULL OR event_ts < ?)",
            [last, node, last],
        )


def _answer(store: Store, node: str, body: Mapping[str, Any], at: int) -> None:
    seq, result = body.get("seq"), body.get("result")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or result not in RESULTS:
        return  # a command given at the node itself (seq null), or a body we cannot read
    store.execute(
        "UPDATE commands SET done_ts = ?, result = ?, detail = ?"
        " WHERE node = ? AND seq = ? AND done_ts IS NULL",
        [at, result, _text(body.get("detail"), DETAIL_MAX) or "", node, seq],
    )
