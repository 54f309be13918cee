"""The physical screen: every size on the kiosk is millimetres on the glass.

Rules this module guarantees:
- Sizes come from the screen's physical size in node.toml (its diagonal in
  inches, or its dpi) and its resolution, never from the dpi the windowing
  system guesses (Kivy's ``mm`` would take that guess).
- ``px(mm)`` is a whole number of pixels, so text and edges land on whole
  pixels; ``font_px(cap_mm)`` is the font size whose capital letters are
  ``cap_mm`` tall (DejaVu Sans: cap height 0.729 em), rounded up.
- The window is the panel turned as it is mounted: ``portrait`` puts the
  short side across, ``landscape`` the long side.
Pure Python: no Kivy import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CAP_HEIGHT_EM = 0.729  # DejaVu Sans (the kiosk's font): capital height / em
DEFAULT_DIAGONAL_IN = 21.5
ORIENTATIONS = ("portrait", "landscape")


@dataclass(frozen=True, slots=True)
class Display:
    """A window of ``width`` x ``height`` pixels at ``px_per_mm``."""

    width: int
    height: int
    px_per_mm: float

    @classmethod
    def of(
        cls,
        resolution: tuple[int, int] = (1080, 1920),
        orientation: str = "portrait",
        *,
        diagonal_in: float | None = DEFAULT_DIAGONAL_IN,
        dpi: float | None = None,
    ) -> Display:
        """The window of a panel of ``resolution`` mounted in ``orientation``,
        sized by ``dpi`` if given, else by ``diagonal_in``; raises ``ValueError``."""
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}, not {orientation!r}")
        short, long = sorted(resolution)
        if short < 200:
            raise ValueError(f"a screen of {resolution} pixels is too small for the kiosk")
        if dpi is not None:
            if not 40 <= dpi <= 600:
                raise ValueError(f"dpi must be 40..600, not {dpi}")
            per_mm = dpi / 25.4
        else:
            if diagonal_in is None or not 5 <= diagonal_in <= 100:
                raise ValueError(f"the diagonal must be 5..100 inches, not {diagonal_in}")
            per_mm = math.hypot(short, long) / (diagonal_in * 25.4)
        w, h = (short, long) if orientation == "portrait" else (long, short)
        return cls(w, h, per_mm)

    @property
    def landscape(self) -> bool:
        return self.width > self.height

    def mm(self, millimetres: float) -> float:
        """``millimetres`` in (fractional) pixels."""
        return millimetres * self.px_per_mm

    def px(self, millimetres: float) -> int:
        """``millimetres`` in whole pixels (at least 1 for a positive length)."""
        value = round(millimetres * self.px_per_mm)
        return max(1, value) if millimetres > 0 else value

    def font_px(self, cap_mm: float) -> int:
        """The font size (whole pixels) whose capitals are at least ``cap_mm`` tall."""
        return math.ceil(cap_mm * self.px_per_mm / CAP_HEIGHT_EM)

    def to_mm(self, pixels: float) -> float:
        return pixels / self.px_per_mm

    @property
    def size_mm(self) -> tuple[float, float]:
        return self.to_mm(self.width), self.to_mm(self.height)
