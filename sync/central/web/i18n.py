"""The web page's languages: Swedish and English, gettext catalogues compiled by Babel at install.

The same approach as the kiosk's (kiosk/i18n.py): message ids are English;
``sync/central/web/locale/sv/LC_MESSAGES/web.po`` is committed and ``make
catalogs`` compiles it with ``pybabel compile`` to the .mo beside it, which
the standard library's ``gettext`` reads.

Rules this module guarantees:
- ``LANGUAGES`` are offered (Swedish first: the municipality's staff);
  ``negotiate`` picks the user's choice (the ``lang`` cookie), else the best
  of the browser's ``Accept-Language``, else Swedish.
- A .po without its compiled .mo, or with an older one, raises
  ``CatalogueMissing`` naming the command that compiles it: the page never
  shows English to a Swedish user because an install step was skipped.
- ``extract`` finds every message the page marks, in its Python files
  (``_``, ``N_``) and its templates (``_``, ``ngettext``), for the test that
  each one is translated.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
DOMAIN = "web"
LANGUAGES = {"sv": "Svenska", "en": "English"}
DEFAULT = "sv"


class CatalogueMissing(RuntimeError):
    """A .po catalogue has no up-to-date compiled .mo beside it."""


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue; translated later, where it is shown."""
    return message


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@dataclass(frozen=True, slots=True)
class Translator:
    lang: str
    catalogue: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        return self.catalogue.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalogue.ngettext(singular, plural, n)


@cache
def translator(lang: str) -> Translator:
    """The translator for ``lang`` (English ids for ``en``); raises
    ``CatalogueMissing`` for a catalogue that was not compiled."""
    po = po_path(lang)
    if lang == "en" or not po.is_file():
        return Translator(lang, gettext.NullTranslations())
    mo = po.with_suffix(".mo")
    if not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime:
        raise CatalogueMissing(
            f"{mo}: missing or older than {po.name}; compile the catalogues with `make catalogs`"
        )
    with mo.open("rb") as f:
        return Translator(lang, gettext.GNUTranslations(f))


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The page's language for a request (module rules)."""
    if cookie in LANGUAGES:
        return str(cookie)
    best: tuple[float, str] | None = None
    for i, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        if lang not in LANGUAGES:
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if best is None or q > best[0]:
            best = (q - i * 1e-6, lang)
    return best[1] if best and best[0] > 0 else DEFAULT


def extract() -> list[str]:
    """Every message id the page marks (module docstring), plurals as ``s\\0p``."""
    from babel.messages.extract import extract_from_dir

    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": ""}}
    keywords = {"_": None, "N_": None, "ngettext": (1, 2), "gettext": None}
    found: list[str] = []
    for _file, _line, msg, _comments, _ctx in extract_from_dir(
        str(HERE), method_map, options, keywords=keywords
    ):
        found.append("\0".join(msg) if isinstance(msg, tuple) else msg)
    return list(dict.fromkeys(found))


Gettext = Callable[[str], str]
