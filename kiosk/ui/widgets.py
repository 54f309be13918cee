"""Themed, accessible building blocks, light enough for software GL: words
drawn from shared textures (``words``), outlined buttons with a keyboard
focus ring, a QR code drawn as one texture. Every size is millimetres on the
glass (``kiosk.display``); the containers are in ``layout``.

Rules this module guarantees:
- Sizes are whole pixels: font sizes, paddings, gaps, every position and
  every height (a text's height is its texture's plus whole-pixel padding),
  so text lands on whole pixels and never blurs.
- Words are shared white textures (``words.Words``) tinted by the role's
  colour: a contrast change renders nothing again.
- Every button is at least ``MIN_TARGET_MM`` in both directions (primary
  ones ``PRIMARY_TARGET_MM``), carries its text in words, and is outlined
  in its surface's outline colour (>= 3:1, WCAG 1.4.11); colour only repeats
  what the words say. ``fit`` buttons size to their one line of text and
  never wrap (the header's controls).
- Every button has a spoken label (``spoken``); the focused one draws the
  focus ring (``FOCUS_MM``, >= 3:1 against its surface) outside its edge.
- A widget paints a ground only where it differs from the screen's (the
  window's clear colour): each pixel is filled as few times as it can be;
  a hidden ground, outline or focus ring has no size (software GL fills
  even an invisible rectangle).
- Widgets hold no state of their own but what they show: callbacks go to the
  model. ``set`` gives a kept widget new words, colours and callbacks.
- A widget with ``size_hint_y is None`` sets its own height from its
  content (``natural_h``); one with a weight is stretched by its container.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.graphics import Color, InstructionGroup, Rectangle
from kivy.graphics.texture import Texture
from kivy.properties import NumericProperty
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
from .words import WORDS

RGBA = tuple[float, float, float, float]


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


class Backdrop:
    """A box's optional ground (a rectangle of one colour under what it draws,
    in ``canvas.before``) and optional outline (a ``Frame4`` inside its edge,
    in ``canvas.after``, made the first time one is shown). Painted only where
    asked: a hidden ground or outline has no size. ``ground`` and ``outline``
    say when the box must be placed again (``place``) to show the change."""

    def __init__(self, canvas: Any) -> None:
        with canvas.before:
            self.colour = Color(0, 0, 0, 0)
            self._rect = Rectangle(size=(0, 0))
        self._after: InstructionGroup = canvas.after
        self.frame: Frame4 | None = None

    def ground(self, colour: RGBA | None) -> bool:
        """Fill the box with ``colour`` (None: no ground, and nothing drawn);
        True when the ground has a new colour to show."""
        if colour is None:
            if self.colour.a:
                self.colour.a = 0
                self._rect.size = (0, 0)
            return False
        if tuple(self.colour.rgba) == colour:
            return False
        self.colour.rgba = colour
        return True

    def outline(self, colour: RGBA | None, width: int) -> bool:
        """Outline the box ``width`` pixels wide in ``colour`` (None: no
        outline, and nothing drawn); True when an outline is shown."""
        if colour is None:
            if self.frame is not None:
                self.frame.colour.a = 0
                self.frame.show(False)
            return False
        if self.frame is None:
            self.frame = Frame4(self._after, colour, width)
        if (tuple(self.frame.colour.rgba), self.frame.width) != (colour, width):
            self.frame.colour.rgba, self.frame.width = colour, width
        self.frame.show(True)
        return True

    def place(self, x: int, y: int, w: int, h: int) -> None:
        if self.colour.a:
            self._rect.pos, self._rect.size = (x, y), (w, h)
        if self.frame is not None:
            self.frame.place(x, y, w, h)

    def look(self) -> tuple[tuple[float, ...], tuple[float, ...] | None]:
        """The ground's colour and the outline's (None: never outlined)."""
        frame = self.frame
        return tuple(self.colour.rgba), tuple(frame.colour.rgba) if frame is not None else None


class Painted(Widget):  # type: ignore[misc]
    """A widget with an optional ground, an optional outline and words."""

    natural_h = NumericProperty(0)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._backdrop = Backdrop(self.canvas)
        with self.canvas:
            self._ink = Color(1, 1, 1, 1)
            self._words = Rectangle(size=(0, 0))
        self.tex: Texture | None = None
        self.fbind("pos", self._place)
        self.fbind("size", self._place)

    def ground(self, colour: RGBA | None) -> None:
        """Fill the widget with ``colour`` (None: no ground, and nothing drawn)."""
        if self._backdrop.ground(colour):
            self._place()

    def outline(self, colour: RGBA | None, width: int) -> None:
        if self._backdrop.outline(colour, width):
            self._place()

    @property
    def texture_size(self) -> tuple[int, int]:
        return (self.tex.width, self.tex.height) if self.tex is not None else (0, 0)

    def _text_pos(self, tw: int, th: int) -> tuple[int, int]:
        raise NotImplementedError

    def look(self) -> tuple[object, ...]:
        """What it draws but its place (``redraw`` compares it frame to frame)."""
        return (id(self.tex), tuple(self._ink.rgba), *self._backdrop.look())

    def _place(self, *_: Any) -> None:
        self._backdrop.place(int(self.x), int(self.y), int(self.width), int(self.height))
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
