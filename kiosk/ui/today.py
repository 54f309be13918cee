"""Today, the screen that refreshes all day, kept and updated in place.

Rules this module guarantees:
- One ``RowCard`` per resource row, matched by position: a refresh sets the
  texts of the cards it has and adds (or hides) cards only when the number
  of rows changes; a hidden card is kept for later.
- A card's "Book 13:00" buttons are a pool: each refresh gives them new
  words, names and callbacks, and only a change in the number of free slots
  adds buttons (or hides the extra ones).
- The widgets and their order are those the screen was built with before
  (title, now/next, bookings, free slots, slot buttons), so it looks the same;
  colours and sizes are left to ``widgets.restyle``.
"""

from __future__ import annotations

from typing import Any

from .. import texts
from ..model import KioskModel
from ..today import Row
from .widgets import Style, box, button, grid, later, show, text


def _unset() -> None:
    """A pooled button's callback until a slot is given to it."""


class RowCard:
    """One resource's card: its name, now/next, bookings and free slots."""

    def __init__(self, st: Style) -> None:
        self.root = box(st, "card")
        self.title = text(st, "", "card", factor=1.25, bold=True)
        self.now_next = text(st, "", "card")
        self.entries = text(st, "", "card", factor=0.9)
        self.free = text(st, "", "card", bold=True)
        self.slots = grid(st, 0)
        self.buttons: list[Any] = []

    def update(self, model: KioskModel, row: Row, st: Style, width: float) -> None:
        tr = model.tr
        _ = tr._
        self.title.text = texts.row_title(tr, row)
        self.now_next.text = texts.now_next_text(tr, row)
        lines = [texts.entry_text(tr, e) for e in row.entries] or [_("No bookings")]
        self.entries.text = "\n".join(lines)
        parts = [self.title, self.now_next, self.entries]
        if row.walkins:
            self.free.text = texts.free_text(tr, row)
            self.slots.fit(st, width)
            while len(self.buttons) < len(row.free):
                self.buttons.append(button(st, "", _unset, "button_free"))
            tz = model.today.now.tzinfo
            for b, slot in zip(self.buttons, row.free, strict=False):
                at = texts.hhmm(slot.start.astimezone(tz))
                b.text = _("Book {time}").format(time=at)
                b.hallvakt_name = f"slot:{row.resource}:{at}"
                b.press = later(model.start_walkin, row.resource, slot.start)
            show(self.slots, self.buttons[: len(row.free)])
            parts += [self.free, self.slots]
        show(self.root, parts)


class TodayPane:
    """The title and the row cards of Today."""

    def __init__(self, st: Style) -> None:
        self.title = text(st, "", factor=1.5, bold=True)
        self.cards: list[RowCard] = []

    def update(self, model: KioskModel, st: Style, width: float) -> list[Any]:
        """The screen's widgets, top down, with the model's texts."""
        self.title.text = model.tr._("Today's bookings")
        rows = model.today.rows
        while len(self.cards) < len(rows):
            self.cards.append(RowCard(st))
        for card, row in zip(self.cards, rows, strict=False):
            card.update(model, row, st, width)
        return [self.title, *(c.root for c in self.cards[: len(rows)])]
