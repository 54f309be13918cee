"""Central's node registry, what each node last said, dropped messages and commands.

Rules this module guarantees:
- A node is registered to one facility with one or more Ed25519 public keys,
  each under a ``kid``; ``node_keys`` gives only that node's keys, so one node's
  key never verifies a message for another (PROTOCOL.md §4). The ids
  ``central`` and ``central-*`` are reserved: they are the broker identities
  of central's gateways, which the ACL gives every node's ``dn/``
  (firmware_config.values ``is_reserved_node_id``).
- Node state moves only forward: within one epoch ``applied_rev`` never goes
  down (a replayed old ``hello`` or ``cursor`` cannot make central think a node
  still holds a lease it gave up); a ``hello`` of a new epoch (a new node
  database) starts it again. Of the ``status`` messages the one with the
  newest ``iat`` is kept, ties going to the later one (docs/protocol.md).
- Every ``hello`` leaves a mark: events up to its ``outbox.last`` were made
  while the node stood at its ``applied_rev`` or below.
- ``claim_heads`` hands each head to publish to exactly one caller, even with
  several gateways on one database: the claim and its record are one write.
- Commands get a ``seq`` strictly increasing per node when queued; each is
  handed out to one gateway at a time, again after ``COMMAND_RESEND_S`` until
  the broker acknowledged its publication (at least once: a node takes a
  ``seq`` once), and never after its lifetime.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from firmware_config.values import is_reserved_node_id
from sync.protocol import (
    Audience,
    Cmd,
    Command,
    Hello,
    KioskText,
    MessageError,
    Status,
    Unlock,
    encode,
)
from sync.protocol.codes import is_node_id
from sync.protocol.messages import COMMAND_MAX_LIFETIME
from sync.protocol.timeutil import from_ts, to_ts

from . import delivery
from .changelog import Revs, is_id, revs
from .db import Store, StoreError

COMMAND_RESEND_S = 10  # a command handed out without a PUBACK this long is handed out again
KID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


class RegistryError(StoreError):
    """A registration or command that cannot be made; nothing was written."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_public_key(text: str) -> bytes:
    """A raw 32-byte Ed25519 public key from unpadded base64url; raises ``RegistryError``."""
    if not isinstance(text, str) or len(text) != 43 or not set(text) <= KID_CHARS - {".", ":"}:
        raise RegistryError("public key must be 43 characters of base64url (raw Ed25519)")
    try:
        raw = base64.urlsafe_b64decode(text + "=")
        Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise RegistryError("public key is not a raw Ed25519 key in base64url") from None
    if b64url(raw) != text:
        raise RegistryError("public key is not in its canonical base64url spelling")
    return raw


def default_kid(node: str, raw: bytes) -> str:
    """The kid ``hallvakt provision`` suggests: node id and key fingerprint."""
    return f"{node}-{b64url(hashlib.sha256(raw).digest())[:8]}"


def check_kid(kid: str) -> str:
    if not 1 <= len(kid) <= 128 or not set(kid) <= KID_CHARS:
        raise RegistryError(f"kid {kid!r} must be 1-128 of A-Z a-z 0-9 . _ : -")
    return kid


def register_node(
    store: Store, node: str, facility: str, raw_key: bytes, kid: str | None, now: datetime
) -> str:
    """Register ``node`` for ``facility`` with a public key (or add a key to it);
    return the key's kid. Idempotent for the same key and kid. Raises
    ``RegistryError`` for a bad or reserved id, a node of another facility, or a
    kid already used for another key."""
    if not is_node_id(node) or is_reserved_node_id(node):
        raise RegistryError(
            f"node id {node!r} must be 1-64 of a-z 0-9 - . and not 'central' or 'central-*'"
            " (reserved for central's gateways)"
        )
    if not is_id(facility):
        raise RegistryError(f"facility id {facility!r} must be 1-128 of A-Z a-z 0-9 . _ : @ -")
    Ed25519PublicKey.from_public_bytes(raw_key)
    kid = check_kid(kid if kid is not None else default_kid(node, raw_key))
    text = b64url(raw_key)
    ts = to_ts(now)
    with store.write():
        store.lock("node", node)
        row = store.execute("SELECT facility FROM nodes WHERE node = ?", [node]).fetchone()
        if row is not None and row[0] != facility:
            raise RegistryError(f"node {node!r} is registered to facility {row[0]!r}")
        old = store.execute(
            "SELECT public_key FROM node_keys WHERE node = ? AND kid = ?", [node, kid]
        ).fetchone()
        if old is not None and old[0] != text:
            raise RegistryError(f"node {node!r} already has another key under kid {kid!r}")
        store.execute(
            "INSERT INTO nodes (node, facility, registered_ts) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [node, facility, ts],
        )
        store.execute("INSERT INTO node_state (node) VALUES (?) ON CONFLICT DO NOTHING", [node])
        store.execute(
            "INSERT INTO node_keys VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [node, kid, text, ts],
        )
    return kid


def _registered(store: Store, node: str) -> None:
    if store.execute("SELECT 1 FROM nodes WHERE node = ?", [node]).fetchone() is None:
        raise RegistryError(f"node {node!r} is not registered")


def revoke_node(store: Store, node: str, now: datetime) -> int:
    """Revoke ``node`` (a stolen or retired node): every key of it goes, in one
    transaction, so each message it sends from then on is refused
    (``unknown_key``) and logged as a security event that names the
    revocation (``is_revoked``); its commands not yet sent are cancelled. The
    registration stays, so its events and its refusals keep their node.
    Returns the number of keys removed; ``RegistryError`` for an unknown node."""
    with store.write():
        store.lock("node", node)
        _registered(store, node)
        gone = store.execute("DELETE FROM node_keys WHERE node = ?", [node]).rowcount
        store.execute(
            "UPDATE commands SET state = 'cancelled' WHERE node = ? AND state = 'queued'", [node]
        )
        log_security(store, f"hallvakt/v1/{node}/", node, "revoked", f"{gone} keys removed", now)
    return int(gone)


def replace_key(store: Store, node: str, raw_key: bytes, kid: str | None, now: datetime) -> str:
    """Replace every key of ``node`` by ``raw_key`` in one transaction (the node
    was provisioned again, or its key leaked): a message signed with an old key
    is refused from then on. Returns the new kid; ``RegistryError`` for an
    unknown node or a bad key or kid. Works for a revoked node too (it is
    trusted again)."""
    Ed25519PublicKey.from_public_bytes(raw_key)
    kid = check_kid(kid if kid is not None else default_kid(node, raw_key))
    with store.write():
        store.lock("node", node)
        _registered(store, node)
        store.execute("DELETE FROM node_keys WHERE node = ?", [node])
        store.execute(
            "INSERT INTO node_keys VALUES (?, ?, ?, ?)", [node, kid, b64url(raw_key), to_ts(now)]
        )
    return kid


def is_revoked(store: Store, node: str) -> bool:
    """Registered, with no key left (``revoke_node``)."""
    row = store.execute(
        "SELECT (SELECT count(*) FROM node_keys k WHERE k.node = n.node) FROM nodes n"
        " WHERE n.node = ?",
        [node],
    ).fetchone()
    return row is not None and row[0] == 0


def node_keys(store: Store, node: str) -> dict[str, Ed25519PublicKey]:
    """The keys registered to ``node`` by kid; ``{}`` for a node not registered."""
    rows = store.execute("SELECT kid, public_key FROM node_keys WHERE node = ?", [node])
    return {
        kid: Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(key + "="))
        for kid, key in rows
    }


def node_facility(store: Store, node: str) -> str | None:
    row = store.execute("SELECT facility FROM nodes WHERE node = ?", [node]).fetchone()
    return None if row is None else str(row[0])


def applied_rev(store: Store, node: str) -> int:
    row = store.execute("SELECT applied_rev FROM node_state WHERE node = ?", [node]).fetchone()
    return 0 if row is None else int(row[0])


@dataclass(frozen=True, slots=True)
class KnownState:
    """What central knows of a node: its facility, ``applied_rev`` and status."""

    facility: str | None
    applied_rev: int
    online: bool


def known_state(store: Store, node: str) -> KnownState | None:
    return known_states(store, [node]).get(node)


def known_states(store: Store, names: Collection[str]) -> dict[str, KnownState]:
    """``KnownState`` of each registered node of ``names`` (one query)."""
    if not names:
        return {}
    marks = ", ".join("?" * len(names))
    rows = store.execute(
        "SELECT n.node, n.facility, s.applied_rev, s.status_state FROM nodes n"
        f" JOIN node_state s ON s.node = n.node WHERE n.node IN ({marks})",
        list(names),
    )
    return {str(n): KnownState(f, int(r), st == "online") for n, f, r, st in rows}


@dataclass(frozen=True, slots=True)
class Registered:
    """A registered node's facility and keys by kid (none left: revoked)."""

    facility: str
    keys: dict[str, Ed25519PublicKey]


def registry(store: Store, names: Collection[str]) -> dict[str, Registered]:
    """Facility and keys of each registered node of ``names``, in one query
    (a gateway gates a whole batch of messages with it)."""
    if not names:
        return {}
    marks = ", ".join("?" * len(names))
    rows = store.execute(
        "SELECT n.node, n.facility, k.kid, k.public_key FROM nodes n"
        f" LEFT JOIN node_keys k ON k.node = n.node WHERE n.node IN ({marks})",
        list(names),
    )
    out: dict[str, Registered] = {}
    for node, facility, kid, key in rows:
        reg = out.setdefault(str(node), Registered(str(facility), {}))
        if kid is not None:
            raw = base64.urlsafe_b64decode(str(key) + "=")
            reg.keys[str(kid)] = Ed25519PublicKey.from_public_bytes(raw)
    return out


# --- what nodes say ------------------------------------------------------------


def record_hello(store: Store, node: str, hello: Hello, iat: int, now: datetime) -> None:
    """Remember a ``hello`` (PROTOCOL.md §5) unless a newer one was seen."""
    epoch = str(hello.epoch)
    with store.write():
        store.lock("node", node)
        row = store.execute(
            "SELECT epoch, applied_rev, hello_iat FROM node_state WHERE node = ?", [node]
        ).fetchone()
        if row is None:
            return
        if row[0] is not None and row[0] != epoch and (row[2] is None or iat >= row[2]):
            # a new node database: the old one's marks can judge nothing any more
            store.execute("DELETE FROM node_marks WHERE node = ? AND epoch != ?", [node, epoch])
        if hello.outbox.last >= 1:
            store.execute(
                "INSERT INTO node_marks VALUES (?, ?, ?, ?)",
                [node, epoch, hello.outbox.last, hello.applied_rev],
            )
        delivery.forget_batches(store, node)  # a new connection: what was in flight is lost
        if row[2] is not None and iat < row[2]:
            return  # an older hello arriving late (or replayed) describes the past
        rev = hello.applied_rev
        if row[0] == epoch:
            rev = max(rev, int(row[1]))
        store.execute(
            "UPDATE node_state SET epoch = ?, boot_id = ?, software = ?, applied_rev = ?,"
            " first_unacked = ?, outbox_last = ?, clock_trusted = ?, clock_source = ?,"
            " hello_ts = ?, hello_iat = ? WHERE node = ?",
            [
                epoch,
                clean(hello.boot_id, 128),
                clean(hello.software, 128),
                rev,
                hello.outbox.first_unacked,
                hello.outbox.last,
                int(hello.clock.trusted),
                hello.clock.source.value,
                to_ts(now),
                iat,
                node,
            ],
        )


def record_cursor(store: Store, node: str, rev: int, now: datetime) -> int:
    """Remember a ``cursor``'s ``applied_rev`` (never lower within an epoch);
    return the node's ``applied_rev`` afterwards."""
    with store.write():
        store.lock("node", node)
        store.execute(
            "UPDATE node_state SET applied_rev = CASE WHEN applied_rev > ? THEN applied_rev"
            " ELSE ? END, cursor_ts = ? WHERE node = ?",
            [rev, rev, to_ts(now), node],
        )
        return applied_rev(store, node)


def record_status(store: Store, node: str, status: Status, iat: int, now: datetime) -> bool:
    """Keep ``status`` if it is the newest by ``iat`` (ties: this later one)."""
    with store.write():
        store.lock("node", node)
        cur = store.execute(
            "UPDATE node_state SET status_state = ?, status_epoch = ?, status_iat = ?,"
            " status_ts = ? WHERE node = ? AND (status_iat IS NULL OR status_iat <= ?)",
            [status.state.value, str(status.epoch), iat, to_ts(now), node, iat],
        )
        return cur.rowcount == 1


def clean(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, NUL replaced (PostgreSQL's text
    holds no NUL; a message may carry one into a detail)."""
    return text[:limit].replace("\x00", "\ufffd")


def log_security(
    store: Store, topic: str, node: str | None, reason: str, detail: str, now: datetime
) -> None:
    """A dropped message that is a security event (PROTOCOL.md §4)."""
    with store.write():
        store.execute(
            "INSERT INTO security_log (at_ts, topic, node, reason, detail) VALUES (?, ?, ?, ?, ?)",
            [to_ts(now), clean(topic, 200), node, reason, clean(detail, 500)],
        )


def quarantine(
    store: Store, topic: str, reason: str, detail: str, payload: bytes, now: datetime
) -> None:
    """A malformed or unknown message, kept for inspection (PROTOCOL.md §4)."""
    with store.write():
        store.execute(
            "INSERT INTO quarantine (at_ts, topic, reason, detail, payload) VALUES (?, ?, ?, ?, ?)",
            [to_ts(now), clean(topic, 200), reason, clean(detail, 500), payload],
        )


def prune_dropped(store: Store, now: datetime, keep_days: int) -> int:
    """Forget security-log and quarantine rows older than ``keep_days``."""
    cutoff = to_ts(now) - keep_days * 86_400
    with store.write():
        a = store.execute("DELETE FROM security_log WHERE at_ts < ?", [cutoff]).rowcount
        b = store.execute("DELETE FROM quarantine WHERE at_ts < ?", [cutoff]).rowcount
    return int(a + b)


# --- heads ---------------------------------------------------------------------


def claim_heads(
    store: Store, iat: int, resign_s: int, limit: int | None = None
) -> list[tuple[str, Revs]]:
    """Nodes whose retained head must be (re)published: their facility moved on
    since the last one, or it was signed ``resign_s`` or more ago; at most
    ``limit`` of them (the first by node id), the rest left for the next
    claim, by this caller or another gateway. Records the new head as
    published in the same write, so each head is claimed once."""
    with store.write():
        store.lock("job", "heads")  # one claimer at a time: each head is claimed once
        rows = store.execute(
            "SELECT n.node, coalesce(f.rev, 0), coalesce(f.oldest_rev, 0) FROM nodes n"
            " JOIN node_state s ON s.node = n.node"
            " LEFT JOIN facility_revs f ON f.facility = n.facility"
            " WHERE s.head_iat IS NULL OR s.head_iat <= ?"
            " OR s.head_rev IS DISTINCT FROM coalesce(f.rev, 0)"
            " OR s.head_oldest_rev IS DISTINCT FROM coalesce(f.oldest_rev, 0)"
            " ORDER BY n.node" + ("" if limit is None else " LIMIT ?"),
            [iat - resign_s] + ([] if limit is None else [limit]),
        ).fetchall()
        store.executemany(
            "UPDATE node_state SET head_rev = ?, head_oldest_rev = ?, head_iat = ? WHERE node = ?",
            [(rev, oldest, iat, node) for node, rev, oldest in rows],
        )
    return [(n, Revs(r, o)) for n, r, o in rows]


def take_head(store: Store, node: str, iat: int) -> Revs:
    """The head for ``node`` now (after a hello), recorded as published."""
    with store.write():
        store.lock("node", node)
        facility = node_facility(store, node)
        r = Revs(0, 0) if facility is None else revs(store, facility)
        _set_head(store, node, r, iat)
    return r


def _set_head(store: Store, node: str, r: Revs, iat: int) -> None:
    store.execute(
        "UPDATE node_state SET head_rev = ?, head_oldest_rev = ?, head_iat = ? WHERE node = ?",
        [r.rev, r.oldest_rev, iat, node],
    )


# --- commands (PROTOCOL.md §6 command) ------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    node: str
    seq: int
    cmd: Cmd
    args: Unlock | KioskText | None
    created: datetime


def _args(cmd: Cmd, args: Mapping[str, Any]) -> Unlock | KioskText | None:
    if cmd is Cmd.UNLOCK:
        return Unlock(str(args.get("door", "")), int(args.get("seconds", 5)))
    if cmd is Cmd.MESSAGE:
        return KioskText(str(args.get("text", "")), Audience(args.get("audience", "public")))
    return None


def queue_command(
    store: Store, node: str, cmd: Cmd, args: Mapping[str, Any], now: datetime
) -> QueuedCommand:
    """Queue a command for ``node`` with the next ``seq``. Raises ``RegistryError``
    for an unknown node or arguments the message would refuse."""
    typed = _args(cmd, args)
    ts = to_ts(now)
    try:  # the exact check a node makes (sync.protocol.messages)
        encode(Command(1, cmd, ts + COMMAND_MAX_LIFETIME, typed), node, ts)
    except MessageError as exc:
        raise RegistryError(f"command {cmd}: {exc}") from None
    wire: dict[str, Any] = {}
    if isinstance(typed, Unlock):
        wire = {"door": typed.door, "seconds": typed.seconds}
    elif isinstance(typed, KioskText):
        wire = {"text": typed.text, "audience": str(typed.audience)}
    with store.write():
        row = store.execute(
            "UPDATE node_state SET command_seq = command_seq + 1 WHERE node = ?"
            " RETURNING command_seq",
            [node],
        ).fetchone()
        if row is None:
            raise RegistryError(f"node {node!r} is not registered")
        seq = int(row[0])
        store.execute(
            "INSERT INTO commands (node, seq, cmd, args, created_ts) VALUES (?, ?, ?, ?, ?)",
            [node, seq, cmd.value, json.dumps(wire), ts],
        )
    return QueuedCommand(node, seq, cmd, typed, from_ts(ts))


def take_commands(
    store: Store,
    now: datetime,
    lifetime: int = COMMAND_MAX_LIFETIME,
    resend_s: int = COMMAND_RESEND_S,
) -> list[QueuedCommand]:
    """Commands to send now, marked ``sending``: the queued ones, and those
    handed out ``resend_s`` or more ago whose publication the broker never
    acknowledged (the gateway that took them died or lost its connection
    first: ``commands_published`` was not called). Those older than
    ``lifetime`` are marked expired instead (a node would refuse them anyway).
    Each is taken by one caller at a time, even with several gateways."""
    ts = to_ts(now)
    with store.write():
        store.execute(
            "UPDATE commands SET state = 'expired'"
            " WHERE state IN ('queued', 'sending') AND created_ts <= ?",
            [ts - lifetime],
        )
        rows = store.execute(
            "UPDATE commands SET state = 'sending', sent_ts = ?"
            " WHERE state = 'queued' OR (state = 'sending' AND sent_ts <= ?)"
            " RETURNING node, seq, cmd, args, created_ts",
            [ts, ts - resend_s],
        ).fetchall()
    out = [
        QueuedCommand(n, s, Cmd(c), _args(Cmd(c), json.loads(a)), from_ts(t))
        for n, s, c, a, t in rows
    ]
    return sorted(out, key=lambda q: (q.node, q.seq))


def commands_published(store: Store, sent: Sequence[tuple[str, int]]) -> None:
    """The broker acknowledged the publication of these ``(node, seq)``
    commands (its PUBACK): they are ``sent`` and never handed out again (the
    broker's session delivers them to the node)."""
    store.executemany(
        "UPDATE commands SET state = 'sent' WHERE node = ? AND seq = ? AND state = 'sending'",
        [(n, s) for n, s in sent],
    )
