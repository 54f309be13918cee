"""Alarms and events for the page: node events, central's security log and quarantine.

Rules this module guarantees:
- ``KINDS`` is the one table of what counts as an alarm and how the page
  names it: a door forced, held open, in fire release; tamper; a reader
  offline; a lockdown (or its release) carried out; a security rejection (a
  node's ``security.rejected`` event, or a message central itself dropped);
  a quarantined message. ``kind_of`` classifies one node event by that table,
  from its type and body; an event it does not name is no alarm.
- ``feed`` returns entries newest first, at most ``limit``, filtered by
  facility, kind (``alarms``: every alarm kind; ``all``: every node event and
  every drop) and a time range ``[start, end)``. Each source is read with
  the same filters and limit, then merged, so the answer holds the newest
  ``limit`` entries of all sources together.
- Bodies are untrusted: only their known fields are shown, as text (the
  templates escape every value), cut to ``TEXT_MAX``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync.protocol import TopicError, parse_topic

from ..store import Store

TEXT_MAX = 200

# kind -> the node event types it covers ("" for kinds only central records)
KINDS: dict[str, tuple[str, ...]] = {
    "forced": ("door.forced",),
    "held_open": ("door.held_open",),
    "fire_release": ("door.fire_release",),
    "tamper": ("door.tamper",),
    "reader_offline": ("reader.offline",),
    "lockdown": ("command.done",),
    "security": ("security.rejected",),
    "quarantine": (),
}
ALARM_TYPES = tuple(sorted({t for types in KINDS.values() for t in types}))
NOT_ENTRY = "e.type <> 'access.granted'"  # no alarm: out of the index by type
FILTERS = ("alarms", "all", *KINDS)


@dataclass(frozen=True, slots=True)
class Entry:
    at_ts: int
    node: str | None
    facility: str | None
    kind: str | None  # one of KINDS, or None for an event that is no alarm
    type: str  # the node event type, or "central.security" / "central.quarantine"
    fields: tuple[tuple[str, str], ...]  # what to show: (label, value)
    key: str  # stable identity, for the page's live updates

    @property
    def alarm(self) -> bool:
        return self.kind is not None


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    return str(value)[:TEXT_MAX]


def kind_of(type_: str, body: Mapping[str, Any]) -> str | None:
    """The alarm kind of one node event (module rules), or None."""
    if type_ == "command.done":
        ok = body.get("cmd") in ("lockdown", "release") and body.get("result") == "done"
        return "lockdown" if ok else None
    if type_.startswith("door.") and body.get("state") == "fire_release":
        return "fire_release"
    for kind, types in KINDS.items():
        if type_ in types:
            return kind
    return None


SHOWN = ("door", "reader", "state", "active", "reason", "cmd", "result", "detail", "topic")


def _fields(body: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((k, _text(body[k])) for k in SHOWN if k in body and body[k] not in (None, ""))


def feed(
    store: Store,
    *,
    facility: str | None = None,
    kind: str = "alarms",
    start: int | None = None,
    end: int | None = None,
    limit: int = 100,
) -> list[Entry]:
    """Entries newest first (module rules). Raises ``ValueError`` for an unknown kind."""
    if kind not in FILTERS:
        raise ValueError(f"unknown kind {kind!r}")
    lo, hi = start if start is not None else 0, end if end is not None else 2**62
    with store.read():
        homes = {n: f for n, f in store.execute("SELECT node, facility FROM nodes")}
        out = _node_events(store, facility, kind, lo, hi, limit)
        if kind in ("alarms", "all", "security"):
            out += _security(store, homes, facility, lo, hi, limit)
        if kind in ("alarms", "all", "quarantine"):
            out += _quarantine(store, homes, facility, lo, hi, limit)
    out.sort(key=lambda e: (e.at_ts, e.key), reverse=True)
    return out[:limit]


def _node_events(
    store: Store, facility: str | None, kind: str, lo: int, hi: int, limit: int
) -> list[Entry]:
    if kind == "quarantine":
        return []
    where = ["e.at_ts >= ?", "e.at_ts < ?"]
    params: list[Any] = [lo, hi]
    if kind != "all":
        types = ALARM_TYPES if kind == "alarms" else KINDS[kind]
        where.append(f"e.type IN ({', '.join('?' * len(types))})")
        params += types
        where.append(NOT_ENTRY)  # the words of the partial index (central migration 0005)
    if facility is not None:
        where.append("n.facility = ?")
        params.append(facility)
    out: list[Entry] = []
    # command.done is mostly no alarm (unlocks): read on until ``limit`` alarms are found
    offset, page = 0, limit * 2
    while len(out) < limit:
        rows = store.execute(
            "SELECT e.node, n.facility, e.type, e.at_ts, e.body, e.epoch, e.seq FROM events e"
            " JOIN nodes n ON n.node = e.node WHERE " + " AND ".join(where) +
            " ORDER BY e.at_ts DESC, e.node, e.seq DESC LIMIT ? OFFSET ?",
            [*params, page, offset],
        ).fetchall()  # fmt: skip
        for node, fac, type_, at, body, epoch, seq in rows:
            try:
                data = json.loads(body)
            except ValueError:
                data = {}
            if not isinstance(data, dict):
                data = {}
            k = kind_of(type_, data)
            if kind != "all" and (k is None or (kind != "alarms" and k != kind)):
                continue
            out.append(
                Entry(int(at), node, fac, k, type_, _fields(data), f"e:{node}:{epoch}:{seq:012d}")
            )
        if len(rows) < page:
            break
        offset += page
    return out


def _home(homes: dict[str, str], node: str | None) -> str | None:
    return None if node is None else homes.get(node)


def _security(
    store: Store, homes: dict[str, str], facility: str | None, lo: int, hi: int, limit: int
) -> list[Entry]:
    params: list[Any] = [lo, hi]
    sql = "SELECT id, at_ts, node, topic, reason, detail FROM security_log"
    sql += " WHERE at_ts >= ? AND at_ts < ?"
    if facility is not None:
        sql += " AND node IN (SELECT node FROM nodes WHERE facility = ?)"
        params.append(facility)
    rows = store.execute(sql + " ORDER BY at_ts DESC, id DESC LIMIT ?", [*params, limit])
    return [
        Entry(
            int(at),
            node,
            _home(homes, node),
            "security",
            "central.security",
            _fields({"reason": reason, "topic": topic, "detail": detail}),
            f"s:{i:012d}",
        )
        for i, at, node, topic, reason, detail in rows
    ]


def _quarantine(
    store: Store, homes: dict[str, str], facility: str | None, lo: int, hi: int, limit: int
) -> list[Entry]:
    out: list[Entry] = []
    offset = 0
    while len(out) < limit:
        rows = store.execute(
            "SELECT id, at_ts, topic, reason, detail FROM quarantine"
            " WHERE at_ts >= ? AND at_ts < ? ORDER BY at_ts DESC, id DESC LIMIT ? OFFSET ?",
            [lo, hi, limit, offset],
        ).fetchall()
        for i, at, topic, reason, detail in rows:
            try:
                node: str | None = parse_topic(topic)[0]
            except TopicError:
                node = None
            fac = _home(homes, node)
            if facility is not None and fac != facility:
                continue
            out.append(
                Entry(
                    int(at),
                    node,
                    fac,
                    "quarantine",
                    "central.quarantine",
                    _fields({"reason": reason, "topic": topic, "detail": detail}),
                    f"q:{i:012d}",
                )
            )
        if len(rows) < limit:
            break
        offset += limit
    return out[:limit]
