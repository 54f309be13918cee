"""Local accounts of the web page: argon2 password hashes and four roles.

Rules this module guarantees:
- A role is ``viewer`` (the fleet, facilities, alarms and commands, read
  only), ``grants`` (the grants officer: the evidence reports only),
  ``operator`` (both, and sends commands) or ``admin`` (also manages accounts
  and registers nodes and their keys). ``allows(role, needed)`` is the one
  check every page makes (``_MAY``).
- Passwords are stored only as argon2id hashes (argon2-cffi, RFC 9106's
  low-memory profile unless told otherwise); a hash made with older
  parameters is replaced at the next successful login.
- ``authenticate`` spends the same argon2 work for an unknown or disabled
  user as for a known one, so the answer time does not tell which user
  names exist; it returns the account or None, never why.
- Bad input raises ``AccountError`` with a message for the admin and writes
  nothing. A user name is 1–64 of ``a-z 0-9 . _ @ -`` (an e-mail address
  fits, for the municipality's SSO later: docs/central.md "Web page").
- An account is never deleted (the audit log names it); it is disabled.
"""

from __future__ import annotations

import contextlib
import enum
import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sync.protocol.timeutil import to_ts

from ..store import Store

USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
PASSWORD_MIN = 12
PASSWORD_MAX = 1024
NAME_MAX = 100


class Role(enum.StrEnum):
    VIEWER = "viewer"
    GRANTS = "grants"  # the grants officer: the evidence reports, nothing of the doors
    OPERATOR = "operator"
    ADMIN = "admin"


# What each role may do, named by the role a page needs (docs/central.md "Roles"):
# the viewer sees the fleet, alarms and commands; the grants officer the reports
# only; the operator both and sends commands; the admin everything.
_MAY = {
    Role.VIEWER: frozenset({Role.VIEWER}),
    Role.GRANTS: frozenset({Role.GRANTS}),
    Role.OPERATOR: frozenset({Role.VIEWER, Role.GRANTS, Role.OPERATOR}),
    Role.ADMIN: frozenset(Role),
}


def allows(role: Role, needed: Role) -> bool:
    """Whether ``role`` may do what a page that needs ``needed`` does (``_MAY``)."""
    return needed in _MAY[role]


def home(role: Role) -> str:
    """The first page of a role: the reports for the grants officer, else the fleet."""
    return "/reports" if role is Role.GRANTS else "/"


class AccountError(ValueError):
    """An account change that cannot be made; nothing was written."""


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    display_name: str
    role: Role
    disabled: bool


def hasher(profile: str = "default") -> PasswordHasher:
    """The argon2id hasher: ``default`` (RFC 9106 low memory: 64 MiB, t=3) or
    ``cheapest`` (tests only: hashes in microseconds)."""
    if profile == "cheapest":
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    if profile != "default":
        raise ValueError(f"unknown argon2 profile {profile!r}")
    return PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)


def check_username(username: str) -> str:
    if not isinstance(username, str) or USERNAME.fullmatch(username) is None:
        raise AccountError("a user name is 1-64 of a-z 0-9 . _ @ - (lower case)")
    return username


def check_password(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise AccountError(f"a password is {PASSWORD_MIN}-{PASSWORD_MAX} characters long")
    return password


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise AccountError("a role is viewer, grants, operator or admin") from None


def _name(display_name: str, username: str) -> str:
    name = " ".join(str(display_name or "").split())[:NAME_MAX]
    return name or username


def _row(row: tuple[object, ...]) -> Account:
    return Account(str(row[0]), str(row[1]), Role(str(row[2])), bool(row[3]))


def get(store: Store, username: str) -> Account | None:
    row = store.execute(
        "SELECT username, display_name, role, disabled FROM web_accounts WHERE username = ?",
        [username],
    ).fetchone()
    return None if row is None else _row(row)


def every(store: Store) -> list[Account]:
    rows = store.execute(
        "SELECT username, display_name, role, disabled FROM web_accounts ORDER BY username"
    )
    return [_row(r) for r in rows]


def add(
    store: Store,
    ph: PasswordHasher,
    username: str,
    display_name: str,
    role: str,
    password: str,
    now: datetime,
) -> Account:
    """Create an account; raises ``AccountError`` if the name is taken or bad."""
    username, r = check_username(username), check_role(role)
    digest = ph.hash(check_password(password))
    ts = to_ts(now)
    with store.write():
        store.lock("web_account", username)
        if get(store, username) is not None:
            raise AccountError(f"user {username!r} exists already")
        store.execute(
            "INSERT INTO web_accounts (username, display_name, role, password_hash, created_ts,"
            " password_ts) VALUES (?, ?, ?, ?, ?, ?)",
            [username, _name(display_name, username), r.value, digest, ts, ts],
        )
    return Account(username, _name(display_name, username), r, False)


def _update(store: Store, username: str, sql: str, params: list[object]) -> None:
    with store.write():
        store.lock("web_account", username)
        if store.execute(sql + " WHERE username = ?", [*params, username]).rowcount != 1:
            raise AccountError(f"no user {username!r}")


def set_password(
    store: Store, ph: PasswordHasher, username: str, password: str, now: datetime
) -> None:
    digest = ph.hash(check_password(password))
    _update(
        store, username, "UPDATE web_accounts SET password_hash = ?, password_ts = ?",
        [digest, to_ts(now)],
    )  # fmt: skip


def set_role(store: Store, username: str, role: str) -> None:
    _update(store, username, "UPDATE web_accounts SET role = ?", [check_role(role).value])


def set_disabled(store: Store, username: str, disabled: bool) -> None:
    _update(store, username, "UPDATE web_accounts SET disabled = ?", [int(disabled)])


class _Dummy:
    """One hash to verify against when the user is unknown (same work)."""

    digest: str | None = None


def authenticate(store: Store, ph: PasswordHasher, username: str, password: str) -> Account | None:
    """The account if ``password`` is right and the account enabled (module rules)."""
    row = None
    if isinstance(username, str) and USERNAME.fullmatch(username):
        row = store.execute(
            "SELECT username, display_name, role, disabled, password_hash FROM web_accounts"
            " WHERE username = ?",
            [username],
        ).fetchone()
    if not isinstance(password, str) or len(password) > PASSWORD_MAX:
        password = ""
    if row is None or row[4] is None or row[3]:
        if _Dummy.digest is None:
            _Dummy.digest = ph.hash("not a password of anyone")
        with contextlib.suppress(VerificationError):
            ph.verify(_Dummy.digest, password)
        return None
    try:
        ph.verify(str(row[4]), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if ph.check_needs_rehash(str(row[4])):
        with store.write():
            store.execute(
                "UPDATE web_accounts SET password_hash = ? WHERE username = ?",
                [ph.hash(password), row[0]],
            )
    return _row(row[:4])
