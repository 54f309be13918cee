"""Words as textures: the kiosk's font, and every text it shows rendered
once and shared.

Rules this module guarantees:
- The font is DejaVu Sans (status symbols, Cyrillic) with its bold face when
  installed, registered under ``FONT`` (Kivy would ignore bold for a font it
  does not know, and search the disk for it on every label).
- ``Words`` renders words white on transparent, once per (words, size,
  weight, wrap width); a texture is as wide as its words unless they must
  wrap (software GL pays for every pixel drawn, transparent ones too).
  Wrapped words limited to N lines are N lines at most, broken at spaces, the
  last one ending in "…" when words were left out. A
  changed text gets a new texture: refilling one still queued for drawing
  makes llvmpipe finish the frame first. Recent textures no widget shows any
  more are kept up to ``budget`` bytes, for the next visit; measurements
  (which ask the font for every glyph) are kept too.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

from kivy.core.text import Label as CoreLabel
from kivy.core.text import LabelBase
from kivy.graphics.texture import Texture
from kivy.resources import resource_find

ELLIPSIS = "\u2026"
FONT = "DejaVuSans"  # has the status symbols and Cyrillic
# Kivy ships DejaVu Sans but not its bold face: Debian's fonts-dejavu-core has it
# (Makefile's deps-debian). Without it, bold words are drawn regular.
BOLD_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",)


def _register_font() -> None:
    """DejaVu Sans under ``FONT``, with its bold face when installed (a font
    Kivy knows by name is also found without searching the disk each time)."""
    regular = resource_find("data/fonts/DejaVuSans.ttf")
    bold = next((f for f in BOLD_FILES if os.path.exists(f)), regular)
    LabelBase.register(FONT, regular, fn_bold=bold)


_register_font()


class Words:
    """Rendered words, white on transparent, shared: the same words at the
    same size and wrap width are rendered once (an LRU bounded in bytes keeps
    recent ones that no widget shows any more, for the next visit)."""

    def __init__(self, budget_bytes: int = 1 << 20) -> None:
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
        text = words
        if width is not None:
            opts.update(text_size=(max(1, width), None), halign=halign)
            if lines:
                text = self.broken(words, px, bold, max(1, width), lines)
        core = CoreLabel(
            text=text, font_size=px, font_name=FONT, bold=bold, color=(1, 1, 1, 1), **opts
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

    def broken(self, words: str, px: int, bold: bool, width: int, lines: int) -> str:
        """``words`` broken into at most ``lines`` lines no wider than ``width``,
        at spaces, the last one cut with an ellipsis when not all fit. (Kivy's
        core label ignores ``max_lines`` unless given a height, and then drops
        the FIRST lines; its ``shorten`` cuts out the middle words: "IK…ännu)".)"""

        def fits(s: str) -> bool:
            return self.extent(s, px, bold)[0] <= width

        def cut(s: str) -> str:  # the longest start of ``s`` that fits with "…"
            lo, hi = 0, len(s)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if fits(s[:mid].rstrip() + ELLIPSIS):
                    lo = mid
                else:
                    hi = mid - 1
            return s[:lo].rstrip() + ELLIPSIS

        out: list[str] = []
        rest = words.split()
        while rest and len(out) < lines:
            n = 1
            while n < len(rest) and fits(" ".join(rest[: n + 1])):
                n += 1
            line, rest = " ".join(rest[:n]), rest[n:]
            if len(out) == lines - 1 and rest:  # the last line, and words left over
                line, rest = cut(" ".join([line, *rest])), []
            elif not fits(line):  # one word wider than the room
                line = cut(line)
            out.append(line)
        return "\n".join(out)

    def shown(self, words: str, px: int, bold: bool, room: int, *, lines: int = 0) -> str:
        """The words as ``fit`` (wrapping) draws them: on lines, cut when limited."""
        if not words or not lines or self.extent(words, px, bold)[0] <= room:
            return words
        return self.broken(words, px, bold, max(1, room), lines)

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
