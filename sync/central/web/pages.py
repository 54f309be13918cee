"""One guarded way into every page of the web application: ``page`` and its ``Ctx``.

Rules this module guarantees:
- Every route is a plain function ``(Ctx) -> Response`` wrapped by ``page``,
  which runs it in a worker thread (the store is synchronous) after these
  checks, in this order: the session (cookie ``__Host-hallvakt``), the role the
  page needs (a page for signed-in users sends a visitor to the login page; a
  user whose role is too low gets 403 and nothing happens), and for every POST
  the request's ``Origin`` (when the browser sends one, it must be this host)
  and the form's CSRF token, which must be the session's (403 otherwise).
- Every page's response carries ``Cache-Control: no-store`` (the headers of
  every response are app.py's).
- A store that cannot be used answers 503 with a page saying so; nothing is
  half done, since each change is one store transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from argon2 import PasswordHasher
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..store import Store, StoreError
from . import accounts, i18n, sessions
from .accounts import Account, Role
from .i18n import N_
from .numbers import numbers
from .sessions import Session
from .settings import Stores, WebSettings
from .uploads import Uploads

HERE = i18n.HERE
MAX_FORM_FIELDS = 40
MAX_FIELD_BYTES = 16 * 1024
UPLOAD_MAX_BYTES = 10 * 1024 * 1024  # a claims file, as the command line takes it


@dataclass(slots=True)
class Web:
    """What every page shares: settings, stores, templates, the clock."""

    settings: WebSettings
    stores: Stores
    env: jinja2.Environment
    hasher: PasswordHasher
    clock: Callable[[], float] = time.time
    uploads: Uploads = field(default_factory=lambda: Uploads(max_file=UPLOAD_MAX_BYTES))


@dataclass(slots=True)
class Ctx:
    """One request as a page sees it."""

    web: Web
    request: Request
    store: Store
    now: int
    lang: str
    t: i18n.Translator
    session: Session | None
    form: dict[str, str]
    addr: str
    cookies: list[tuple[str, str, int | None]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # uploads (``page(upload=N)``)

    @property
    def user(self) -> Account | None:
        return None if self.session is None else self.session.account

    def can(self, role: Role) -> bool:
        return self.user is not None and accounts.allows(self.user.role, role)

    def _(self, message: str) -> str:
        return self.t.gettext(message)

    def render(self, name: str, code: int = 200, **context: Any) -> Response:
        tpl = self.web.env.get_template(name)
        html = tpl.render(
            ctx=self, _=self.t.gettext, ngettext=self.t.ngettext, num=numbers(self.lang),
            **context,
        )  # fmt: skip
        return self._finish(HTMLResponse(html, status_code=code))

    def redirect(self, url: str) -> Response:
        return self._finish(RedirectResponse(url, status_code=303))

    def error(self, status: int, message: str, **extra: Any) -> Response:
        return self.render("error.html", status, status=status, message=message, **extra)

    def _finish(self, resp: Response) -> Response:
        for name, value, max_age in self.cookies:
            resp.set_cookie(
                name, value, max_age=max_age, path="/", secure=self.web.settings.secure_cookies,
                httponly=True, samesite="strict",
            )  # fmt: skip
        return resp

    def ago(self, ts: int | None) -> str:
        """How long ago ``ts`` was, in words."""
        if ts is None:
            return self._(N_("never"))
        d, n = max(0, self.now - ts), numbers(self.lang).count
        if d < 90:
            return self._(N_("%(n)s s ago")) % {"n": n(d)}
        if d < 90 * 60:
            return self._(N_("%(n)s min ago")) % {"n": n(d // 60)}
        if d < 48 * 3600:
            return self._(N_("%(n)s h ago")) % {"n": n(d // 3600)}
        return self._(N_("%(n)s days ago")) % {"n": n(d // 86400)}

    def url(self, path: str, **query: object) -> str:
        q = {k: v for k, v in query.items() if v not in (None, "")}
        return path + ("?" + urlencode(q) if q else "")


Handler = Callable[[Ctx], Response]


def client_addr(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _origin_ok(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # an old browser or a non-browser client; the CSRF token still decides
    host = request.headers.get("host", "")
    return origin != "null" and urlsplit(origin).netloc == host


def page(
    role: Role | None = Role.VIEWER, *, csrf: bool = True, upload: int = 0
) -> Callable[[Handler], Any]:
    """Wrap a page handler (module rules). ``role`` None: open to everyone
    (the login page); ``csrf`` False only for the login form, which checks
    its own pre-session token. ``upload``: a POST may carry one file of at
    most this many bytes (and fields as large), else none."""

    def wrap(fn: Handler) -> Any:
        async def endpoint(request: Request) -> Response:
            form: dict[str, str] = {}
            files: dict[str, bytes] = {}
            if request.method == "POST":
                raw = None
                try:
                    raw = await request.form(
                        max_files=1 if upload else 0,
                        max_fields=MAX_FORM_FIELDS,
                        max_part_size=max(upload, MAX_FIELD_BYTES),
                    )
                    for k, v in raw.items():
                        if isinstance(v, str):
                            form[k] = v
                        else:
                            files[k] = await v.read(upload + 1)
                            if len(files[k]) > upload:
                                raise ValueError("file too large")
                except Exception:  # a malformed or oversized body: refused, nothing read
                    return Response("bad form", status_code=400)
                finally:
                    if raw is not None:
                        await raw.close()  # an upload spooled to a temporary file
            web: Web = request.app.state.web
            return await run_in_threadpool(_run, web, request, form, fn, role, csrf, files)

        endpoint.__name__ = fn.__name__
        return endpoint

    return wrap


def _run(
    web: Web,
    request: Request,
    form: dict[str, str],
    fn: Handler,
    role: Role | None,
    csrf: bool,
    files: dict[str, bytes],
) -> Response:
    s = web.settings
    lang = i18n.negotiate(request.cookies.get("lang"), request.headers.get("accept-language"))
    t = i18n.translator(lang)
    try:
        store = web.stores.get()
        now = int(web.clock())
        session = sessions.find(
            store, request.cookies.get(s.cookie_name), now, s.session_idle_s, s.session_max_s
        )
        ctx = Ctx(web, request, store, now, lang, t, session, form, client_addr(request))
        ctx.files = files
        if role is not None:
            if session is None:
                if request.method == "GET":
                    return ctx.redirect(ctx.url("/login", next=_local(request)))
                return ctx.error(403, t.gettext(N_("You are not signed in.")))
            if not accounts.allows(session.account.role, role):
                home = accounts.home(session.account.role)
                if request.method == "GET" and request.url.path == "/" and home != "/":
                    return ctx.redirect(home)  # the grants officer's first page is the reports
                return ctx.error(
                    403, t.gettext(N_("Your role does not allow this.")), needed=role.value
                )
        if request.method == "POST" and csrf:
            if not _origin_ok(request) or session is None:
                return ctx.error(403, t.gettext(N_("This form did not come from this page.")))
            if not sessions.csrf_ok(session.csrf, form.get("csrf")):
                return ctx.error(
                    403, t.gettext(N_("The form has expired. Reload the page and try again."))
                )
        resp = fn(ctx)
    except StoreError:
        html = web.env.get_template("unavailable.html").render(
            lang=lang, _=t.gettext, message=t.gettext(N_("Central's store cannot be reached."))
        )
        return HTMLResponse(html, status_code=503)
    if request.method == "GET":
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _local(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


def safe_next(target: str | None) -> str:
    """A local path to go to after login or a language change (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target):
        return "/"
    return target
