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


# --- ``message`` commands: text from central for a kiosk (PROTOCOL.md §6) ---------------
# docs/protocol.md "Kiosk messages": args ``{"text", "audience": "public" |
# "caretaker"}``. A kiosk that takes a pending message ends it ``done`` (its
# ``command.done`` says where and to whom it is shown) and shows it for the rest
# of the facility day or until a newer one for the same audience (an empty text
# clears). The sync link ends a message still pending at its ``exp`` as
# ``expired`` (the link is what sends ``command.done`` at all; a kiosk that is
# down cannot notice anything).

MESSAGE_AUDIENCES = ("public", "caretaker")
EXPIRED_UNSHOWN = "expired before a kiosk showed it"


@dataclass(frozen=True, slots=True)
class KioskMessage:
    """A ``message`` command as the kiosk shows it."""

    id: int
    seq: int | None
    text: str
    audience: str  # "public" or "caretaker"
    received: datetime
    exp: datetime


def _message(cmd: QueuedCommand) -> KioskMessage:
    audience = str(cmd.args.get("audience") or "public")
    if audience not in MESSAGE_AUDIENCES:
        audience = "caretaker"  # an audience this node does not know is kept off the public screen
    return KioskMessage(
        cmd.id, cmd.seq, str(cmd.args.get("text", "")), audience, cmd.received, cmd.exp
    )


def pending_messages(rep: Replica) -> list[KioskMessage]:
    """``message`` commands no kiosk has taken yet, oldest first."""
    return [_message(c) for c in pending_commands(rep, frozenset({"message"}))]


def take_message(
    rep: Replica, ident: int, kiosk: str, now: datetime, *, clock_trusted: bool
) -> KioskMessage | None:
    """Kiosk ``kiosk`` shows pending message ``ident``: end it ``done`` and
    return it. With a trusted clock, a message at or past its ``exp`` ends
    ``expired`` instead and None is returned (it is not shown); None too if it
    had ended already (another kiosk took it, or the link expired it)."""
    with rep.write():
        row = rep.conn.execute(
            "SELECT id, seq, origin, by, cmd, args, exp_ts, received_ts FROM commands"
            " WHERE id = ? AND state = 'pending' AND cmd = 'message'",
            [ident],
        ).fetchone()
        if row is None:
            return None
        i, s, o, b, c, a, e, r = row
        msg = _message(QueuedCommand(i, s, o, b, c, json.loads(a), from_ts(e), from_ts(r)))
        if clock_trusted and now >= msg.exp:
            finish(rep, ident, "expired", EXPIRED_UNSHOWN, now)
            return None
        what = "cleared" if not msg.text else "shown"
        finish(rep, ident, "done", f"{what} on kiosk {kiosk} ({msg.audience})", now)
    return msg


def expire_messages(rep: Replica, now: datetime) -> int:
    """End every pending message whose ``exp`` has passed as ``expired``
    (``EXPIRED_UNSHOWN``); returns how many. Call only with a trusted clock."""
    ended = 0
    for msg in pending_messages(rep):
        if now >= msg.exp and finish(rep, msg.id, "expired", EXPIRED_UNSHOWN, now) is not None:
            ended += 1
    return ended


def next_message_exp(rep: Replica) -> datetime | None:
    """The earliest ``exp`` of a pending message (when the link must look again)."""
    row = rep.conn.execute(
        "SELECT min(exp_ts) FROM commands WHERE state = 'pending' AND cmd = 'message'"
    ).fetchone()
    return None if row[0] is None else from_ts(row[0])


def shown_messages(rep: Replica, since: datetime) -> dict[str, KioskMessage]:
    """The newest message taken for each audience among those received since
    ``since`` (an empty text clears: that audience is then left out)."""
    rows = rep.conn.execute(
        "SELECT id, seq, origin, by, cmd, args, exp_ts, received_ts FROM commands"
        " WHERE cmd = 'message' AND state = 'done' AND received_ts >= ? ORDER BY id",
        [to_ts(since)],
    ).fetchall()
    out: dict[str, KioskMessage] = {}
    for i, s, o, b, c, a, e, r in rows:
        msg = _message(QueuedCommand(i, s, o, b, c, json.loads(a), from_ts(e), from_ts(r)))
        out[msg.audience] = msg
    return {k: m for k, m in out.items() if m.text}
