"""The leader's and the caretaker's screens: like ``screens``, functions
from the model's state to specs (``tree``), shown on kept widgets.

Rules this module guarantees:
- The leader sees the team's booking in large type, the room's day with the
  booking marked on it, and the headcount on a number pad that grows into
  the room there is (phone-like, 3 columns, at every text size).
- The caretaker sees alarms first (their count is the number listed: doors,
  readers and the door controller's database faults), each
  door on a card of its own with its state in words and an unlock button of
  at least 15 mm, lockdown and its release behind a second question, then
  readers, contact with the booking system and the day's check-ins (the
  latest ``CHECK_INS_SHOWN`` listed, the earlier ones counted), each on a
  card; in landscape the state is a second column.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .. import texts
from ..caretaker import UNLOCK_CHOICES
from ..leader import L
from ..model import KioskModel
from .screens import ACTION_MM, CHOICE_MM, KEY_MM, _action, actions, page, room_day
from .tree import Btn, Gap, Txt, col, grid, row
from .widgets import Style, later

CHECK_INS_SHOWN = 8  # the day's latest bookings listed; the earlier ones are counted

# --- the leader -------------------------------------------------------------------------


def _numpad(model: KioskModel, st: Style) -> tuple[list[Any], Any]:
    flow = model.leader
    assert flow is not None
    v, _ = flow.view(), model.tr._
    fields = []
    for attr, label, value in (
        ("p", _("Participants"), v.participants),
        ("l", _("Leaders"), v.leaders),
    ):
        chosen = v.field == attr
        fields.append(
            Btn(
                ("✓ " if chosen else "") + f"{label}: {value}", later(model.count_field, attr),
                f"field:{attr}", "selected" if chosen else "button_quiet", factor=1.5,
                primary=True, spoken=f"{label}: {value}", height_mm=CHOICE_MM,
                key=f"field:{attr}",
            )
        )  # fmt: skip
    keys: list[Any] = [
        Btn(k, later(model.count_digit, k), f"num:{k}", "button_quiet", factor=2.0,
            primary=True, key=f"num:{k}")
        for k in "123456789"
    ]  # fmt: skip
    keys += [
        Gap(key="num-none"),  # 0 under 8, as on a phone
        Btn("0", later(model.count_digit, "0"), "num:0", "button_quiet", factor=2.0,
            primary=True, key="num:0"),
        Btn("⌫ " + _("Erase"), model.count_erase, "num-erase", "button_quiet", factor=1.3,
            primary=True, spoken=_("Erase"), key="num-erase"),
    ]  # fmt: skip
    return [grid(2, *fields, gap=3, key="fields")], grid(
        3, *keys, gap=3, row_mm=KEY_MM, flex=1, key="numpad"
    )


def leader(model: KioskModel, st: Style, width: int) -> Any:
    flow = model.leader
    if flow is None:
        return page(st, width, [], [])
    tr = model.tr
    v, _ = flow.view(), tr._
    done = Btn(_("Done"), model.home, "done", "button_quiet", factor=1.3, primary=True,
               height_mm=ACTION_MM)  # fmt: skip
    top: list[Any] = [Txt(v.team or _("Your team"), factor=1.8, bold=True)]
    if v.booking is None:
        top.append(Txt(_("No booking for your team today."), factor=1.5))
        return page(st, width, top, [done])
    booking = [Txt(f"{v.resource_name}, {texts.span(v.start, v.end)}", "card", factor=1.6,
                   bold=True)]  # fmt: skip
    if v.checked_in is not None:
        seen = _("Checked in at the door at {time}").format(time=texts.hhmm(v.checked_in))
        booking.append(Txt(f"{texts.OK} {seen}", "ok", factor=1.3))
    else:
        nobody = _("Nobody has entered yet")
        booking.append(Txt(f"{texts.WARN} {nobody}", "card", factor=1.3))
    top.append(col(*booking, role="card", framed=True, gap=2, pad=3))
    side: list[Any] = []
    bottom: list[Any] = [done]
    if v.state is L.DONE and v.saved is not None:
        top.append(Txt(texts.OK + " " + texts.saved_text(tr, *v.saved), "ok", factor=1.6,
                       bold=True))  # fmt: skip
    elif v.state is L.COUNT:
        fields, pad = _numpad(model, st)
        top += fields
        err = texts.error_text(tr, v.error)
        if err:
            top.append(Txt(f"{texts.BAD} {err}", "alarm", factor=1.3, bold=True))
        save = _action(
            "✓ " + _("Save headcount"), lambda: model.act(flow.submit), "save",
            spoken=_("Save headcount: {counts}").format(
                counts=texts.counts_text(tr, v.participants, v.leaders)),
        )  # fmt: skip
        if st.d.landscape:
            side = [pad]
        else:
            top.append(pad)
        bottom = [actions(done, save)]
    elif v.stage in ("start", "end"):
        words = _("Enter headcount") if v.stage == "start" else _("Confirm headcount at the end")
        if v.start_report is not None:
            n = v.start_report.participants
            top.append(Txt(_("Headcount at the start: {n}").format(n=n), factor=1.3))
        bottom = [actions(done, _action(words, lambda: model.act(flow.start_count), "count"))]
    else:
        top.append(
            Txt(_("The headcount can be entered from 15 minutes before the start."), factor=1.3)
        )
    if v.state is not L.COUNT and v.resource is not None:
        side = [room_day(model, v.resource, (v.start, v.end, v.team or v.title))]
    return page(st, width, top, bottom, side=side)


# --- the caretaker ----------------------------------------------------------------------


def caretaker(model: KioskModel, st: Style, width: int) -> Any:
    ct = model.caretaker
    if ct is None:
        return page(st, width, [], [])
    v, tr = ct.view(), model.tr
    _ = tr._
    listed = texts.alarms(v)  # the count is the number listed
    n = len(listed)
    alarms = tr.n_("{n} alarm", "{n} alarms", n).format(n=n)
    left: list[Any] = [Txt(_("Caretaker"), factor=1.6, bold=True)]
    if v.message:
        text = _("Message from the booking system: {text}").format(text=v.message)
        left.append(col(Txt("ℹ " + text, "message", factor=1.2, bold=True), role="message", pad=2))
    lines = [Txt(f"{texts.BAD if n else texts.OK} {alarms}", "alarm" if n else "ok",
                 factor=1.5, bold=True)]  # fmt: skip
    if listed:
        lines.append(Txt("\n".join(texts.alarm_text(tr, a) for a in listed), "alarm", factor=1.15))
    left.append(col(*lines, role="card", framed=True, gap=1, pad=2))
    secs = [
        Btn(("✓ " if s == ct.seconds else "") + _("{n} s").format(n=s),
            later(model.act, later(ct.pick_seconds, s)), f"secs:{s}",
            "selected" if s == ct.seconds else "button_quiet", factor=1.3,
            spoken=_("Unlock for {n} seconds").format(n=s), primary=True, key=f"secs:{s}")
        for s in UNLOCK_CHOICES
    ]  # fmt: skip
    left += [Txt(_("Doors"), factor=1.4, bold=True), Txt(_("Unlock for:"), factor=1.15),
             grid(4, *secs, gap=2, key="secs")]  # fmt: skip
    for d in v.doors:
        since = _(" since {time}").format(time=texts.hhmm(d.since)) if d.since else ""
        state = texts.door_state_text(tr, d) + since
        if d.pending:
            state += " · " + _("waiting for the door controller: {cmds}").format(
                cmds=", ".join(d.pending)
            )
        left.append(
            col(
                Txt(d.name, "card", bold=True, factor=1.3),
                Txt(state, "alarm" if d.alarm else "card", factor=1.15),
                Btn(_("Unlock {door} for {n} s").format(door=d.name, n=ct.seconds),
                    later(model.act, later(ct.unlock, d.door)), f"unlock:{d.door}",
                    surface="card", primary=True, factor=1.15),
                role="card", framed=True, gap=2, pad=2, key=f"door:{d.door}",
            )
        )  # fmt: skip
    if v.confirming in ("lockdown", "release"):
        question = (
            _("Lock every door now? Only staff cards will open.") if v.confirming == "lockdown"
            else _("Release the lockdown? The doors go back to their schedules.")
        )  # fmt: skip
        yes = ct.lockdown if v.confirming == "lockdown" else ct.release
        yes_words = _("Yes, lock down") if v.confirming == "lockdown" else _("Yes, release")
        left.append(Txt(f"{texts.WARN} {question}", "alarm", factor=1.4, bold=True))
        left.append(
            row(
                Btn(_("No"), lambda: model.act(ct.abort), f"{v.confirming}-no", "button_quiet",
                    factor=1.3, primary=True),
                Btn(yes_words, lambda: model.act(yes), f"{v.confirming}-yes", "button_danger",
                    factor=1.3, primary=True),
                gap=3,
            )
        )  # fmt: skip
    else:
        left.append(
            row(
                Btn(_("Lock down all doors"), lambda: model.act(ct.ask_lockdown), "lockdown",
                    "button_danger", factor=1.3, primary=True),
                Btn(_("Release lockdown"), lambda: model.act(ct.ask_release), "release",
                    "button_quiet", factor=1.3, primary=True),
                gap=3,
            )
        )  # fmt: skip
    if v.facility_pending:
        left.append(
            Txt(_("waiting for the door controller: {cmds}").format(
                cmds=", ".join(v.facility_pending)), factor=1.15)
        )  # fmt: skip
    right = _caretaker_state(model, v)
    close = Btn(_("Close"), model.home, "done", "button_quiet", factor=1.3, primary=True,
                height_mm=ACTION_MM)  # fmt: skip
    return page(st, width, left, [close], side=right)


def _card(title: str, body: str, role: str = "card") -> Any:
    return col(Txt(title, "card", factor=1.3, bold=True), Txt(body, role, factor=1.15),
               role="card", framed=True, gap=1, pad=2)  # fmt: skip


def _caretaker_state(model: KioskModel, v: Any) -> list[Any]:
    """Readers, contact with the booking system, the day's check-ins and the
    rejected walk-ins, each a card."""
    tr = model.tr
    _ = tr._
    readers = [
        f"{texts.reader_name(tr, r)}: {texts.reader_state_text(tr, r)}" for r in v.readers
    ] or [_("No reader has reported yet")]
    sync = v.sync
    health = texts.banner_text(tr, sync.health) or (
        texts.OK + " " + _("In contact with the booking system")
    )
    lines = [health]
    if sync.last_contact:
        lines.append(
            _("Bookings last updated at {time}").format(time=texts.hhmm(sync.last_contact))
        )
    if sync.backlog:
        waiting = tr.n_(
            "{n} record not yet sent to the booking system",
            "{n} records not yet sent to the booking system",
            sync.backlog,
        ).format(n=sync.backlog)
        if sync.oldest and sync.oldest >= timedelta(minutes=1):  # not "0 minutes ago"
            waiting += _(" (the oldest from {age} ago)").format(age=texts.age_text(tr, sync.oldest))
        lines.append(waiting)
    else:
        lines.append(_("Everything is sent to the booking system"))
    books = []
    earlier, shown = v.today[:-CHECK_INS_SHOWN], v.today[-CHECK_INS_SHOWN:]
    if earlier:
        books.append(
            tr.n_("{n} earlier booking:", "{n} earlier bookings:", len(earlier)).format(
                n=len(earlier)
            )
            + " "
            + _("{checked} checked in, {missed} no-shows, {waiting} nobody yet").format(
                checked=sum(1 for b in earlier if b.checked_in),
                missed=sum(1 for b in earlier if b.no_show and not b.checked_in),
                waiting=sum(1 for b in earlier if not b.checked_in and not b.no_show),
            )
        )
    for b in shown:
        if b.checked_in:
            state = f"{texts.OK} " + _("checked in {time}").format(time=texts.hhmm(b.checked_in))
        elif b.no_show:
            state = f"{texts.BAD} " + _("no-show")
        else:
            state = f"{texts.WARN} " + _("nobody yet")
        books.append(f"{texts.span(b.start, b.end)} {b.resource}: {state}")
    out: list[Any] = [
        _card(_("Readers"), "\n".join(readers)),
        _card(_("Contact with the booking system"), "\n".join(lines)),
        _card(
            _("Today's check-ins and no-shows"),
            "\n".join(books) or _("No bookings have started today"),
        ),
    ]
    if v.rejected:
        rejected = "\n".join(texts.rejected_text(tr, r) for r in v.rejected)
        out.append(_card(_("Rejected drop-in bookings"), rejected, "alarm"))
    return out
