"""The Kivy application: one root that shows the model's current screen, and
the keyboard focus that lets the kiosk be used without touch or sight.

Rules this module guarantees:
- The app is built with a ``KioskModel`` (its services inside) and the
  ``Display`` it draws for; no state is read through ``App.get_running_app()``.
- Everything runs on Kivy's main thread: ``Clock.schedule_interval`` calls
  ``model.tick`` (a few indexed reads) and the root renders only when the tick
  says something changed, or after a touch or a key, before the next frame.
  No thread touches a widget; speech is a child process that is never waited on.
- Screens are specs shown on kept widgets (``tree.Tree``): one tree for the
  frame, one per screen and step of a flow, so going back and forth builds
  nothing and a render changes only what changed.
- A screen fills the room under the frame; only one that needs more room
  than the window has scrolls (a scroll view costs every frame a stencil).
- Any touch or key restarts the idle limit before anything acts.
- Keys (``kiosk.keys``) move a visible focus ring over the screen's buttons
  in reading order (the screen's own first, then the header's), each spoken
  as it gets the focus (its ``spoken`` label); Enter activates, Escape goes
  back. The focus follows its button across renders by name and starts on
  the screen's first button when the screen or its step changes.
- Only what changed is drawn again when the platform keeps the last frame
  (``redraw``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.layout import Layout
from kivy.uix.scrollview import ScrollView

from ..display import Display
from ..keys import Act, action
from ..leader import L
from ..model import KioskModel, Screen
from ..walkin import W
from . import screens, staff
from .frame import frame
from .layout import Column
from .redraw import Redraw
from .today import today
from .tree import Tree
from .widgets import Press, Style

POLL_S = 0.25
PAGES: dict[Screen, Callable[[KioskModel, Style, int], Any]] = {
    Screen.TODAY: today,
    Screen.WALKIN: screens.walkin,
    Screen.LEADER: staff.leader,
    Screen.CARETAKER: staff.caretaker,
    Screen.NOTICE: screens.notice,
}
BACK_NAMES = ("back", "cancel", "ok", "lockdown-no", "release-no", "done")


class Viewport(Layout):  # type: ignore[misc]
    """The room under the frame: the page fills it, or scrolls in it when it
    needs more (``scroll`` is then the scroll view, else None)."""

    def __init__(self, display: Display, **kw: Any) -> None:
        super().__init__(**kw)
        self.page: Any = None
        self.scroll: ScrollView | None = None
        self._scroller = ScrollView(do_scroll_x=False)
        self._scroller.bar_width = display.px(2)
        for name in ("pos", "size"):
            self.fbind(name, self._trigger_layout)

    def show(self, page: Any) -> bool:
        """Show ``page``; True when it is another page than before."""
        if page is self.page:
            return False
        if self.page is not None:
            self.page.funbind("natural_h", self._trigger_layout)
            if self.page.parent is not None:
                self.page.parent.remove_widget(self.page)
        self.page = page
        page.fbind("natural_h", self._trigger_layout)
        self._trigger_layout()
        self.do_layout()
        return True

    def do_layout(self, *_: Any) -> None:
        page = self.page
        if page is None:
            return
        fits = page.natural_h <= int(self.height)
        holder = self if fits else self._scroller
        if page.parent is not holder:
            if page.parent is not None:
                page.parent.remove_widget(page)
            holder.add_widget(page)
        if fits:
            if self._scroller.parent is self:
                self.remove_widget(self._scroller)
            self.scroll = None
            page.size_hint_min_y = None
            page.pos, page.size = (int(self.x), int(self.y)), (int(self.width), int(self.height))
        else:
            if self._scroller.parent is None:
                self.add_widget(self._scroller)
                self._scroller.scroll_y = 1
            self.scroll = self._scroller
            self._scroller.pos, self._scroller.size = self.pos, self.size
            page.size_hint_min_y = page.natural_h

    def top(self) -> None:
        """Back to the top (a new screen or step)."""
        self._scroller.scroll_y = 1


class KioskRoot(Column):
    """The window's content; ``render`` brings it in line with the model."""

    def __init__(self, model: KioskModel, display: Display, **kw: Any) -> None:
        super().__init__(**kw)
        self.model, self.display = model, display
        self.renders = 0
        self.frame_tree = Tree()
        self.pages: dict[tuple[object, ...], Tree] = {}
        self.viewport = Viewport(display, size_hint_y=1)
        self.place: tuple[object, ...] = ()
        self.focus_name: str | None = None
        self._content: Any = None
        self._strips: Any = None
        self._width = 0
        self.redraw = Redraw(self)
        self.bind(size=self._resized)

    @property
    def scroll(self) -> ScrollView | None:
        return self.viewport.scroll

    def _resized(self, *_: Any) -> None:
        if int(self.width) != self._width:
            self.render()

    def on_touch_down(self, touch: Any) -> bool:
        self.model.touch()
        result: bool = super().on_touch_down(touch)
        Clock.schedule_once(lambda _dt: self.render(), -1)  # before the next frame
        return result

    def style(self) -> Style:
        p = self.model.prefs
        return Style("high" if p.high_contrast else "normal", p.scale, self.display)

    def _place(self) -> tuple[object, ...]:
        """Which screen and which step of its flow: a change scrolls to the top
        and puts the focus on the screen's first button."""
        m = self.model
        flow = {Screen.WALKIN: m.walkin, Screen.LEADER: m.leader}.get(m.screen)
        return (m.screen, flow.state if flow is not None else None)

    def render(self) -> None:
        m, st = self.model, self.style()
        width = self._width = int(self.width) or self.display.width
        self._strips = self.frame_tree.mount(frame(m, st, width), st)
        place = self._place()
        moved = place != self.place
        if moved:
            self.place = place
            self.focus_name = None
        tree = self.pages.setdefault(place, Tree())
        self._content = tree.mount(PAGES[m.screen](m, st, width), st)
        if self.viewport.show(self._content) or moved:
            self.viewport.top()  # a new screen or step starts at the top
        if tuple(Window.clearcolor) != st.bg("screen"):
            # The screen's ground is the window's clear colour: software GL fills
            # each pixel once less than a painted ground would cost.
            Window.clearcolor = st.bg("screen")
        if self.children[::-1] != [self._strips, self.viewport]:
            self.clear_widgets()
            self.add_widget(self._strips)
            self.add_widget(self.viewport)
        self._refocus()
        self.renders += 1

    # --- keyboard focus ------------------------------------------------------------

    def focusables(self) -> list[Any]:
        """Buttons in reading order: the screen's own, then the header's."""

        def walk(root: Any) -> list[Any]:
            return [w for w in root.walk(restrict=True) if isinstance(w, Press) and not w.disabled]

        content = walk(self._content) if self._content is not None else []
        frame_ = walk(self._strips) if self._strips is not None else []
        return content + frame_

    def _refocus(self) -> None:
        for w in self.focusables():
            w.set_focus(w.hallvakt_name == self.focus_name)

    def focused(self) -> Any:
        return next((w for w in self.focusables() if w.hallvakt_name == self.focus_name), None)

    def move_focus(self, step: int) -> None:
        items = self.focusables()
        if not items:
            return
        names = [w.hallvakt_name for w in items]
        if self.focus_name in names:
            i = (names.index(self.focus_name) + step) % len(items)
        else:
            i = 0 if step > 0 else len(items) - 1
        target = items[i]
        self.focus_name = target.hallvakt_name
        self._refocus()
        scroll = self.scroll
        if scroll is not None and self._is_in(target, self._content):
            scroll.scroll_to(target, padding=self.display.px(5), animate=False)
        self.model.say(target.spoken, forced=self.model.prefs.speech)

    @staticmethod
    def _is_in(w: Any, root: Any) -> bool:
        while w is not None:
            if w is root:
                return True
            w = w.parent
        return False

    def number_field(self) -> bool:
        m = self.model
        if m.screen is Screen.WALKIN and m.walkin is not None:
            return m.walkin.state is W.IDENTIFY and m.walkin.view().phone_allowed
        return m.screen is Screen.LEADER and m.leader is not None and m.leader.state is L.COUNT

    def on_key(self, key: int, shift: bool) -> bool:
        """One key press; True if it did something."""
        m = self.model
        m.touch()
        act = action(key, shift, self.number_field())
        if act is None:
            return False
        what, digit = act
        if what is Act.NEXT:
            self.move_focus(1)
        elif what is Act.PREV:
            self.move_focus(-1)
        elif what is Act.READ:
            m.announce(forced=True)
        elif what is Act.ACTIVATE:
            target = self.focused()
            if target is None:
                self.move_focus(1)
                return True
            target.press()
            self.render()
        elif what is Act.BACK:
            names = {w.hallvakt_name: w for w in self.focusables()}
            target = next((names[n] for n in BACK_NAMES if n in names), None)
            if target is not None:
                target.press()
                self.render()
        elif what is Act.DIGIT:
            if m.screen is Screen.WALKIN:
                m.key(digit)
            else:
                m.count_digit(digit)
            self.render()
        elif what is Act.ERASE:
            if m.screen is Screen.WALKIN:
                m.key_back()
            else:
                m.count_erase()
            self.render()
        return True


class KioskApp(App):  # type: ignore[misc]
    """``KioskApp(model, display).run()``; tests drive it offscreen."""

    title = "Hallvakt"

    def __init__(
        self, model: KioskModel, display: Display | None = None, poll_s: float = POLL_S, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.model = model
        self.display = display or model.svc.settings.display
        self.poll_s = poll_s
        self.view: KioskRoot | None = None
        self.ticks = 0

    def build(self) -> KioskRoot:
        self.view = KioskRoot(self.model, self.display)
        Window.bind(on_key_down=self._key_down)
        return self.view

    def _key_down(
        self, _window: Any, key: int, _scancode: int, _text: Any, mods: list[str]
    ) -> bool:
        if self.view is None:
            return False
        return self.view.on_key(key, "shift" in (mods or []))

    def on_start(self) -> None:
        Clock.schedule_interval(self._tick, self.poll_s)
        self.model.announce()
        if self.view is not None:
            self.view.redraw.start()
            self.view.render()

    def _tick(self, _dt: float) -> None:
        changed = self.model.tick()
        self.ticks += 1
        if changed and self.view is not None:
            self.view.render()
