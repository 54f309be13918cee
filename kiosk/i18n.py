"""Languages: gettext catalogues compiled from their .po sources at run time.

Rules this module guarantees:
- Message ids are English; ``kiosk/locale/<lang>/LC_MESSAGES/kiosk.po`` holds
  each language (Swedish is the kiosk's default). Only .po files are
  committed: ``compile_po`` turns one into GNU .mo bytes in memory (no msgfmt
  needed), read by the standard library's ``gettext.GNUTranslations``, so
  plural forms follow each catalogue's ``Plural-Forms`` header.
- Fuzzy and untranslated entries fall back to the English id.
- A language is offered only if its catalogue exists (``available``).
- Catalogues are read once per process and kept (immutable after loading).
"""

from __future__ import annotations

import ast
import gettext
import io
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "kiosk"
NATIVE_NAMES = {
    "sv": "Svenska",
    "en": "English",
    "fi": "Suomi",
    "ar": "العربية",
    "so": "Soomaali",
    "fa": "فارسی",
    "uk": "Українська",
}


class PoError(ValueError):
    """A .po file that cannot be read; names the line."""


def _unquote(line: str, lineno: int) -> str:
    try:
        value = ast.literal_eval(line)
    except (ValueError, SyntaxError):
        raise PoError(f"line {lineno}: not a quoted string: {line!r}") from None
    if not isinstance(value, str):
        raise PoError(f"line {lineno}: not a quoted string: {line!r}")
    return value


def parse_po(text: str) -> dict[str, str]:
    """Message id -> translation (plural forms joined by NUL, as .mo stores them).

    Fuzzy entries are skipped; the header (id ``""``) is kept.
    """
    out: dict[str, str] = {}
    entry: dict[str, str] = {}
    key: str | None = None
    fuzzy = False

    def flush() -> None:
        nonlocal entry, fuzzy, key
        if "msgid" in entry and not fuzzy:
            msgid = entry["msgid"]
            if "msgid_plural" in entry:
                msgid += "\0" + entry["msgid_plural"]
                forms = sorted(k for k in entry if k.startswith("msgstr["))
                msgstr = "\0".join(entry[k] for k in forms)
            else:
                msgstr = entry.get("msgstr", "")
            if msgstr.replace("\0", ""):
                out[msgid] = msgstr
        entry, fuzzy, key = {}, False, None

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("#,") and "fuzzy" in line:
            if "msgid" in entry:
                flush()
            fuzzy = True
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if key is None:
                raise PoError(f"line {lineno}: a continuation without a keyword")
            entry[key] += _unquote(line, lineno)
        else:
            word, _, rest = line.partition(" ")
            if word == "msgid" and "msgid" in entry:
                flush()
            if word not in ("msgid", "msgid_plural", "msgctxt") and not word.startswith("msgstr"):
                raise PoError(f"line {lineno}: unknown keyword {word!r}")
            key = word
            entry[key] = _unquote(rest.strip(), lineno)
    flush()
    return out


def compile_mo(messages: dict[str, str]) -> bytes:
    """GNU .mo bytes (little-endian, revision 0, no hash table)."""
    ids = sorted(messages)
    keys = [i.encode("utf-8") for i in ids]
    values = [messages[i].encode("utf-8") for i in ids]
    n = len(ids)
    start_ids = 7 * 4
    start_strs = start_ids + n * 8
    data_start = start_strs + n * 8
    blob = bytearray()
    key_table, value_table = [], []
    for k in keys:
        key_table.append((len(k), data_start + len(blob)))
        blob += k + b"\0"
    for v in values:
        value_table.append((len(v), data_start + len(blob)))
        blob += v + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, n, start_ids, start_strs, 0, 0)
    tables = b"".join(struct.pack("<2I", *p) for p in key_table + value_table)
    return head + tables + bytes(blob)


def compile_po(text: str) -> bytes:
    """.po source text -> .mo bytes."""
    return compile_mo(parse_po(text))


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
    """The translator for ``lang``; English ids for a language with no catalogue."""
    path = po_path(lang)
    if not path.is_file():
        return Translator(lang, gettext.NullTranslations())
    mo = compile_po(path.read_text(encoding="utf-8"))
    return Translator(lang, gettext.GNUTranslations(io.BytesIO(mo)))


def extract(sources: list[Path]) -> list[tuple[str, str | None]]:
    """Message ids in ``sources``: calls of ``_``, ``N_`` (singular) and ``n_``
    (singular, plural) with literal strings, in source order."""
    found: list[tuple[int, int, int, tuple[str, str | None]]] = []
    for index, path in enumerate(sources):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            f = node.func
            name = (
                f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            )
            strs = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            where = (index, node.lineno, node.col_offset)
            if name in ("_", "N_") and strs:
                found.append((*where, (strs[0], None)))
            elif name == "n_" and len(strs) >= 2:
                found.append((*where, (strs[0], strs[1])))
    return list(dict.fromkeys(m for *_, m in sorted(found)))


def kiosk_sources() -> list[Path]:
    """The kiosk's Python files, whose messages the catalogues must cover."""
    return sorted(Path(__file__).resolve().parent.rglob("*.py"))
