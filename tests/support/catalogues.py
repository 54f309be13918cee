"""What a gettext .po source holds, for the tests that every marked message is translated."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po


def translated_ids(po: Path) -> dict[str, bool]:
    """The .po source's message ids (a plural as ``singular\\0plural``) and
    whether each is translated and not fuzzy (read with Babel)."""
    with po.open("rb") as f:
        cat = read_po(f, locale=None)
    out: dict[str, bool] = {}
    for m in cat:
        if not m.id:
            continue
        key = m.id if isinstance(m.id, str) else "\0".join(m.id)
        strings = m.string if isinstance(m.string, tuple | list) else (m.string,)
        out[key] = not m.fuzzy and all(strings)
    return out
