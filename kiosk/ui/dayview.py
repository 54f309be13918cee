"""The day as a timeline: one column per room, time running down, a line at
now, bookings as blocks with their public titles, and walk-in windows as
bookable blocks. A divisible hall's sections are columns side by side under
the hall's name, and a whole-hall booking is one block across all of them.

Rules this module guarantees:
- Positions are whole pixels, computed from the view's span (``TodayView.span``)
  and the widget's size; the widget fills the height it is given.
- A free window that can be sold is a button (``window:<resource>:<HH:MM>``)
  that starts the walk-in at its first slot, at least ``MIN_TARGET_MM``
  tall; one that cannot is drawn as a plain block saying so.
- Every block has words as well as a colour: "Booked"/the title, "Free: book",
  and the now-line carries the time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, Line, Rectangle
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from .. import texts
from ..model import KioskModel
from ..today import Row
from .theme import MIN_TARGET_MM
from .widgets import FONT, Style, button, later


def columns(rows: tuple[Row, ...]) -> list[tuple[Row | None, list[Row]]]:
    """(hall or None, its columns): a divisible hall's sections, or one room."""
    out: list[tuple[Row | None, list[Row]]] = []
    for row in rows:
        if row.level:
            continue
        sections = [r for r in rows if r.parent == row.resource]
        out.append((row, sections) if sections else (None, [row]))
    return out


_HOUR = timedelta(hours=1)


class Drawn:
    """Words drawn straight on the canvas (a booking block, an hour mark): a
    texture, no widget. Hundreds of bookings cost no widget each."""

    def __init__(self, words: str, role: str, *, bold: bool = False, halign: str = "left",
                 lines: int = 3) -> None:  # fmt: skip
        self.words, self.role, self.bold, self.halign, self.lines = words, role, bold, halign, lines
        self.pos: tuple[int, int] = (0, 0)
        self.size: tuple[int, int] = (1, 1)


@lru_cache(maxsize=4096)
def texture(words: str, font: int, colour: tuple[float, ...], bold: bool, width: int,
            height: int, halign: str, lines: int) -> Any:  # fmt: skip
    """The words rendered once for a size (kept: a refresh redraws the same words)."""
    core = CoreLabel(
        text=words, font_size=font, font_name=FONT, bold=bold, color=colour,
        text_size=(width, height), halign=halign, valign="top", shorten=True,
        shorten_from="right", max_lines=lines,
    )  # fmt: skip
    core.refresh()
    return core.texture


class DayView(Widget):  # type: ignore[misc]
    def __init__(self, model: KioskModel, st: Style, **kw: Any) -> None:
        super().__init__(**kw)
        self.model, self.st = model, st
        self.items: list[tuple[Any, tuple[str, int, int, datetime, datetime]]] = []
        self._build()
        self._relayout = Clock.create_trigger(self._layout, -1)  # once per frame, not per event
        self.bind(pos=self._relayout, size=self._relayout)

    def _label(self, words: str, role: str, *, bold: bool = False, halign: str = "left") -> Any:
        st = self.st
        lab = Label(
            text=words, font_name=FONT, font_size=st.font(1.0), bold=bold, color=st.fg(role),
            halign=halign, valign="top", size_hint=(None, None), shorten=True,
            shorten_from="right",
        )  # fmt: skip
        lab.role = role
        with lab.canvas.before:
            Color(*st.bg(role))
            rect = Rectangle()

        def follow(*_: Any) -> None:
            rect.pos, rect.size = lab.pos, lab.size
            pad = st.px(1)
            lab.text_size = (max(1, lab.width - 2 * pad), max(1, lab.height - pad))

        lab.bind(pos=follow, size=follow)
        return lab

    def _build(self) -> None:
        m, st, view = self.model, self.st, self.model.today
        tr = m.tr
        _ = tr._
        self.cols = columns(view.rows)
        self.ncols = sum(len(c) for _, c in self.cols)
        for col_index, (hall, rows) in self._indexed():
            first = col_index
            if hall is not None:
                self._add(
                    self._label(hall.name, "screen", bold=True), "group", first, first + len(rows)
                )
                for e in hall.entries:  # whole-hall bookings: one block across the sections
                    self._add(self._block(tr, e), "block", first, first + len(rows), e.start, e.end)
            for i, row in enumerate(rows):
                c = first + i
                self._add(self._label(row.name, "screen", bold=True), "head", c, c + 1)
                for e in row.entries:
                    if not e.via_hall:
                        self._add(self._block(tr, e), "block", c, c + 1, e.start, e.end)
                for w in row.windows:
                    at = texts.hhmm(w.start)
                    if w.sellable:
                        b = button(
                            st, _("Free: book {time}").format(time=at),
                            later(m.start_walkin, row.resource, w.first.start), "free_block",
                            name=f"window:{row.resource}:{at}",
                            spoken=_("Free {when}, book").format(
                                when=texts.span_text(tr, w.start, w.end, True)
                            ),
                        )  # fmt: skip
                        b.size_hint = (None, None)
                        self._add(b, "window", c, c + 1, w.start, w.end)
                    else:
                        lab = Drawn(_("Drop-in paused"), "closed_block")
                        self._add(lab, "block", c, c + 1, w.start, w.end)
        start, end = view.span
        hour = start
        while hour <= end:
            self._add(
                Drawn(texts.hhmm(hour), "screen", halign="right", lines=1), "hour", 0, 0, hour, hour
            )
            hour += _HOUR
        now_label = Drawn(texts.hhmm(view.now), "now", bold=True, halign="right", lines=1)
        self._add(now_label, "now", 0, 0, view.now, view.now)

    def _indexed(self) -> list[tuple[int, tuple[Row | None, list[Row]]]]:
        out, i = [], 0
        for group in self.cols:
            out.append((i, group))
            i += len(group[1])
        return out

    def _block(self, tr: Any, e: Any) -> Drawn:
        return Drawn(texts.block_label(tr, e), "busy_block")

    def _add(
        self, w: Any, kind: str, c0: int, c1: int,
        t0: datetime | None = None, t1: datetime | None = None,
    ) -> None:  # fmt: skip
        start = t0 or self.model.today.span[0]
        self.items.append((w, (kind, c0, c1, start, t1 or start)))
        if not isinstance(w, Drawn):
            self.add_widget(w)

    def _layout(self, *_: Any) -> None:
        st, view = self.st, self.model.today
        x0, y0, w, h = int(self.x), int(self.y), int(self.width), int(self.height)
        axis = st.px(26)
        line_h = int(st.font(1.0) * 1.4)
        has_group = any(hall is not None for hall, _ in self.cols)
        head = line_h * (2 if has_group else 1) + st.px(2)
        body_top, body_h = y0 + h - head, max(1, h - head - st.px(2))
        col_w = (w - axis) // max(1, self.ncols)
        start, end = view.span
        span_s = max(1.0, (end - start).total_seconds())

        def y_of(t: datetime) -> int:
            frac = min(1.0, max(0.0, (t - start).total_seconds() / span_s))
            return body_top - round(frac * body_h)

        least = st.px(MIN_TARGET_MM)
        gap = st.px(1.5)  # card ground between a block and the column lines
        for widget, (kind, c0, c1, t0, t1) in self.items:
            left = x0 + axis + c0 * col_w
            width = (c1 - c0) * col_w
            if kind == "group":
                widget.pos, widget.size = (left, body_top + line_h + st.px(2)), (width, line_h)
            elif kind == "head":
                widget.pos, widget.size = (left, body_top + st.px(1)), (width, line_h)
            elif kind == "hour" or kind == "now":
                yy = y_of(t0)
                widget.pos, widget.size = (x0, yy - line_h // 2), (axis - st.px(1), line_h)
            else:
                top, bottom = y_of(t0), y_of(t1)
                if top - bottom < least and kind == "window":
                    bottom = top - least
                widget.pos = (left + gap, bottom + gap)
                widget.size = (max(1, width - 2 * gap), max(1, top - bottom - 2 * gap))
        self._draw(x0, y0, w, h, axis, col_w, body_top, body_h, y_of)

    def _draw(self, x0: int, y0: int, w: int, h: int, axis: int, col_w: int,
              body_top: int, body_h: int, y_of: Any) -> None:  # fmt: skip
        st, view = self.st, self.model.today
        self.canvas.before.clear()
        with self.canvas.before:
            Color(*st.bg("card"))
            Rectangle(pos=(x0 + axis, body_top - body_h), size=(w - axis, body_h))
            Color(*st.outline("card"))
            for i in range(self.ncols + 1):
                x = x0 + axis + i * col_w
                Line(points=[x, body_top, x, body_top - body_h], width=1)
            start, end = view.span
            hour = start
            while hour <= end:
                yy = y_of(hour)
                Line(points=[x0 + axis, yy, x0 + axis + self.ncols * col_w, yy], width=1)
                hour = hour + _HOUR
        pad = st.px(1)
        font = st.font(1.0)
        with self.canvas.before:
            for item, _where in self.items:
                if not isinstance(item, Drawn):
                    continue
                (x, y), (w_, h_) = item.pos, item.size
                if item.role != "screen":
                    Color(*st.bg(item.role))
                    Rectangle(pos=(x, y), size=(w_, h_))
                tex = texture(
                    item.words, font, st.fg(item.role), item.bold, max(1, w_ - 2 * pad),
                    max(1, h_ - pad), item.halign, item.lines,
                )  # fmt: skip
                if tex is not None:
                    tw, th = tex.size
                    Color(1, 1, 1, 1)
                    Rectangle(texture=tex, pos=(x + pad, y + h_ - th - pad // 2), size=(tw, th))
        self.canvas.after.clear()
        with self.canvas.after:
            # The past is dimmed; the now-line runs across every column.
            yy = y_of(view.now)
            Color(*st.fg("now"))
            Line(points=[x0 + axis, yy, x0 + axis + self.ncols * col_w, yy], width=st.px(0.5))
