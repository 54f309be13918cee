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
  and the now-line carries the time (an hour it would overlap is hidden whole,
  not half). A block too short for a line of words
  shows its colour only (its words are in the status and spoken).
- The widget is kept: blocks are laid out and drawn again only when the
  day's bookings, windows or span, the language, the style or the size
  changed; the minute turning moves the now-line only. Booking blocks and
  hour marks are drawn straight on the canvas from shared word textures
  (no widget per booking); the window buttons are kept by name.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from kivy.graphics import Color, InstructionGroup, Line, Mesh, Rectangle
from kivy.properties import NumericProperty
from kivy.uix.widget import Widget

from .. import texts
from ..model import KioskModel
from ..today import Row, TodayView
from .theme import MIN_TARGET_MM
from .widgets import Press, Style, before_frame, later
from .words import WORDS

_HOUR = timedelta(hours=1)
LEAST_MM = 90.0  # the timeline is never squeezed below 9 cm


def columns(rows: tuple[Row, ...]) -> list[tuple[Row | None, list[Row]]]:
    """(hall or None, its columns): a divisible hall's sections, or one room."""
    out: list[tuple[Row | None, list[Row]]] = []
    for row in rows:
        if row.level:
            continue
        sections = [r for r in rows if r.parent == row.resource]
        out.append((row, sections) if sections else (None, [row]))
    return out


def content_key(view: TodayView) -> tuple[object, ...]:
    """What the blocks are drawn from (not the minute: that moves the now-line)."""
    return (
        view.span,
        tuple((r.resource, r.name, r.level, r.parent, r.entries, r.windows) for r in view.rows),
    )


class DayView(Widget):  # type: ignore[misc]
    """The timeline of every room (Today), or of one room with a time marked
    on it (``only``, ``mark``: the walk-in and the leader show where their
    time sits in the room's day; its free windows are then drawn, not buttons)."""

    natural_h = NumericProperty(0)

    def __init__(self, model: KioskModel, only: str | None = None, least_mm: float = LEAST_MM,
                 ) -> None:  # fmt: skip
        super().__init__()
        self.model, self.only, self.least_mm = model, only, least_mm
        self.mark: tuple[datetime, datetime, str] | None = None
        self.st: Style | None = None
        self.view: TodayView | None = None
        self._key: tuple[object, ...] = ()
        self._laid: tuple[object, ...] = ()
        self._buttons: dict[str, Press] = {}
        self._y_of: Any = None
        self.now_y = -1
        self.mark_rect: tuple[int, int, int, int] | None = None
        self._drawn_mark: object = None
        self._now_drawn: tuple[object, ...] = ()
        self._now_box = (0, 0)  # the now-time's ground, bottom and top (local pixels)
        self._hour_boxes: list[tuple[object, ...]] = []
        self._name_lines = 1  # the rooms' names above their columns: on 1 or 2 lines
        self.words_drawn: list[str] = []  # every word drawn and not hidden, for tests
        self._units: dict[tuple[object, ...], tuple[InstructionGroup, set[tuple[object, ...]]]] = {}
        self._damage: list[tuple[int, int, int, int]] | None = None
        self._items: set[tuple[object, ...]] | None = None
        self._frame: tuple[object, ...] = ()
        self._geometry: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)
        self._blocks = InstructionGroup()
        self._marked = InstructionGroup()
        self._now = InstructionGroup()
        self.canvas.before.add(self._blocks)
        self.canvas.before.add(self._marked)
        self.canvas.after.add(self._now)
        self.fbind("pos", self._relayout)
        self.fbind("size", self._relayout)

    def _relayout(self, *_: Any) -> None:
        """Lay out once the sizes have settled, right before the frame."""
        before_frame(self, self._layout)

    def update(self, st: Style, mark: tuple[datetime, datetime, str] | None = None) -> None:
        """Bring the timeline in line with the model's Today (called on every render)."""
        view = self.model.today
        if self.only is not None:
            keep = {self.only}
            view = replace(view, rows=tuple(r for r in view.rows if r.resource in keep))
        self.st, self.view, self.mark = st, view, mark
        self.natural_h = st.px(self.least_mm)
        key = (st.key(), self.model.prefs.lang, content_key(view))
        if key != self._key:
            self._key = key
            self._buttons_for(st, view)
            self._relayout()
        elif self._y_of is not None:
            self._draw_now()
            self._draw_mark()

    def _buttons_for(self, st: Style, view: TodayView) -> None:
        m, tr = self.model, self.model.tr
        _ = tr._
        keep: dict[str, Press] = {}
        for row in view.rows if self.only is None else ():
            for w in row.windows:
                if not w.sellable:
                    continue
                at = texts.hhmm(w.start)
                name = f"window:{row.resource}:{at}"
                b = self._buttons.get(name) or Press(st)
                b.size_hint = (None, None)
                b.set(
                    st, _("Free: book {time}").format(time=at),
                    later(m.start_walkin, row.resource, w.first.start), "free_block", st.font(),
                    name=name, spoken=_("Free {when}, book").format(
                        when=texts.span_text(tr, w.start, w.end, True)),
                    surface="card", least_mm=MIN_TARGET_MM, fit=False, height_mm=None,
                )  # fmt: skip
                keep[name] = b
        for name, b in self._buttons.items():
            if name not in keep:
                self.remove_widget(b)
        for b in keep.values():
            if b.parent is None:
                self.add_widget(b)
        self._buttons = keep

    def _words(self, text: str, role: str, x: int, y: int, room_w: int, room_h: int, *,
               bold: bool = False, halign: str = "left", top: bool = True,
               ) -> tuple[str, Any, tuple[int, int], tuple[int, int], str] | None:  # fmt: skip
        """Words in a box (as many lines as fit, at most 3, shortened): (role,
        texture, pos, size, the words as shown), or None when not a line fits."""
        st = self.st
        assert st is not None
        _x0, _axis, _col_w, _ncols, line_h, font = self._geometry
        pad = st.px(1)
        text_h = line_h - st.px(1)  # one line of words
        lines = max(0, min(3, (room_h - pad // 2) // max(1, text_h)))
        if not lines or room_w <= 2 * pad:
            return None
        tex = WORDS.fit(text, font, bold, room_w - 2 * pad, halign, lines=lines)
        if tex is None or tex.height > room_h:
            return None
        tw, th = tex.size
        tx = x + room_w - pad - tw if halign == "right" else x + pad
        ty = y + room_h - th - pad // 2 if top else y + (room_h - th) // 2
        shown = WORDS.shown(text, font, bold, room_w - 2 * pad, lines=lines)
        return (role, tex, (tx, ty), (tw, th), shown)

    def _layout(self, *_args: Any) -> None:
        st, view = self.st, self.view
        if st is None or view is None:
            return
        x0, y0, w, h = int(self.x), int(self.y), int(self.width), int(self.height)
        laid = (self._key, x0, y0, w, h)
        if laid == self._laid:
            return
        self._laid = laid
        font = st.font(1.0)
        line_h = WORDS.extent("X", font, False)[1] + st.px(1)
        axis = max(st.px(26), WORDS.extent("00:00", font, True)[0] + st.px(3))
        cols = columns(view.rows) if self.only is None else [(None, list(view.rows))]
        ncols = sum(len(c) for _hall, c in cols)
        has_group = any(hall is not None for hall, _rows in cols)
        col_w = (w - axis) // max(1, ncols)
        room = col_w - 2 * st.px(1)  # a name on two lines when one is too narrow for it
        narrow = any(WORDS.extent(r.name, font, True)[0] > room for _h, rs in cols for r in rs)
        self._name_lines = 2 if narrow else 1
        head = line_h * (self._name_lines + (1 if has_group else 0)) + st.px(2)
        body_top, body_h = y0 + h - head, max(1, h - head - st.px(2))
        start, end = view.span
        span_s = max(1.0, (end - start).total_seconds())

        def y_of(t: datetime) -> int:
            frac = min(1.0, max(0.0, (t - start).total_seconds() / span_s))
            return body_top - round(frac * body_h)

        self._y_of = y_of
        self._geometry = (x0, axis, col_w, ncols, line_h, font)
        frame = (x0, y0, w, h, axis, col_w, ncols, view.span, st.key(), self.model.prefs.lang,
                 self._name_lines)  # fmt: skip
        units: dict[tuple[object, ...], tuple[InstructionGroup, set[tuple[object, ...]]]] = {}
        key: tuple[object, ...] = (frame, "axis")
        units[key] = self._units.get(key) or self._axis_unit(st, frame, body_top, body_h)
        c = 0
        for hall, rows in cols:
            content = (hall.name, hall.entries) if hall is not None else None
            key = (frame, c, content, tuple((r.name, r.entries, r.windows) for r in rows))
            units[key] = self._units.get(key) or self._unit(st, c, hall, rows, body_top)
            self._place_buttons(st, c, rows)
            c += len(rows)
        self._units = units
        self._blocks.clear()
        items: set[tuple[object, ...]] = set()
        for group, drawn in units.values():
            self._blocks.add(group)
            items |= drawn
        if frame != self._frame or self._items is None:
            self._damage = None  # everything moved
        elif self._damage is not None:
            for item in self._items ^ items:
                x, y, w_, h_ = (int(str(v)) for v in item[-4:])
                self._damage.append((x, y, w_, h_))
        self._frame, self._items = frame, items
        self._hour_boxes = [
            i for i in items if i[0] == "words" and int(str(i[3])) < x0 + axis
        ]  # the hours beside the axis (the rooms' names are right of it)
        self._drawn_mark = None
        self._draw_now()
        self._draw_mark()

    def _axis_unit(self, st: Style, frame: tuple[Any, ...], body_top: int, body_h: int,
                   ) -> tuple[InstructionGroup, set[tuple[object, ...]]]:  # fmt: skip
        """The lines of the grid and the hours beside it."""
        x0, _y0, _w, _h, axis, col_w, ncols, (start, end) = frame[:8]
        _x0, _axis, _col_w, _ncols, line_h, _font = self._geometry
        assert self._y_of is not None
        g = InstructionGroup()
        g.add(Color(*st.outline("card")))
        for i in range(ncols + 1):
            x = x0 + axis + i * col_w
            g.add(Line(points=[x, body_top, x, body_top - body_h], width=1))
        hours = []
        hour = start
        while hour <= end:
            yy = self._y_of(hour)
            g.add(Line(points=[x0 + axis, yy, x0 + axis + ncols * col_w, yy], width=1))
            hours.append((hour, yy))
            hour += _HOUR
        every = 1  # hours named: every one, or every other when they would touch
        while len(hours) > every and hours[0][1] - hours[every][1] < line_h:
            every += 1
        hours = hours[::every]
        items: set[tuple[object, ...]] = {("axis", x0, body_top - body_h, axis + ncols * col_w,
                                           body_h)}  # fmt: skip
        g.add(Color(*st.fg("screen")))
        for hour, yy in hours:
            label = texts.hhmm(hour)
            got = self._words(label, "screen", x0, yy - line_h // 2,
                              axis - st.px(1), line_h, halign="right", top=False)  # fmt: skip
            if got is not None:
                g.add(Rectangle(texture=got[1], pos=got[2], size=got[3]))
                items.add(("words", "screen", got[4], *got[2], *got[3]))
        return g, items

    def _unit(self, st: Style, c: int, hall: Row | None, rows: list[Row], body_top: int,
              ) -> tuple[InstructionGroup, set[tuple[object, ...]]]:  # fmt: skip
        """A room's column, or a hall's sections: the names, every booking as
        a block of its role's colour (one mesh a role: one draw call for
        hundreds of bookings), their words a colour at a time."""
        tr = self.model.tr
        _ = tr._
        assert self._y_of is not None
        y_of = self._y_of
        x0, axis, col_w, _ncols, line_h, _font = self._geometry
        gap = st.px(1.5)
        name_h = line_h * self._name_lines
        fills: dict[str, list[tuple[int, int, int, int]]] = {}
        labels: list[tuple[str, Any, tuple[int, int], tuple[int, int]]] = []
        items: set[tuple[object, ...]] = set()  # what is drawn, to find what changed

        def words(text: str, role: str, x: int, y: int, room_w: int, room_h: int,
                  **kw: Any) -> None:  # fmt: skip
            got = self._words(text, role, x, y, room_w, room_h, **kw)
            if got is not None:
                labels.append(got[:4])
                items.add(("words", role, got[4], *got[2], *got[3]))

        def block(role: str, c0: int, c1: int, t0: datetime, t1: datetime, text: str) -> None:
            left, width = x0 + axis + c0 * col_w, (c1 - c0) * col_w
            top_, bottom = y_of(t0), y_of(t1)
            bx, by = left + gap, bottom + gap
            bw, bh = max(1, width - 2 * gap), max(1, top_ - bottom - 2 * gap)
            fills.setdefault(role, []).append((bx, by, bw, bh))
            items.add(("block", role, bx, by, bw, bh))
            words(text, role, bx, by, bw, bh)

        if hall is not None:
            left = x0 + axis + c * col_w
            words(hall.name, "screen", left, body_top + name_h + st.px(2), len(rows) * col_w,
                  line_h, bold=True)  # fmt: skip
            for e in hall.entries:
                block("busy_block", c, c + len(rows), e.start, e.end, texts.block_label(tr, e))
        for i, row in enumerate(rows):
            col = c + i
            words(row.name, "screen", x0 + axis + col * col_w, body_top + st.px(1), col_w,
                  name_h, bold=True)  # fmt: skip
            for e in row.entries:
                if not e.via_hall or self.only is not None:
                    block("busy_block", col, col + 1, e.start, e.end, texts.block_label(tr, e))
            for win in row.windows:
                if not win.sellable:
                    block("closed_block", col, col + 1, win.start, win.end, _("Drop-in paused"))
                elif self.only is not None:
                    free = _("Free {when}").format(when=texts.span(win.start, win.end))
                    block("free_block", col, col + 1, win.start, win.end, free)
        g = InstructionGroup()
        for role, rects in fills.items():
            vertices: list[float] = []
            indices: list[int] = []
            for n, (x, y, w, h) in enumerate(rects):
                vertices += [x, y, 0, 0, x + w, y, 1, 0, x + w, y + h, 1, 1, x, y + h, 0, 1]
                k = 4 * n
                indices += [k, k + 1, k + 2, k + 2, k + 3, k]
            g.add(Color(*st.bg(role)))
            g.add(Mesh(vertices=vertices, indices=indices, mode="triangles"))
        last = None
        for role, tex, pos, size in sorted(labels, key=lambda item: item[0]):
            if role != last:
                g.add(Color(*st.fg(role)))
                last = role
            g.add(Rectangle(texture=tex, pos=pos, size=size))
        return g, items

    def _place_buttons(self, st: Style, c: int, rows: list[Row]) -> None:
        """The free windows' buttons over their columns (at least 9 mm tall)."""
        if self.only is not None or self._y_of is None:
            return
        x0, axis, col_w, _ncols, _line_h, _font = self._geometry
        gap, least = st.px(1.5), st.px(MIN_TARGET_MM)
        for i, row in enumerate(rows):
            for win in row.windows:
                b = self._buttons.get(f"window:{row.resource}:{texts.hhmm(win.start)}")
                if b is None or not win.sellable:
                    continue
                top_, bottom = self._y_of(win.start), self._y_of(win.end)
                if top_ - bottom < least:
                    bottom = top_ - least
                left = x0 + axis + (c + i) * col_w
                b.pos = (left + gap, bottom + gap)
                b.size = (max(1, col_w - 2 * gap), max(1, top_ - bottom - 2 * gap))

    def take_damage(self) -> list[tuple[int, int, int, int]] | None:
        """What changed in the blocks since last asked (window pixels), None
        for everything (``redraw``)."""
        got, self._damage = self._damage, []
        if got is None:
            return None
        out = []
        for x, y, w, h in got:
            wx, wy = self.to_window(x, y)
            out.append((int(wx) - 2, int(wy) - 2, w + 4, h + 4))
        return out

    def _draw_mark(self) -> None:
        """The marked time (the visitor's, the team's) over the blocks."""
        st, view = self.st, self.view
        if st is None or view is None or self._y_of is None or self.mark == self._drawn_mark:
            return
        self._drawn_mark = self.mark
        g = self._marked
        g.clear()
        self.mark_rect = None
        x0, axis, col_w, ncols, _line_h, _font = self._geometry
        if self.mark is None or not ncols:
            return
        t0, t1, what = self.mark
        top_, bottom = self._y_of(t0), self._y_of(t1)
        gap = st.px(1.5)
        bx, by = x0 + axis + gap, bottom + gap
        bw, bh = max(1, ncols * col_w - 2 * gap), max(1, top_ - bottom - 2 * gap)
        g.add(Color(*st.bg("selected")))
        g.add(Rectangle(pos=(bx, by), size=(bw, bh)))
        got = self._words(what, "selected", bx, by, bw, bh)
        if got is not None:
            g.add(Color(*st.fg("selected")))
            g.add(Rectangle(texture=got[1], pos=got[2], size=got[3]))
        self.mark_rect = (bx, by, bw, bh)

    def _draw_now(self) -> None:
        """The line at now, with its time on the axis on a ground of its own
        that hides whole any hour it would overlap (never half an hour's digits)."""
        st, view = self.st, self.view
        if st is None or view is None or self._y_of is None:
            return
        yy = self._y_of(view.now)
        label = texts.hhmm(view.now)
        if (yy, label, self._frame) == self._now_drawn:
            return
        self._now_drawn = (yy, label, self._frame)
        x0, axis, col_w, ncols, line_h, font = self._geometry
        g = self._now
        g.clear()
        g.add(Color(*st.fg("now")))
        thick = st.px(0.75)
        g.add(Rectangle(pos=(x0 + axis, yy - thick // 2), size=(ncols * col_w, thick)))
        tex = WORDS.texture(label, font, True, None, "right")
        lo, hi = yy - line_h // 2, yy - line_h // 2 + line_h
        hidden = set()
        for hour in self._hour_boxes:  # an hour it would cover in part: in whole
            y, h = int(str(hour[4])), int(str(hour[6]))
            if y < hi and y + h > lo:
                lo, hi = min(lo, y), max(hi, y + h)
                hidden.add(hour)
        self._now_box = (lo, hi)
        items = self._items or set()
        self.words_drawn = sorted(str(i[2]) for i in items if i[0] == "words" and i not in hidden)
        if tex is not None:
            tw, th = tex.size
            g.add(Color(*st.bg("now")))
            g.add(Rectangle(pos=(x0, lo), size=(axis - st.px(1), hi - lo)))
            g.add(Color(*st.fg("now")))
            g.add(Rectangle(texture=tex, pos=(x0 + axis - st.px(2) - tw, yy - th // 2),
                            size=(tw, th)))  # fmt: skip
        self.now_y = yy

    def mark_band(self) -> tuple[int, int, int, int] | None:
        """Where the marked time is drawn (window pixels), for damage."""
        if self.mark_rect is None:
            return None
        x, y = self.to_window(*self.mark_rect[:2])
        m = 2
        return (int(x) - m, int(y) - m, self.mark_rect[2] + 2 * m, self.mark_rect[3] + 2 * m)

    def now_band(self) -> tuple[int, int, int, int] | None:
        """Where the now-line and its time are drawn (window pixels), for damage."""
        if self.st is None or self._y_of is None:
            return None
        x0, axis, col_w, ncols, line_h, _ = self._geometry
        half = line_h // 2 + self.st.px(1)
        lo = min(self.now_y - half, self._now_box[0] - 2)
        hi = max(self.now_y + half, self._now_box[1] + 2)
        x, y = self.to_window(x0, lo)
        return (int(x) - 2, int(y), axis + ncols * col_w + 4, hi - lo)
