"""Numbers in the page's language (sync/central/web/numbers.py), against Babel's own formatting."""

from __future__ import annotations

from babel.numbers import format_decimal
from hypothesis import given
from hypothesis import strategies as st

from sync.central.web.numbers import numbers

SV, EN = numbers("sv"), numbers("en")


def test_swedish_writes_a_decimal_comma_and_groups_thousands() -> None:
    assert SV.count(1234) == "1\u00a0234" and SV.count(999) == "999"
    assert SV.dec(1.5) == "1,5" and SV.dec(1234.25, 2) == "1\u00a0234,25"
    assert SV.pct(1, 3) == "33\u00a0%" and SV.pct(1, 0) == "–"


def test_english_is_as_it_was() -> None:
    assert EN.count(1234) == "1234" and EN.dec(1.5) == "1.5" and EN.pct(2, 3) == "67\u00a0%"
    assert numbers("xx") == EN


@given(st.integers(-(10**12), 10**12))
def test_counts_are_babels(n: int) -> None:
    assert SV.count(n) == format_decimal(n, locale="sv_SE")
    assert EN.count(n) == str(n)


@given(st.integers(-(10**9), 10**9), st.integers(1, 3))
def test_decimals_are_babels_symbols_with_pythons_rounding(units: int, digits: int) -> None:
    x = units / 10**digits  # exact in decimal, so both round alike
    assert SV.dec(x, digits) == format_decimal(
        f"{x:.{digits}f}", format="#,##0." + "0" * digits, locale="sv_SE"
    )
    assert EN.dec(x, digits) == f"{x:.{digits}f}"
