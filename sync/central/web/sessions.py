"""Sessions of the web page: kept in central's store, named by a random cookie.

Rules this module guarantees:
- A session is made only by ``start``, at a successful login, with a new
  random token (32 bytes from ``secrets``): a token the browser brought before
  is never adopted (no session fixation). The store keeps only the token's
  SHA-256, so a copy of the store opens no session.
- Each session has its own CSRF token (``csrf``), compared in constant time
  by ``csrf_ok``; every form of the page carries it.
- A session ends at logout, after ``idle_s`` without a request, after
  ``max_s`` in all, or when its account is disabled or removed. ``find``
  answers None for every one of those, and the row of an ended session is
  deleted.
- ``find`` writes at most once a minute per session (to move ``seen_ts``):
  reading pages does not compete for the store's write lock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from ..store import Store
from .accounts import Account, Role

TOKEN_BYTES = 32
TOUCH_EVERY_S = 60


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: str
    account: Account
    csrf: str
    created_ts: int
    expires_ts: int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start(store: Store, account: Account, now: int, idle_s: int, max_s: int) -> tuple[str, Session]:
    """A new session for ``account``: its cookie token and the session."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    csrf = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + min(idle_s, max_s)
    with store.write():
        store.execute(
            "DELETE FROM web_sessions WHERE expires_ts <= ? OR created_ts <= ?", [now, now - max_s]
        )
        store.execute(
            "INSERT INTO web_sessions (id_hash, username, csrf, created_ts, seen_ts, expires_ts)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [_hash(token), account.username, csrf, now, now, expires],
        )
    return token, Session(_hash(token), account, csrf, now, expires)


def find(store: Store, token: str | None, now: int, idle_s: int, max_s: int) -> Session | None:
    """The live session named by the cookie ``token`` (module rules), or None."""
    if not token or len(token) > 200:
        return None
    h = _hash(token)
    row = store.execute(
        "SELECT s.csrf, s.created_ts, s.seen_ts, s.expires_ts, a.username, a.display_name,"
        " a.role, a.disabled FROM web_sessions s JOIN web_accounts a ON a.username = s.username"
        " WHERE s.id_hash = ?",
        [h],
    ).fetchone()
    if row is None:
        return None
    csrf, created, seen, expires, username, name, role, disabled = row
    if disabled or now >= expires or now >= created + max_s:
        end(store, token)
        return None
    if now - seen >= TOUCH_EVERY_S:
        expires = min(now + idle_s, created + max_s)
        with store.write():
            store.execute(
                "UPDATE web_sessions SET seen_ts = ?, expires_ts = ? WHERE id_hash = ?",
                [now, expires, h],
            )
    return Session(h, Account(username, name, Role(role), False), csrf, created, expires)


def end(store: Store, token: str) -> None:
    with store.write():
        store.execute("DELETE FROM web_sessions WHERE id_hash = ?", [_hash(token)])


def end_all(store: Store, username: str) -> int:
    """End every session of ``username`` (password change, role change, disable)."""
    with store.write():
        return int(
            store.execute("DELETE FROM web_sessions WHERE username = ?", [username]).rowcount
        )


def csrf_ok(expected: str, given: object) -> bool:
    """Whether a form's CSRF token is the session's (constant time)."""
    if not isinstance(given, str) or not given or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))
