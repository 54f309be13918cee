"""The reports page: a grants officer picks a report, period and facility, sees it, downloads it.

Rules this module guarantees (with ``reports`` and ``sync.central.reports``, issue 16):
- Every route needs the grants officer's role (``Role.GRANTS``; the operator
  and the admin have it too, the viewer has not).
- ``GET /reports`` shows the form; with a ``kind`` it also shows the report
  (``reports.view``) and links to its CSV and PDF and, for usage, to each
  facility's heatmap image. ``GET /reports/file`` is the CSV or PDF,
  ``GET /reports/heatmap.png`` one facility's heatmap.
- The claims check needs the association's claims file: ``POST /reports/claims``
  (CSRF, one file of at most ``CLAIMS_MAX_BYTES``) shows it checked, and its
  downloads post the same file's text again (``POST /reports/claims/file``).
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
from .pages import Ctx, page
from .reports import CLAIMS_MAX_BYTES, FORMATS, Ask, Refused

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
        "claims_text": "",
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


@page(Role.GRANTS, upload=CLAIMS_MAX_BYTES)
def claims_page(ctx: Ctx) -> Response:
    fields = {**_fields(ctx), "kind": "claims"}
    data = ctx.files.get("claims") or fields.pop("claims_text", "").encode("utf-8")
    fields.pop("claims_text", None)
    if not data:
        return _refused(ctx, fields, ["claims"])
    return _show(ctx, fields, data)


def _show(ctx: Ctx, fields: dict[str, str], claims: bytes | None) -> Response:
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
    text = (claims or b"").decode("utf-8", "replace")
    return ctx.render("reports.html", **_form(ctx, fields, ask=a, view=shown, claims_text=text))


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


@page(Role.GRANTS, upload=CLAIMS_MAX_BYTES)
def claims_file(ctx: Ctx) -> Response:
    fields = {**_fields(ctx), "kind": "claims"}
    text = fields.pop("claims_text", "")
    return _file(ctx, fields, text.encode("utf-8"))


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
