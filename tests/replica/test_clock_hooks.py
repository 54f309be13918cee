"""The node clock adapter's test hooks (sync.replica.clock): off unless named,
the offset moves wall time only, the distrust file only takes trust away."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.replica.clock import DISTRUST_ENV, OFFSET_ENV, SystemClock


def clock(tmp_path: Path, **kw: object) -> SystemClock:
    return SystemClock(
        offset_file=str(tmp_path / "offset"),
        distrust_file=str(tmp_path / "distrust"),
        synced=lambda: True,
        **kw,  # type: ignore[arg-type]
    )


def test_no_hooks_unless_the_environment_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OFFSET_ENV, raising=False)
    monkeypatch.delenv(DISTRUST_ENV, raising=False)
    c = SystemClock()
    assert (c.offset_file, c.distrust_file) == (None, None)
    monkeypatch.setenv(OFFSET_ENV, "/x/offset")
    monkeypatch.setenv(DISTRUST_ENV, "/x/distrust")
    c = SystemClock()
    assert (c.offset_file, c.distrust_file) == ("/x/offset", "/x/distrust")


def test_a_process_with_hooks_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sync.replica.clock"):
        clock(tmp_path)
    assert "clock test hooks in use" in caplog.text


def test_the_offset_steps_wall_time_and_never_monotonic_time(tmp_path: Path) -> None:
    c = clock(tmp_path)
    offset = tmp_path / "offset"
    assert abs(c.now() - datetime.now(UTC)) < timedelta(seconds=5)  # no file: 0
    for seconds in (-3600, 86400, 0):
        offset.write_text(f"{seconds:+d}\n")
        mono_before = c.monotonic()
        r = c.read()
        assert abs(r.wall - datetime.now(UTC) - timedelta(seconds=seconds)) < timedelta(seconds=5)
        assert abs(c.now() - r.wall) < timedelta(seconds=5)
        assert 0 <= r.mono - mono_before < 5
    for bad in ("not a number", "99999999999999999999", ""):
        offset.write_text(bad)
        assert abs(c.now() - datetime.now(UTC)) < timedelta(seconds=5), bad  # unreadable: 0


def test_the_distrust_file_takes_trust_away_even_from_assume_trusted(tmp_path: Path) -> None:
    c = clock(tmp_path, assume_trusted=True, recheck_s=3600.0)
    assert c.trusted() and c.read().trusted
    (tmp_path / "distrust").touch()
    assert not c.trusted() and not c.read().trusted  # at once, not at the next recheck
    (tmp_path / "distrust").unlink()
    assert c.trusted()
