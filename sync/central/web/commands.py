"""Commands from the web page: checked, confirmed, queued on central's command path, audited.

Rules this module guarantees:
- ``propose`` turns a form into a ``Proposal`` or raises ``CommandRefused``
  with a message for the operator: the node must be registered, the command
  one of PROTOCOL.md §6 (unlock, lockdown, release, resync, message), an
  unlock's door one of the doors central holds for the node's facility and
  its seconds 1–3600, a message at most 500 characters. Nothing is written.
- ``send`` queues it with ``nodes.queue_command`` (the code ``hallvakt central
  command`` uses; a gateway signs and sends it within a second or two) and
  writes the audit row naming who sent it, in one transaction: a command is
  never queued without its audit row, nor audited without being queued.
- ``state`` is what the page shows for a command: ``queued`` (no gateway has
  taken it yet, or one has and the broker has not confirmed it: commands go
  at least once), ``delivered`` (the broker confirmed it, and its session for
  the node holds it until the node takes it), the node's answer (``done``,
  ``failed``, or ``expired`` when the node got it too late), or ``expired``
  when its lifetime (``exp``, 5 minutes) passed with no answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sync.protocol import Cmd
from sync.protocol.messages import COMMAND_MAX_LIFETIME, MESSAGE_MAX_CHARS, UNLOCK_MAX_SECONDS
from sync.protocol.timeutil import from_ts

from ..nodes import RegistryError, node_facility, queue_command
from ..store import Store
from . import guard
from .accounts import Account

ANSWER_GRACE_S = 30  # an answer may still be on its way this long after exp
FINAL = frozenset({"done", "failed", "expired"})


class CommandRefused(ValueError):
    """A command the page will not queue; the message says why."""


@dataclass(frozen=True, slots=True)
class Proposal:
    node: str
    facility: str
    cmd: Cmd
    door: str = ""
    seconds: int = 0
    text: str = ""

    def args(self) -> dict[str, Any]:
        if self.cmd is Cmd.UNLOCK:
            return {"door": self.door, "seconds": self.seconds}
        if self.cmd is Cmd.MESSAGE:
            return {"text": self.text}
        return {}


def facility_doors(store: Store, facility: str) -> dict[str, str]:
    """Door id -> name for the facility's door records."""
    out = {}
    for ident, data in store.execute(
        "SELECT id, data FROM doors WHERE facility = ? ORDER BY id", [facility]
    ):
        try:
            out[ident] = str(json.loads(data).get("name") or ident)
        except (ValueError, AttributeError):
            out[ident] = ident
    return out


def propose(store: Store, form: dict[str, str]) -> Proposal:
    """The command a form asks for (module rules); raises ``CommandRefused``."""
    node = form.get("node", "")
    facility = node_facility(store, node) if node else None
    if facility is None:
        raise CommandRefused("no such node")
    try:
        cmd = Cmd(form.get("cmd", ""))
    except ValueError:
        raise CommandRefused("unknown command") from None
    if cmd is Cmd.UNLOCK:
        door = form.get("door", "")
        if door not in facility_doors(store, facility):
            raise CommandRefused("no such door at this node's facility")
        try:
            seconds = int(form.get("seconds", ""))
        except ValueError:
            raise CommandRefused("seconds must be a whole number") from None
        if not 1 <= seconds <= UNLOCK_MAX_SECONDS:
            raise CommandRefused(f"seconds must be 1-{UNLOCK_MAX_SECONDS}")
        return Proposal(node, facility, cmd, door=door, seconds=seconds)
    if cmd is Cmd.MESSAGE:
        text = form.get("text", "").strip()
        if not text:
            raise CommandRefused("write the message")
        if len(text) > MESSAGE_MAX_CHARS:
            raise CommandRefused(f"a message is at most {MESSAGE_MAX_CHARS} characters")
        return Proposal(node, facility, cmd, text=text)
    return Proposal(node, facility, cmd)


def send(store: Store, p: Proposal, who: Account, addr: str, now: int) -> int:
    """Queue ``p`` and audit it in one transaction (module rules); its ``seq``."""
    try:
        with store.write():
            q = queue_command(store, p.node, p.cmd, p.args(), from_ts(now))
            guard.record(
                store, now, who, "command", addr, node=p.node, seq=q.seq,
                detail={"cmd": p.cmd.value, **p.args()},
            )  # fmt: skip
    except RegistryError as exc:
        raise CommandRefused(str(exc)) from None
    return q.seq


@dataclass(frozen=True, slots=True)
class CommandView:
    node: str
    seq: int
    cmd: str
    args: dict[str, Any]
    created_ts: int
    sent_ts: int | None
    done_ts: int | None
    result: str | None
    detail: str
    state: str
    sent_by: str

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def expires_ts(self) -> int:
        return self.created_ts + COMMAND_MAX_LIFETIME


def state(row_state: str, sent_ts: int | None, result: str | None, created: int, now: int) -> str:
    """The state the page shows (module rules)."""
    if result in FINAL:
        return str(result)
    if row_state == "expired":
        return "expired"
    if now > created + COMMAND_MAX_LIFETIME + (ANSWER_GRACE_S if sent_ts else 0):
        return "expired"
    return "delivered" if row_state == "sent" else "queued"


_SELECT = (
    "SELECT c.node, c.seq, c.cmd, c.args, c.created_ts, c.sent_ts, c.done_ts, c.result,"
    " c.detail, c.state, (SELECT min(a.username) FROM web_audit a"
    " WHERE a.node = c.node AND a.seq = c.seq AND a.action = 'command') FROM commands c"
)


def _view(row: tuple[Any, ...], now: int) -> CommandView:
    node, seq, cmd, args, created, sent, done, result, detail, st, by = row
    return CommandView(
        node,
        int(seq),
        cmd,
        json.loads(args),
        int(created),
        sent,
        done,
        result,
        detail or "",
        state(st, sent, result, int(created), now),
        by or "",
    )


def one(store: Store, node: str, seq: int, now: int) -> CommandView | None:
    row = store.execute(_SELECT + " WHERE c.node = ? AND c.seq = ?", [node, seq]).fetchone()
    return None if row is None else _view(row, now)


def recent(
    store: Store, now: int, *, node: str | None = None, facility: str | None = None, limit: int = 50
) -> list[CommandView]:
    """Commands newest first: all, one node's, or one facility's nodes'."""
    if node is not None:
        sql, params = _SELECT + " WHERE c.node = ?", [node]
    elif facility is not None:
        sql = _SELECT + " WHERE c.node IN (SELECT node FROM nodes WHERE facility = ?)"
        params = [facility]
    else:
        sql, params = _SELECT, []
    rows = store.execute(sql + " ORDER BY c.created_ts DESC, c.seq DESC LIMIT ?", [*params, limit])
    return [_view(r, now) for r in rows]
