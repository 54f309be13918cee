"""The frame around every screen: the header (place, date, time, and the
visitor's controls: language, text size, contrast, speech, volume, read
aloud), central's public message, the offline/stale banner and the
time-limit warning with its live countdown and "more time" button.

Rules this module guarantees:
- ``Frame.update`` returns the strips to show, top down; they are built again
  only when a word, the style or the width changed (a render that changes
  nothing builds nothing).
- The header's controls are buttons sized to their one line of words that
  flow onto a second row as whole buttons: a control's words never wrap, at
  every text size, in every language and orientation.
- The speech control says what it does ("Speech: on") and is on every screen.
"""

from __future__ import annotations

from typing import Any

from .. import texts
from ..i18n import NATIVE_NAMES
from ..model import TEXT_SCALES, VOLUMES, KioskModel
from .widgets import Style, box, button, flow, later, text


class Frame:
    """The header, message, banner and warning of one ``KioskRoot``."""

    def __init__(self, model: KioskModel) -> None:
        self.model = model
        self._key: tuple[object, ...] = ()
        self._strips: list[Any] = []

    def controls(self, st: Style) -> list[Any]:
        m, tr = self.model, self.model.tr
        _ = tr._
        out = []
        for lang in m.languages:
            chosen = lang == m.prefs.lang
            name = NATIVE_NAMES.get(lang, lang)
            out.append(
                button(
                    st, ("✓ " if chosen else "") + name, later(m.set_language, lang),
                    "selected" if chosen else "button_quiet", name=f"lang:{lang}",
                    spoken=name, surface="header", fit=True,
                )
            )  # fmt: skip
        n, total = m.prefs.text_size + 1, len(TEXT_SCALES)
        out.append(
            button(
                st, _("Text size {n}/{total}").format(n=n, total=total), m.cycle_text_size,
                "button_quiet", name="textsize", surface="header", fit=True,
                spoken=_("Text size {n} of {total}").format(n=n, total=total),
            )
        )  # fmt: skip
        hc = m.prefs.high_contrast
        out.append(
            button(
                st, ("✓ " if hc else "") + _("Contrast"), m.toggle_contrast,
                "selected" if hc else "button_quiet", name="contrast", surface="header", fit=True,
                spoken=_("High contrast: on") if hc else _("High contrast: off"),
            )
        )  # fmt: skip
        on = m.prefs.speech
        out.append(
            button(
                st, _("Speech: on") if on else _("Speech: off"), m.toggle_speech,
                "selected" if on else "button_quiet", name="speech", surface="header", fit=True,
                spoken=_("Speech is on. Press to turn it off.") if on
                else _("Speech is off. Press to turn it on."),
            )
        )  # fmt: skip
        v = m.prefs.volume + 1
        out.append(
            button(
                st, _("Volume {n}/{total}").format(n=v, total=len(VOLUMES)), m.cycle_volume,
                "button_quiet", name="volume", surface="header", fit=True,
                spoken=m.volume_label(),
            )
        )  # fmt: skip
        out.append(
            button(
                st, _("Read aloud"), lambda: m.announce(forced=True), "button_quiet",
                name="read", surface="header", fit=True,
            )
        )  # fmt: skip
        return out

    def update(self, st: Style, width: float) -> list[Any]:
        """The strips to show, top down (built again only on a change)."""
        m, tr = self.model, self.model.tr
        _ = tr._
        when = f"{texts.date_text(tr, m.today.day)}  {texts.hhmm(m.today.now)}"
        banner = texts.banner_text(tr, m.today.health)
        warning = None
        if m.warning:
            warning = (
                texts.WARN
                + " "
                + _("Do you need more time? The kiosk returns to the start in {n} seconds.").format(
                    n=m.countdown()
                )
            )
        key = (
            st.key(), width, m.prefs, m.today.facility, when, banner, m.today.health.level,
            warning, m.public_message,
        )  # fmt: skip
        if key == self._key:
            return self._strips
        self._key = key
        header = box(st, "header", gap=2)
        top = box(st, "header", horizontal=True, gap=0)
        top.add_widget(text(st, m.today.facility, "header", factor=1.3, bold=True))
        top.add_widget(text(st, when, "header", factor=1.1, halign="right"))
        top.bind(minimum_height=top.setter("height"))
        top.height = max(c.height for c in top.children)
        for c in top.children:
            c.bind(height=lambda *_: setattr(top, "height", max(x.height for x in top.children)))
        tools = flow(st)
        for b in self.controls(st):
            tools.add_widget(b)
        header.add_widget(top)
        header.add_widget(tools)
        strips: list[Any] = [header]
        if m.public_message:
            strip = box(st, "message")
            strip.add_widget(
                text(st, "ℹ " + _("Message: {text}").format(text=m.public_message), "message",
                     factor=1.15, bold=True)
            )  # fmt: skip
            strips.append(strip)
        if banner:
            role = "banner_bad" if m.today.health.level == "stale" else "banner_warn"
            strip = box(st, role)
            strip.add_widget(text(st, banner, role, bold=True))
            strips.append(strip)
        if warning:
            strip = box(st, "banner_warn")
            strip.add_widget(text(st, warning, "banner_warn", factor=1.2, bold=True))
            strip.add_widget(
                button(st, _("More time"), m.extend, name="more-time", primary=True,
                       surface="screen")
            )  # fmt: skip
            strips.append(strip)
        self._strips = strips
        return strips
