"""Themed, accessible building blocks: labels that wrap, buttons at least
9 mm square, boxes with a background, a QR code drawn with rectangles.

Rules this module guarantees:
- Every button is at least ``MIN_TARGET_MM`` in both directions (Kivy's
  ``mm`` from the display's dpi) and carries its text in words; colour only
  repeats what the words say.
- Sizes scale with the visitor's text size; colours come from the theme.
- Widgets hold no state of their own: callbacks go to the model.
- Themed widgets (``Box``, ``Text``, ``Press``) keep their role and text
  factor, so a widget that is kept across renders takes a new text size or
  contrast in place (``restyle``) and looks as if it were built anew.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, Rectangle
from kivy.metrics import mm
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from ..qr import Matrix
from .theme import BASE_FONT_MM, MIN_TARGET_MM, Pair, rgba

FONT = "DejaVuSans"  # ships with Kivy; has the status symbols and Cyrillic


class Style:
    """The theme and text scale one render uses; equal styles draw alike."""

    def __init__(self, theme: dict[str, Pair], scale: float) -> None:
        self.theme, self.scale = theme, scale

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Style):
            return NotImplemented
        return self.scale == other.scale and self.theme == other.theme

    def font(self, factor: float = 1.0) -> float:
        return float(mm(BASE_FONT_MM)) * self.scale * factor

    def fg(self, role: str) -> tuple[float, float, float, float]:
        return rgba(self.theme[role][0])

    def bg(self, role: str) -> tuple[float, float, float, float]:
        return rgba(self.theme[role][1])


def later(fn: Callable[..., object], *args: object) -> Callable[[], object]:
    """``fn(*args)`` as a callback (a lambda's default arguments defeat mypy)."""
    return lambda: fn(*args)


def paint(widget: Widget, colour: tuple[float, float, float, float]) -> Color:
    """Fill ``widget``'s box with ``colour`` (kept in step with its pos and size);
    returns the colour instruction, so a restyle can change it in place."""
    with widget.canvas.before:
        fill = Color(*colour)
        rect = Rectangle(pos=widget.pos, size=widget.size)

    def follow(*_: Any) -> None:
        rect.pos, rect.size = widget.pos, widget.size

    widget.bind(pos=follow, size=follow)
    return fill


class Box(BoxLayout):  # type: ignore[misc]
    """A box on its role's background that grows with its content (vertical) or
    fills a row (horizontal)."""

    def __init__(self, style: Style, role: str, horizontal: bool, gap: float) -> None:
        super().__init__(
            orientation="horizontal" if horizontal else "vertical",
            spacing=mm(gap),
            padding=mm(gap),
            size_hint_y=None,
        )
        self.bind(minimum_height=self.setter("height"))
        self.role, self.styled, self.painted = role, style, role
        self.fill = paint(self, style.bg(role))

    def restyle(self, style: Style) -> None:
        self.styled, self.painted = style, self.role
        self.fill.rgba = style.bg(self.role)


def box(style: Style, role: str = "screen", *, horizontal: bool = False, gap: float = 2) -> Any:
    """A ``Box``: grows with its content (vertical) or fills a row (horizontal)."""
    return Box(style, role, horizontal, gap)


class FreshTexture:
    """Labels whose words change draw them on a new texture.

    Kivy fills a same-sized label texture again in place; with software GL
    (Mesa llvmpipe) that waits until every draw queued with the old texture
    is done: about 20 ms per changed label at 1080x1920, where a new texture
    (as a label built anew gets) costs well under 1 ms.
    """

    _label: Any

    def texture_update(self, *largs: Any) -> None:
        self._label.texture = None
        super().texture_update(*largs)  # type: ignore[misc]


class Text(FreshTexture, Label):  # type: ignore[misc]
    """A wrapping label whose height follows its text, on its role's background."""

    def __init__(self, style: Style, words: str, role: str, factor: float, bold: bool) -> None:
        super().__init__(
            text=words,
            font_name=FONT,
            font_size=style.font(factor),
            bold=bold,
            color=style.fg(role),
            halign="left",
            valign="middle",
            size_hint_y=None,
        )
        self.role, self.factor, self.styled, self.painted = role, factor, style, role
        self.rewrap = Clock.create_trigger(self.texture_update, 0)
        self.bind(width=self._wrap, texture_size=self._grow)
        self.fill = paint(self, style.bg(role))  # the pair drawn is the pair the test checked

    def _wrap(self, *_: Any) -> None:
        self.text_size = (self.width, None)
        self.rewrap()  # see ``Press._wrap``

    def _grow(self, *_: Any) -> None:
        self.height = self.texture_size[1] + mm(1)

    def restyle(self, style: Style) -> None:
        self.styled, self.painted = style, self.role
        self.font_size = style.font(self.factor)
        self.color = style.fg(self.role)
        self.fill.rgba = style.bg(self.role)


def text(
    style: Style, words: str, role: str = "screen", *, factor: float = 1.0, bold: bool = False
) -> Any:
    """A ``Text``: a wrapping label whose height follows its text."""
    return Text(style, words, role, factor, bold)


class Press(FreshTexture, Button):  # type: ignore[misc]
    """A button of at least ``MIN_TARGET_MM`` square that calls ``press``;
    ``hallvakt_name`` finds it in tests. Reused buttons get a new ``press``."""

    def __init__(
        self, style: Style, words: str, press: Callable[[], object], role: str, factor: float
    ) -> None:
        self.least = float(mm(MIN_TARGET_MM))
        super().__init__(
            text=words,
            font_name=FONT,
            font_size=style.font(factor),
            color=style.fg(role),
            background_normal="",
            background_down="",
            background_color=style.bg(role),
            halign="center",
            valign="middle",
            size_hint_y=None,
            height=max(self.least, style.font(factor) * 2.4),
            padding=(mm(2), mm(1)),
        )
        self.min_width = self.least
        self.role, self.factor, self.press = role, factor, press
        self.styled, self.painted = style, role
        self.hallvakt_name = words
        self.rewrap = Clock.create_trigger(self.texture_update, 0)
        self.bind(width=self._wrap, texture_size=self._grow)
        self.bind(on_release=lambda *_: self.press())

    def _wrap(self, *_: Any) -> None:
        self.text_size = (max(1.0, self.width - mm(2)), None)
        # Wrap once more on the next frame, when the widths have settled: a
        # kept label that passed through tiny widths while a layout settled
        # (the first render, a resize) could keep a wrap Kivy 2.3.1 got one
        # word wrong, until its words changed (seen on the first screenshot).
        self.rewrap()

    def _grow(self, *_: Any) -> None:
        font = self.styled.font(self.factor)
        self.height = max(self.least, font * 2.4, self.texture_size[1] + mm(3))

    def restyle(self, style: Style) -> None:
        self.styled, self.painted = style, self.role
        self.font_size = style.font(self.factor)
        self.color = style.fg(self.role)
        self.background_color = style.bg(self.role)
        self._grow()


def button(
    style: Style,
    words: str,
    press: Callable[[], object],
    role: str = "button",
    *,
    factor: float = 1.0,
    name: str = "",
) -> Any:
    """A ``Press`` button of at least ``MIN_TARGET_MM`` square; ``name`` finds it in tests."""
    b = Press(style, words, press, role, factor)
    b.hallvakt_name = name or words
    return b


class Grid(GridLayout):  # type: ignore[misc]
    """Columns as many as fit ``cell_mm`` (scaled) each in the width given."""

    def __init__(self, style: Style, width: float, cell_mm: float) -> None:
        super().__init__(cols=1, spacing=mm(2), size_hint_y=None)
        self.bind(minimum_height=self.setter("height"))
        self.cell_mm = cell_mm
        self.fit(style, width)

    def fit(self, style: Style, width: float) -> None:
        self.cols = max(1, int(width // (mm(self.cell_mm) * style.scale)))


def grid(style: Style, width: float, cell_mm: float = 26) -> Any:
    """A ``Grid`` of as many columns as fit ``cell_mm`` (scaled) each in ``width``."""
    return Grid(style, width, cell_mm)


def restyle(root: Widget, style: Style) -> None:
    """Give every themed widget under ``root`` (itself too) ``style``'s colours
    and sizes for its current ``role``: a text-size, contrast or role change
    on widgets that are kept. Widgets already drawn so are left alone."""
    for w in root.walk(restrict=True):
        if isinstance(w, Box | Text | Press) and (w.painted != w.role or w.styled != style):
            w.restyle(style)


def show(parent: Widget, children: list[Any]) -> None:
    """Make ``children`` (top down) ``parent``'s children, touching nothing when
    they already are: widgets are moved, never built here."""
    if parent.children[::-1] != children:
        parent.clear_widgets()
        for w in children:
            parent.add_widget(w)


class QrCode(Widget):  # type: ignore[misc]
    """A QR matrix drawn dark on light with a four-module quiet zone."""

    def __init__(self, matrix: Matrix, side: float, **kw: Any) -> None:
        super().__init__(size_hint=(None, None), size=(side, side), **kw)
        self.matrix = matrix
        self.bind(pos=self._draw, size=self._draw)
        self._draw()

    def _draw(self, *_: Any) -> None:
        n = len(self.matrix) + 8
        cell = self.width / n
        self.canvas.clear()
        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(pos=self.pos, size=self.size)
            Color(0, 0, 0, 1)
            for y, row in enumerate(self.matrix):
                for x, dark in enumerate(row):
                    if dark:
                        Rectangle(
                            pos=(self.x + (x + 4) * cell, self.top - (y + 5) * cell),
                            size=(cell, cell),
                        )
