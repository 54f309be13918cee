"""Languages: gettext catalogues, compiled by Babel at install.

Rules this module guarantees:
- Message ids are English; ``kiosk/locale/<lang>/LC_MESSAGES/kiosk.po`` holds
  each language (Swedish is the kiosk's default). Only .po files are
  committed; ``make catalogs`` (part of ``make venv``) compiles each with
  Babel's ``pybabel compile`` to the .mo beside it, which the standard
  library's ``gettext`` reads, so plural forms follow each catalogue's
  ``Plural-Forms`` header. Fuzzy and untranslated entries fall back to the
  English id (Babel leaves them out of the .mo).
- A language is offered only if its catalogue exists (``available``). A .po
  without its compiled .mo, or with an older one, raises ``CatalogueMissing``
  naming the file and the command that compiles it: a kiosk never shows
  English to a Swedish hall because an install step was skipped.
- Catalogues are read once per process and kept (immutable after loading).
- ``extract`` finds the marked messages with Babel's Python extractor
  (keywords ``_``, ``N_`` and ``n_``), for the test that every one is
  translated.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.extract import extract_from_file

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "kiosk"
KEYWORDS = {"_": None, "N_": None, "n_": (1, 2)}
NATIVE_NAMES = {
    "sv": "Svenska",
    "en": "English",
    "fi": "Suomi",
    "ar": "العربية",
    "so": "Soomaali",
    "fa": "فارسی",
    "uk": "Українська",
}


class CatalogueMissing(RuntimeError):
    """A .po catalogue has no up-to-date compiled .mo beside it."""


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def available() -> tuple[str, ...]:
    """Languages with a catalogue, English always (the ids are English)."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(sorted(found | {"en"}))


@dataclass(frozen=True, slots=True)
class Translator:
    """One language's gettext functions."""

    lang: str
    catalogue: gettext.NullTranslations

    def _(self, message: str) -> str:
        return self.catalogue.gettext(message)

    def n_(self, singular: str, plural: str, n: int) -> str:
        return self.catalogue.ngettext(singular, plural, n)


@cache
def translator(lang: str) -> Translator:
    """The translator for ``lang``; English ids for a language with no catalogue.

    Raises ``CatalogueMissing`` when the .po exists but was not compiled (or
    was edited after it was).
    """
    po = po_path(lang)
    if not po.is_file():
        return Translator(lang, gettext.NullTranslations())
    mo = po.with_suffix(".mo")
    if not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime:
        raise CatalogueMissing(
            f"{mo}: missing or older than {po.name}; compile the catalogues with `make catalogs`"
        )
    with mo.open("rb") as f:
        return Translator(lang, gettext.GNUTranslations(f))


def extract(sources: list[Path]) -> list[tuple[str, str | None]]:
    """Message ids marked in ``sources`` (``_``, ``N_``, ``n_``), in source order."""
    found: list[tuple[str, str | None]] = []
    for path in sources:
        for _line, msg, _comments, _ctx in extract_from_file("python", path, keywords=KEYWORDS):
            if isinstance(msg, tuple):
                found.append((msg[0], msg[1] if len(msg) > 1 else None))
            else:
                found.append((msg, None))
    return list(dict.fromkeys(found))


def kiosk_sources() -> list[Path]:
    """The kiosk's Python files, whose messages the catalogues must cover."""
    return sorted(Path(__file__).resolve().parent.rglob("*.py"))
