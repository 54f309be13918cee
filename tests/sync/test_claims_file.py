"""Claims files as membership systems export them (sync/central/reports/claimsfile.py)."""

from __future__ import annotations

from datetime import date, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.central.reports.claimsfile import Claim, ClaimsError, read_claims


def test_a_swedish_export_with_semicolons_in_windows_1252() -> None:
    raw = (
        "Datum;Starttid;Sluttid;Plats;Antal deltagare;Ledare;Aktivitet;Övrigt\r\n"
        "2026-02-03;18:00;19:30;Kroksbäckshallen Sektion A;14;2;Träning;x\r\n"
        "\r\n"
        "20260204;1730;1900;Gymmet;9;;Match;\r\n"
    ).encode("cp1252")
    assert read_claims(raw) == [
        Claim(
            2,
            date(2026, 2, 3),
            time(18),
            time(19, 30),
            "Kroksbäckshallen Sektion A",
            14,
            2,
            "Träning",
        ),
        Claim(4, date(2026, 2, 4), time(17, 30), time(19), "Gymmet", 9, None, "Match"),
    ]


def test_an_english_export_with_commas_and_a_bom() -> None:
    raw = '\ufeffDate,Start,End,Place,Participants\n2026-02-03,18.00,19.30,"Hall, A",3\n'
    (c,) = read_claims(raw.encode())
    assert (c.start, c.end, c.place, c.participants) == (time(18), time(19, 30), "Hall, A", 3)


def test_every_problem_is_reported_and_nothing_is_read() -> None:
    raw = (
        b"datum;start;slut;plats;deltagare\n"
        b"2026-02-30;18:00;19:00;Hallen;5\n"
        b"2026-02-03;25:00;19:00;;-1\n"
        b"2026-02-03;18:00;19:00;Hallen;5\n"
    )
    with pytest.raises(ClaimsError) as exc:
        read_claims(raw, "lag.csv")
    assert exc.value.problems == [
        "lag.csv:2: date: '2026-02-30': day is out of range for month",
        "lag.csv:3: start: '25:00' is not a time HH:MM",
        "lag.csv:3: participants: '-1' is not a whole number 0-10000",
        "lag.csv:3: place: empty",
    ]


def test_a_header_without_the_needed_columns() -> None:
    with pytest.raises(ClaimsError, match=r"claims.csv:1: the header lacks place \(place/plats\)"):
        read_claims(b"datum;start;slut;deltagare\n")
    with pytest.raises(ClaimsError, match="empty"):
        read_claims(b"")


@given(st.binary(max_size=400))
def test_any_bytes_give_claims_or_a_claims_error(raw: bytes) -> None:
    try:
        claims = read_claims(raw)
    except ClaimsError as exc:
        assert exc.problems
    else:
        assert all(isinstance(c, Claim) for c in claims)


@given(st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=7), max_size=6))
def test_any_table_under_a_valid_header_gives_claims_or_a_claims_error(
    cells: list[list[str]],
) -> None:
    lines = ["datum;start;slut;plats;deltagare"] + [";".join(c) for c in cells]
    try:
        read_claims("\n".join(lines).encode())
    except ClaimsError as exc:
        assert exc.problems
