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
from ..model import KioskModel
from ..walkin import W
from .dayview import DayView
from .tree import Btn, Gap, Own, Qr, Txt, col, grid, row
from .widgets import Style, later
from .words import WORDS

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
         side: list[Any] | None = None, way_beside: bool = False) -> Any:  # fmt: skip
    """A screen: ``top`` from the top down, ``bottom`` (the way on) at the
    bottom, the room between them left to the flexible parts (or empty).
    In landscape ``side`` is a second column (with the way on, when
    ``way_beside``); in portrait it follows ``top``."""
    side = side or []

    def column(parts: list[Any], end: list[Any], **kw: Any) -> Any:
        filler = [] if _flexible(parts) else [Gap(flex=1)]
        return col(*parts, *filler, *end, gap=3, flex=1, **kw)

    if st.d.landscape and side:
        left = column(top, [] if way_beside else bottom, width=3)
        right = column(side, bottom if way_beside else [], width=2)
        return row(left, right, gap=6, pad=PAD_MM, flex=1, key="page")
    return column(top + side, bottom, pad=PAD_MM, key="page")


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
    side = [room_day(model, v.resource, (v.start, v.end, yours) if v.start and v.end else None)]
    go = _action(
        _("Next"), lambda: model.act(flow.next), "next",
        spoken=_("Next: book {when}").format(when=texts.span_text(tr, v.start, v.end, True)),
    )  # fmt: skip
    summary = Txt(_("Chosen: {when}").format(when=when), factor=2.0, bold=True)
    return top, side, [summary, actions(_cancel(model), go)]


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
    top: list[Any] = [Txt(_("Tap your card on the reader."), factor=2.2, bold=True)]
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
        Gap(flex=1),
        Txt(_("Door code:"), "card", factor=1.5, bold=True, halign="center"),
        Txt(code, "code", size=code_size(st, code, column - pad), bold=True, halign="center"),
        Txt(_("Type the code and # on the door's keypad. It works during your booking."),
            "card", factor=1.3, halign="center"),
        Gap(flex=1),
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
        return page(st, width, top, bottom, side=side, way_beside=True)
    else:  # refused: the reason, large, in the middle of the screen
        reason = Txt(f"{texts.BAD} {err}", "alarm", factor=1.8, bold=True, halign="center")
        middle = [title, Gap(flex=1), reason, Gap(flex=1)]
        return page(st, width, middle, [actions(_back(model), _cancel(model))])
    return page(st, width, head + top, bottom, side=side)


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
