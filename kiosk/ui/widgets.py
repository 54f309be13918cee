"""Themed, accessible building blocks: labels that wrap, buttons at least
9 mm square, boxes with a background, a QR code drawn with rectangles.

Rules this module guarantees:
- Every button is at least ``MIN_TARGET_MM`` in both directions (Kivy's
  ``mm`` from the display's dpi) and carries its text in words; colour only
  repeats what the words say.
- Sizes scale with the visitor's text size; colours come from the theme.
- Widgets hold no state of their own: callbacks go to the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    """The theme and text scale one render uses."""

    def __init__(self, theme: dict[str, Pair], scale: float) -> None:
        self.theme, self.scale = theme, scale

    def font(self, factor: float = 1.0) -> float:
        return float(mm(BASE_FONT_MM)) * self.scale * factor

    def fg(self, role: str) -> tuple[float, float, float, float]:
        return rgba(self.theme[role][0])

    def bg(self, role: str) -> tuple[float, float, float, float]:
        return rgba(self.theme[role][1])


def later(fn: Callable[..., object], *args: object) -> Callable[[], object]:
    """``fn(*args)`` as a callback (a lambda's default arguments defeat mypy)."""
    return lambda: fn(*args)


def paint(widget: Widget, colour: tuple[float, float, float, float]) -> None:
    """Fill ``widget``'s box with ``colour`` (kept in step with its pos and size)."""
    with widget.canvas.before:
        Color(*colour)
        rect = Rectangle(pos=widget.pos, size=widget.size)

    def follow(*_: Any) -> None:
        rect.pos, rect.size = widget.pos, widget.size

    widget.bind(pos=follow, size=follow)


def box(style: Style, role: str = "screen", *, horizontal: bool = False, gap: float = 2) -> Any:
    """A box that grows with its content (vertical) or fills a row (horizontal)."""
    b = BoxLayout(
        orientation="horizontal" if horizontal else "vertical",
        spacing=mm(gap),
        padding=mm(gap),
        size_hint_y=None,
    )
    b.bind(minimum_height=b.setter("height"))
    paint(b, style.bg(role))
    return b


def text(
    style: Style, words: str, role: str = "screen", *, factor: float = 1.0, bold: bool = False
) -> Any:
    """A wrapping label whose height follows its text, on its role's background."""
    lab = Label(
        text=words,
        font_name=FONT,
        font_size=style.font(factor),
        bold=bold,
        color=style.fg(role),
        halign="left",
        valign="middle",
        size_hint_y=None,
    )

    def wrap(*_: Any) -> None:
        lab.text_size = (lab.width, None)

    def grow(*_: Any) -> None:
        lab.height = lab.texture_size[1] + mm(1)

    lab.bind(width=wrap, texture_size=grow)
    paint(lab, style.bg(role))  # the pair drawn is the pair the contrast test checked
    return lab


def button(
    style: Style,
    words: str,
    press: Callable[[], object],
    role: str = "button",
    *,
    factor: float = 1.0,
    name: str = "",
) -> Any:
    """A button of at least ``MIN_TARGET_MM`` square; ``name`` finds it in tests."""
    least = float(mm(MIN_TARGET_MM))
    b = Button(
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
        height=max(least, style.font(factor) * 2.4),
        padding=(mm(2), mm(1)),
    )
    b.min_width = least
    b.hallvakt_name = name or words

    def wrap(*_: Any) -> None:
        b.text_size = (max(1.0, b.width - mm(2)), None)

    def grow(*_: Any) -> None:
        b.height = max(least, style.font(factor) * 2.4, b.texture_size[1] + mm(3))

    b.bind(width=wrap, texture_size=grow)
    b.bind(on_release=lambda *_: press())
    return b


def grid(style: Style, width: float, cell_mm: float = 26) -> Any:
    """Columns as many as fit ``cell_mm`` (scaled) each in ``width``."""
    cols = max(1, int(width // (mm(cell_mm) * style.scale)))
    g = GridLayout(cols=cols, spacing=mm(2), size_hint_y=None)
    g.bind(minimum_height=g.setter("height"))
    return g


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
