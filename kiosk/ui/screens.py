"""The kiosk's screens but Today (``today``): each a function from the
model's state to a tree of specs (``tree``), shown on kept widgets.

Layout and bindings only (ARCHITECTURE.md point 9): every word comes from
``kiosk.texts`` or a ``tr._`` call, every decision from the view-models, and
every button calls one model method through ``model.act``.

Rules this module guarantees:
- Every screen fills the window: what the visitor must read is large (the
  door code's capitals 35 mm tall, the chosen time and the phone number
  8 mm), keypads grow into the room there is, a walk-in shows the room's day
  with the visitor's time marked on it, and the way on ("Next", "Confirm",
  "Done") is at the bottom, 20 mm tall, where a hand finds it. In landscape
  the screen is two columns.
- Keypads keep one phone-like layout (3 columns) at every text size.
- Targets keep their millimetres: at least 15 mm for primary ones, 9 mm for
  the rest; the QR code is at most 70 mm (and never more than half the
  screen's width).
"""

from __future__ import annotations

from typing import Any

import segno

from .. import texts
from ..caretaker import UNLOCK_CHOICES
from ..leader import L
from ..model import KioskModel
from ..walkin import W
from .dayview import DayView
from .tree import Btn, Gap, Own, Qr, Txt, col, grid, row
from .widgets import WORDS, Style, later

PHONE_KEYS = "123456789+0"
ACTION_MM = 20.0  # the way on, at the bottom of a screen
KEY_MM = 18.0  # least height of a keypad's keys
CHOICE_MM = 18.0  # start times, lengths, the unlock lengths
CODE_CAP_MM = 35.0  # the door code's capitals: read from a step away
QR_MM = 70.0
PAD_MM = 4.0


def columns_for(st: Style, width: float, cell_mm: float) -> int:
    """How many cells of ``cell_mm`` (scaled) fit in ``width``."""
    return max(1, int(width // st.d.mm(cell_mm * st.scale)))


def _flexible(specs: list[Any]) -> bool:
    return any(getattr(s, "flex", None) for s in specs)


def page(st: Style, width: int, top: list[Any], bottom: list[Any], *,
         side: list[Any] | None = None) -> Any:  # fmt: skip
    """A screen: ``top`` from the top down, ``bottom`` (the way on) at the
    bottom, the room between them left to the flexible parts (or empty). In
    landscape ``side`` and ``bottom`` are a second column."""
    side = side or []
    if st.d.landscape:
        left = col(*top, *([] if _flexible(top) else [Gap(flex=1)]), gap=3, flex=1, width=3)
        right = col(*side, *([] if _flexible(side) else [Gap(flex=1)]), *bottom, gap=3,
                    flex=1, width=2)  # fmt: skip
        return row(left, right, gap=6, pad=PAD_MM, flex=1, key="page")
    middle = top + side
    filler = [] if _flexible(middle) else [Gap(flex=1)]
    return col(*middle, *filler, *bottom, gap=3, pad=PAD_MM, flex=1, key="page")


def room_day(model: KioskModel, resource: str, mark: tuple[Any, Any, str] | None,
             least_mm: float = 60.0) -> Own:  # fmt: skip
    """The room's day as a timeline, ``mark`` (start, end, words) on it."""

    def make() -> DayView:
        return DayView(model, only=resource, least_mm=least_mm)

    def update(w: DayView, st: Style) -> None:
        w.update(st, mark)

    return Own(f"day:{resource}", make, update, flex=1)


def actions(*buttons: Btn | None) -> Any:
    """Buttons side by side at the bottom (equal widths)."""
    return row(*buttons, gap=3)


def _action(words: str, press: Any, name: str, role: str = "button", **kw: Any) -> Btn:
    return Btn(words, press, name, role, factor=1.3, primary=True, height_mm=ACTION_MM, **kw)


# --- the walk-in ------------------------------------------------------------------------


def _choose(model: KioskModel, st: Style, width: int) -> tuple[list[Any], list[Any], list[Any]]:
    tr, flow = model.tr, model.walkin
    assert flow is not None
    v, _ = flow.view(), tr._
    tz = model.svc.rep.tz
    if not v.slots:
        reason = texts.refusal_text(tr, flow.refusal) or _("No free drop-in times left today")
        return (
            [Txt(f"{texts.WARN} {reason}", "alarm", factor=1.6, bold=True)],
            [],
            [actions(_cancel(model))],
        )
    room = width if not st.d.landscape else int(width * 0.6)
    starts = []
    now = model.today.now
    for slot in v.slots:
        chosen = v.chosen is not None and slot.start == v.chosen.start
        at = slot.start.astimezone(tz)
        label = texts.hhmm(at)
        words = _("Now, {time}").format(time=label) if at <= now else label
        starts.append(
            Btn(
                ("✓ " if chosen else "") + words, later(model.act, later(flow.pick, slot.start)),
                f"start:{label}", "selected" if chosen else "button_quiet", factor=1.5,
                spoken=(_("Chosen: {time}") if chosen else _("Start {time}")).format(
                    time=texts.at_text(tr, at, True)
                ),
                primary=True, height_mm=CHOICE_MM, key=f"start:{label}",
            )
        )  # fmt: skip
    top: list[Any] = [
        Txt(_("Pick a start time"), factor=1.3, bold=True),
        grid(columns_for(st, room, 60), *starts, gap=3, key="starts"),
    ]
    if v.lengths:
        lengths = []
        for n in v.lengths:
            minutes = n * v.slot_minutes
            if v.chosen is not None:
                minutes = (
                    int((v.chosen.end - v.chosen.start).total_seconds() // 60)
                    + (n - 1) * v.slot_minutes
                )
            words = _("{minutes} min").format(minutes=minutes)
            lengths.append(
                Btn(
                    ("✓ " if n == v.length else "") + words,
                    later(model.act, later(flow.set_length, n)), f"length:{n}",
                    "selected" if n == v.length else "button_quiet", factor=1.5,
                    spoken=_("{minutes} minutes").format(minutes=minutes), primary=True,
                    height_mm=CHOICE_MM, key=f"length:{n}",
                )
            )  # fmt: skip
        top += [
            Txt(_("Pick a length"), factor=1.3, bold=True),
            grid(columns_for(st, room, 60), *lengths, gap=3, key="lengths"),
        ]
    when = texts.span(v.start, v.end)
    yours = _("Your time {when}").format(when=when)
    side = [
        room_day(model, v.resource, (v.start, v.end, yours) if v.start and v.end else None),
        Txt(_("Chosen: {when}").format(when=when), factor=2.0, bold=True),
    ]
    go = _action(
        _("Next"), lambda: model.act(flow.next), "next",
        spoken=_("Next: book {when}").format(when=texts.span_text(tr, v.start, v.end, True)),
    )  # fmt: skip
    return top, side, [actions(_cancel(model), go)]


def _cancel(model: KioskModel) -> Btn:
    return Btn(model.tr._("Cancel"), model.home, "cancel", "button_quiet", factor=1.3,
               primary=True, height_mm=ACTION_MM)  # fmt: skip


def _back(model: KioskModel) -> Btn:
    flow = model.walkin
    assert flow is not None
    return Btn(model.tr._("Back"), lambda: model.act(flow.back), "back", "button_quiet",
               factor=1.3, primary=True, height_mm=ACTION_MM)  # fmt: skip


def _identify(model: KioskModel, st: Style) -> tuple[list[Any], list[Any], list[Any]]:
    tr, flow = model.tr, model.walkin
    assert flow is not None
    v, _ = flow.view(), tr._
    top: list[Any] = [Txt(_("Tap your card on the reader."), factor=1.8, bold=True)]
    if not v.phone_allowed:
        return top, [], [actions(_back(model), _cancel(model))]
    keys = [
        Btn(k, later(model.key, k), f"key:{k}", "button_quiet", factor=2.0, primary=True,
            spoken=k if k != "+" else _("plus"), key=f"key:{k}")
        for k in PHONE_KEYS
    ]  # fmt: skip
    keys.append(
        Btn("⌫ " + _("Erase"), model.key_back, "erase", "button_quiet", factor=1.3,
            primary=True, spoken=_("Erase"), key="erase")
    )  # fmt: skip
    shown = texts.mask_phone(model.keypad) if model.keypad else "–"
    phone = [
        Txt(_("No card? A private person can enter a phone number:"), factor=1.3),
        col(
            Txt(shown, "card", factor=2.4, bold=True, halign="center"),
            role="card",
            framed=True,
            pad=2,
        ),
    ]
    pad = grid(3, *keys, gap=3, row_mm=KEY_MM, flex=1, key="keypad")
    use = _action(_("Use this phone number"), model.submit_phone, "phone")
    way = [use, actions(_back(model), _cancel(model))]
    if st.d.landscape:
        return top + phone, [pad], way
    return [*top, *phone, pad], [], way


def _confirm(model: KioskModel, st: Style) -> tuple[list[Any], list[Any], list[Any]]:
    tr, flow = model.tr, model.walkin
    assert flow is not None
    v, _ = flow.view(), tr._
    who = v.payer or _("Private person")
    lines = [
        _("Where: {resource}").format(resource=v.resource_name),
        _("When: {when}").format(when=texts.span(v.start, v.end)),
        _("Booked by: {who}").format(who=who),
        _("Price category: {price}").format(price=_(texts.PRICES[v.price or "person"])),
    ]
    top = [
        Txt(_("Check your booking"), factor=1.6, bold=True),
        col(*(Txt(line, "card", factor=1.6) for line in lines), role="card", framed=True,
            gap=2, pad=3),
    ]  # fmt: skip
    yours = _("Your time {when}").format(when=texts.span(v.start, v.end))
    side = [room_day(model, v.resource, (v.start, v.end, yours) if v.start and v.end else None)]
    ok = _action("✓ " + _("Confirm booking"), lambda: model.act(flow.confirm), "confirm",
                 spoken=_("Confirm booking"))  # fmt: skip
    return top, side, [ok, actions(_back(model), _cancel(model))]


def code_size(st: Style, words: str, room: int) -> int:
    """The door code's font: ``CODE_CAP_MM`` capitals (scaled), or smaller
    if that would not fit in ``room`` pixels."""
    px = st.fixed(CODE_CAP_MM * st.scale)
    while px > st.font(2.0) and WORDS.extent(words, px, True)[0] > room:
        px -= max(1, px // 20)
    return px


def _done(model: KioskModel, st: Style, width: int) -> tuple[list[Any], list[Any], list[Any]]:
    tr, flow = model.tr, model.walkin
    assert flow is not None and flow.done is not None
    d, _ = flow.done, tr._
    mark = {"pending": texts.WARN, "accepted": texts.OK, "rejected": texts.BAD}[d.verdict]
    role = {"pending": "card", "accepted": "ok", "rejected": "alarm"}[d.verdict]
    column = int(width * 0.6) if st.d.landscape else width
    code = texts.code_text(d.code)
    pad = st.px(3) * 2 + st.px(PAD_MM) * 2
    qr = segno.make(d.qr, error="m", boost_error=False)
    side = min(int(width * (0.35 if st.d.landscape else 0.5)), st.px(QR_MM))
    hint = (
        _("Scan to open the booking in the municipality's e-service.")
        if model.svc.settings.qr_url_template
        else _("Scan to add the booking and its door code to your phone's calendar.")
    )
    matrix = tuple(tuple(int(bool(x)) for x in r) for r in qr.matrix)
    scan: list[Any] = [Qr(matrix, side), Txt(hint, factor=1.2)]
    card: list[Any] = [
        Txt(_("Door code:"), "card", factor=1.4, bold=True),
        Gap(flex=1),
        Txt(code, "code", size=code_size(st, code, column - pad), bold=True, halign="center"),
        Gap(flex=1),
        Txt(_("Type the code and # on the door's keypad. It works during your booking."),
            "card", factor=1.3),
    ]  # fmt: skip
    if not st.d.landscape:
        card.append(row(Qr(matrix, side), col(Txt(hint, "card", factor=1.2), width=1), gap=4))
        scan = []
    top = [
        Txt(texts.OK + " " + _("Booked!"), "ok", factor=1.8, bold=True),
        Txt(
            _("{resource}, {when}").format(
                resource=flow.view().resource_name, when=texts.span(d.start, d.end)
            ),
            factor=2.0,
            bold=True,
        ),
        col(*card, role="card", framed=True, gap=3, pad=3, flex=1),
        Txt(f"{mark} {_(texts.VERDICTS[d.verdict])}", role, factor=1.3, bold=True),
    ]
    say = (
        _("Read the code in the headset") if model.svc.speaker.has_headset
        else _("Read the code aloud")
    )  # fmt: skip
    way = [
        actions(
            Btn(say, model.speak_code, "say", "button_quiet", factor=1.3, primary=True,
                height_mm=ACTION_MM),
            _action(_("Done"), model.home, "done"),
        )
    ]  # fmt: skip
    return top, scan, way


def walkin(model: KioskModel, st: Style, width: int) -> Any:
    flow = model.walkin
    if flow is None:
        return page(st, width, [], [])
    v, _ = flow.view(), model.tr._
    title = Txt(_("Book {resource}").format(resource=v.resource_name), factor=1.6, bold=True)
    err = texts.error_text(model.tr, v.error)
    head: list[Any] = [title]
    if err:
        head.append(Txt(f"{texts.BAD} {err}", "alarm", factor=1.3, bold=True))
    side: list[Any] = []
    if v.state is W.CHOOSE:
        top, side, bottom = _choose(model, st, width)
    elif v.state is W.IDENTIFY:
        top, side, bottom = _identify(model, st)
    elif v.state is W.CONFIRM:
        top, side, bottom = _confirm(model, st)
    elif v.state is W.DONE:
        top, side, bottom = _done(model, st, width)
        return page(st, width, top, bottom, side=side)
    else:  # refused: the reason is the error above
        top, bottom = [], [actions(_back(model), _cancel(model))]
    return page(st, width, head + top, bottom, side=side)


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
    keys = [
        Btn(k, later(model.count_digit, k), f"num:{k}", "button_quiet", factor=2.0,
            primary=True, key=f"num:{k}")
        for k in "1234567890"
    ]  # fmt: skip
    keys.append(
        Btn("⌫ " + _("Erase"), model.count_erase, "num-erase", "button_quiet", factor=1.3,
            primary=True, spoken=_("Erase"), key="num-erase")
    )  # fmt: skip
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
    n = len(v.alarm_lines)
    alarms = tr.n_("{n} alarm", "{n} alarms", n).format(n=n)
    left: list[Any] = [Txt(_("Caretaker"), factor=1.6, bold=True)]
    if v.message:
        left.append(
            Txt("ℹ " + _("Message from the booking system: {text}").format(text=v.message),
                "message", factor=1.15, bold=True)
        )  # fmt: skip
    left.append(
        Txt(f"{texts.BAD if n else texts.OK} {alarms}", "alarm" if n else "ok", factor=1.4,
            bold=True)
    )  # fmt: skip
    if v.alarm_lines:
        left.append(Txt("\n".join(texts.alarm_text(tr, a) for a in v.alarm_lines), "alarm"))
    secs = [
        Btn(("✓ " if s == ct.seconds else "") + _("{n} s").format(n=s),
            later(model.act, later(ct.pick_seconds, s)), f"secs:{s}",
            "selected" if s == ct.seconds else "button_quiet", factor=1.2,
            spoken=_("Unlock for {n} seconds").format(n=s), primary=True, key=f"secs:{s}")
        for s in UNLOCK_CHOICES
    ]  # fmt: skip
    left += [Txt(_("Doors"), factor=1.3, bold=True), Txt(_("Unlock for:")),
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
                Txt(d.name, "card", bold=True, factor=1.2),
                Txt(state, "alarm" if d.alarm else "card"),
                Btn(_("Unlock {door} for {n} s").format(door=d.name, n=ct.seconds),
                    later(model.act, later(ct.unlock, d.door)), f"unlock:{d.door}",
                    surface="card", primary=True),
                role="card", framed=True, gap=2, key=f"door:{d.door}",
            )
        )  # fmt: skip
    if v.confirming in ("lockdown", "release"):
        question = (
            _("Lock every door now? Only staff cards will open.") if v.confirming == "lockdown"
            else _("Release the lockdown? The doors go back to their schedules.")
        )  # fmt: skip
        yes = ct.lockdown if v.confirming == "lockdown" else ct.release
        yes_words = _("Yes, lock down") if v.confirming == "lockdown" else _("Yes, release")
        left.append(Txt(f"{texts.WARN} {question}", "alarm", factor=1.3, bold=True))
        left.append(
            row(
                Btn(_("No"), lambda: model.act(ct.abort), f"{v.confirming}-no", "button_quiet",
                    factor=1.2, primary=True),
                Btn(yes_words, lambda: model.act(yes), f"{v.confirming}-yes", "button_danger",
                    factor=1.2, primary=True),
                gap=3,
            )
        )  # fmt: skip
    else:
        left.append(
            row(
                Btn(_("Lock down all doors"), lambda: model.act(ct.ask_lockdown), "lockdown",
                    "button_danger", factor=1.2, primary=True),
                Btn(_("Release lockdown"), lambda: model.act(ct.ask_release), "release",
                    "button_quiet", factor=1.2, primary=True),
                gap=3,
            )
        )  # fmt: skip
    if v.facility_pending:
        left.append(
            Txt(_("waiting for the door controller: {cmds}").format(
                cmds=", ".join(v.facility_pending)))
        )  # fmt: skip
    right = _caretaker_state(model, v)
    close = Btn(_("Close"), model.home, "done", "button_quiet", factor=1.3, primary=True,
                height_mm=ACTION_MM)  # fmt: skip
    if st.d.landscape:
        return page(st, width, left, [close], side=right)
    return page(st, width, left + right, [close])


def _caretaker_state(model: KioskModel, v: Any) -> list[Any]:
    tr = model.tr
    _ = tr._
    readers = [
        f"{texts.reader_name(tr, r)}: {texts.reader_state_text(tr, r)}" for r in v.readers
    ] or [_("No reader has reported yet")]
    sync = v.sync
    health = texts.banner_text(tr, sync.health) or texts.OK + " " + _(
        "In contact with the booking system"
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
    books = []
    for b in v.today:
        if b.checked_in:
            state = f"{texts.OK} " + _("checked in {time}").format(time=texts.hhmm(b.checked_in))
        elif b.no_show:
            state = f"{texts.BAD} " + _("no-show")
        else:
            state = f"{texts.WARN} " + _("nobody yet")
        books.append(f"{texts.span(b.start, b.end)} {b.resource}: {state}")
    out: list[Any] = [
        Txt(_("Readers"), factor=1.3, bold=True),
        Txt("\n".join(readers)),
        Txt(_("Contact with the booking system"), factor=1.3, bold=True),
        Txt("\n".join(lines)),
        Txt(_("Today's check-ins and no-shows"), factor=1.3, bold=True),
        Txt("\n".join(books) or _("No bookings have started today")),
    ]
    if v.rejected:
        out.append(Txt(_("Rejected drop-in bookings"), factor=1.3, bold=True))
        out.append(Txt("\n".join(texts.rejected_text(tr, r) for r in v.rejected), "alarm"))
    return out


def notice(model: KioskModel, st: Style, width: int) -> Any:
    if model.notice is None:
        return page(st, width, [], [])
    lines = texts.notice_lines(model.tr, model.notice)
    return page(
        st, width,
        [Gap(flex=1), Txt("\n".join(lines), "alarm", factor=1.8, bold=True, halign="center"),
         Gap(flex=1)],
        [_action(model.tr._("OK"), model.dismiss_notice, "ok")],
    )  # fmt: skip
