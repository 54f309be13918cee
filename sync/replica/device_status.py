"""Door and reader states as the door controller last saw them.

Rules this module guarantees:
- Only the door controller writes these rows; the kiosk's caretaker view and
  ``hallvakt status`` read them. A row says since when its state holds.
- The events that record each change are in the outbox (``door.*``,
  ``reader.*``); these rows are only the latest value, kept after the outbox
  rows are acknowledged and deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sync.protocol.timeutil import from_ts, to_ts

from .store import Replica


@dataclass(frozen=True, slots=True)
class DoorStatus:
    door: str
    state: str  # a door_controller DoorState value
    since: datetime


@dataclass(frozen=True, slots=True)
class ReaderStatus:
    reader: str
    online: bool
    detail: str
    since: datetime


def set_door_state(rep: Replica, door: str, state: str, at: datetime) -> None:
    with rep.write():
        rep.conn.execute(
            "INSERT INTO door_status VALUES (?, ?, ?) ON CONFLICT (door) DO UPDATE"
            " SET state = excluded.state, since_ts = excluded.since_ts"
            " WHERE door_status.state != excluded.state",
            [door, state, to_ts(at)],
        )


def set_reader_state(rep: Replica, reader: str, online: bool, detail: str, at: datetime) -> None:
    with rep.write():
        rep.conn.execute(
            "INSERT INTO reader_status VALUES (?, ?, ?, ?) ON CONFLICT (reader) DO UPDATE"
            " SET online = excluded.online, detail = excluded.detail, since_ts = excluded.since_ts",
            [reader, int(online), detail[:200], to_ts(at)],
        )


def door_states(rep: Replica) -> list[DoorStatus]:
    rows = rep.conn.execute("SELECT door, state, since_ts FROM door_status ORDER BY door")
    return [DoorStatus(d, s, from_ts(t)) for d, s, t in rows]


def reader_states(rep: Replica) -> list[ReaderStatus]:
    rows = rep.conn.execute(
        "SELECT reader, online, detail, since_ts FROM reader_status ORDER BY reader"
    )
    return [ReaderStatus(r, bool(o), d, from_ts(t)) for r, o, d, t in rows]
