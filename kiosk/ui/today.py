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
- The pane is built again only when the view, the style or the size changed.
"""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout

from .. import texts
from ..model import KioskModel
from ..today import Row, TodayView
from .dayview import DayView
from .theme import STATUS_CAP_MM
from .widgets import Style, box, button, later, text


def units(view: TodayView) -> list[tuple[str, Row, list[Row]]]:
    """The status cards: (title, the row whose status is shown, its rows).
    A divisible hall whose sections are all held by one whole-hall booking is
    one card; else each section is its own card."""
    out: list[tuple[str, Row, list[Row]]] = []
    rows = list(view.rows)
    for row in rows:
        if row.level:
            continue
        sections = [r for r in rows if r.parent == row.resource]
        if not sections:
            out.append((row.name, row, [row]))
            continue
        if row.status.busy and all(s.status.busy and s.status.via_hall for s in sections):
            out.append((row.name, row, [row]))
            continue
        for s in sections:
            out.append((f"{s.name} · {row.name}", s, [s]))
    return out


class TodayPane:
    """The Today screen: built again only on a change (``update``)."""

    def __init__(self) -> None:
        self._key: tuple[object, ...] = ()
        self.root: Any = None

    def update(self, model: KioskModel, st: Style, width: float, height: float) -> Any:
        key = (id(model.today), st.key(), width, height, model.prefs.lang)
        if key != self._key or self.root is None:
            self._key = key
            self.root = self._build(model, st, width, height)
        return self.root

    def _status_card(self, model: KioskModel, st: Style, title: str, row: Row) -> Any:
        tr = model.tr
        _ = tr._
        card = box(st, "card", gap=2, framed=True)
        top = BoxLayout(orientation="horizontal", size_hint_y=None, spacing=st.px(2))
        name = text(st, title, "card", factor=1.35, bold=True)
        top.add_widget(name)
        slot = row.book_now
        if slot is not None:
            tz = model.today.now.tzinfo
            start, end = slot.start.astimezone(tz), slot.end.astimezone(tz)
            words = _("Book now {when}").format(when=texts.span(start, end))
            b = button(
                st, words, later(model.start_walkin, row.resource, slot.start), "button_free",
                name=f"book-now:{row.resource}", primary=True, surface="card", fit=True,
                spoken=_("Book now, {when}").format(when=texts.span_text(tr, start, end, True)),
            )  # fmt: skip
            top.add_widget(b)
        top.height = max(name.height, top.children[0].height)
        for c in top.children:
            c.bind(
                height=lambda *_a, t=top: setattr(t, "height", max(x.height for x in t.children))
            )
        card.add_widget(top)
        role = "status_busy" if row.status.busy else "status_free"
        card.add_widget(
            text(
                st, texts.status_text(tr, row.status), role, size=st.fixed(STATUS_CAP_MM), bold=True
            )
        )
        card.add_widget(text(st, texts.status_detail(tr, row), "card"))
        if row.walkins and row.refusal and not row.free:
            card.add_widget(
                text(st, texts.WARN + " " + texts.refusal_text(tr, row.refusal), "card")
            )
        return card

    def _build(self, model: KioskModel, st: Style, width: float, height: float) -> Any:
        view = model.today
        cards = box(st, "screen", gap=2)
        for title, row, _rows in units(view):
            cards.add_widget(self._status_card(model, st, title, row))
        if not view.rows:
            cards.add_widget(text(st, model.tr._("No rooms to show yet."), "card"))
        day = DayView(model, st)
        if st.d.landscape:
            gap = st.px(2)
            root = BoxLayout(orientation="horizontal", size_hint_y=None, spacing=gap)
            root.height = int(height)
            left_w = int(width * 0.6)  # whole pixels: the statuses need the room
            cards.size_hint_x = None
            cards.width = left_w
            day.size_hint_x = None
            day.width = int(width) - left_w - gap
            left = box(st, "screen", gap=0, grow=False)
            left.size_hint_x = None
            left.width = left_w
            left.add_widget(cards)
            left.add_widget(BoxLayout())  # what is left below the cards
            root.add_widget(left)
            root.add_widget(day)

            def fit(*_: Any) -> None:
                root.height = max(int(height), int(cards.height) + st.px(4))

            cards.bind(height=fit)
            fit()
            return root
        root = BoxLayout(orientation="vertical", size_hint_y=None)
        day.size_hint_y = None
        least = st.px(90)  # the timeline is never squeezed below 9 cm

        def fill(*_: Any) -> None:
            day.height = max(least, int(height) - int(cards.height))
            root.height = int(cards.height) + int(day.height)

        cards.bind(height=fill)
        fill()
        root.add_widget(cards)
        root.add_widget(day)
        return root
