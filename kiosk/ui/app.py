"""The Kivy application: one root that redraws the model's current screen.

Rules this module guarantees:
- The app is built with a ``KioskModel`` (its services inside); no state is
  read through ``App.get_running_app()``.
- Everything runs on Kivy's main thread: ``Clock.schedule_interval`` calls
  ``model.tick`` (a few indexed reads) and the root redraws only when the tick
  says something changed, or after a touch. No thread touches a widget; the
  only other process work, speech, is a child process that is never waited on.
- Any touch restarts the idle limit before the touched widget acts.
- Around every screen: the header (place, date, time, language, text size,
  contrast, read aloud), the offline/stale banner, and the time-limit warning
  with its "more time" button.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from .. import texts
from ..model import TEXT_SCALES, KioskModel, Screen
from . import screens
from .theme import THEMES
from .widgets import Style, box, button, grid, later, paint, text

POLL_S = 0.25
SCREENS = {
    Screen.TODAY: screens.today,
    Screen.WALKIN: screens.walkin,
    Screen.LEADER: screens.leader,
    Screen.CARETAKER: screens.caretaker,
    Screen.NOTICE: screens.notice,
}


class KioskRoot(BoxLayout):  # type: ignore[misc]
    """The window's content; ``render`` rebuilds it from the model."""

    def __init__(self, model: KioskModel, **kw: Any) -> None:
        super().__init__(orientation="vertical", **kw)
        self.model = model
        self.renders = 0
        self.scroll = ScrollView(do_scroll_x=False)
        self.bind(size=lambda *_: self.render())

    def on_touch_down(self, touch: Any) -> bool:
        self.model.touch()
        result: bool = super().on_touch_down(touch)
        Clock.schedule_once(lambda _dt: self.render(), 0)
        return result

    def style(self) -> Style:
        p = self.model.prefs
        return Style(THEMES["high" if p.high_contrast else "normal"], p.scale)

    def _header(self, st: Style) -> Any:
        m, tr = self.model, self.model.tr
        _ = tr._
        head = box(st, "header")
        when = f"{texts.date_text(tr, m.today.day)}  {texts.hhmm(m.today.now)}"
        head.add_widget(text(st, m.today.facility, "header", factor=1.3, bold=True))
        head.add_widget(text(st, when, "header"))
        tools = grid(st, self.width, cell_mm=30)
        for lang in m.languages:
            chosen = lang == m.prefs.lang
            name = ("✓ " if chosen else "") + texts_native(lang)
            tools.add_widget(
                button(
                    st,
                    name,
                    later(m.set_language, lang),
                    "selected" if chosen else "button_quiet",
                    name=f"lang:{lang}",
                )
            )
        size = _("Text size {n} of {total}").format(n=m.prefs.text_size + 1, total=len(TEXT_SCALES))
        tools.add_widget(button(st, size, m.cycle_text_size, "button_quiet", name="textsize"))
        contrast = _("High contrast: on") if m.prefs.high_contrast else _("High contrast: off")
        tools.add_widget(button(st, contrast, m.toggle_contrast, "button_quiet", name="contrast"))
        tools.add_widget(
            button(
                st, _("Read aloud"), lambda: m.announce(forced=True), "button_quiet", name="read"
            )
        )
        head.add_widget(tools)
        return head

    def render(self) -> None:
        m = self.model
        st = self.style()
        self.clear_widgets()
        self.canvas.before.clear()
        paint(self, st.bg("screen"))
        self.add_widget(self._header(st))
        banner = texts.banner_text(m.tr, m.today.health)
        if banner:
            role = "banner_bad" if m.today.health.level == "stale" else "banner_warn"
            strip = box(st, role)
            strip.add_widget(text(st, banner, role, bold=True))
            self.add_widget(strip)
        if m.warning:
            warn = box(st, "banner_warn")
            left = int(m.remaining())
            warn.add_widget(
                text(
                    st,
                    texts.WARN
                    + " "
                    + m.tr._(
                        "Do you need more time? The kiosk returns to the start in {n} seconds."
                    ).format(n=left),
                    "banner_warn",
                    bold=True,
                )
            )
            warn.add_widget(button(st, m.tr._("More time"), m.extend, name="more-time"))
            self.add_widget(warn)
        content = box(st, "screen", gap=3)
        for w in SCREENS[m.screen](m, st, self.width):
            content.add_widget(w)
        self.scroll = ScrollView(do_scroll_x=False)
        self.scroll.add_widget(content)
        self.add_widget(self.scroll)
        self.renders += 1


def texts_native(lang: str) -> str:
    from ..i18n import NATIVE_NAMES

    return NATIVE_NAMES.get(lang, lang)


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
        # Redraw only on a change: a full redraw builds every widget again.
        if self.model.tick() and self.view is not None:
            self.view.render()
