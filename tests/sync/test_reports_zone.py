"""The usage report's time zone pieces: found a day at a time, they are the
same as an hour-by-hour scan of the zone, in every zone and range tried."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.central.reports.usage import LocalClock, transitions

ZONES = ["Europe/Stockholm", "UTC", "America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Tehran"]
SEASON_LO = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())


def hour_by_hour(tz: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int]]:
    clock = LocalClock(tz)
    out = [(lo, clock.local(lo) - lo)]
    for h in range(lo // 3600 + 1, hi // 3600 + 1):
        off = clock.local(h * 3600) - h * 3600
        if off != out[-1][1]:
            out.append((h * 3600, off))
    return out


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    lo=st.integers(SEASON_LO - 3 * 365 * 86_400, SEASON_LO + 3 * 365 * 86_400),
    days=st.integers(0, 400),
    extra=st.integers(0, 86_399),
)
def test_pieces_match_an_hourly_scan(zone: str, lo: int, days: int, extra: int) -> None:
    tz = ZoneInfo(zone)
    hi = lo + days * 86_400 + extra
    assert list(transitions(tz, lo, hi)) == hour_by_hour(tz, lo, hi)


def test_a_stockholm_season_has_its_two_changes() -> None:
    tz = ZoneInfo("Europe/Stockholm")
    lo = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    hi = int(datetime(2026, 12, 31, tzinfo=UTC).timestamp())
    assert transitions(tz, lo, hi) == (
        (lo, 3600),
        (int(datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp()), 7200),
        (int(datetime(2026, 10, 25, 1, tzinfo=UTC).timestamp()), 3600),
    )
