"""Keys to actions: a USB numeric keypad or a keyboard drives the kiosk
without touch (EN 301 549 5.1.6: operation without vision).

Rules this module guarantees:
- Arrows, Tab / Shift+Tab and the keypad's + and − move the focus; Enter,
  the keypad's Enter and Space activate the focused button; Escape goes back
  (the screen's Back, Cancel, OK or Close); the keypad's * reads the screen
  aloud again.
- Digits type into the screen's number field (a phone number, a headcount)
  when it has one; on a screen without one the keypad's 8/4 move back,
  2/6 move on and 5 activates (the layout of an audio keypad).
- Backspace erases the last digit in a number field, else goes back.
Pure: Kivy key codes in, actions out.
"""

from __future__ import annotations

import enum

TAB, ENTER, ESCAPE, BACKSPACE, SPACE = 9, 13, 27, 8, 32
UP, DOWN, RIGHT, LEFT = 273, 274, 275, 276
KP0, KP_DECIMAL, KP_DIVIDE, KP_MULTIPLY, KP_MINUS, KP_PLUS, KP_ENTER = (
    256, 266, 267, 268, 269, 270, 271,
)  # fmt: skip


class Act(enum.Enum):
    NEXT = "next"
    PREV = "prev"
    ACTIVATE = "activate"
    BACK = "back"
    READ = "read"
    DIGIT = "digit"
    ERASE = "erase"


KEYPAD_NAV = {8: Act.PREV, 4: Act.PREV, 2: Act.NEXT, 6: Act.NEXT, 5: Act.ACTIVATE}


def action(key: int, shift: bool, number_field: bool) -> tuple[Act, str] | None:
    """The action for Kivy key code ``key`` (``""`` or the digit typed);
    None for a key that does nothing."""
    if key in (TAB,):
        return (Act.PREV if shift else Act.NEXT), ""
    if key in (DOWN, RIGHT, KP_PLUS):
        return Act.NEXT, ""
    if key in (UP, LEFT, KP_MINUS):
        return Act.PREV, ""
    if key in (ENTER, KP_ENTER, SPACE):
        return Act.ACTIVATE, ""
    if key == ESCAPE:
        return Act.BACK, ""
    if key == KP_MULTIPLY:
        return Act.READ, ""
    if key in (BACKSPACE, KP_DECIMAL):
        return (Act.ERASE if number_field else Act.BACK), ""
    digit = None
    if 48 <= key <= 57:
        digit = key - 48
    elif KP0 <= key <= KP0 + 9:
        digit = key - KP0
        if not number_field:
            nav = KEYPAD_NAV.get(digit)
            return (nav, "") if nav is not None else None
    if digit is not None:
        return (Act.DIGIT, str(digit)) if number_field else None
    return None
