"""Signing in and out, the language, the audit log and the admin page.

Login (rules this module guarantees, with ``sessions`` and ``guard``):
- The login form carries a pre-session CSRF token that must equal its
  ``__Host-hallvakt-login`` cookie (HttpOnly, SameSite=Strict): no other
  site can sign a browser in under an account of its choosing.
- A login waits out the throttle (429, ``Retry-After``) before any password
  is checked; a failure is counted, audited and answered with one message
  whatever was wrong.
- A successful login ends any session the browser brought and starts a new
  one with a new token (no fixation), then goes to a local ``next`` path only.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sync.protocol.timeutil import from_ts

from ..nodes import RegistryError, parse_public_key, register_node
from ..store import Store
from . import accounts, guard, i18n, sessions
from .accounts import AccountError, Role
from .i18n import N_
from .pages import Ctx, _origin_ok, page, safe_next

LOGIN_COOKIE_S = 3600


def _login_form(ctx: Ctx, status: int = 200, error: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    ctx.cookies.append((ctx.web.settings.login_cookie_name, token, LOGIN_COOKIE_S))
    nxt = safe_next(ctx.form.get("next") or ctx.request.query_params.get("next"))
    return ctx.render("login.html", status, token=token, next=nxt, error=error)


@page(None, csrf=False)
def login(ctx: Ctx) -> Response:
    s = ctx.web.settings
    if ctx.request.method == "GET":
        return _login_form(ctx)  # signed in already: signing in again replaces that session
    expected = ctx.request.cookies.get(s.login_cookie_name, "")
    if not _origin_ok(ctx.request) or not sessions.csrf_ok(expected, ctx.form.get("csrf")):
        return _login_form(ctx, 403, ctx._(N_("The form has expired. Please sign in again.")))
    username = ctx.form.get("username", "").strip().lower()[:100]
    wait = guard.wait_s(ctx.store, s.throttle, username, ctx.addr, ctx.now)
    if wait > 0:
        resp = _login_form(
            ctx, 429, ctx._(N_("Too many failed attempts. Try again in %(min)s minutes.")) % {
                "min": max(1, (wait + 59) // 60)
            },
        )  # fmt: skip
        resp.headers["Retry-After"] = str(wait)
        return resp
    account = accounts.authenticate(
        ctx.store, ctx.web.hasher, username, ctx.form.get("password", "")
    )
    if account is None:
        guard.failed(ctx.store, s.throttle, username, ctx.addr, ctx.now)
        guard.record(ctx.store, ctx.now, username, "login_failed", ctx.addr)
        return _login_form(ctx, 401, ctx._(N_("Wrong user name or password.")))
    old = ctx.request.cookies.get(s.cookie_name)
    if old:
        sessions.end(ctx.store, old)
    guard.succeeded(ctx.store, username)
    token, _session = sessions.start(ctx.store, account, ctx.now, s.session_idle_s, s.session_max_s)
    guard.record(ctx.store, ctx.now, account, "login", ctx.addr)
    ctx.cookies.append((s.cookie_name, token, s.session_max_s))
    ctx.cookies.append((s.login_cookie_name, "", 0))
    target = safe_next(ctx.form.get("next"))
    return ctx.redirect(accounts.home(account.role) if target == "/" else target)


@page()
def logout(ctx: Ctx) -> Response:
    token = ctx.request.cookies.get(ctx.web.settings.cookie_name)
    if token:
        sessions.end(ctx.store, token)
    if ctx.user is not None:
        guard.record(ctx.store, ctx.now, ctx.user, "logout", ctx.addr)
    ctx.cookies.append((ctx.web.settings.cookie_name, "", 0))
    return ctx.redirect("/login")


@page(None)
def language(ctx: Ctx) -> Response:
    lang = ctx.request.path_params["lang"]
    if lang in i18n.LANGUAGES:
        ctx.cookies.append(("lang", lang, 365 * 86400))
    return ctx.redirect(safe_next(ctx.request.query_params.get("next")))


# --- audit and admin ----------------------------------------------------------------------


@page(Role.OPERATOR)
def audit_page(ctx: Ctx) -> Response:
    return ctx.render("audit.html", entries=guard.recent(ctx.store, 300))


@page(Role.ADMIN)
def admin_page(ctx: Ctx) -> Response:
    return _admin(ctx)


def _admin(ctx: Ctx, status: int = 200, error: str = "", done: str = "") -> Response:
    nodes = ctx.store.execute("SELECT node, facility FROM nodes ORDER BY facility, node").fetchall()
    return ctx.render(
        "admin.html", status, users=accounts.every(ctx.store), nodes=nodes, error=error,
        done=done, roles=[r.value for r in Role],
    )  # fmt: skip


def _audit(ctx: Ctx, action: str, **detail: object) -> None:
    assert ctx.user is not None
    guard.record(ctx.store, ctx.now, ctx.user, action, ctx.addr, detail=detail)


@page(Role.ADMIN)
def add_account(ctx: Ctx) -> Response:
    f = ctx.form
    try:
        a = accounts.add(
            ctx.store, ctx.web.hasher, f.get("username", ""), f.get("display_name", ""),
            f.get("role", ""), f.get("password", ""), _dt(ctx),
        )  # fmt: skip
    except AccountError as exc:
        return _admin(ctx, 400, error=str(exc))
    _audit(ctx, "account_added", username=a.username, role=a.role.value)
    return _admin(ctx, done=ctx._(N_("Account added.")))


@page(Role.ADMIN)
def change_account(ctx: Ctx) -> Response:
    username = ctx.request.path_params["username"]
    f, store = ctx.form, ctx.store
    try:
        if f.get("role"):
            accounts.set_role(store, username, f["role"])
            detail: dict[str, object] = {"role": f["role"]}
        elif f.get("password"):
            accounts.set_password(store, ctx.web.hasher, username, f["password"], _dt(ctx))
            detail = {"password": "changed"}
        elif f.get("disabled") in ("0", "1"):
            if username == (ctx.user.username if ctx.user else "") and f["disabled"] == "1":
                raise AccountError("you cannot disable your own account")
            accounts.set_disabled(store, username, f["disabled"] == "1")
            detail = {"disabled": f["disabled"] == "1"}
        else:
            raise AccountError("nothing to change")
    except AccountError as exc:
        return _admin(ctx, 400, error=str(exc))
    ended = _end_sessions(store, username)
    _audit(ctx, "account_changed", username=username, sessions_ended=ended, **detail)
    return _admin(ctx, done=ctx._(N_("Account changed.")))


def _end_sessions(store: Store, username: str) -> int:
    return sessions.end_all(store, username)


@page(Role.ADMIN)
def add_node(ctx: Ctx) -> Response:
    f = ctx.form
    try:
        raw = parse_public_key(f.get("public_key", "").strip())
        kid = register_node(
            ctx.store, f.get("node", "").strip(), f.get("facility", "").strip(), raw,
            f.get("kid", "").strip() or None, _dt(ctx),
        )  # fmt: skip
    except RegistryError as exc:
        return _admin(ctx, 400, error=str(exc))
    _audit(ctx, "node_registered", node=f.get("node", ""), facility=f.get("facility", ""), kid=kid)
    return _admin(ctx, done=ctx._(N_("Node registered.")))


def _dt(ctx: Ctx) -> datetime:
    return from_ts(ctx.now)


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang/{lang}", language),
        Route("/audit", audit_page),
        Route("/admin", admin_page),
        Route("/admin/accounts", add_account, methods=["POST"]),
        Route("/admin/accounts/{username}", change_account, methods=["POST"]),
        Route("/admin/nodes", add_node, methods=["POST"]),
    ]
