"""The pure helpers under the screens: what the QR code holds, theme contrast
(text, outlines, focus), the physical display, times as spoken, keys, and
the gettext catalogues.

- QR: a calendar entry (RFC 5545 VEVENT) with the booking's time, the room and
  the door code, escaped; or the municipality's link from a template, whose
  fields are checked. segno encodes either, and decodes back (its own reader
  is not shipped, so the symbol's version and size are checked).
- Theme: every foreground/background pair >= 4.5:1 (7:1 in high contrast);
  every surface's outline and focus ring >= 3:1 against it (WCAG 1.4.11).
- Display: millimetres from the diagonal or the dpi, whole pixels, the cap
  height of a font size, portrait and landscape windows.
- Speech: "sjutton till arton", "five p.m. until six p.m.".
- Catalogues: compiled by Babel (make catalogs); every marked message is
  translated in Swedish; a .po newer than its .mo is refused.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import segno

from kiosk import spoken
from kiosk.display import CAP_HEIGHT_EM, Display
from kiosk.i18n import (
    CatalogueMissing,
    available,
    extract,
    kiosk_sources,
    po_path,
    translator,
)
from kiosk.keys import KP0, KP_ENTER, KP_MULTIPLY, TAB, Act, action
from kiosk.qrtext import BadTemplate, calendar_entry, check_template, from_template
from kiosk.ui.theme import FOCUS, OUTLINES, SURFACES, THEMES, contrast_ratio, pairs
from tests.support.catalogues import translated_ids

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
END = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


def test_calendar_entry_holds_time_place_and_code() -> None:
    text = calendar_entry(
        title="Sektion A, Kroksbäckshallen", place="Kroksbäckshallen; Malmö",
        description="Door code / Dörrkod: 123 456 #", start=START, end=END,
    )  # fmt: skip
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VEVENT" and lines[-1] == "END:VEVENT"
    assert "DTSTART:20261124T120000Z" in lines and "DTEND:20261124T140000Z" in lines
    assert "LOCATION:Kroksbäckshallen\\; Malmö" in lines
    assert "SUMMARY:Sektion A\\, Kroksbäckshallen" in lines
    assert any("123 456" in line for line in lines)
    qr = segno.make(text, error="m", boost_error=False)
    assert qr.error == "M" and qr.version <= 12  # scannable at 60-70 mm on the screen


def test_url_template_is_filled_and_checked() -> None:
    url = from_template(
        "https://boka.malmo.se/kod?b={booking}&c={code}&s={start}", facility="f",
        booking="w.1 2", code="123456", start=START, end=END, resource="hall.a",
    )  # fmt: skip
    assert url == "https://boka.malmo.se/kod?b=w.1%202&c=123456&s=20261124T120000Z"
    for bad, why in (
        ("http://x/{code}", "https"),
        ("https://x/{pin}", "unknown fields"),
        ("https://x/{code", "not a valid template"),
    ):
        with pytest.raises(BadTemplate, match=why):
            check_template(bad)


@pytest.mark.parametrize("name", sorted(THEMES))
def test_theme_colour_pairs_have_enough_contrast(name: str) -> None:
    least = 7.0 if name == "high" else 4.5
    for role, fg, bg in pairs(THEMES[name]):
        assert contrast_ratio(fg, bg) >= least, (name, role, fg, bg)
    for surface in SURFACES:
        ground = THEMES[name][surface][1]
        assert contrast_ratio(OUTLINES[name][surface], ground) >= 3.0, (name, surface)
        assert contrast_ratio(FOCUS[name][surface], ground) >= 3.0, (name, surface)


def test_contrast_ratio_reference_values() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)


def test_display_in_millimetres() -> None:
    d = Display.of()  # the default: 21.5", 1080x1920, portrait
    assert (d.width, d.height) == (1080, 1920) and not d.landscape
    assert d.size_mm[0] == pytest.approx(267.8, abs=0.5)  # a 21.5" 16:9 panel is 268 mm wide
    assert d.px(15) == 61 and isinstance(d.px(4.2), int)
    font = d.font_px(4.0)
    assert font * CAP_HEIGHT_EM / d.px_per_mm >= 4.0 > (font - 1) * CAP_HEIGHT_EM / d.px_per_mm
    land = Display.of((1080, 1920), "landscape", dpi=96)
    assert (land.width, land.height) == (1920, 1080) and land.px_per_mm == pytest.approx(3.78, 0.01)
    for bad in ({"diagonal_in": 2}, {"dpi": 1000}):
        with pytest.raises(ValueError):
            Display.of(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="orientation"):
        Display.of(orientation="sideways")


def test_times_are_read_naturally() -> None:
    a, b = datetime(2026, 1, 1, 17, 0), datetime(2026, 1, 1, 18, 0)
    assert spoken.span_words(a, b, "sv") == "sjutton till arton"
    assert spoken.span_words(a, b, "en") == "five p.m. until six p.m."
    assert spoken.time_words(datetime(2026, 1, 1, 17, 30), "sv") == "sjutton och trettio"
    assert spoken.time_words(datetime(2026, 1, 1, 9, 5), "en") == "nine oh five a.m."
    assert spoken.time_words(datetime(2026, 1, 1, 12, 0), "en") == "noon"
    assert spoken.digits_words("207", "sv") == "två, noll, sju"


def test_keys_map_to_actions() -> None:
    assert action(TAB, False, False) == (Act.NEXT, "")
    assert action(TAB, True, False) == (Act.PREV, "")
    assert action(KP_ENTER, False, True) == (Act.ACTIVATE, "")
    assert action(KP_MULTIPLY, False, False) == (Act.READ, "")
    assert action(KP0 + 7, False, True) == (Act.DIGIT, "7")  # a number field: digits type
    assert action(KP0 + 2, False, False) == (Act.NEXT, "")  # else the keypad navigates
    assert action(KP0 + 5, False, False) == (Act.ACTIVATE, "")
    assert action(ord("3"), False, False) is None
    assert action(1234, False, False) is None


def test_every_message_is_translated_to_swedish() -> None:
    sv = translated_ids(po_path("sv"))
    missing = [
        m
        for m, plural in extract(kiosk_sources())
        if not sv.get(m if plural is None else f"{m}\0{plural}")
    ]
    assert missing == []
    assert {"sv", "en"} <= set(available())


def test_catalogues_are_compiled_by_babel_and_never_committed(tmp_path: Path) -> None:
    sv = translator("sv")
    assert sv.n_("{n} hour", "{n} hours", 2).format(n=2) == "2 timmar"
    assert translator("en").n_("{n} hour", "{n} hours", 1).format(n=1) == "1 hour"
    assert sv._("Monday") == "måndag"
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text()
    assert "kiosk/locale/*/LC_MESSAGES/*.mo" in ignored
    # A .po edited after its .mo was compiled is refused, naming the command.
    po = po_path("sv")
    mo = po.with_suffix(".mo")
    stat = mo.stat()
    translator.cache_clear()
    try:
        os.utime(mo, (stat.st_atime, po.stat().st_mtime - 10))
        with pytest.raises(CatalogueMissing, match="make catalogs"):
            translator("sv")
    finally:
        os.utime(mo, (stat.st_atime, stat.st_mtime))
        translator.cache_clear()


def test_docs_state_tables_match_the_code() -> None:
    from kiosk.leader import TABLE as LEADER
    from kiosk.walkin import TABLE as WALKIN

    doc = (Path(__file__).resolve().parents[2] / "docs" / "kiosk.md").read_text()
    for table in (WALKIN, LEADER):
        for (state, event), nxt in table.items():
            assert f"| {state.value} | {event.value} | {nxt.value} |" in doc
