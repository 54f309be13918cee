"""The frame around every screen: the header (place, date, time, and the
visitor's controls: language, text size, contrast, speech, volume, read
aloud), central's public message, the offline/stale banner and the
time-limit warning with its live countdown and "more time" button.

Rules this module guarantees:
- ``frame`` is a spec (``tree``): the strips are kept widgets, and a render
  that changes one word (the minute, the countdown) redraws that word.
- The place and the time share a line when they fit on it, else each has
  its own: no word is broken.
- The header's controls are buttons sized to their one line of words that
  flow onto a second row as whole buttons: a control's words never wrap, at
  every text size, in every language and orientation.
- The speech control says what it does ("Speech: on") and is on every screen.
"""

from __future__ import annotations

from typing import Any

from .. import texts
from ..i18n import NATIVE_NAMES
from ..model import KioskModel
from ..prefs import TEXT_SCALES, VOLUMES
from .tree import Btn, Txt, col, flow, row
from .widgets import Style, later
from .words import WORDS


def controls(m: KioskModel) -> list[Btn]:
    _ = m.tr._
    out = []
    for lang in m.languages:
        chosen = lang == m.prefs.lang
        name = NATIVE_NAMES.get(lang, lang)
        out.append(
            Btn(
                ("✓ " if chosen else "") + name,
                later(m.set_language, lang),
                f"lang:{lang}",
                "selected" if chosen else "button_quiet",
                spoken=name,
                surface="header",
                fit=True,
            )
        )
    n, total = m.prefs.text_size + 1, len(TEXT_SCALES)
    out.append(
        Btn(
            _("Text size {n}/{total}").format(n=n, total=total),
            m.cycle_text_size,
            "textsize",
            "button_quiet",
            surface="header",
            fit=True,
            spoken=_("Text size {n} of {total}").format(n=n, total=total),
        )
    )
    hc = m.prefs.high_contrast
    out.append(
        Btn(
            ("✓ " if hc else "") + _("Contrast"),
            m.toggle_contrast,
            "contrast",
            "selected" if hc else "button_quiet",
            surface="header",
            fit=True,
            spoken=_("High contrast: on") if hc else _("High contrast: off"),
        )
    )
    on = m.prefs.speech
    out.append(
        Btn(
            _("Speech: on") if on else _("Speech: off"),
            m.toggle_speech,
            "speech",
            "selected" if on else "button_quiet",
            surface="header",
            fit=True,
            spoken=_("Speech is on. Press to turn it off.")
            if on
            else _("Speech is off. Press to turn it on."),
        )
    )
    out.append(
        Btn(
            _("Volume {n}/{total}").format(n=m.prefs.volume + 1, total=len(VOLUMES)),
            m.cycle_volume,
            "volume",
            "button_quiet",
            surface="header",
            fit=True,
            spoken=m.volume_label(),
        )
    )
    out.append(
        Btn(
            _("Read aloud"),
            lambda: m.announce(forced=True),
            "read",
            "button_quiet",
            surface="header",
            fit=True,
        )
    )
    return out


def frame(m: KioskModel, st: Style, width: int) -> Any:
    """The strips above the screen, top down, as one column."""
    tr = m.tr
    _ = tr._
    when = f"{texts.date_text(tr, m.today.day)}  {texts.hhmm(m.today.now)}"
    place = Txt(m.today.facility, "header", factor=1.3, bold=True)
    now = Txt(when, "header", factor=1.1, halign="right", fit=True)
    room = width - st.px(2) * 3
    needed = WORDS.extent(m.today.facility, st.font(1.3), True)[0] + st.px(6)
    side_by_side = needed + WORDS.extent(when, st.font(1.1), False)[0] < room
    top = row(place, now) if side_by_side else col(place, Txt(when, "header", factor=1.1))
    strips: list[Any] = [
        col(
            top,
            flow(*controls(m), gap=2),
            role="header", gap=2, pad=2, key="header",
        )
    ]  # fmt: skip
    if m.messages.public:
        strips.append(
            col(
                Txt(
                    "ℹ " + _("Message: {text}").format(text=m.messages.public),
                    "message",
                    factor=1.15,
                    bold=True,
                ),
                role="message",
                pad=2,
                key="message",
            )
        )
    banner = texts.banner_text(tr, m.today.health)
    if banner:
        role = "banner_bad" if m.today.health.level == "stale" else "banner_warn"
        strips.append(col(Txt(banner, role, bold=True), role=role, pad=2, key="banner"))
    if m.warning:
        warning = (
            texts.WARN
            + " "
            + _("Do you need more time? The kiosk returns to the start in {n} seconds.").format(
                n=m.countdown()
            )
        )
        strips.append(
            col(
                Txt(warning, "banner_warn", factor=1.2, bold=True),
                Btn(_("More time"), m.extend, "more-time", primary=True, factor=1.2),
                role="banner_warn",
                pad=2,
                key="warning",
            )
        )
    return col(*strips, gap=0, key="frame")
