"""Login throttling and the audit log, both in central's store.

Rules this module guarantees:
- Login throttle: each failed login is a row (user name as typed, client
  address). ``wait_s`` says how long a login must wait: once a user name has
  ``per_user`` failures, or an address ``per_addr`` failures, within
  ``window_s``, until the oldest of them leaves the window. A blocked attempt
  checks no password (so it cannot be used to guess faster) and is not
  counted again. A successful login clears its user name's failures. The rows
  are in the store, so several web processes and a restart share them.
- Audit log: ``record`` writes one row per action (every command sent, and
  logins, logouts and account changes) with who did it, in the caller's
  transaction when there is one: a command is queued and audited together or
  not at all. Rows are never changed or deleted by the page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..store import Store
from .accounts import Account


@dataclass(frozen=True, slots=True)
class Throttle:
    window_s: int = 15 * 60
    per_user: int = 5
    per_addr: int = 20


def wait_s(store: Store, throttle: Throttle, username: str, addr: str, now: int) -> int:
    """Seconds before a login for ``username`` from ``addr`` is tried (0: now)."""
    since = now - throttle.window_s
    waits = [0]
    for column, key, limit in (
        ("username", username[:100], throttle.per_user),
        ("addr", addr, throttle.per_addr),
    ):
        rows = store.execute(
            f"SELECT at_ts FROM web_login_failures WHERE {column} = ? AND at_ts > ?"
            " ORDER BY at_ts DESC LIMIT ?",
            [key, since, limit],
        ).fetchall()
        if len(rows) >= limit:
            waits.append(int(rows[-1][0]) + throttle.window_s - now)
    return max(waits)


def failed(store: Store, throttle: Throttle, username: str, addr: str, now: int) -> None:
    with store.write():
        store.execute("DELETE FROM web_login_failures WHERE at_ts <= ?", [now - throttle.window_s])
        store.execute(
            "INSERT INTO web_login_failures (at_ts, username, addr) VALUES (?, ?, ?)",
            [now, username[:100], addr],
        )


def succeeded(store: Store, username: str) -> None:
    with store.write():
        store.execute("DELETE FROM web_login_failures WHERE username = ?", [username])


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at_ts: int
    username: str
    role: str
    action: str
    node: str | None
    seq: int | None
    detail: dict[str, Any]
    addr: str


def record(
    store: Store,
    now: int,
    who: Account | str,
    action: str,
    addr: str,
    *,
    node: str | None = None,
    seq: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One audit row (module rules). ``who`` is the account, or the user name
    as typed for a failed login."""
    username, role = (who.username, who.role.value) if isinstance(who, Account) else (who, "")
    with store.write():
        store.execute(
            "INSERT INTO web_audit (at_ts, username, role, action, node, seq, detail, addr)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                now,
                username[:100],
                role,
                action,
                node,
                seq,
                json.dumps(dict(detail or {}), ensure_ascii=False),
                addr,
            ],
        )


def recent(
    store: Store, limit: int = 200, *, node: str | None = None, seq: int | None = None
) -> list[AuditEntry]:
    """Audit rows, newest first; only one node's (and one command's) if given."""
    where: list[str] = []
    params: list[object] = []
    if node is not None:
        where.append("node = ?")
        params.append(node)
    if seq is not None:
        where.append("seq = ?")
        params.append(seq)
    sql = "SELECT at_ts, username, role, action, node, seq, detail, addr FROM web_audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = store.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
    return [
        AuditEntry(int(a), u, r, act, n, None if s is None else int(s), json.loads(d), ad)
        for a, u, r, act, n, s, d, ad in rows
    ]
