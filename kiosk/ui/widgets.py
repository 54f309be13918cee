"""Themed, accessible building blocks: labels that wrap, outlined buttons with
a keyboard focus ring, boxes with a background, a QR code drawn with
rectangles. Every size is millimetres on the glass (``kiosk.display``).

Rules this module guarantees:
- Sizes are whole pixels: font sizes, paddings, spacings and every label's
  height (its texture's height plus whole-pixel padding), so text lands on
  whole pixels and never blurs.
- Every button is at least ``MIN_TARGET_MM`` in both directions (primary
  ones ``PRIMARY_TARGET_MM``), carries its text in words, and is outlined
  in its surface's outline colour (>= 3:1, WCAG 1.4.11); colour only repeats
  what the words say. ``fit`` buttons size to their one line of text and
  never wrap (the header's controls).
- Every button has a spoken label (``spoken``: its words without symbols, or
  what the screen gives: times as words); the focused one draws the focus
  ring (``FOCUS_MM``, >= 3:1 against its surface).
- Widgets hold no state of their own: callbacks go to the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.stacklayout import StackLayout
from kivy.uix.widget import Widget

from ..display import Display
from .theme import (
    BODY_CAP_MM,
    FOCUS,
    FOCUS_MM,
    MIN_TARGET_MM,
    OUTLINE_MM,
    OUTLINES,
    PRIMARY_TARGET_MM,
    THEMES,
    rgba,
)

FONT = "DejaVuSans"  # ships with Kivy; has the status symbols and Cyrillic


class Style:
    """The theme, text scale and display one render uses."""

    def __init__(self, theme_name: str, scale: float, display: Display) -> None:
        self.name, self.theme, self.scale, self.d = theme_name, THEMES[theme_name], scale, display

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

    def fg(self, role: str) -> tuple[float, float, float, float]:
        return rgba(self.theme[role][0])

    def bg(self, role: str) -> tuple[float, float, float, float]:
        return rgba(self.theme[role][1])

    def outline(self, surface: str) -> tuple[float, float, float, float]:
        return rgba(OUTLINES[self.name].get(surface, OUTLINES[self.name]["screen"]))

    def focus(self, surface: str) -> tuple[float, float, float, float]:
        return rgba(FOCUS[self.name].get(surface, FOCUS[self.name]["screen"]))


def SURFACE_GROUNDS(style: Style) -> tuple[tuple[float, float, float, float], ...]:
    """The grounds a label sits on anyway (the screen, a card, the header)."""
    return (style.bg("screen"), style.bg("card"), style.bg("header"))


def later(fn: Callable[..., object], *args: object) -> Callable[[], object]:
    """``fn(*args)`` as a callback (a lambda's default arguments defeat mypy)."""
    return lambda: fn(*args)


def paint(widget: Widget, colour: tuple[float, float, float, float]) -> Color:
    """Fill ``widget``'s box with ``colour`` (kept in step with its pos and size)."""
    with widget.canvas.before:
        fill = Color(*colour)
        rect = Rectangle(pos=widget.pos, size=widget.size)

    def follow(*_: Any) -> None:
        rect.pos, rect.size = widget.pos, widget.size

    widget.bind(pos=follow, size=follow)
    return fill


def frame_rects(widget: Widget, colour: tuple[float, float, float, float], width: int,
                outside: int = 0) -> Color:  # fmt: skip
    """A frame ``width`` whole pixels wide along ``widget``'s edge (inside it,
    or ``outside`` pixels beyond it), as four filled rectangles; returns its colour."""
    with widget.canvas.after:
        colour_ = Color(*colour)
        sides = [Rectangle() for _ in range(4)]

    def follow(*_: Any) -> None:
        x, y = int(widget.x) - outside, int(widget.y) - outside
        w, h = int(widget.width) + 2 * outside, int(widget.height) + 2 * outside
        for r, (pos, size) in zip(sides, (
            ((x, y), (w, width)), ((x, y + h - width), (w, width)),
            ((x, y), (width, h)), ((x + w - width, y), (width, h)),
        ), strict=True):  # fmt: skip
            r.pos, r.size = pos, size

    widget.bind(pos=follow, size=follow)
    follow()
    return colour_


def outline(widget: Widget, colour: tuple[float, float, float, float], width: int) -> None:
    """An outline ``width`` whole pixels wide inside ``widget``'s edge."""
    frame_rects(widget, colour, width)


class Box(BoxLayout):  # type: ignore[misc]
    """A box on its role's background that grows with its content (vertical) or
    fills a row (horizontal); ``surface`` is what its children sit on."""

    def __init__(
        self, style: Style, role: str, horizontal: bool, gap: float, framed: bool, grow: bool
    ) -> None:
        super().__init__(
            orientation="horizontal" if horizontal else "vertical",
            spacing=style.px(gap),
            padding=style.px(gap),
        )
        if grow:
            self.size_hint_y = None
            self.bind(minimum_height=self.setter("height"))
        self.role = role
        self.surface = "header" if role == "header" else "card" if role == "card" else "screen"
        if role != "screen":  # the screen's ground is the window's clear colour
            paint(self, style.bg(role))
        if framed:
            outline(self, style.outline("screen"), style.px(OUTLINE_MM))


def box(
    style: Style,
    role: str = "screen",
    *,
    horizontal: bool = False,
    gap: float = 2,
    framed: bool = False,
    grow: bool = True,
) -> Any:
    return Box(style, role, horizontal, gap, framed, grow)


class Text(Label):  # type: ignore[misc]
    """A wrapping label whose height follows its text, on its role's background."""

    def __init__(
        self, style: Style, words: str, role: str, size: int, bold: bool, halign: str
    ) -> None:
        super().__init__(
            text=words,
            font_name=FONT,
            font_size=size,
            bold=bold,
            color=style.fg(role),
            halign=halign,
            valign="middle",
            size_hint_y=None,
        )
        self.role = role
        self.pad = style.px(1)
        self.bind(width=self._wrap, texture_size=self._grow)
        if style.bg(role) not in SURFACE_GROUNDS(style):
            # A ground of its own (a banner, a code); on a card or the screen the
            # label draws none: software GL pays for every pixel filled twice.
            paint(self, style.bg(role))

    def _wrap(self, *_: Any) -> None:
        self.text_size = (max(1, int(self.width)), None)

    def _grow(self, *_: Any) -> None:
        self.height = int(self.texture_size[1]) + self.pad


def text(
    style: Style,
    words: str,
    role: str = "screen",
    *,
    factor: float = 1.0,
    bold: bool = False,
    size: int | None = None,
    halign: str = "left",
) -> Any:
    """A ``Text``: body size times ``factor``, or exactly ``size`` pixels."""
    return Text(style, words, role, size or style.font(factor), bold, halign)


class Press(Button):  # type: ignore[misc]
    """An outlined button that calls ``press``; ``hallvakt_name`` finds it in
    tests, ``spoken`` is what the voice says when it gets the focus."""

    def __init__(
        self,
        style: Style,
        words: str,
        press: Callable[[], object],
        role: str,
        size: int,
        *,
        surface: str,
        least_mm: float,
        fit: bool,
    ) -> None:
        self.least = style.px(least_mm)
        self.pad = style.px(3)
        super().__init__(
            text=words,
            font_name=FONT,
            font_size=size,
            color=style.fg(role),
            background_normal="",
            background_down="",
            background_color=style.bg(role),
            halign="center",
            valign="middle",
            size_hint_y=None,
            height=max(self.least, size * 2),
            padding=(self.pad, style.px(1)),
        )
        self.role, self.press, self.fit = role, press, fit
        self.hallvakt_name = words
        self.spoken = words
        self.focused = False
        if fit:
            self.size_hint_x = None
        else:
            self.bind(width=self._wrap)
        self.bind(texture_size=self._grow)
        self.bind(on_release=lambda *_: self.press())
        outline(self, style.outline(surface), style.px(OUTLINE_MM))
        ring = style.px(FOCUS_MM)
        self._focus_colour = frame_rects(self, style.focus(surface), ring, outside=ring)
        self._focus_colour.a = 0

    def _wrap(self, *_: Any) -> None:
        self.text_size = (max(1, int(self.width) - 2 * self.pad), None)

    def _grow(self, *_: Any) -> None:
        self.height = max(self.least, int(self.font_size * 2), int(self.texture_size[1]) + self.pad)
        if self.fit:
            self.width = max(self.least, int(self.texture_size[0]) + 2 * self.pad)

    def set_focus(self, on: bool) -> None:
        self.focused = on
        self._focus_colour.a = 1 if on else 0


def button(
    style: Style,
    words: str,
    press: Callable[[], object],
    role: str = "button",
    *,
    factor: float = 1.0,
    name: str = "",
    spoken: str | None = None,
    surface: str = "screen",
    primary: bool = False,
    fit: bool = False,
    size: int | None = None,
) -> Any:
    """A ``Press``: at least 9 mm, 15 mm when ``primary``; ``name`` finds it in tests."""
    b = Press(
        style, words, press, role, size or style.font(factor),
        surface=surface, least_mm=PRIMARY_TARGET_MM if primary else MIN_TARGET_MM, fit=fit,
    )  # fmt: skip
    b.hallvakt_name = name or words
    b.spoken = spoken if spoken is not None else words
    return b


class Grid(GridLayout):  # type: ignore[misc]
    """A fixed number of columns (a keypad keeps its layout at every text size)."""

    def __init__(self, style: Style, cols: int) -> None:
        gap = style.px(2)
        super().__init__(cols=cols, spacing=gap, size_hint_y=None, col_force_default=True)
        self.bind(minimum_height=self.setter("height"))
        self.bind(width=self._cells)

    def _cells(self, *_: Any) -> None:
        """Whole-pixel columns: the slack (under ``cols`` pixels) stays at the right."""
        gap = int(self.spacing[0])
        self.col_default_width = max(1, (int(self.width) - gap * (self.cols - 1)) // self.cols)


def grid(style: Style, cols: int) -> Any:
    return Grid(style, cols)


def columns_for(style: Style, width: float, cell_mm: float) -> int:
    """How many cells of ``cell_mm`` (scaled) fit in ``width``."""
    return max(1, int(width // style.d.mm(cell_mm * style.scale)))


class Flow(StackLayout):  # type: ignore[misc]
    """Whole buttons left to right, wrapping to a new row between buttons,
    never inside one (the header's controls)."""

    def __init__(self, style: Style) -> None:
        gap = style.px(2)
        super().__init__(orientation="lr-tb", spacing=gap, size_hint_y=None)
        self.bind(minimum_height=self.setter("height"))


def flow(style: Style) -> Any:
    return Flow(style)


def show(parent: Widget, children: list[Any]) -> None:
    """Make ``children`` (top down) ``parent``'s children, touching nothing when
    they already are: widgets are moved, never built here."""
    if parent.children[::-1] != children:
        parent.clear_widgets()
        for w in children:
            parent.add_widget(w)


class QrCode(Widget):  # type: ignore[misc]
    """A QR matrix (rows of 0/1 from segno) drawn dark on light with a
    four-module quiet zone, on whole pixels."""

    def __init__(self, matrix: list[list[int]], side: int, **kw: Any) -> None:
        n = len(matrix) + 8
        cell = max(1, side // n)
        super().__init__(size_hint=(None, None), size=(cell * n, cell * n), **kw)
        self.matrix, self.cell = matrix, cell
        self.bind(pos=self._draw, size=self._draw)
        self._draw()

    def _draw(self, *_: Any) -> None:
        cell, x0, top = self.cell, int(self.x), int(self.y) + int(self.height)
        self.canvas.clear()
        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(pos=(x0, int(self.y)), size=self.size)
            Color(0, 0, 0, 1)
            for y, row in enumerate(self.matrix):
                for x, dark in enumerate(row):
                    if dark:
                        Rectangle(
                            pos=(x0 + (x + 4) * cell, top - (y + 5) * cell), size=(cell, cell)
                        )
