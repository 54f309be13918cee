"""Times and numbers as a voice should say them, in Swedish and English.

Rules this module guarantees:
- A clock time is words, not digits: Swedish "sjutton" for 17:00 and
  "sjutton och trettio" for 17:30; English "five p.m." and "five thirty
  p.m." (and "noon", "midnight"). A span is "sjutton till arton" /
  "five p.m. until six p.m.": never "sjutton noll noll".
- Numbers are spelled by ``num2words`` in the language asked; a language it
  does not know speaks English words.
- A door code is read digit by digit ("ett, två, tre").
Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime

from num2words import num2words

LANGS = {"sv": "sv", "en": "en", "fi": "fi", "uk": "uk", "fa": "fa", "ar": "ar"}


def number(n: int, lang: str) -> str:
    return str(num2words(n, lang=LANGS.get(lang, "en")))


def time_words(at: datetime, lang: str) -> str:
    """``at``'s hour and minute as spoken in ``lang``."""
    h, m = at.hour, at.minute
    if lang == "sv":
        hour = number(h, "sv")
        return hour if m == 0 else f"{hour} och {number(m, 'sv')}"
    if lang != "en":
        hour = number(h, lang)
        return hour if m == 0 else f"{hour} {number(m, lang)}"
    if m == 0 and h == 12:
        return "noon"
    if m == 0 and h == 0:
        return "midnight"
    half = "a.m." if h < 12 else "p.m."
    h12 = h % 12 or 12
    if m == 0:
        return f"{number(h12, 'en')} {half}"
    minutes = f"oh {number(m, 'en')}" if m < 10 else number(m, "en")
    return f"{number(h12, 'en')} {minutes} {half}"


def span_words(start: datetime | None, end: datetime | None, lang: str) -> str:
    """``start``–``end`` as spoken: "sjutton till arton", "five p.m. until six p.m."."""
    if start is None or end is None:
        return ""
    joiner = {"sv": "till", "en": "until"}.get(lang, "–")
    return f"{time_words(start, lang)} {joiner} {time_words(end, lang)}"


def digits_words(digits: str, lang: str) -> str:
    """Digit by digit, comma-separated (a door code, a phone number)."""
    return ", ".join(number(int(d), lang) for d in digits if d.isdigit())
