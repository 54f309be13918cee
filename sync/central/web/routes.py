"""The pages a facility manager uses: fleet, facilities, nodes, alarms and commands.

Each handler reads through ``Ctx.store`` and renders one template; with
``?fragment=1`` a page with live content renders only that content, for the
page's script to swap in (static/app.js). The login, language, audit
and admin pages are in ``routes_admin``, the reports in ``routes_reports``.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sync.protocol.timeutil import to_ts, zone

from ..nodes import node_facility
from . import alarms, commands, fleet, fleet_rows, labels, routes_admin, routes_reports
from .accounts import Role
from .i18n import N_
from .numbers import numbers
from .pages import Ctx, page


def _fragment(ctx: Ctx) -> bool:
    return ctx.request.query_params.get("fragment") == "1"


# --- fleet and facilities ------------------------------------------------------------


@page()
def fleet_page(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    facility = q.get("facility") or None
    only_problems = q.get("show") == "problems"
    view = fleet.fleet(ctx.store, ctx.now, facility=facility)
    rows = [r for r in view.rows if r.problems] if only_problems else view.rows
    rows.sort(key=lambda r: (not r.problems, r.facility_name.casefold(), r.node))
    live = ctx.url("/", facility=facility, show=q.get("show"), fragment=1)
    name = "_fleet_rows.html" if _fragment(ctx) else "fleet.html"
    html = fleet_rows.rows_html(rows, _fleet_words(ctx), ctx.ago)
    return ctx.render(
        name, view=view, rows=rows, facility=facility, only_problems=only_problems, live=live,
        rows_html=html,
    )  # fmt: skip


def _fleet_words(ctx: Ctx) -> dict[str, object]:
    """The fleet table's words, translated and escaped once per page (not per row)."""

    def _(message: str) -> Markup:  # Markup: escaping it again changes nothing
        return escape(ctx._(message))

    return {
        "online": _(N_("Online")), "offline": _(N_("Offline")), "never": _(N_("never")),
        "unknown": _(N_("unknown")), "trusted": _(N_("trusted")),
        "untrusted": _(N_("not trusted")), "reader_offline": _(N_("offline")),
        "tamper": _(N_("Tamper")), "not_reported": _(N_("not reported")), "none": _(N_("none")),
        "doors": {k: _(v) for k, v in labels.DOOR_STATES.items()},
        "door_class": {
            k: "bad" if k in labels.ALARM_DOOR_STATES else "warn" if k in ("unlocked", "open")
            else "ok" for k in labels.DOOR_STATES
        },
        "problems": {k: _(v) for k, v in labels.PROBLEMS.items()},
        "count": numbers(ctx.lang).count,
    }  # fmt: skip


@page()
def facilities_page(ctx: Ctx) -> Response:
    view = fleet.fleet(ctx.store, ctx.now)
    by_facility: dict[str, list[fleet.NodeRow]] = {f: [] for f in view.facilities}
    for r in view.rows:
        by_facility.setdefault(r.facility, []).append(r)
    return ctx.render("facilities.html", view=view, by_facility=by_facility)


@page()
def facility_page(ctx: Ctx) -> Response:
    ident = ctx.request.path_params["facility"]
    data = fleet.facility_page(ctx.store, ident, ctx.now)
    if data is None:
        return ctx.error(404, ctx._(N_("No such facility.")))
    recent = commands.recent(ctx.store, ctx.now, facility=ident, limit=10)
    live = ctx.url(f"/facilities/{ident}", fragment=1)
    name = "_facility_live.html" if _fragment(ctx) else "facility.html"
    return ctx.render(name, f=data, recent=recent, live=live, cmds=_command_forms(ctx, ident))


def _command_forms(ctx: Ctx, facility: str) -> dict[str, object]:
    doors = commands.facility_doors(ctx.store, facility)
    return {"doors": doors, "can_command": ctx.can(Role.OPERATOR)}


@page()
def node_page(ctx: Ctx) -> Response:
    node = ctx.request.path_params["node"]
    view = fleet.fleet(ctx.store, ctx.now, node=node)
    if not view.rows:
        return ctx.error(404, ctx._(N_("No such node.")))
    row = view.rows[0]
    recent = commands.recent(ctx.store, ctx.now, node=node, limit=20)
    events = alarms.feed(ctx.store, kind="all", limit=30, facility=row.facility)
    events = [e for e in events if e.node == node]
    live = ctx.url(f"/nodes/{node}", fragment=1)
    name = "_node_live.html" if _fragment(ctx) else "node.html"
    return ctx.render(
        name, row=row, recent=recent, events=events, live=live,
        cmds=_command_forms(ctx, row.facility),
    )  # fmt: skip


# --- alarms and events --------------------------------------------------------------


def _when(ctx: Ctx, text: str | None) -> int | None:
    """A ``datetime-local`` value in the page's time zone as Unix seconds."""
    if not text:
        return None
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        return None
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone(ctx.web.settings.tz))
    return to_ts(local)


@page()
def alarms_page(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    facility = q.get("facility") or None
    kind = q.get("kind") or "alarms"
    if kind not in alarms.FILTERS:
        kind = "alarms"
    start, end = _when(ctx, q.get("from")), _when(ctx, q.get("to"))
    bad = [
        ctx._(word)
        for key, word, got in (("from", N_("From"), start), ("to", N_("Until"), end))
        if q.get(key) and got is None
    ]  # a date that is no ISO date: said, not dropped from the filter in silence
    if bad:
        start = end = None
    entries = alarms.feed(ctx.store, facility=facility, kind=kind, start=start, end=end)
    names = fleet.facility_names(ctx.store)
    live = ctx.url(
        "/alarms", facility=facility, kind=kind, fragment=1,
        **{"from": q.get("from"), "to": q.get("to")},
    )  # fmt: skip
    name = "_alarm_rows.html" if _fragment(ctx) else "alarms.html"
    return ctx.render(
        name, 400 if bad else 200, entries=[] if bad else entries, names=names,
        facility=facility, kind=kind, start=q.get("from") or "", end=q.get("to") or "",
        live=live, problems=bad,
    )  # fmt: skip


# --- commands --------------------------------------------------------------------------


@page()
def commands_page(ctx: Ctx) -> Response:
    recent = commands.recent(ctx.store, ctx.now, limit=100)
    live = ctx.url("/commands", fragment=1)
    name = "_command_rows.html" if _fragment(ctx) else "commands.html"
    return ctx.render(name, recent=recent, live=live)


@page(Role.OPERATOR)
def confirm_command(ctx: Ctx) -> Response:
    try:
        p = commands.propose(ctx.store, ctx.form)
    except commands.CommandRefused as exc:
        return ctx.error(400, ctx._(N_("This command cannot be sent.")), detail=str(exc))
    doors = commands.facility_doors(ctx.store, p.facility)
    return ctx.render("confirm.html", p=p, door_name=doors.get(p.door, p.door))


@page(Role.OPERATOR)
def send_command(ctx: Ctx) -> Response:
    if ctx.form.get("confirm") != "yes":
        return ctx.error(400, ctx._(N_("The command was not confirmed.")))
    try:
        p = commands.propose(ctx.store, ctx.form)
        seq = commands.send(ctx.store, p, ctx.user, ctx.addr, ctx.now)  # type: ignore[arg-type]
    except commands.CommandRefused as exc:
        return ctx.error(400, ctx._(N_("This command cannot be sent.")), detail=str(exc))
    return ctx.redirect(f"/commands/{p.node}/{seq}")


@page()
def command_page(ctx: Ctx) -> Response:
    node = ctx.request.path_params["node"]
    try:
        seq = int(ctx.request.path_params["seq"])
    except ValueError:
        seq = 0
    c = commands.one(ctx.store, node, seq, ctx.now)
    if c is None:
        return ctx.error(404, ctx._(N_("No such command.")))
    facility = node_facility(ctx.store, node) or ""
    doors = commands.facility_doors(ctx.store, facility)
    live = ctx.url(f"/commands/{node}/{seq}", fragment=1)
    name = "_command_state.html" if _fragment(ctx) else "command.html"
    return ctx.render(name, c=c, live=live, doors=doors, facility=facility)


def routes() -> list[BaseRoute]:
    return [
        Route("/", fleet_page),
        Route("/facilities", facilities_page),
        Route("/facilities/{facility}", facility_page),
        Route("/nodes/{node}", node_page),
        Route("/alarms", alarms_page),
        Route("/commands", commands_page),
        Route("/commands/confirm", confirm_command, methods=["POST"]),
        Route("/commands", send_command, methods=["POST"]),
        Route("/commands/{node}/{seq}", command_page),
        *routes_admin.routes(),
        *routes_reports.ROUTES,
    ]
