"""Themed, accessible building blocks, light enough for software GL: words
drawn from shared textures, outlined buttons with a keyboard focus ring,
columns, rows and grids that place their children on whole pixels, a QR
code drawn as one texture. Every size is millimetres on the glass
(``kiosk.display``).

Rules this module guarantees:
- Sizes are whole pixels: font sizes, paddings, gaps, every position and
  every height (a text's height is its texture's plus whole-pixel padding),
  so text lands on whole pixels and never blurs.
- Words are rendered once per (words, font size, weight, wrap width) into a
  white texture that is tinted by the role's colour and shared by every
  widget showing them (``Words``); a texture is as wide as its words, not
  as its widget (software GL pays for every pixel drawn), and a changed text
  gets a new texture (refilling one still queued for drawing makes llvmpipe
  finish the frame first).
- Every button is at least ``MIN_TARGET_MM`` in both directions (primary
  ones ``PRIMARY_TARGET_MM``), carries its text in words, and is outlined
  in its surface's outline colour (>= 3:1, WCAG 1.4.11); colour only repeats
  what the words say. ``fit`` buttons size to their one line of text and
  never wrap (the header's controls).
- Every button has a spoken label (``spoken``); the focused one draws the
  focus ring (``FOCUS_MM``, >= 3:1 against its surface) outside its edge.
- A container paints a ground only where it differs from the screen's (the
  window's clear colour): each pixel is filled as few times as it can be.
- Widgets hold no state of their own but what they show: callbacks go to the
  model. ``apply`` gives a kept widget new words, colours and callbacks.
- Layout: a widget with ``size_hint_y is None`` sets its own height from its
  content (``natural_h``); one with a weight is stretched by its container,
  which shares what is left among the weights.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from kivy.core.text import Label as CoreLabel
from kivy.core.text import LabelBase
from kivy.graphics import Color, InstructionGroup, Rectangle
from kivy.graphics.texture import Texture
from kivy.properties import NumericProperty
from kivy.resources import resource_find
from kivy.uix.layout import Layout
from kivy.uix.widget import Widget

from ..display import Display
from .theme import (
    BODY_CAP_MM,
    FOCUS,
    FOCUS_MM,
    MIN_TARGET_MM,
    OUTLINE_MM,
    OUTLINES,
    THEMES,
    rgba,
)

FONT = "DejaVuSans"  # has the status symbols and Cyrillic
# Kivy ships DejaVu Sans but not its bold face: Debian's fonts-dejavu-core has it
# (Makefile's deps-debian). Without it, bold words are drawn regular.
BOLD_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",)
RGBA = tuple[float, float, float, float]


def _register_font() -> None:
    """DejaVu Sans under ``FONT``, with its bold face when installed (a font
    Kivy knows by name is also found without searching the disk each time)."""
    regular = resource_find("data/fonts/DejaVuSans.ttf")
    bold = next((f for f in BOLD_FILES if os.path.exists(f)), regular)
    LabelBase.register(FONT, regular, fn_bold=bold)


_register_font()


class Style:
    """The theme, text scale and display one render uses."""

    def __init__(self, theme_name: str, scale: float, display: Display) -> None:
        self.name, self.theme, self.scale, self.d = theme_name, THEMES[theme_name], scale, display
        self._colours: dict[tuple[str, int], RGBA] = {}

    def key(self) -> tuple[object, ...]:
        return (self.name, self.scale, self.d)

    def font(self, factor: float = 1.0) -> int:
        """Body text (scaled by the visitor's text size) times ``factor``."""
        return self.d.font_px(BODY_CAP_MM * self.scale * factor)

    def fixed(self, cap_mm: float) -> int:
        """A font size by its capital height, not scaled (the room status)."""
        return self.d.font_px(cap_mm)

    def px(self, mm: float) -> int:
        return self.d.px(mm)

    def _colour(self, role: str, i: int) -> RGBA:
        got = self._colours.get((role, i))
        if got is None:
            got = self._colours[(role, i)] = rgba(self.theme[role][i])
        return got

    def fg(self, role: str) -> RGBA:
        return self._colour(role, 0)

    def bg(self, role: str) -> RGBA:
        return self._colour(role, 1)

    def outline(self, surface: str) -> RGBA:
        return rgba(OUTLINES[self.name].get(surface, OUTLINES[self.name]["screen"]))

    def focus(self, surface: str) -> RGBA:
        return rgba(FOCUS[self.name].get(surface, FOCUS[self.name]["screen"]))


def later(fn: Callable[..., object], *args: object) -> Callable[[], object]:
    """``fn(*args)`` as a callback (a lambda's default arguments defeat mypy)."""
    return lambda: fn(*args)


# --- words as textures ---------------------------------------------------------------


class Words:
    """Rendered words, white on transparent, shared: the same words at the
    same size and wrap width are rendered once (an LRU bounded in bytes keeps
    recent ones that no widget shows any more, for the next visit)."""

    def __init__(self, budget_bytes: int = 4 << 20) -> None:
        self.budget = budget_bytes
        self._kept: OrderedDict[tuple[object, ...], Texture] = OrderedDict()
        self._bytes = 0
        self._measure: dict[tuple[int, bool], Any] = {}
        self._extents: dict[tuple[str, int, bool], tuple[int, int]] = {}
        self.rendered = 0

    def extent(self, words: str, px: int, bold: bool) -> tuple[int, int]:
        """The size of ``words`` on one line per ``\\n`` line, unwrapped (kept:
        measuring asks the font for every glyph)."""
        key = (words, px, bold)
        got = self._extents.get(key)
        if got is None:
            if len(self._extents) > 8192:
                self._extents.clear()
            got = self._extents[key] = self._measured(words, px, bold)
        return got

    def _measured(self, words: str, px: int, bold: bool) -> tuple[int, int]:
        core = self._measure.get((px, bold))
        if core is None:
            core = self._measure[(px, bold)] = CoreLabel(font_size=px, font_name=FONT, bold=bold)
        lines = words.split("\n")
        w = max(int(core.get_extents(line)[0]) for line in lines)
        _, h = core.get_extents("Xg")
        return w, int(h) * len(lines)

    def texture(self, words: str, px: int, bold: bool, width: int | None, halign: str,
                lines: int = 0) -> Texture | None:  # fmt: skip
        """``words`` rendered unwrapped (``width`` None: as wide as they are) or
        wrapped at ``width`` (``lines`` > 0: at most that many, shortened)."""
        if not words:
            return None
        key = (words, px, bold, width, halign if width else "", lines)
        tex = self._kept.get(key)
        if tex is not None:
            self._kept.move_to_end(key)
            return tex
        opts: dict[str, Any] = {}
        if width is not None:
            opts.update(text_size=(max(1, width), None), halign=halign)
            if lines == 1:  # one line: cut at the right, with an ellipsis
                opts.update(max_lines=1, shorten=True, shorten_from="right")
            elif lines:  # whole words on as many lines as there is room for
                opts.update(max_lines=lines)
        core = CoreLabel(
            text=words, font_size=px, font_name=FONT, bold=bold, color=(1, 1, 1, 1), **opts
        )
        core.refresh()
        tex = core.texture
        self.rendered += 1
        self._kept[key] = tex
        self._bytes += tex.width * tex.height * 4
        while self._bytes > self.budget and len(self._kept) > 1:
            _, old = self._kept.popitem(last=False)
            self._bytes -= old.width * old.height * 4
        return tex

    def fit(self, words: str, px: int, bold: bool, room: int, halign: str, *, wrap: bool = True,
            lines: int = 0) -> Texture | None:  # fmt: skip
        """As narrow a texture as the words allow in ``room`` pixels: unwrapped
        when they fit, else wrapped (or, ``wrap`` false, shortened) at ``room``."""
        if not words:
            return None
        natural, _ = self.extent(words, px, bold)
        if natural <= room:
            return self.texture(words, px, bold, None, halign)
        return self.texture(words, px, bold, max(1, room), halign, lines if wrap else 1)


WORDS = Words()
_BEFORE_FRAME: dict[int, Callable[[], object]] = {}


def before_frame(key: object, fn: Callable[[], object]) -> None:
    """Run ``fn`` once, right before the next frame is drawn, after every
    layout has settled (``redraw`` runs them): work that depends on a final
    size is done once, not for each size a layout passes through."""
    _BEFORE_FRAME[id(key)] = fn


def run_before_frame() -> None:
    while _BEFORE_FRAME:
        _, fn = _BEFORE_FRAME.popitem()
        fn()


# --- painting helpers ----------------------------------------------------------------


class Frame4:
    """Four rectangles along a box's edge (an outline inside it, or a ring
    ``outside`` pixels beyond it), in one colour. A hidden frame has no size:
    software GL would fill even an invisible rectangle's pixels."""

    def __init__(self, group: InstructionGroup, colour: RGBA, width: int, outside: int = 0) -> None:
        self.colour = Color(*colour)
        self.sides = [Rectangle(size=(0, 0)) for _ in range(4)]
        group.add(self.colour)
        for r in self.sides:
            group.add(r)
        self.width, self.outside = width, outside
        self.shown = True
        self._box = (0, 0, 0, 0)

    def show(self, on: bool) -> None:
        if on != self.shown:
            self.shown = on
            self.place(*self._box)

    def place(self, x: int, y: int, w: int, h: int) -> None:
        self._box = (x, y, w, h)
        if not self.shown:
            for r in self.sides:
                r.size = (0, 0)
            return
        o, t = self.outside, self.width
        x, y, w, h = x - o, y - o, w + 2 * o, h + 2 * o
        for r, (pos, size) in zip(self.sides, (
            ((x, y), (w, t)), ((x, y + h - t), (w, t)), ((x, y), (t, h)), ((x + w - t, y), (t, h)),
        ), strict=True):  # fmt: skip
            r.pos, r.size = pos, size


class Painted(Widget):  # type: ignore[misc]
    """A widget with an optional ground, an optional outline and words."""

    natural_h = NumericProperty(0)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        with self.canvas.before:
            self._ground_colour = Color(0, 0, 0, 0)
            self._ground = Rectangle(size=(0, 0))
        with self.canvas:
            self._ink = Color(1, 1, 1, 1)
            self._words = Rectangle(size=(0, 0))
        self._outline: Frame4 | None = None
        self.tex: Texture | None = None
        self.fbind("pos", self._place)
        self.fbind("size", self._place)

    def ground(self, colour: RGBA | None) -> None:
        """Fill the widget with ``colour`` (None: no ground, and nothing drawn)."""
        if colour is None:
            if self._ground_colour.a:
                self._ground_colour.a = 0
                self._ground.size = (0, 0)
        elif tuple(self._ground_colour.rgba) != colour:
            self._ground_colour.rgba = colour
            self._place()

    def outline(self, colour: RGBA | None, width: int) -> None:
        if colour is None:
            if self._outline is not None:
                self._outline.colour.a = 0
                self._outline.show(False)
            return
        if self._outline is None:
            self._outline = Frame4(self.canvas.after, colour, width)
        if (tuple(self._outline.colour.rgba), self._outline.width) != (colour, width):
            self._outline.colour.rgba, self._outline.width = colour, width
        self._outline.show(True)
        self._place()

    def _text_pos(self, tw: int, th: int) -> tuple[int, int]:
        raise NotImplementedError

    def look(self) -> tuple[object, ...]:
        """What it draws but its place (``redraw`` compares it frame to frame)."""
        frame = self._outline
        return (
            id(self.tex), tuple(self._ink.rgba), tuple(self._ground_colour.rgba),
            tuple(frame.colour.rgba) if frame is not None else None,
        )  # fmt: skip

    def _place(self, *_: Any) -> None:
        x, y, w, h = int(self.x), int(self.y), int(self.width), int(self.height)
        if self._ground_colour.a:
            self._ground.pos, self._ground.size = (x, y), (w, h)
        if self._outline is not None:
            self._outline.place(x, y, w, h)
        tex = self.tex
        if tex is not None:
            tw, th = tex.size
            self._words.texture = tex
            self._words.pos, self._words.size = self._text_pos(tw, th), (tw, th)
        else:
            self._words.size = (0, 0)


# --- text ----------------------------------------------------------------------------


class Text(Painted):
    """Words that wrap at the widget's width, on the role's ground when it has
    one of its own (a banner, the code); its height follows its words."""

    def __init__(self, st: Style) -> None:
        super().__init__(size_hint_y=None, height=0)
        self.text, self.role, self.font_size, self.bold = "", "screen", st.font(), False
        self.halign, self.lines, self.pad = "left", 0, st.px(1)
        self.color: RGBA = st.fg("screen")
        self._shape: tuple[object, ...] = ()
        self.fbind("width", self._wrap)

    @property
    def texture_size(self) -> tuple[int, int]:
        return (self.tex.width, self.tex.height) if self.tex is not None else (0, 0)

    def set(self, st: Style, words: str, role: str, px: int, bold: bool, halign: str,
            lines: int = 0, fit: bool = False) -> None:  # fmt: skip
        self.role, self.halign, self.lines = role, halign, lines
        if fit:
            self.size_hint_x = None
            self._fit_width(WORDS.extent(words, px, bold)[0] + 2 * self.pad)
        elif self.size_hint_x is None:
            self.size_hint_x = 1
        self.color = st.fg(role)
        self._ink.rgba = self.color
        own = st.bg(role)
        self.ground(None if own in (st.bg("screen"), st.bg("card"), st.bg("header")) else own)
        if (words, px, bold) != (self.text, self.font_size, self.bold):
            self.text, self.font_size, self.bold = words, px, bold
            self._wrap()

    def _fit_width(self, width: int) -> None:
        self.width = width

    def _wrap(self, *_: Any) -> None:
        room = max(1, int(self.width) - 2 * self.pad)
        shape = (self.text, self.font_size, self.bold, room, self.halign, self.lines)
        if shape == self._shape:
            return
        self._shape = shape
        self.tex = WORDS.fit(self.text, self.font_size, self.bold, room, self.halign,
                             lines=self.lines)  # fmt: skip
        th = self.tex.height if self.tex is not None else 0
        self.natural_h = th + self.pad if th else 0
        if self.size_hint_y is None:
            self.height = self.natural_h
        self._place()

    def _text_pos(self, tw: int, th: int) -> tuple[int, int]:
        x, w = int(self.x), int(self.width)
        if self.halign == "center":
            tx = x + (w - tw) // 2
        elif self.halign == "right":
            tx = x + w - self.pad - tw
        else:
            tx = x + self.pad
        return tx, int(self.y) + (int(self.height) - th) // 2


# --- buttons -------------------------------------------------------------------------


class Press(Painted):
    """An outlined button that calls ``press`` when touched and released on
    it; ``hallvakt_name`` finds it in tests and keeps the keyboard focus on
    it across renders, ``spoken`` is what the voice says when it gets the focus."""

    def __init__(self, st: Style) -> None:
        super().__init__(size_hint_y=None)
        self.text, self.role, self.surface, self.font_size = "", "button", "screen", st.font()
        self.press: Callable[[], object] = _nothing
        self.hallvakt_name, self.spoken = "", ""
        self.fit, self.least, self.fixed_h = False, st.px(MIN_TARGET_MM), 0
        self.pad = st.px(3)
        self.disabled, self.focused = False, False
        self.color: RGBA = (1, 1, 1, 1)
        self.background_color: RGBA = (0, 0, 0, 1)
        self._ring: Frame4 | None = None
        self._shape: tuple[object, ...] = ()
        self.fbind("width", self._wrap)

    @property
    def texture_size(self) -> tuple[int, int]:
        return (self.tex.width, self.tex.height) if self.tex is not None else (0, 0)

    def set(self, st: Style, words: str, press: Callable[[], object], role: str, px: int, *,
            name: str, spoken: str, surface: str, least_mm: float, fit: bool,
            height_mm: float | None) -> None:  # fmt: skip
        self.press, self.hallvakt_name, self.spoken = press, name, spoken
        self.role, self.surface = role, surface
        self.color, self.background_color = st.fg(role), st.bg(role)
        self._ink.rgba = self.color
        self.ground(self.background_color)
        self.outline(st.outline(surface), st.px(OUTLINE_MM))
        ring = st.px(FOCUS_MM)
        if self._ring is None:
            self._ring = Frame4(self.canvas.after, st.focus(surface), ring, outside=ring)
        self._ring.colour.rgba = st.focus(surface)
        self._ring.width = self._ring.outside = ring
        self._ring.show(self.focused)
        self.least, self.pad = st.px(least_mm), st.px(3)
        self.fixed_h = st.px(height_mm) if height_mm else 0
        if fit:
            self.size_hint_x = None
        elif self.size_hint_x is None:
            self.size_hint_x = 1
        if (words, px, fit) != (self.text, self.font_size, self.fit):
            self.text, self.font_size, self.fit = words, px, fit
        self._shape = ()
        self._wrap()

    def _wrap(self, *_: Any) -> None:
        room = max(1, int(self.width) - 2 * self.pad)
        shape = (self.text, self.font_size, self.fit, room, self.least, self.fixed_h)
        if shape == self._shape:
            return
        self._shape = shape
        if self.fit:
            self.tex = WORDS.texture(self.text, self.font_size, False, None, "center")
        else:
            self.tex = WORDS.fit(self.text, self.font_size, False, room, "center")
        th = self.tex.height if self.tex is not None else 0
        self.natural_h = max(self.least, self.fixed_h, int(self.font_size * 2), th + self.pad)
        if self.fit:
            tw = self.tex.width if self.tex is not None else 0
            self._fit_width(max(self.least, tw + 2 * self.pad))
        if self.size_hint_y is None:
            self.height = self.natural_h
        self._place()

    def _place(self, *_: Any) -> None:
        super()._place()
        if self._ring is not None:
            self._ring.place(int(self.x), int(self.y), int(self.width), int(self.height))

    def _fit_width(self, width: int) -> None:
        self.width = width

    def _text_pos(self, tw: int, th: int) -> tuple[int, int]:
        return (int(self.x) + (int(self.width) - tw) // 2,
                int(self.y) + (int(self.height) - th) // 2)  # fmt: skip

    def look(self) -> tuple[object, ...]:
        ring = self._ring
        shown = ring is not None and ring.shown
        return (*super().look(), tuple(ring.colour.rgba) if shown and ring else None)

    def set_focus(self, on: bool) -> None:
        self.focused = on
        if self._ring is not None:
            self._ring.show(on)

    def on_touch_down(self, touch: Any) -> bool:
        if self.disabled or not self.collide_point(*touch.pos):
            return False
        touch.grab(self)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return False
        touch.ungrab(self)
        if self.collide_point(*touch.pos):
            self.press()
        return True


def _nothing() -> None:
    """A kept button's callback until it is given one."""


# --- containers ----------------------------------------------------------------------


class Stack(Layout):  # type: ignore[misc]
    """Children placed on whole pixels, in a ground of the role's colour
    (painted only where it differs from the screen's) with an optional outline."""

    natural_h = NumericProperty(0)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        with self.canvas.before:
            self._ground_colour = Color(0, 0, 0, 0)
            self._ground = Rectangle(size=(0, 0))
        self._outline: Frame4 | None = None
        self.role, self.surface, self.gap, self.pad = "screen", "screen", 0, 0
        for name in ("pos", "size", "children"):
            self.fbind(name, self._trigger_layout)

    def style_box(self, st: Style, role: str, gap_mm: float, pad_mm: float | None,
                  framed: bool) -> None:  # fmt: skip
        self.role = role
        self.surface = "header" if role == "header" else "card" if role == "card" else "screen"
        own = st.bg(role)
        if own == st.bg("screen"):
            self._ground_colour.a = 0
            self._ground.size = (0, 0)
        else:
            self._ground_colour.rgba = own
        gap = st.px(gap_mm) if gap_mm else 0
        pad = gap if pad_mm is None else (st.px(pad_mm) if pad_mm else 0)
        if (gap, pad) != (self.gap, self.pad):
            self.gap, self.pad = gap, pad
            self._trigger_layout()
        if framed:
            if self._outline is None:
                self._outline = Frame4(self.canvas.after, st.outline("screen"), st.px(OUTLINE_MM))
            self._outline.colour.rgba = st.outline("screen")
            self._outline.width = st.px(OUTLINE_MM)
            self._outline.show(True)
        elif self._outline is not None:
            self._outline.colour.a = 0
            self._outline.show(False)

    def look(self) -> tuple[object, ...] | None:
        """What it draws but its place; None when it draws nothing of its own."""
        ground = tuple(self._ground_colour.rgba)
        frame = tuple(self._outline.colour.rgba) if self._outline is not None else None
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
        x, y, w, h = int(self.x), int(self.y), int(self.width), int(self.height)
        if self._ground_colour.a:
            self._ground.pos, self._ground.size = (x, y), (w, h)
        if self._outline is not None:
            self._outline.place(x, y, w, h)


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


class QrCode(Widget):  # type: ignore[misc]
    """A QR matrix (rows of 0/1 from segno) drawn dark on light with a
    four-module quiet zone, as one texture of whole-pixel modules."""

    natural_h = NumericProperty(0)

    def __init__(self) -> None:
        super().__init__(size_hint=(None, None))
        with self.canvas:
            Color(1, 1, 1, 1)
            self._rect = Rectangle()
        self.matrix: tuple[tuple[int, ...], ...] = ()
        self.fbind("pos", self._place)

    def set(self, matrix: tuple[tuple[int, ...], ...], side: int) -> None:
        n = len(matrix) + 8
        cell = max(1, side // n)
        if matrix != self.matrix:
            self.matrix = matrix
            pixels = bytearray(b"\xff" * (n * n))
            for y, row in enumerate(matrix):
                base = (n - 1 - (y + 4)) * n + 4  # textures run bottom up
                for x, dark in enumerate(row):
                    if dark:
                        pixels[base + x] = 0
            tex = Texture.create(size=(n, n), colorfmt="luminance")
            tex.blit_buffer(bytes(pixels), colorfmt="luminance", bufferfmt="ubyte")
            tex.mag_filter = tex.min_filter = "nearest"
            self._rect.texture = tex
        self.size = (cell * n, cell * n)
        self.natural_h = cell * n
        self._place()

    def _place(self, *_: Any) -> None:
        self._rect.pos, self._rect.size = (int(self.x), int(self.y)), self.size

    def look(self) -> tuple[object, ...]:
        return (id(self._rect.texture),)


def show(parent: Widget, children: list[Any]) -> None:
    """Make ``children`` (top down) ``parent``'s children, touching nothing when
    they already are: widgets are moved, never built here."""
    if parent.children[::-1] != children:
        parent.clear_widgets()
        for w in children:
            parent.add_widget(w)
