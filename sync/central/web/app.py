"""The web application: its routes, templates and security headers, put together.

Rules this module guarantees:
- Every response carries a strict Content-Security-Policy (scripts, styles
  and forms from this origin only, no framing), ``nosniff``, a referrer only
  to this origin, no framing and a same-origin opener policy.
- Templates autoescape every value: names, titles and event bodies from the
  store are text on the page, never markup.
- The pages themselves are guarded by pages.py's ``page``.
- A request body is at most ``BODY_MAX_BYTES``, but for the claims file
  upload (``UPLOAD_PATHS``): a claims file of ``UPLOAD_MAX_BYTES`` and its
  form. A larger body is refused (413) before it is read.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync.protocol.timeutil import zone

from . import accounts, i18n, labels
from .pages import HERE, UPLOAD_MAX_BYTES, Web
from .routes import routes
from .settings import Stores, WebSettings

BODY_MAX_BYTES = 256 * 1024
UPLOAD_PATHS = frozenset({"/reports/claims"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none';"
    " object-src 'none'"
)


# --- templates ------------------------------------------------------------------------


def make_env(settings: WebSettings) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tz = zone(settings.tz)

    def local(ts: int | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return "" if ts is None else datetime.fromtimestamp(ts, tz).strftime(fmt)

    def iso(ts: int | None) -> str:
        return "" if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()

    env.filters["local"] = local
    env.filters["iso"] = iso
    env.globals["live_every_ms"] = settings.live_every_ms
    env.globals["languages"] = i18n.LANGUAGES
    env.globals.update(labels.ALL)
    return env


# --- the application --------------------------------------------------------------------


class SecurityHeaders:
    """Adds the module's security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                for k, v in (
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ):
                    if k not in have:
                        headers.append((k, v))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with)


def create_app(
    settings: WebSettings,
    *,
    clock: Callable[[], float] = time.time,
    extra_routes: Mapping[str, Any] | None = None,
) -> Starlette:
    """The web application over the store at ``settings.store_url``; its
    stores are closed when the application shuts down."""
    stores = Stores(settings.store_url)
    web = Web(settings, stores, make_env(settings), accounts.hasher(settings.argon2_profile), clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            stores.close()

    all_routes: list[BaseRoute] = [
        *routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=all_routes, lifespan=lifespan)
    app.state.web = web
    app.add_middleware(BodyLimits)
    app.add_middleware(SecurityHeaders)
    return app


class BodyLimits:
    """The request body limits of the module rules, by path."""

    def __init__(self, app: ASGIApp) -> None:
        self.small = RequestBodyLimitMiddleware(app, max_body_size=BODY_MAX_BYTES)
        self.large = RequestBodyLimitMiddleware(
            app, max_body_size=UPLOAD_MAX_BYTES + BODY_MAX_BYTES
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upload = scope["type"] == "http" and scope.get("path") in UPLOAD_PATHS
        await (self.large if upload else self.small)(scope, receive, send)


__all__ = ["create_app"]
