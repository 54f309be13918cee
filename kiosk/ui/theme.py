"""Colours, sizes and the contrast rule of the kiosk's two themes.

Rules this module guarantees:
- Every role is a (foreground, background) pair; a test checks each pair's
  contrast ratio (WCAG 2.x relative luminance): at least 4.5:1 in the normal
  theme (SC 1.4.3), at least 7:1 in high contrast (SC 1.4.6).
- Status never by colour alone: roles colour a word and a symbol that say the
  same (kiosk.texts), so a screen in greyscale loses nothing.
- Touch targets are at least ``MIN_TARGET_MM`` millimetres in both directions,
  primary ones ``PRIMARY_TARGET_MM`` (millimetres on the glass: ``kiosk.display``).
- Text: body capitals ``BODY_CAP_MM`` tall, headings larger, a room's status
  ``STATUS_CAP_MM`` (readable from 3 m).
- Every button and card has an outline (``OUTLINES``, by the surface it sits
  on) of at least 3:1 against that surface (WCAG 1.4.11), and the keyboard
  focus ring (``FOCUS``) at least 3:1 against every surface too.
Pure Python: no Kivy import.
"""

from __future__ import annotations

MIN_TARGET_MM = 9.0
PRIMARY_TARGET_MM = 15.0
BODY_CAP_MM = 4.0  # capital height of body text
HEADING = 1.35  # heading capitals, relative to body
STATUS_CAP_MM = 15.0  # a room's status, readable from 3 m
OUTLINE_MM = 0.5
FOCUS_MM = 1.2

Pair = tuple[str, str]

NORMAL: dict[str, Pair] = {
    "screen": ("#1A1A1A", "#FFFFFF"),
    "muted": ("#474747", "#FFFFFF"),
    "header": ("#FFFFFF", "#123A5E"),
    "card": ("#1A1A1A", "#FFFFFF"),
    "button": ("#FFFFFF", "#0B5394"),
    "button_quiet": ("#1A1A1A", "#DCE3EB"),
    "button_free": ("#FFFFFF", "#1D6B35"),
    "button_danger": ("#FFFFFF", "#9B1C1C"),
    "selected": ("#FFFFFF", "#1A1A1A"),
    "banner_warn": ("#1A1A1A", "#FFD966"),
    "banner_bad": ("#FFFFFF", "#8B1A1A"),
    "alarm": ("#8B1A1A", "#FFFFFF"),
    "ok": ("#1D5E2F", "#FFFFFF"),
    "code": ("#000000", "#FFFFFF"),
}

HIGH: dict[str, Pair] = {
    "screen": ("#FFFFFF", "#000000"),
    "muted": ("#E6E6E6", "#000000"),
    "header": ("#FFFF00", "#000000"),
    "card": ("#FFFFFF", "#000000"),
    "button": ("#000000", "#FFFF00"),
    "button_quiet": ("#000000", "#FFFFFF"),
    "button_free": ("#000000", "#7CFC00"),
    "button_danger": ("#000000", "#FF9E9E"),
    "selected": ("#000000", "#00FFFF"),
    "banner_warn": ("#000000", "#FFFF00"),
    "banner_bad": ("#000000", "#FFFFFF"),
    "alarm": ("#FF9E9E", "#000000"),
    "ok": ("#7CFC00", "#000000"),
    "code": ("#000000", "#FFFFFF"),
}

THEMES = {"normal": NORMAL, "high": HIGH}

# The surfaces things are drawn on, and the outline each gets there (>= 3:1).
SURFACES = ("screen", "card", "header")
OUTLINES = {
    "normal": {"screen": "#5B6670", "card": "#5B6670", "header": "#DCE3EB"},
    "high": {"screen": "#FFFFFF", "card": "#FFFFFF", "header": "#FFFFFF"},
}
FOCUS = {
    "normal": {"screen": "#B3410E", "card": "#B3410E", "header": "#FFD966"},
    "high": {"screen": "#00FFFF", "card": "#00FFFF", "header": "#00FFFF"},
}
# Timeline blocks: busy, free (bookable), past; each a (fg, bg) pair like the roles.
NORMAL.update(
    {
        "busy": ("#FFFFFF", "#8B1A1A"),
        "busy_block": ("#1A1A1A", "#F2D0D0"),
        "free_block": ("#FFFFFF", "#1D6B35"),
        "closed_block": ("#1A1A1A", "#E4E4E4"),
        "status_free": ("#1D5E2F", "#FFFFFF"),
        "status_busy": ("#8B1A1A", "#FFFFFF"),
        "message": ("#FFFFFF", "#4B2C83"),
        "now": ("#B3410E", "#FFFFFF"),
    }
)
HIGH.update(
    {
        "busy": ("#000000", "#FF9E9E"),
        "busy_block": ("#000000", "#FFC9C9"),
        "free_block": ("#000000", "#7CFC00"),
        "closed_block": ("#FFFFFF", "#000000"),
        "status_free": ("#7CFC00", "#000000"),
        "status_busy": ("#FF9E9E", "#000000"),
        "message": ("#000000", "#FFFFFF"),
        "now": ("#00FFFF", "#000000"),
    }
)


def rgb(hex_colour: str) -> tuple[float, float, float]:
    """``#RRGGBB`` as three floats 0..1."""
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255


def rgba(hex_colour: str) -> tuple[float, float, float, float]:
    return (*rgb(hex_colour), 1.0)


def _linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_colour: str) -> float:
    """WCAG 2.x relative luminance."""
    r, g, b = (_linear(c) for c in rgb(hex_colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """(L1 + 0.05) / (L2 + 0.05), the lighter over the darker: 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def pairs(theme: dict[str, Pair]) -> list[tuple[str, str, str]]:
    """Every (role, foreground, background) the screens draw."""
    return [(role, fg, bg) for role, (fg, bg) in theme.items()]
