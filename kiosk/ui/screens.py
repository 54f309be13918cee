"""The kiosk's screens but Today (``today.TodayPane``): each a function from the
model's state to new widgets, built again on each render.

Layout and bindings only (ARCHITECTURE.md point 9): every word comes from
``kiosk.texts`` or a ``tr._`` call, every decision from the view-models, and
every button calls one model method through ``model.act``. Keypads keep one
phone-like layout (3 columns) at every text size.
"""

from __future__ import annotations

from typing import Any

import segno

from .. import texts
from ..caretaker import UNLOCK_CHOICES
from ..leader import L
from ..model import KioskModel
from ..walkin import W
from .widgets import QrCode, Style, box, button, columns_for, grid, later, text

PHONE_KEYS = "123456789+0"


def _choose(model: KioskModel, st: Style, width: float) -> list[Any]:
    tr, flow = model.tr, model.walkin
    assert flow is not None
    v, _ = flow.view(), tr._
    tz = model.svc.rep.tz
    if not v.slots:
        reason = texts.refusal_text(tr, flow.refusal) or _("No free drop-in times left today")
        return [text(st, f"{texts.WARN} {reason}", "card", factor=1.2, bold=True)]
    out: list[Any] = [text(st, _("Pick a start time"), factor=1.2, bold=True)]
    starts = grid(st, columns_for(st, width, 34))
    now = model.today.now
    for slot in v.slots:
        chosen = v.chosen is not None and slot.start == v.chosen.start
        at = slot.start.astimezone(tz)
        label = texts.hhmm(at)
        words = _("Now, {time}").format(time=label) if at <= now else label
        spoken_at = texts.at_text(tr, at, True)
        starts.add_widget(
            button(
                st, ("✓ " if chosen else "") + words,
                later(model.act, later(flow.pick, slot.start)),
                "selected" if chosen else "button_quiet", name=f"start:{label}",
                spoken=(_("Chosen: {time}") if chosen else _("Start {time}")).format(
                    time=spoken_at
                ),
                primary=True,
            )
        )  # fmt: skip
    out.append(starts)
    if v.lengths:
        out.append(text(st, _("Pick a length"), factor=1.2, bold=True))
        lengths = grid(st, columns_for(st, width, 40))
        for n in v.lengths:
            end = v.chosen.end if v.chosen else None
            minutes = n * v.slot_minutes
            if v.chosen is not None and end is not None and n == 1:
                minutes = int((end - v.chosen.start).total_seconds() // 60)
            elif v.chosen is not None and end is not None:
                minutes = (
                    int((end - v.chosen.start).total_seconds() // 60) + (n - 1) * v.slot_minutes
                )
            words = _("{minutes} min").format(minutes=minutes)
            lengths.add_widget(
                button(
                    st, ("✓ " if n == v.length else "") + words,
                    later(model.act, later(flow.set_length, n)),
                    "selected" if n == v.length else "button_quiet", name=f"length:{n}",
                    spoken=_("{minutes} minutes").format(minutes=minutes), primary=True,
                )
            )  # fmt: skip
        out.append(lengths)
        out.append(
            text(
                st,
                _("Chosen: {when}").format(when=texts.span(v.start, v.end)),
                "card",
                factor=1.3,
                bold=True,
            )
        )
        out.append(
            button(
                st, _("Next"), lambda: model.act(flow.next), name="next", primary=True,
                spoken=_("Next: book {when}").format(
                    when=texts.span_text(tr, v.start, v.end, True)
                ),
            )
        )  # fmt: skip
    return out


def _identify(model: KioskModel, st: Style) -> list[Any]:
    tr, flow = model.tr, model.walkin
    assert flow is not None
    v, _ = flow.view(), tr._
    out: list[Any] = [text(st, _("Tap your card on the reader."), factor=1.4, bold=True)]
    if v.phone_allowed:
        out.append(text(st, _("No card? A private person can enter a phone number:")))
        shown = texts.mask_phone(model.keypad) if model.keypad else "–"
        out.append(text(st, shown, "card", factor=1.6, bold=True))
        keys = grid(st, 3)
        for k in PHONE_KEYS:
            keys.add_widget(
                button(st, k, later(model.key, k), "button_quiet", name=f"key:{k}", factor=1.4,
                       primary=True, spoken=k if k != "+" else _("plus"))
            )  # fmt: skip
        keys.add_widget(
            button(st, "⌫ " + _("Erase"), model.key_back, "button_quiet", name="erase",
                   primary=True, spoken=_("Erase"))
        )  # fmt: skip
        out.append(keys)
        out.append(
            button(st, _("Use this phone number"), model.submit_phone, name="phone", primary=True)
        )
    return out


def _confirm(model: KioskModel, st: Style) -> list[Any]:
    tr, flow = model.tr, model.walkin
    assert flow is not None
    v, _ = flow.view(), tr._
    who = v.payer or _("Private person")
    summary = "\n".join(
        [
            _("Where: {resource}").format(resource=v.resource_name),
            _("When: {when}").format(when=texts.span(v.start, v.end)),
            _("Booked by: {who}").format(who=who),
            _("Price category: {price}").format(price=_(texts.PRICES[v.price or "person"])),
        ]
    )
    return [
        text(st, _("Check your booking"), factor=1.4, bold=True),
        text(st, summary, "card", factor=1.2),
        button(
            st, "✓ " + _("Confirm booking"), lambda: model.act(flow.confirm), name="confirm",
            primary=True, spoken=_("Confirm booking"),
        ),
    ]  # fmt: skip


def _done(model: KioskModel, st: Style, width: float) -> list[Any]:
    tr, flow = model.tr, model.walkin
    assert flow is not None and flow.done is not None
    d, _ = flow.done, tr._
    mark = {"pending": texts.WARN, "accepted": texts.OK, "rejected": texts.BAD}[d.verdict]
    role = {"pending": "card", "accepted": "ok", "rejected": "alarm"}[d.verdict]
    out: list[Any] = [
        text(st, texts.OK + " " + _("Booked!"), factor=1.5, bold=True),
        text(
            st,
            _("{resource}, {when}").format(
                resource=flow.view().resource_name, when=texts.span(d.start, d.end)
            ),
            "card",
            factor=1.2,
        ),
        text(st, _("Door code:"), "card"),
        text(st, texts.code_text(d.code), "code", factor=2.6, bold=True),
        text(
            st, _("Type the code and # on the door's keypad. It works during your booking."), "card"
        ),
        text(st, f"{mark} {_(texts.VERDICTS[d.verdict])}", role, bold=True),
    ]
    qr = segno.make(d.qr, error="m", boost_error=False)
    side = min(int(width * 0.45), st.px(70))
    holder = box(st, "card", horizontal=True, gap=2)
    code = QrCode([list(row) for row in qr.matrix], side)
    holder.add_widget(code)
    hint = (
        _("Scan to open the booking in the municipality's e-service.")
        if model.svc.settings.qr_url_template
        else _("Scan to add the booking and its door code to your phone's calendar.")
    )
    holder.add_widget(text(st, hint, "card"))
    holder.height = code.height + st.px(4)
    out.append(holder)
    say = (
        _("Read the code in the headset") if model.svc.speaker.has_headset
        else _("Read the code aloud")
    )  # fmt: skip
    out.append(button(st, say, model.speak_code, "button_quiet", name="say", primary=True))
    out.append(button(st, _("Done"), model.home, name="done", primary=True))
    return out


def walkin(model: KioskModel, st: Style, width: float) -> list[Any]:
    flow = model.walkin
    if flow is None:
        return []
    v, _ = flow.view(), model.tr._
    out: list[Any] = [
        text(st, _("Book {resource}").format(resource=v.resource_name), factor=1.5, bold=True)
    ]
    err = texts.error_text(model.tr, v.error)
    if err:
        out.append(text(st, f"{texts.BAD} {err}", "alarm", factor=1.2, bold=True))
    if v.state is W.CHOOSE:
        out += _choose(model, st, width)
    elif v.state is W.IDENTIFY:
        out += _identify(model, st)
    elif v.state is W.CONFIRM:
        out += _confirm(model, st)
    elif v.state is W.DONE:
        return out + _done(model, st, width)
    if v.state in (W.IDENTIFY, W.CONFIRM, W.REFUSED):
        out.append(button(st, _("Back"), lambda: model.act(flow.back), "button_quiet", name="back"))
    out.append(button(st, _("Cancel"), model.home, "button_quiet", name="cancel"))
    return out


def _numpad(model: KioskModel, st: Style) -> list[Any]:
    flow = model.leader
    assert flow is not None
    v, _ = flow.view(), model.tr._
    out: list[Any] = []
    fields = grid(st, 2)
    for attr, label, value in (
        ("p", _("Participants"), v.participants),
        ("l", _("Leaders"), v.leaders),
    ):
        chosen = v.field == attr
        fields.add_widget(
            button(
                st, ("✓ " if chosen else "") + f"{label}: {value}", later(model.count_field, attr),
                "selected" if chosen else "button_quiet", name=f"field:{attr}", factor=1.3,
                primary=True, spoken=f"{label}: {value}",
            )
        )  # fmt: skip
    out.append(fields)
    pad = grid(st, 3)
    for k in "1234567890":
        pad.add_widget(
            button(st, k, later(model.count_digit, k), "button_quiet", name=f"num:{k}",
                   factor=1.4, primary=True)
        )  # fmt: skip
    pad.add_widget(
        button(st, "⌫ " + _("Erase"), model.count_erase, "button_quiet", name="num-erase",
               primary=True, spoken=_("Erase"))
    )  # fmt: skip
    out.append(pad)
    return out


def leader(model: KioskModel, st: Style, width: float) -> list[Any]:
    flow = model.leader
    if flow is None:
        return []
    tr = model.tr
    v, _ = flow.view(), tr._
    out: list[Any] = [text(st, v.team or _("Your team"), factor=1.5, bold=True)]
    if v.booking is None:
        out.append(text(st, _("No booking for your team today."), "card"))
        return [*out, button(st, _("Done"), model.home, name="done", primary=True)]
    out.append(text(st, f"{v.resource_name}, {texts.span(v.start, v.end)}", "card", factor=1.2))
    if v.checked_in is not None:
        seen = _("Checked in at the door at {time}").format(time=texts.hhmm(v.checked_in))
        out.append(text(st, f"{texts.OK} {seen}", "ok"))
    else:
        out.append(text(st, f"{texts.WARN} {_('Nobody has entered yet')}", "card"))
    if v.state is L.DONE and v.saved is not None:
        out.append(
            text(st, texts.OK + " " + texts.saved_text(tr, *v.saved), "ok", factor=1.3, bold=True)
        )
    elif v.state is L.COUNT:
        out += _numpad(model, st)
        err = texts.error_text(tr, v.error)
        if err:
            out.append(text(st, f"{texts.BAD} {err}", "alarm"))
        out.append(
            button(st, "✓ " + _("Save headcount"), lambda: model.act(flow.submit), name="save",
                   primary=True, spoken=_("Save headcount: {counts}").format(
                       counts=texts.counts_text(tr, v.participants, v.leaders)))
        )  # fmt: skip
    elif v.stage in ("start", "end"):
        words = _("Enter headcount") if v.stage == "start" else _("Confirm headcount at the end")
        if v.start_report is not None:
            n = v.start_report.participants
            out.append(text(st, _("Headcount at the start: {n}").format(n=n)))
        out.append(
            button(st, words, lambda: model.act(flow.start_count), name="count", primary=True)
        )
    else:
        out.append(text(st, _("The headcount can be entered from 15 minutes before the start.")))
    return [*out, button(st, _("Done"), model.home, "button_quiet", name="done", primary=True)]


def caretaker(model: KioskModel, st: Style, width: float) -> list[Any]:
    ct = model.caretaker
    if ct is None:
        return []
    v, tr = ct.view(), model.tr
    _ = tr._
    n = len(v.alarm_lines)
    alarms = tr.n_("{n} alarm", "{n} alarms", n).format(n=n)
    out: list[Any] = [text(st, _("Caretaker"), factor=1.5, bold=True)]
    if v.message:
        out.append(
            text(st, "ℹ " + _("Message from the booking system: {text}").format(text=v.message),
                 "message", factor=1.15, bold=True)
        )  # fmt: skip
    out.append(
        text(
            st,
            f"{texts.BAD if n else texts.OK} {alarms}",
            "alarm" if n else "ok",
            factor=1.3,
            bold=True,
        )
    )
    if v.alarm_lines:
        out.append(text(st, "\n".join(texts.alarm_text(tr, a) for a in v.alarm_lines), "alarm"))
    out.append(text(st, _("Doors"), factor=1.2, bold=True))
    secs = grid(st, 4)
    for s in UNLOCK_CHOICES:
        chosen = s == ct.seconds
        secs.add_widget(
            button(
                st, ("✓ " if chosen else "") + _("{n} s").format(n=s),
                later(model.act, later(ct.pick_seconds, s)),
                "selected" if chosen else "button_quiet", name=f"secs:{s}",
                spoken=_("Unlock for {n} seconds").format(n=s),
            )
        )  # fmt: skip
    out.append(text(st, _("Unlock for:")))
    out.append(secs)
    for d in v.doors:
        line = box(st, "card", framed=True)
        since = _(" since {time}").format(time=texts.hhmm(d.since)) if d.since else ""
        state = texts.door_state_text(tr, d) + since
        if d.pending:
            state += " · " + _("waiting for the door controller: {cmds}").format(
                cmds=", ".join(d.pending)
            )
        line.add_widget(text(st, d.name, "card", bold=True, factor=1.2))
        line.add_widget(text(st, state, "alarm" if d.alarm else "card"))
        line.add_widget(
            button(
                st, _("Unlock {door} for {n} s").format(door=d.name, n=ct.seconds),
                later(model.act, later(ct.unlock, d.door)), name=f"unlock:{d.door}",
                surface="card",
            )
        )  # fmt: skip
        out.append(line)
    if v.confirming in ("lockdown", "release"):
        question = (
            _("Lock every door now? Only staff cards will open.") if v.confirming == "lockdown"
            else _("Release the lockdown? The doors go back to their schedules.")
        )  # fmt: skip
        yes = ct.lockdown if v.confirming == "lockdown" else ct.release
        yes_words = _("Yes, lock down") if v.confirming == "lockdown" else _("Yes, release")
        out.append(text(st, f"{texts.WARN} {question}", "alarm", factor=1.2, bold=True))
        out.append(
            button(st, yes_words, lambda: model.act(yes), "button_danger",
                   name=f"{v.confirming}-yes", primary=True)
        )  # fmt: skip
        out.append(
            button(st, _("No"), lambda: model.act(ct.abort), "button_quiet",
                   name=f"{v.confirming}-no", primary=True)
        )  # fmt: skip
    else:
        out.append(
            button(st, _("Lock down all doors"), lambda: model.act(ct.ask_lockdown),
                   "button_danger", name="lockdown", primary=True)
        )  # fmt: skip
        out.append(
            button(st, _("Release lockdown"), lambda: model.act(ct.ask_release),
                   "button_quiet", name="release", primary=True)
        )  # fmt: skip
    if v.facility_pending:
        out.append(
            text(st, _("waiting for the door controller: {cmds}").format(
                cmds=", ".join(v.facility_pending)))
        )  # fmt: skip
    out.append(text(st, _("Readers"), factor=1.2, bold=True))
    readers = [
        f"{texts.reader_name(tr, r)}: {texts.reader_state_text(tr, r)}" for r in v.readers
    ] or [_("No reader has reported yet")]
    out.append(text(st, "\n".join(readers), "card"))
    out.append(text(st, _("Contact with the booking system"), factor=1.2, bold=True))
    sync = v.sync
    health = (
        texts.banner_text(tr, sync.health)
        or f"{texts.OK} {_('In contact with the booking system')}"
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
        lines.append(
            waiting
            + (_(" (the oldest from {age} ago)").format(age=texts.age_text(tr, sync.oldest))
               if sync.oldest else "")
        )  # fmt: skip
    else:
        lines.append(_("Everything is sent to the booking system"))
    out.append(text(st, "\n".join(lines), "card"))
    out.append(text(st, _("Today's check-ins and no-shows"), factor=1.2, bold=True))
    books = []
    for b in v.today:
        if b.checked_in:
            state = f"{texts.OK} " + _("checked in {time}").format(time=texts.hhmm(b.checked_in))
        elif b.no_show:
            state = f"{texts.BAD} " + _("no-show")
        else:
            state = f"{texts.WARN} " + _("nobody yet")
        books.append(f"{texts.span(b.start, b.end)} {b.resource}: {state}")
    out.append(text(st, "\n".join(books) or _("No bookings have started today"), "card"))
    if v.rejected:
        out.append(text(st, _("Rejected drop-in bookings"), factor=1.2, bold=True))
        out.append(text(st, "\n".join(texts.rejected_text(tr, r) for r in v.rejected), "alarm"))
    return [*out, button(st, _("Close"), model.home, "button_quiet", name="done", primary=True)]


def notice(model: KioskModel, st: Style, width: float) -> list[Any]:
    if model.notice is None:
        return []
    lines = texts.notice_lines(model.tr, model.notice)
    return [
        text(st, "\n".join(lines), "alarm", factor=1.4, bold=True),
        button(st, model.tr._("OK"), model.dismiss_notice, name="ok", primary=True),
    ]
