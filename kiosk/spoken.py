"""Times and numbers as a voice should say them, in Swedish and English.

Rules this module guarantees:
- A clock time is words, not digits: Swedish "sjutton" for 17:00 and
  "sjutton och trettio" for 17:30; English "five p.m." and "five thirty
  p.m." (and "noon", "midnight"). A span is "sjutton till arton" /
  "five p.m. until six p.m.": never "sjutton noll noll".
- Numbers 0..59 (hours, minutes, digits) are spelled here, in Swedish and
  English (other languages get digits, which their espeak-ng voice reads).
  A library (num2words) was not taken: it is LGPL, outside the permissive
  and MPL licences the project takes (docs/operations.md "Licence"), for 60
  words.
- A door code is read digit by digit ("ett, två, tre").
Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime

_SV = [
    "noll",
    "ett",
    "två",
    "tre",
    "fyra",
    "fem",
    "sex",
    "sju",
    "åtta",
    "nio",
    "tio",
    "elva",
    "tolv",
    "tretton",
    "fjorton",
    "femton",
    "sexton",
    "sjutton",
    "arton",
    "nitton",
]
_SV_TENS = {20: "tjugo", 30: "trettio", 40: "fyrtio", 50: "femtio"}
_EN = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_EN_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty"}


def number(n: int, lang: str) -> str:
    """``n`` (0..59) in words: "tjugoett", "twenty-one"; other languages: digits."""
    if not 0 <= n <= 59:
        raise ValueError(f"{n} is not 0..59")
    if lang not in ("sv", "en"):
        return str(n)
    ones, tens = (_SV, _SV_TENS) if lang == "sv" else (_EN, _EN_TENS)
    if n < 20:
        return ones[n]
    ten, one = n - n % 10, n % 10
    if not one:
        return tens[ten]
    return tens[ten] + ones[one] if lang == "sv" else f"{tens[ten]}-{ones[one]}"


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
