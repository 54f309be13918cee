"""The frame around every screen, built once and updated in place: the header
(place, date, time, language, text size, contrast, read aloud), the
offline/stale banner and the time-limit warning with its "more time" button.

Rules this module guarantees:
- ``Frame.update`` sets every word and state from the model and returns the
  strips to show, in order; the widgets are the same on every call (a minute
  turning or a touch changes texts, never the widget tree).
- The banner and the warning are shown or hidden, never rebuilt.
- Colours and sizes are left to ``widgets.restyle``, which the root runs
  after every update, so a text-size or contrast change reaches these widgets.
"""

from __future__ import annotations

from typing import Any

from .. import texts
from ..i18n import NATIVE_NAMES
from ..model import TEXT_SCALES, KioskModel
from .widgets import Style, box, button, grid, later, show, text


class Frame:
    """The header, banner and warning of one ``KioskRoot``."""

    def __init__(self, model: KioskModel, st: Style) -> None:
        m = self.model = model
        self.header = box(st, "header")
        self.place = text(st, "", "header", factor=1.3, bold=True)
        self.when = text(st, "", "header")
        self.tools = grid(st, 0, cell_mm=30)
        self.langs = {
            lang: button(st, "", later(m.set_language, lang), "button_quiet", name=f"lang:{lang}")
            for lang in m.languages
        }
        self.size = button(st, "", m.cycle_text_size, "button_quiet", name="textsize")
        self.contrast = button(st, "", m.toggle_contrast, "button_quiet", name="contrast")
        self.read = button(st, "", lambda: m.announce(forced=True), "button_quiet", name="read")
        show(self.tools, [*self.langs.values(), self.size, self.contrast, self.read])
        show(self.header, [self.place, self.when, self.tools])
        self.banner = box(st, "banner_warn")
        self.banner_text = text(st, "", "banner_warn", bold=True)
        show(self.banner, [self.banner_text])
        self.warning = box(st, "banner_warn")
        self.warning_text = text(st, "", "banner_warn", bold=True)
        self.more = button(st, "", m.extend, name="more-time")
        show(self.warning, [self.warning_text, self.more])

    def update(self, st: Style, width: float) -> list[Any]:
        """Texts and states from the model; the strips to show, top down."""
        m, tr = self.model, self.model.tr
        _ = tr._
        self.place.text = m.today.facility
        self.when.text = f"{texts.date_text(tr, m.today.day)}  {texts.hhmm(m.today.now)}"
        self.tools.fit(st, width)
        for lang, b in self.langs.items():
            chosen = lang == m.prefs.lang
            b.text = ("✓ " if chosen else "") + NATIVE_NAMES.get(lang, lang)
            b.role = "selected" if chosen else "button_quiet"
        self.size.text = _("Text size {n} of {total}").format(
            n=m.prefs.text_size + 1, total=len(TEXT_SCALES)
        )
        self.contrast.text = (
            _("High contrast: on") if m.prefs.high_contrast else _("High contrast: off")
        )
        self.read.text = _("Read aloud")
        strips = [self.header]
        banner = texts.banner_text(tr, m.today.health)
        if banner:
            role = "banner_bad" if m.today.health.level == "stale" else "banner_warn"
            self.banner.role = self.banner_text.role = role
            self.banner_text.text = banner
            strips.append(self.banner)
        if m.warning:
            self.warning_text.text = (
                texts.WARN
                + " "
                + _("Do you need more time? The kiosk returns to the start in {n} seconds.").format(
                    n=int(m.remaining())
                )
            )
            self.more.text = _("More time")
            strips.append(self.warning)
        return strips
