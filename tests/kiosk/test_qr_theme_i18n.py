"""The pure helpers under the screens: QR encoder, theme contrast, gettext catalogues.

- QR: matrices equal, module for module, to those of the `qrcode` package
  (8.2, byte mode, level M, the same fixed mask), recorded here as text and
  SHA-256 digests; every version 1-6; automatic mask choice.
- Theme: every foreground/background pair of both themes has a contrast ratio
  of at least 4.5:1 (WCAG 2.x SC 1.4.3), 7:1 in high contrast (SC 1.4.6).
- Catalogues: every message the kiosk's code marks is translated in Swedish;
  the .po compiler gives what GNU gettext reads (plural forms included).
"""

from __future__ import annotations

import gettext
import hashlib
import io

import pytest

from kiosk import qr
from kiosk.i18n import available, compile_po, extract, kiosk_sources, parse_po, po_path, translator
from kiosk.ui.theme import THEMES, contrast_ratio, pairs

GOLDEN_V2 = """\
#######.###.#.#...#######
#.....#.#..#....#.#.....#
#.###.#....###.##.#.###.#
#.###.#.#....#.##.#.###.#
#.###.#..##....#..#.###.#
#.....#..#..###.#.#.....#
#######.#.#.#.#.#.#######
........####...#.........
#.##.###..##......#..#.##
#...##...#..#.#....#..#.#
#..##.####...#..#........
.#.#.#.#####.#..#.######.
#####.#.#.#....#######..#
.#.#.#.##..#.###.##.####.
.#..#.#.#.#.#.#.#..#..##.
#..#...#.##.##...###....#
....#.#....#...#######.##
........##..##.##...###..
#######.#..##...#.#.#####
#.....#.#...#...#...##.#.
#.###.#..#####..#####.##.
#.###.#.#.#.###..###.#.##
#.###.#.#..###...#####.#.
#.....#........#....###..
#######.###.#.##.#..##.##"""

GOLDEN_SHA256 = [
    ("HALLVAKT:kroksbackshallen:004711", 5,
     "5628541abc481d71bc9eb6add98e1158260fdef8e7839520e852c77e0fc8eb65"),
    ("w" * 106, 6, "37027d0b99aa293c8cf81c04d4eb6d079f29e8570280bf1439c069ec88d41e8b"),
    ("z" * 62, 1, "2e0cab933111c2bf92d9267d9d1d4fd2d781f8c2bb50261890590aa743037c41"),
    ("q" * 84, 7, "ff76b5dd3730eea91f87de3a4a73fff33a1be9e7931b420207e6f281625ff6bb"),
]  # fmt: skip


def as_text(m: qr.Matrix) -> str:
    return "\n".join("".join("#" if v else "." for v in row) for row in m)


def test_qr_matches_a_reference_encoder() -> None:
    assert as_text(qr.encode("HALLVAKT:fac1:123456", mask=3)) == GOLDEN_V2
    for text, mask, digest in GOLDEN_SHA256:
        assert hashlib.sha256(as_text(qr.encode(text, mask)).encode()).hexdigest() == digest


@pytest.mark.parametrize(
    ("length", "size"), [(14, 21), (26, 25), (42, 29), (62, 33), (84, 37), (106, 41)]
)
def test_qr_versions_and_limits(length: int, size: int) -> None:
    assert len(qr.encode("a" * length)) == size
    if length == 106:
        with pytest.raises(ValueError):
            qr.encode("a" * 107)


def test_qr_automatic_mask_is_the_lowest_penalty() -> None:
    text = "HALLVAKT:fac1:123456"
    chosen = qr.penalty(qr.encode(text))
    assert chosen == min(qr.penalty(qr.encode(text, m)) for m in range(8))
    assert qr.to_text(qr.encode(text)).count("\n") == 25 + 8 - 1


@pytest.mark.parametrize("name", sorted(THEMES))
def test_theme_colour_pairs_have_enough_contrast(name: str) -> None:
    least = 7.0 if name == "high" else 4.5
    for role, fg, bg in pairs(THEMES[name]):
        assert contrast_ratio(fg, bg) >= least, (name, role, fg, bg)


def test_contrast_ratio_reference_values() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)


def test_every_message_is_translated_to_swedish() -> None:
    sv = parse_po(po_path("sv").read_text(encoding="utf-8"))
    missing = [
        m
        for m, plural in extract(kiosk_sources())
        if (m if plural is None else f"{m}\0{plural}") not in sv
    ]
    assert missing == []
    assert {"sv", "en"} <= set(available())


def test_po_compiler_is_read_by_gnu_gettext() -> None:
    po = """
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

#, fuzzy
msgid "Fuzzy"
msgstr "Luddig"

msgid "Hello"
msgstr "Hej"

msgid "{n} day"
msgid_plural "{n} days"
msgstr[0] "{n} dag"
msgstr[1] "{n} "
"dagar"
"""
    cat = gettext.GNUTranslations(io.BytesIO(compile_po(po)))
    assert cat.gettext("Hello") == "Hej" and cat.gettext("Fuzzy") == "Fuzzy"
    assert [cat.ngettext("{n} day", "{n} days", n) for n in (1, 2)] == ["{n} dag", "{n} dagar"]


def test_swedish_plurals_and_dates() -> None:
    sv, en = translator("sv"), translator("en")
    assert sv.n_("{n} hour", "{n} hours", 2).format(n=2) == "2 timmar"
    assert en.n_("{n} hour", "{n} hours", 1).format(n=1) == "1 hour"
    assert sv._("Monday") == "måndag"


def test_docs_state_tables_match_the_code() -> None:
    from pathlib import Path

    from kiosk.leader import TABLE as LEADER
    from kiosk.walkin import TABLE as WALKIN

    doc = (Path(__file__).resolve().parents[2] / "docs" / "kiosk.md").read_text()
    for table in (WALKIN, LEADER):
        for (state, event), nxt in table.items():
            assert f"| {state.value} | {event.value} | {nxt.value} |" in doc
