"""Numbers as the page's language writes them, from Babel's locale data.

Swedish pages write "1,5" and "1 234" (a no-break space groups thousands, a
comma marks decimals, CLDR's ``sv_SE``); English pages are unchanged: "1.5"
and "1234" (no grouping, as they always were). Only the HTML uses these:
the CSV downloads stay machine-readable, the same bytes as ``hallvakt
central report`` (sync/reports/), whatever the page's language.

Rules this module guarantees:
- ``numbers(lang)`` is one ``Numbers`` per language (cached); an unknown
  language is English.
- ``Numbers.count`` writes an integer, ``Numbers.dec`` a number with a fixed
  count of decimals, rounded as Python's ``format`` rounds the float (the
  figures of the CSV and the PDF, to the last digit), ``Numbers.pct``
  the share ``part / whole`` as a whole percent with a no-break space before
  ``%``, or ``–`` when ``whole`` is 0. Both are fast (the fleet page writes
  two per node for 2,000 nodes): Python's own grouping and decimal point,
  replaced by Babel's symbols of the locale, taken once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from babel.numbers import get_decimal_symbol, get_group_symbol

LOCALES = {"sv": "sv_SE", "en": "en"}
GROUPED = frozenset({"sv"})  # languages whose page groups thousands (English: unchanged)
NBSP = "\u00a0"


@dataclass(frozen=True, slots=True)
class Numbers:
    lang: str
    locale: str
    group: str | None  # the thousands separator, None for no grouping
    point: str  # the decimal separator

    def count(self, n: int) -> str:
        if self.group is None or -1000 < n < 1000:
            return str(n)
        return f"{n:,}".replace(",", self.group)

    def dec(self, x: float, digits: int = 1) -> str:
        if self.group is None:
            text = f"{x:.{digits}f}"
            return text if self.point == "." else text.replace(".", self.point)
        return f"{x:,.{digits}f}".translate({ord(","): self.group, ord("."): self.point})

    def pct(self, part: float, whole: float) -> str:
        if not whole:
            return "–"
        return f"{self.count(round(100 * part / whole))}{NBSP}%"


@cache
def numbers(lang: str) -> Numbers:
    """The ``Numbers`` of ``lang`` (module rules)."""
    lang = lang if lang in LOCALES else "en"
    locale = LOCALES[lang]
    group = str(get_group_symbol(locale)) if lang in GROUPED else None
    return Numbers(lang, locale, group, str(get_decimal_symbol(locale)))
