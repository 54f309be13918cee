"""Today at a glance: every room's status in big words, a symbol and a
colour, with "book now"; and the day as a timeline per room.

Rules this module guarantees:
- One status card per room (a divisible hall: per section, or one card for
  the whole hall while a whole-hall booking holds it): "✓ Ledigt till 17:00"
  or "✗ Upptaget till 18:30" in capitals at least ``STATUS_CAP_MM`` tall,
  the booking's public title or what comes next under it, and "Boka nu"
  for the slot in progress when it can be sold (or why not).
- The timeline (``dayview.DayView``) fills the rest of the screen: no
  half-empty screen at any size. Portrait: statuses above the timeline;
  landscape: side by side.
- The screen is a spec (``tree``) shown on kept widgets: a refresh changes
  the words that changed and moves the now-line, nothing else.
"""

from __future__ import annotations

from typing import Any

from .. import texts
from ..model import KioskModel
from ..today import Row, TodayView
from .dayview import DayView, columns
from .theme import STATUS_CAP_MM
from .tree import Btn, Own, Txt, col, row
from .widgets import Style, later


def units(view: TodayView) -> list[tuple[str, Row, list[Row]]]:
    """The status cards: (title, the row whose status is shown, its rows).
    A divisible hall whose sections are all held by one whole-hall booking is
    one card; else each section is its own card."""
    out: list[tuple[str, Row, list[Row]]] = []
    for hall, rooms in columns(view.rows):
        if hall is None:  # one room
            out.append((rooms[0].name, rooms[0], rooms))
        elif hall.status.busy and all(s.status.busy and s.status.via_hall for s in rooms):
            out.append((hall.name, hall, [hall]))
        else:
            out.extend((f"{s.name} · {hall.name}", s, [s]) for s in rooms)
    return out


def _card(model: KioskModel, st: Style, title: str, r: Row) -> Any:
    tr = model.tr
    _ = tr._
    head: list[Any] = [Txt(title, "card", factor=1.35, bold=True)]
    slot = r.book_now
    if slot is not None:
        tz = model.today.now.tzinfo
        start, end = slot.start.astimezone(tz), slot.end.astimezone(tz)
        head.append(
            Btn(
                _("Book now {when}").format(when=texts.span(start, end)),
                later(model.start_walkin, r.resource, slot.start), f"book-now:{r.resource}",
                "button_free", spoken=_("Book now, {when}").format(
                    when=texts.span_text(tr, start, end, True)),
                surface="card", primary=True, fit=True,
            )
        )  # fmt: skip
    role = "status_busy" if r.status.busy else "status_free"
    lines: list[Any] = [
        row(*head, gap=2),
        Txt(texts.status_text(tr, r.status), role, size=st.fixed(STATUS_CAP_MM), bold=True),
        Txt(texts.status_detail(tr, r), "card", factor=1.1),
    ]
    if r.walkins and r.refusal and not r.free:
        lines.append(Txt(texts.WARN + " " + texts.refusal_text(tr, r.refusal), "card"))
    return col(*lines, role="card", framed=True, gap=1, pad=2, key=f"card:{r.resource}")


def today(model: KioskModel, st: Style, width: int) -> Any:
    view = model.today
    cards = [_card(model, st, title, r) for title, r, _rows in units(view)]
    if not view.rows:
        cards.append(Txt(model.tr._("No rooms to show yet."), factor=1.3))

    def make() -> DayView:
        return DayView(model)

    day = Own("dayview", make, lambda w, st_: w.update(st_), flex=1)
    if st.d.landscape:
        return row(col(*cards, gap=2, width=11), _sized(day, 9), gap=2, pad=2, flex=1, key="page")
    return col(*cards, day, gap=2, pad=2, flex=1, key="page")


def _sized(spec: Own, weight: float) -> Own:
    def update(w: Any, st: Style) -> None:
        w.size_hint_x = weight
        spec.update(w, st)

    return Own(spec.key, spec.make, update, spec.flex)
