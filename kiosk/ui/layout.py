"""Containers that place their children on whole pixels: a column, a row,
a grid of fixed columns, a flow of whole buttons, and empty room.

Rules this module guarantees:
- Every position, width and height a container gives is a whole number of
  pixels; what whole pixels cannot share evenly goes to the last child.
- A child with ``size_hint_y is None`` keeps the height it needs
  (``natural_h``); children with a height weight share what the others
  leave, never less than they need. A container's ``natural_h`` is what its
  children need with the weighted ones at their least.
- A container paints a ground only where it differs from the screen's (the
  window's clear colour), and its outline (``framed``) at >= 3:1.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import NumericProperty
from kivy.uix.layout import Layout
from kivy.uix.widget import Widget

from .theme import OUTLINE_MM
from .widgets import Backdrop, Style


class Stack(Layout):  # type: ignore[misc]
    """Children placed on whole pixels, in a ground of the role's colour
    (painted only where it differs from the screen's) with an optional outline."""

    natural_h = NumericProperty(0)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._backdrop = Backdrop(self.canvas)
        self.role, self.surface, self.gap, self.pad = "screen", "screen", 0, 0
        for name in ("pos", "size", "children"):
            self.fbind(name, self._trigger_layout)

    def style_box(self, st: Style, role: str, gap_mm: float, pad_mm: float | None,
                  framed: bool) -> None:  # fmt: skip
        self.role = role
        self.surface = "header" if role == "header" else "card" if role == "card" else "screen"
        # Neither change is placed here: the layout that follows a restyle
        # (tree._apply triggers it) places the ground and the outline.
        own = st.bg(role)
        self._backdrop.ground(None if own == st.bg("screen") else own)
        self._backdrop.outline(st.outline("screen") if framed else None, st.px(OUTLINE_MM))
        gap = st.px(gap_mm) if gap_mm else 0
        pad = gap if pad_mm is None else (st.px(pad_mm) if pad_mm else 0)
        if (gap, pad) != (self.gap, self.pad):
            self.gap, self.pad = gap, pad
            self._trigger_layout()

    def look(self) -> tuple[object, ...] | None:
        """What it draws but its place; None when it draws nothing of its own."""
        ground, frame = self._backdrop.look()
        if not ground[3] and not (frame and frame[3]):
            return None
        return (ground, frame)

    def add_widget(self, widget: Any, *args: Any, **kw: Any) -> None:
        if hasattr(widget, "natural_h"):
            widget.fbind("natural_h", self._trigger_layout)
        super().add_widget(widget, *args, **kw)

    def remove_widget(self, widget: Any, *args: Any, **kw: Any) -> None:
        if hasattr(widget, "natural_h"):
            widget.funbind("natural_h", self._trigger_layout)
        super().remove_widget(widget, *args, **kw)

    def _paint(self) -> None:
        self._backdrop.place(int(self.x), int(self.y), int(self.width), int(self.height))


def _natural(w: Any) -> int:
    """The height ``w`` needs: its ``natural_h``; for another widget its height,
    or nothing when it takes a share (its container decides)."""
    natural = getattr(w, "natural_h", None)
    if natural is None:
        return 0 if w.size_hint_y is not None else int(w.height)
    return int(natural)


def _share(total: int, weights: list[float]) -> list[int]:
    """``total`` whole pixels shared by ``weights`` (the remainder to the last)."""
    whole = sum(weights) or 1.0
    out = [int(total * wt / whole) for wt in weights]
    if out:
        out[-1] += total - sum(out)
    return out


class Column(Stack):
    """Children top down at full width (``fit`` children keep their width).
    Children with a height weight share what the others leave; the column's
    ``natural_h`` is what it needs with those at their own least."""

    def do_layout(self, *_: Any) -> None:
        kids = self.children[::-1]
        gap, pad = self.gap, self.pad
        x, w = int(self.x) + pad, int(self.width) - 2 * pad
        for c in kids:
            if c.size_hint_x is not None:
                c.width = w
        fixed = sum(_natural(c) for c in kids if c.size_hint_y is None)
        flex = [c for c in kids if c.size_hint_y is not None]
        least = sum(_natural(c) for c in flex)
        gaps = gap * max(0, len(kids) - 1) + 2 * pad
        self.natural_h = fixed + least + gaps
        if self.size_hint_y is None:
            self.height = self.natural_h
        free = max(least, int(self.height) - fixed - gaps)
        shares = dict(zip(map(id, flex), _share(free, [c.size_hint_y for c in flex]), strict=True))
        top = int(self.y) + int(self.height) - pad
        for c in kids:
            h = shares.get(id(c), _natural(c))
            if c.size_hint_y is not None:
                c.height = max(h, _natural(c))
            c.pos = (x, top - int(c.height))
            top -= int(c.height) + gap
        self._paint()


class Row(Stack):
    """Children left to right: fixed-width children (``size_hint_x`` None)
    keep their width, the others share the rest by weight. Children with a
    height weight take the row's height; the others keep theirs, at the top."""

    def do_layout(self, *_: Any) -> None:
        kids = self.children[::-1]
        gap, pad = self.gap, self.pad
        fixed = sum(int(c.width) for c in kids if c.size_hint_x is None)
        flex = [c for c in kids if c.size_hint_x is not None]
        free = max(0, int(self.width) - 2 * pad - fixed - gap * max(0, len(kids) - 1))
        shares = dict(zip(map(id, flex), _share(free, [c.size_hint_x for c in flex]), strict=True))
        for c in kids:
            if id(c) in shares:
                c.width = shares[id(c)]
        self.natural_h = max((_natural(c) for c in kids), default=0) + 2 * pad
        if self.size_hint_y is None:
            self.height = self.natural_h
        inner = int(self.height) - 2 * pad
        top = int(self.y) + int(self.height) - pad
        x = int(self.x) + pad
        for c in kids:
            if c.size_hint_y is not None:
                c.height = max(inner, _natural(c))
            c.pos = (x, top - int(c.height))
            x += int(c.width) + gap
        self._paint()


class Grid(Stack):
    """A fixed number of columns of whole-pixel cells (a keypad keeps its
    layout at every text size). Rows are as tall as their tallest child, or
    ``row_px``, or share the grid's height when it has a height weight."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.cols, self.row_px = 1, 0

    def do_layout(self, *_: Any) -> None:
        kids = self.children[::-1]
        gap, pad, cols = self.gap, self.pad, max(1, self.cols)
        cell_w = max(1, (int(self.width) - 2 * pad - gap * (cols - 1)) // cols)
        for c in kids:
            c.width = cell_w
        rows = [kids[i : i + cols] for i in range(0, len(kids), cols)]
        needs = [max(self.row_px, *(_natural(c) for c in r)) for r in rows]
        gaps = gap * max(0, len(rows) - 1) + 2 * pad
        self.natural_h = sum(needs) + gaps
        if self.size_hint_y is None:
            self.height = self.natural_h
        else:  # share the height: rows as equal as whole pixels allow
            even = (int(self.height) - gaps) // max(1, len(rows))
            needs = [max(n, even) for n in needs]
        top = int(self.y) + int(self.height) - pad
        for r, h in zip(rows, needs, strict=True):
            x = int(self.x) + pad
            for c in r:
                c.height = h
                c.pos = (x, top - h)
                x += cell_w + gap
            top -= h + gap
        self._paint()


class Flow(Stack):
    """Whole buttons left to right, wrapping to a new row between buttons,
    never inside one (the header's controls)."""

    def do_layout(self, *_: Any) -> None:
        kids = self.children[::-1]
        gap, pad = self.gap, self.pad
        right = int(self.width) - pad
        rows: list[list[Any]] = [[]]
        x = pad
        for c in kids:
            if rows[-1] and x + int(c.width) > right:
                rows.append([])
                x = pad
            rows[-1].append(c)
            x += int(c.width) + gap
        needs = [max((_natural(c) for c in r), default=0) for r in rows]
        self.natural_h = sum(needs) + gap * max(0, len(rows) - 1) + 2 * pad
        if self.size_hint_y is None:
            self.height = self.natural_h
        top = int(self.y) + int(self.height) - pad
        for r, h in zip(rows, needs, strict=True):
            x = int(self.x) + pad
            for c in r:
                c.pos = (x, top - int(c.height))
                x += int(c.width) + gap
            top -= h + gap
        self._paint()


class Space(Widget):  # type: ignore[misc]
    """Nothing: room a column shares out (a weight) or keeps (a height)."""

    natural_h = NumericProperty(0)


def show(parent: Widget, children: list[Any]) -> None:
    """Make ``children`` (top down) ``parent``'s children, touching nothing when
    they already are: widgets are moved, never built here."""
    if parent.children[::-1] != children:
        parent.clear_widgets()
        for w in children:
            parent.add_widget(w)
