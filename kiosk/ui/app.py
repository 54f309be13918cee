"""The Kivy application: one root that shows the model's current screen,
keeping its widgets and updating them in place.

Rules this module guarantees:
- The app is built with a ``KioskModel`` (its services inside); no state is
  read through ``App.get_running_app()``.
- Everything runs on Kivy's main thread: ``Clock.schedule_interval`` calls
  ``model.tick`` (a few indexed reads) and the root renders only when the tick
  says something changed, or after a touch. No thread touches a widget; the
  only other process work, speech, is a child process that is never waited on.
- Any touch restarts the idle limit before the touched widget acts.
- Around every screen: the header (place, date, time, language, text size,
  contrast, read aloud), the offline/stale banner, and the time-limit warning
  with its "more time" button (``frame.Frame``).
- What is kept: the frame, the scroll view and Today's cards
  (``today.TodayPane``) are built once and updated in place; the other
  screens, visited for a minute at a time, are built again on each render.
  After every render each themed widget has the current text size and
  contrast (``widgets.restyle``).
- The scroll goes back to the top when the screen or the step of its flow
  changes, and on Today once the kiosk has been left alone for its idle
  limit; otherwise a refresh keeps the visitor's place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from ..model import KioskModel, Screen
from . import screens
from .frame import Frame
from .theme import THEMES
from .today import TodayPane
from .widgets import Style, box, paint, restyle, show

POLL_S = 0.25
SCREENS: dict[Screen, Callable[[KioskModel, Style, float], list[Any]]] = {
    Screen.WALKIN: screens.walkin,
    Screen.LEADER: screens.leader,
    Screen.CARETAKER: screens.caretaker,
    Screen.NOTICE: screens.notice,
}


class KioskRoot(BoxLayout):  # type: ignore[misc]
    """The window's content; ``render`` brings it in line with the model."""

    def __init__(self, model: KioskModel, **kw: Any) -> None:
        super().__init__(orientation="vertical", **kw)
        self.model = model
        self.renders = 0
        st = self.style()
        self.fill = paint(self, st.bg("screen"))
        self.frame = Frame(model, st)
        self.today = TodayPane(st)
        self.content = box(st, "screen", gap=3)
        self.scroll = self._scroll_view()
        self.place: tuple[object, ...] = ()
        self.bind(size=lambda *_: self.render())

    def on_touch_down(self, touch: Any) -> bool:
        self.model.touch()
        result: bool = super().on_touch_down(touch)
        Clock.schedule_once(lambda _dt: self.render(), 0)
        return result

    def style(self) -> Style:
        p = self.model.prefs
        return Style(THEMES["high" if p.high_contrast else "normal"], p.scale)

    def _scroll_view(self) -> ScrollView:
        """A scroll view at the top holding the content, its bar always drawn
        as when scrolled (as it looked when every render built a new one)."""
        scroll = ScrollView(do_scroll_x=False)
        scroll.bar_inactive_color = scroll.bar_color
        scroll.add_widget(self.content)
        return scroll

    def _place(self) -> tuple[object, ...]:
        """Which screen and which step of its flow: a change scrolls to the top."""
        m = self.model
        flow = {Screen.WALKIN: m.walkin, Screen.LEADER: m.leader}.get(m.screen)
        return (m.screen, flow.state if flow is not None else None)

    def render(self) -> None:
        m, st = self.model, self.style()
        if m.screen is Screen.TODAY:
            show(self.content, self.today.update(m, st, self.width))
        else:
            show(self.content, SCREENS[m.screen](m, st, self.width))
        place = self._place()
        idle = m.screen is Screen.TODAY and m.remaining() <= 0 and self.scroll.scroll_y < 1
        if place != self.place or idle:
            # Back to the top, with no kinetic scroll of the last screen left.
            self.place = place
            self.scroll.remove_widget(self.content)
            self.scroll = self._scroll_view()
        show(self, [*self.frame.update(st, self.width), self.scroll])
        if tuple(self.fill.rgba) != st.bg("screen"):  # an unchanged screen draws no frame
            self.fill.rgba = st.bg("screen")
        restyle(self, st)
        self.renders += 1


class KioskApp(App):  # type: ignore[misc]
    """``KioskApp(model).run()``; tests drive it with ``GraphicUnitTest``."""

    title = "Hallvakt"

    def __init__(self, model: KioskModel, poll_s: float = POLL_S, **kw: Any) -> None:
        super().__init__(**kw)
        self.model = model
        self.poll_s = poll_s
        self.view: KioskRoot | None = None

    def build(self) -> KioskRoot:
        self.view = KioskRoot(self.model)
        return self.view

    def on_start(self) -> None:
        Window.clearcolor = (0, 0, 0, 1)
        Clock.schedule_interval(self._tick, self.poll_s)
        self.model.announce()
        if self.view is not None:
            self.view.render()

    def _tick(self, _dt: float) -> None:
        # Render only on a change (Today's texts are set in place, but each
        # label set to new words draws its texture again).
        if self.model.tick() and self.view is not None:
            self.view.render()
