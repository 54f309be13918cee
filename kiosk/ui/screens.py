"""The kiosk's screens but Today (``today.TodayPane``, kept and updated in
place): each a function from the model's state to new widgets.

Layout and bindings only (ARCHITECTURE.md point 9): every word comes from
``kiosk.texts`` or a ``tr._`` call, every decision from the view-models, and
every button calls one model method through ``model.act``.
"""

from __future__ import annotations

from typing import Any

from kivy.metrics import mm

from .. import texts
from ..caretaker import UNLOCK_CHOICES
from ..leader import L
from ..model import KioskModel
from ..qr import encode
from ..walkin import W
from .widgets import QrCode, Style, box, button, grid, later, text


def _choose(model: KioskModel, st: Style, width: float) -> list[Any]:
    tr, flow = model.tr, model.walkin
    assert flow is not None
    v, _ = flow.view(), tr._
    tz = model.svc.rep.tz
    out: list[Any] = [text(st, _("Pick a start time"), bold=True)]
    starts = grid(st, width)
    for slot in v.slots:
        chosen = v.chosen is not None and slot.start == v.chosen.start
        label = texts.hhmm(slot.start.astimezone(tz))
        starts.add_widget(
            button(
                st,
                ("✓ " if chosen else "") + label,
                later(model.act, later(flow.pick, slot.start)),
                "selected" if chosen else "button_quiet",
                name=f"start:{label}",
            )
        )
    out.append(starts)
    if v.lengths:
        out.append(text(st, _("Pick a length"), bold=True))
        lengths = grid(st, width)
        for n in v.lengths:
            words = _("{minutes} min").format(minutes=n * v.slot_minutes)
            lengths.add_widget(
                button(
                    st,
                    ("✓ " if n == v.length else "") + words,
                    later(model.act, later(flow.set_length, n)),
                    "selected" if n == v.length else "button_quiet",
                    name=f"length:{n}",
                )
            )
        out.append(lengths)
        out.append(text(st, _("Chosen: {when}").format(when=texts.span(v.start, v.end))))
        out.append(button(st, _("Next"), lambda: model.act(flow.next), name="next"))
    return out


def _identify(model: KioskModel, st: Style, width: float) -> list[Any]:
    tr, flow = model.tr, model.walkin
    assert flow is not None
    v, _ = flow.view(), tr._
    out: list[Any] = [text(st, _("Tap your card on the reader."), factor=1.4, bold=True)]
    if v.phone_allowed:
        out.append(text(st, _("No card? A private person can enter a phone number:")))
        shown = model.keypad or "–"
        out.append(text(st, shown, "card", factor=1.4, bold=True))
        keys = grid(st, width, cell_mm=22)
        for k in "123456789+0":
            keys.add_widget(button(st, k, later(model.key, k), "button_quiet", name=f"key:{k}"))
        keys.add_widget(button(st, "⌫ " + _("Erase"), model.key_back, "button_quiet", name="erase"))
        out.append(keys)
        out.append(button(st, _("Use this phone number"), model.submit_phone, name="phone"))
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
        text(st, summary, "card", factor=1.1),
        button(st, "✓ " + _("Confirm booking"), lambda: model.act(flow.confirm), name="confirm"),
    ]


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
        ),
        text(st, _("Door code:"), "card"),
        text(st, texts.code_text(d.code), "code", factor=2.4, bold=True),
        text(
            st, _("Type the code and # on the door's keypad. It works during your booking."), "card"
        ),
        text(st, f"{mark} {_(texts.VERDICTS[d.verdict])}", role, bold=True),
    ]
    side = min(width * 0.5, float(mm(60)))
    try:
        holder = box(st, "card", horizontal=True)
        holder.height = side + mm(4)
        holder.add_widget(QrCode(encode(d.qr), side))
        holder.add_widget(text(st, _("Or scan this QR code to keep the door code."), "card"))
        out.append(holder)
    except ValueError:
        pass  # a payload too long for the QR version range: the code text is enough
    out.append(button(st, _("Read the code aloud"), model.speak_code, "button_quiet", name="say"))
    out.append(button(st, _("Done"), model.home, name="done"))
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
        out.append(text(st, f"{texts.BAD} {err}", "alarm", factor=1.1, bold=True))
    if v.state is W.CHOOSE:
        out += _choose(model, st, width)
    elif v.state is W.IDENTIFY:
        out += _identify(model, st, width)
    elif v.state is W.CONFIRM:
        out += _confirm(model, st)
    elif v.state is W.DONE:
        return out + _done(model, st, width)
    if v.state in (W.IDENTIFY, W.CONFIRM, W.REFUSED):
        out.append(button(st, _("Back"), lambda: model.act(flow.back), "button_quiet", name="back"))
    out.append(button(st, _("Cancel"), model.home, "button_quiet", name="cancel"))
    return out


def leader(model: KioskModel, st: Style, width: float) -> list[Any]:
    flow = model.leader
    if flow is None:
        return []
    v, _ = flow.view(), model.tr._
    out: list[Any] = [text(st, v.team or _("Your team"), factor=1.5, bold=True)]
    if v.booking is None:
        out.append(text(st, _("No booking for your team today."), "card"))
        return [*out, button(st, _("Done"), model.home, name="done")]
    out.append(text(st, f"{v.resource_name}, {texts.span(v.start, v.end)}", "card", factor=1.2))
    if v.checked_in is not None:
        seen = _("Checked in at the door at {time}").format(time=texts.hhmm(v.checked_in))
        out.append(text(st, f"{texts.OK} {seen}", "ok"))
    else:
        out.append(text(st, f"{texts.WARN} {_('Nobody has entered yet')}", "card"))
    if v.state is L.DONE:
        out.append(text(st, texts.OK + " " + _("Thank you! The headcount is recorded."), "ok"))
    elif v.state is L.COUNT:
        for label, value, attr in (
            (_("Participants"), v.participants, "p"),
            (_("Leaders"), v.leaders, "l"),
        ):
            out.append(text(st, f"{label}: {value}", "card", factor=1.3, bold=True))
            row = grid(st, width, cell_mm=22)
            for delta in (-10, -1, 1, 10):
                p, lead = (
                    (value + delta, v.leaders) if attr == "p" else (v.participants, value + delta)
                )
                row.add_widget(
                    button(
                        st,
                        f"{delta:+d}".replace("-", "−"),
                        later(model.act, later(flow.set_counts, p, lead)),
                        "button_quiet",
                        name=f"{attr}{delta:+d}",
                    )
                )
            out.append(row)
        err = texts.error_text(model.tr, v.error)
        if err:
            out.append(text(st, f"{texts.BAD} {err}", "alarm"))
        out.append(
            button(st, "✓ " + _("Save headcount"), lambda: model.act(flow.submit), name="save")
        )
    elif v.stage in ("start", "end"):
        words = _("Enter headcount") if v.stage == "start" else _("Confirm headcount at the end")
        if v.start_report is not None:
            n = v.start_report.participants
            out.append(text(st, _("Headcount at the start: {n}").format(n=n)))
        out.append(button(st, words, lambda: model.act(flow.start_count), name="count"))
    else:
        out.append(text(st, _("The headcount can be entered from 15 minutes before the start.")))
    return [*out, button(st, _("Done"), model.home, "button_quiet", name="done")]


def caretaker(model: KioskModel, st: Style, width: float) -> list[Any]:
    ct = model.caretaker
    if ct is None:
        return []
    v, tr = ct.view(), model.tr
    _ = tr._
    alarms = tr.n_("{n} alarm", "{n} alarms", v.alarms).format(n=v.alarms)
    mark = texts.BAD if v.alarms else texts.OK
    out: list[Any] = [
        text(st, _("Caretaker"), factor=1.5, bold=True),
        text(st, f"{mark} {alarms}", "alarm" if v.alarms else "ok", factor=1.2, bold=True),
        text(st, _("Doors"), factor=1.2, bold=True),
    ]
    secs = grid(st, width, cell_mm=22)
    for s in UNLOCK_CHOICES:
        chosen = s == ct.seconds
        secs.add_widget(
            button(
                st,
                ("✓ " if chosen else "") + _("{n} s").format(n=s),
                later(model.act, later(ct.pick_seconds, s)),
                "selected" if chosen else "button_quiet",
                name=f"secs:{s}",
            )
        )
    out.append(text(st, _("Unlock for:")))
    out.append(secs)
    for d in v.doors:
        line = box(st, "card")
        since = _(" since {time}").format(time=texts.hhmm(d.since)) if d.since else ""
        state = texts.door_state_text(tr, d) + since
        if d.pending:
            state += " · " + _("waiting for the door controller: {cmds}").format(
                cmds=", ".join(d.pending)
            )
        line.add_widget(text(st, d.name, "card", bold=True))
        line.add_widget(text(st, state, "alarm" if d.alarm else "card"))
        line.add_widget(
            button(
                st,
                _("Unlock {door} for {n} s").format(door=d.name, n=ct.seconds),
                later(model.act, later(ct.unlock, d.door)),
                name=f"unlock:{d.door}",
            )
        )
        out.append(line)
    if v.confirming == "lockdown":
        out.append(
            text(
                st, f"{texts.WARN} {_('Lock every door now? Only staff cards will open.')}", "alarm"
            )
        )
        out.append(
            button(
                st,
                _("Yes, lock down"),
                lambda: model.act(ct.lockdown),
                "button_danger",
                name="lockdown-yes",
            )
        )
        out.append(
            button(st, _("No"), lambda: model.act(ct.abort), "button_quiet", name="lockdown-no")
        )
    else:
        out.append(
            button(
                st,
                _("Lock down all doors"),
                lambda: model.act(ct.ask_lockdown),
                "button_danger",
                name="lockdown",
            )
        )
    out.append(
        button(
            st, _("Release lockdown"), lambda: model.act(ct.release), "button_quiet", name="release"
        )
    )
    if v.facility_pending:
        out.append(
            text(
                st,
                _("waiting for the door controller: {cmds}").format(
                    cmds=", ".join(v.facility_pending)
                ),
            )
        )
    out.append(text(st, _("Readers"), factor=1.2, bold=True))
    readers = [
        f"{texts.OK if r.online else texts.BAD} {r.reader}: "
        + (_("online") if r.online else _("OFFLINE") + (f" ({r.detail})" if r.detail else ""))
        for r in v.readers
    ] or [_("No reader has reported yet")]
    out.append(text(st, "\n".join(readers), "card"))
    out.append(text(st, _("Sync"), factor=1.2, bold=True))
    sync = v.sync
    last = texts.hhmm(sync.last_contact) if sync.last_contact else _("never")
    health = (
        texts.banner_text(tr, sync.health)
        or f"{texts.OK} {_('In contact with the booking system')}"
    )
    lines = [
        health,
        _("Last contact: {time}").format(time=last),
        _("Applied revision: {rev}").format(rev=sync.applied_rev),
        _("Events waiting to be sent: {n}").format(n=sync.backlog)
        + (_(" (oldest {age})").format(age=texts.age_text(tr, sync.oldest)) if sync.oldest else ""),
    ]
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
    return [*out, button(st, _("Close"), model.home, "button_quiet", name="done")]


def notice(model: KioskModel, st: Style, width: float) -> list[Any]:
    if model.notice is None:
        return []
    lines = texts.notice_lines(model.tr, model.notice)
    return [
        text(st, "\n".join(lines), "alarm", factor=1.3, bold=True),
        button(st, model.tr._("OK"), model.dismiss_notice, name="ok"),
    ]
