"""Central's commands and quarantined messages in the node database.

Rules this module guarantees (PROTOCOL.md §4, §6 command):
- A command is queued once: its ``seq`` must be above every seq queued before
  (``sync_state.last_command_seq`` moves in the same transaction), so a
  replayed or reordered command is refused even across restarts.
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

from .outbox import OutboxEvent, append_event
from .store import Replica, ReplicaError
from .timeutil import format_instant, from_ts, to_ts

QUARANTINE_KEEP = 1000
DOOR_COMMANDS = frozenset({"unlock", "lockdown", "release"})


class CommandRefused(ReplicaError):
    """A command's seq is not above the last one queued (a replay or reorder)."""


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    seq: int
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


def pending_commands(rep: Replica, cmds: frozenset[str] | None = None) -> list[QueuedCommand]:
    """Commands waiting to be carried out (only ``cmds`` if given), oldest first."""
    rows = rep.conn.execute(
        "SELECT seq, cmd, args, exp_ts, received_ts FROM commands WHERE state = 'pending'"
        " ORDER BY seq"
    ).fetchall()
    return [
        QueuedCommand(s, c, json.loads(a), from_ts(e), from_ts(r))
        for s, c, a, e, r in rows
        if cmds is None or c in cmds
    ]


def finish_command(
    rep: Replica, seq: int, state: str, detail: str, now: datetime
) -> OutboxEvent | None:
    """End a pending command and record ``command.done``; None if it had ended already."""
    if state not in ("done", "failed", "expired"):
        raise ValueError(f"a command ends as done, failed or expired, not {state!r}")
    with rep.write():
        row = rep.conn.execute(
            "SELECT cmd FROM commands WHERE seq = ? AND state = 'pending'", [seq]
        ).fetchone()
        if row is None:
            return None
        rep.conn.execute(
            "UPDATE commands SET state = ?, detail = ? WHERE seq = ?", [state, detail[:500], seq]
        )
        body = {"seq": seq, "cmd": row[0], "result": state, "detail": detail[:500]}
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
    return f"#{cmd.seq} {cmd.cmd} {json.dumps(cmd.args)} (exp {format_instant(cmd.exp)})"
