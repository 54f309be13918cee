"""A finger on the real kiosk window, for the offscreen driver
(tests/kiosk/kivy_driver.py) and the kiosk bench (bench/kiosk.py).

Import it once Kivy's Config is set (it imports Kivy's test module, and that
pytest: an import the bench must not time inside its first touch)."""

from __future__ import annotations

from typing import Any

from kivy.tests.common import UnitTestTouch


def tap(widget: Any) -> bool:
    """Touch ``widget``'s centre through the window, down and up as a finger
    does (``UnitTestTouch``: the touch finds its target as a real one would),
    and say whether ``widget``'s own ``press`` ran: False when the touch
    landed on something else (another button over it, a scroll view, nothing)."""
    x, y = widget.to_window(widget.center_x, widget.center_y)
    hit: list[bool] = []
    act = widget.press

    def pressed() -> object:
        hit.append(True)
        return act()

    widget.press = pressed
    try:
        t = UnitTestTouch(x, y)
        t.touch_down()
        t.touch_up()
    finally:
        widget.press = act
    return bool(hit)
