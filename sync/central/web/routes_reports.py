"""The reports page: a grants officer picks a report, period and facility, sees it, downloads it.

Rules this module guarantees (with ``reports`` and ``sync.central.reports``, issue 16):
- Every route needs the grants officer's role (``Role.GRANTS``; the operator
  and the admin have it too, the viewer has not).
- ``GET /reports`` shows the form; with a ``kind`` it also shows the report
  (``reports.view``) and links to its CSV and PDF and, for usage, to each
  facility's heatmap image. ``GET /reports/file`` is the CSV or PDF,
  ``GET /reports/heatmap.png`` one facility's heatmap.
- The claims check needs the association's claims file: ``POST /reports/claims``
  (CSRF, one file of at most ``UPLOAD_MAX_BYTES``, 10 MiB as the command line
  takes) shows it checked and keeps it for the session (``uploads``: in
  memory, 30 minutes, a few per session); the page carries only its random
  token, and its downloads (``POST /reports/claims/file``) and a new view
  name that token. A token that is not this session's, has expired or was
  never given is refused (400, "upload the file again") and writes nothing.
- A request ``reports.ask`` refuses, a claims file with problems, or a report
  issue 16's code refuses (``ReportError``) is answered 400 with the reasons
  and writes nothing; nothing but the store is read.
- Every report shown or downloaded is written to the audit log with who,
  what kind, period, facility and association (``report_viewed``,
  ``report_downloaded``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..reports import KINDS, ClaimsError, ReportError, build, read_claims, write
from ..reports.usage import UsageReport
from ..reports.words import word
from . import guard, reports
from .accounts import Role
from .i18n import N_
from .pages import UPLOAD_MAX_BYTES, Ctx, page
from .reports import FORMATS, Ask, Refused

FIELD_WORDS = {
    "kind": N_("Report"),
    "period": N_("Period"),
    "facility": N_("Facility"),
    "association": N_("Association"),
    "claims": N_("Claims file (CSV)"),
}


def _form(ctx: Ctx, fields: dict[str, str], **extra: Any) -> dict[str, Any]:
    offer = reports.choices(ctx.store)
    today = reports.today_in(ctx.web.settings.tz, ctx.now)
    found = reports.periods(ctx.web.settings.evidence.defaults.grant.periods, today)
    first, last = reports.default_period(found, today)
    chosen = {
        "kind": fields.get("kind", "usage"),
        "period": fields.get("period", "" if fields.get("from") else f"{first}..{last}"),
        "from": fields.get("from", ""),
        "to": fields.get("to", ""),
        "facility": fields.get("facility", "all"),
        "association": fields.get("association", ""),
    }
    return {
        "offer": offer,
        "periods": found,
        "chosen": chosen,
        "kinds": [(k, word(ctx.lang, reports.TITLES[k])) for k in KINDS],
        "problems": [],
        "failed": "",
        "view": None,
        "ask": None,
        "claims_token": "",
        **extra,
    }


def _refused(ctx: Ctx, fields: dict[str, str], problems: list[str]) -> Response:
    named = [ctx._(FIELD_WORDS.get(p, p)) for p in dict.fromkeys(problems)]
    return ctx.render("reports.html", 400, **_form(ctx, fields, problems=named))


def _audit(ctx: Ctx, action: str, a: Ask, **more: str) -> None:
    assert ctx.user is not None
    guard.record(ctx.store, ctx.now, ctx.user, action, ctx.addr, detail={**a.fields(), **more})


def _now(ctx: Ctx) -> datetime:
    return datetime.fromtimestamp(ctx.now, UTC)


def _build(ctx: Ctx, a: Ask, claims: bytes | None = None) -> Any:
    parsed = None
    if a.kind == "claims":
        parsed = read_claims(claims or b"", "claims.csv")
    return build(
        ctx.store,
        a.kind,
        a.query(_now(ctx)),
        ctx.web.settings.evidence,
        holder=a.association,
        claims=parsed,
    )


def _fields(ctx: Ctx) -> dict[str, str]:
    if ctx.request.method == "POST":
        return {k: v for k, v in ctx.form.items() if k != "csrf"}
    return dict(ctx.request.query_params)


@page(Role.GRANTS)
def reports_page(ctx: Ctx) -> Response:
    fields = _fields(ctx)
    if "kind" not in fields:
        return ctx.render("reports.html", **_form(ctx, fields))
    return _show(ctx, fields, None)


def _kept(ctx: Ctx, fields: dict[str, str]) -> tuple[bytes | None, str]:
    """The claims file this request names: uploaded now (then kept), or kept
    before under the form's ``claims_token``; and its token."""
    assert ctx.session is not None  # page(Role.GRANTS)
    token = fields.pop("claims_token", "")
    data = ctx.files.get("claims")
    if data:
        return data, ctx.web.uploads.put(ctx.session.id_hash, data, ctx.now)
    return ctx.web.uploads.get(ctx.session.id_hash, token, ctx.now), token


def _gone(ctx: Ctx, fields: dict[str, str]) -> Response:
    why = ctx._(
        N_("The claims file is no longer kept (it is kept for 30 minutes). Upload it again.")
    )
    return ctx.render("reports.html", 400, **_form(ctx, fields, failed=why))


@page(Role.GRANTS, upload=UPLOAD_MAX_BYTES)
def claims_page(ctx: Ctx) -> Response:
    fields = {**_fields(ctx), "kind": "claims"}
    named = bool(fields.get("claims_token"))
    data, token = _kept(ctx, fields)
    if not data:
        return _gone(ctx, fields) if named else _refused(ctx, fields, ["claims"])
    return _show(ctx, fields, data, token)


def _show(ctx: Ctx, fields: dict[str, str], claims: bytes | None, token: str = "") -> Response:
    offer = reports.choices(ctx.store)
    try:
        a = reports.ask(fields, offer)
        if a.kind == "claims" and claims is None:
            raise Refused(["claims"])
        report = _build(ctx, a, claims)
    except Refused as exc:
        return _refused(ctx, fields, exc.problems)
    except (ClaimsError, ReportError) as exc:
        return ctx.render("reports.html", 400, **_form(ctx, fields, failed=str(exc)))
    _audit(ctx, "report_viewed", a)
    shown = reports.view(report, a.kind, ctx.lang, offer.facilities)
    return ctx.render("reports.html", **_form(ctx, fields, ask=a, view=shown, claims_token=token))


def _file(ctx: Ctx, fields: dict[str, str], claims: bytes | None) -> Response:
    fmt = fields.get("format", "")
    try:
        a = reports.ask(fields, reports.choices(ctx.store))
        if fmt not in FORMATS:
            raise Refused(["format"])
        data = write(_build(ctx, a, claims), fmt, ctx.lang)
    except Refused as exc:
        return _refused(ctx, fields, exc.problems)
    except (ClaimsError, ReportError) as exc:
        return ctx.render("reports.html", 400, **_form(ctx, fields, failed=str(exc)))
    _audit(ctx, "report_downloaded", a, format=fmt)
    return Response(
        data,
        media_type=FORMATS[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{reports.file_name(a, fmt)}"',
            "Cache-Control": "no-store",
        },
    )


@page(Role.GRANTS)
def report_file(ctx: Ctx) -> Response:
    fields = _fields(ctx)
    if fields.get("kind") == "claims":
        return _refused(ctx, fields, ["claims"])  # the claims file comes by POST only
    return _file(ctx, fields, None)


@page(Role.GRANTS)
def claims_file(ctx: Ctx) -> Response:
    fields = {**_fields(ctx), "kind": "claims"}
    data, _token = _kept(ctx, fields)  # no file comes here (page: no upload)
    if data is None:
        return _gone(ctx, fields)
    return _file(ctx, fields, data)


@page(Role.GRANTS)
def heatmap(ctx: Ctx) -> Response:
    fields = {**_fields(ctx), "kind": "usage"}
    try:
        a = reports.ask(fields, reports.choices(ctx.store))
        if a.facility is None:
            raise Refused(["facility"])  # one heatmap is one facility's
        report = _build(ctx, a)
    except (Refused, ReportError):
        return ctx.error(400, ctx._(N_("No such report.")))
    assert isinstance(report, UsageReport)
    png = reports.heatmap(report, fields.get("facility", ""), ctx.lang)
    if png is None:
        return ctx.error(404, ctx._(N_("No such report.")))
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


ROUTES: list[BaseRoute] = [
    Route("/reports", reports_page),
    Route("/reports/file", report_file),
    Route("/reports/heatmap.png", heatmap),
    Route("/reports/claims", claims_page, methods=["POST"]),
    Route("/reports/claims/file", claims_file, methods=["POST"]),
]
