"""Central's commands and quarantined messages in the node database.

Rules this module guarantees (PROTOCOL.md §4, §6 command):
- A command from central is queued once: its ``seq`` must be above every seq
  queued before (``sync_state.last_command_seq`` moves in the same
  transaction), so a replayed or reordered command is refused even across
  restarts. A command made on the node (the caretaker view of the kiosk) has
  no seq; it names who gave it, and its ``command.done`` event says so.
- Each command ends exactly once, as ``done``, ``failed`` or ``expired``, and
  its ``command.done`` event is written in the same transaction.
- Quarantined messages are kept (bounded to the newest ``QUARANTINE_KEEP``)
  and counted; nothing in them is applied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.protocol.timeutil import format_instant, from_ts, to_ts
from sync.protocol.wire import OutboxEvent

from .outbox import append_event
from .store import Replica, ReplicaError

QUARANTINE_KEEP = 1000
DOOR_COMMANDS = frozenset({"unlock", "lockdown", "release"})


class CommandRefused(ReplicaError):
    """A command's seq is not above the last one queued (a replay or reorder)."""


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    id: int
    seq: int | None  # central's seq; None for a command made on the node
    origin: str  # "central" or "kiosk"
    by: str  # who gave a local command (a staff credential id)
    cmd: str
    args: dict[str, Any]
    exp: datetime
    received: datetime


def last_command_seq(rep: Replica) -> int:
    row = rep.conn.execute("SELECT last_command_seq FROM sync_state WHERE id = 1").fetchone()
    return int(row[0])


def queue_command(
    rep: Replica, seq: int, cmd: str, args: Mapping[str, Any], exp: datetime, now: datetime
) -> None:
    """Queue a verified command; raises ``CommandRefused`` unless ``seq`` is new."""
    with rep.write():
        if seq <= last_command_seq(rep):
            raise CommandRefused(f"command seq {seq} is not above {last_command_seq(rep)}")
        rep.conn.execute("UPDATE sync_state SET last_command_seq = ? WHERE id = 1", [seq])
        rep.conn.execute(
            "INSERT INTO commands (seq, cmd, args, exp_ts, received_ts) VALUES (?, ?, ?, ?, ?)",
            [seq, cmd, json.dumps(dict(args)), to_ts(exp), to_ts(now)],
        )


def queue_local_command(
    rep: Replica, cmd: str, args: Mapping[str, Any], by: str, exp: datetime, now: datetime
) -> int:
    """Queue a command made on the node (e.g. a caretaker's unlock); returns its id."""
    with rep.write():
        cur = rep.conn.execute(
            "INSERT INTO commands (origin, by, cmd, args, exp_ts, received_ts)"
            " VALUES ('kiosk', ?, ?, ?, ?, ?)",
            [by, cmd, json.dumps(dict(args)), to_ts(exp), to_ts(now)],
        )
        return int(cur.lastrowid or 0)


def pending_commands(rep: Replica, cmds: frozenset[str] | None = None) -> list[QueuedCommand]:
    """Commands waiting to be carried out (only ``cmds`` if given), oldest first."""
    rows = rep.conn.execute(
        "SELECT id, seq, origin, by, cmd, args, exp_ts, received_ts FROM commands"
        " WHERE state = 'pending' ORDER BY id"
    ).fetchall()
    return [
        QueuedCommand(i, s, o, b, c, json.loads(a), from_ts(e), from_ts(r))
        for i, s, o, b, c, a, e, r in rows
        if cmds is None or c in cmds
    ]


def finish_command(
    rep: Replica, seq: int, state: str, detail: str, now: datetime
) -> OutboxEvent | None:
    """End central's pending command ``seq``; see :func:`finish`."""
    row = rep.conn.execute("SELECT id FROM commands WHERE seq = ?", [seq]).fetchone()
    return None if row is None else finish(rep, int(row[0]), state, detail, now)


def finish(rep: Replica, ident: int, state: str, detail: str, now: datetime) -> OutboxEvent | None:
    """End a pending command and record ``command.done``; None if it had ended already."""
    if state not in ("done", "failed", "expired"):
        raise ValueError(f"a command ends as done, failed or expired, not {state!r}")
    with rep.write():
        row = rep.conn.execute(
            "SELECT seq, origin, by, cmd FROM commands WHERE id = ? AND state = 'pending'",
            [ident],
        ).fetchone()
        if row is None:
            return None
        rep.conn.execute(
            "UPDATE commands SET state = ?, detail = ? WHERE id = ?", [state, detail[:500], ident]
        )
        seq, origin, by, cmd = row
        body: dict[str, Any] = {"seq": seq, "cmd": cmd, "result": state, "detail": detail[:500]}
        if origin != "central":
            body.update(origin=origin, by=by)
        return append_event(rep, "command.done", body, now)


def quarantine(
    rep: Replica, topic: str, reason: str, detail: str, payload: bytes, now: datetime
) -> None:
    """Keep a message that was not accepted, for inspection; bounded."""
    with rep.write():
        rep.conn.execute(
            "INSERT INTO quarantine (at_ts, topic, reason, detail, payload) VALUES (?, ?, ?, ?, ?)",
            [to_ts(now), topic[:300], reason, detail[:500], payload[: 256 * 1024 + 1024]],
        )
        rep.conn.execute(
            "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?",
            [QUARANTINE_KEEP],
        )


def quarantine_count(rep: Replica) -> int:
    return int(rep.conn.execute("SELECT count(*) FROM quarantine").fetchone()[0])


def describe(cmd: QueuedCommand) -> str:
    who = f"#{cmd.seq}" if cmd.seq is not None else f"{cmd.origin}:{cmd.by}"
    return f"{who} {cmd.cmd} {json.dumps(cmd.args)} (exp {format_instant(cmd.exp)})"
