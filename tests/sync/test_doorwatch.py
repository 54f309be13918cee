"""The link's watch on corrupt records the door or a kiosk met
(sync.link.doorwatch), over their real health files (sync.replica.door_health:
the door's written by its FaultBoard, a kiosk's by CorruptTally)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from door_controller.faults import FaultBoard
from sync.link.doorwatch import HOLD_S, CorruptWatch, watched
from sync.replica.door_health import CorruptTally, HealthFile, health_path, read_door_health

NOW = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
MONO = itertools.count(0.0, HOLD_S)  # every poll a hold after the last


def write(db: Path, board: FaultBoard, pid: int | None = None) -> None:
    health = board.health(NOW)
    if pid is not None:
        health = replace(health, pid=pid)
    f = HealthFile(health_path(db))
    try:
        f.write(health)
    finally:
        f.close()


def test_news_only_when_the_door_finds_more_after_the_baseline(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    watch = CorruptWatch(db)  # no file yet: the baseline is nothing
    assert watch.poll(next(MONO)) is None
    board = FaultBoard()
    write(db, board, pid=10)
    assert watch.poll(next(MONO)) is None  # a door that found nothing
    board.corrupt("stored credential does not validate")
    write(db, board, pid=10)
    assert watch.poll(next(MONO)) == "the door controller met: stored credential does not validate"
    assert watch.poll(next(MONO)) is None  # said once
    board.corrupt("stored booking does not validate")
    write(db, board, pid=10)
    assert watch.poll(next(MONO)) == "the door controller met: stored booking does not validate"
    write(db, FaultBoard(), pid=11)  # the door restarted: its count begins again
    assert watch.poll(next(MONO)) is None
    again = FaultBoard()
    again.corrupt("stored door does not validate")
    write(db, again, pid=11)
    assert watch.poll(next(MONO)) == "the door controller met: stored door does not validate"


def test_what_the_door_found_before_the_link_started_is_the_baseline(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    board = FaultBoard()
    board.corrupt("old damage")  # the link's boot check finds this itself
    write(db, board, pid=10)
    watch = CorruptWatch(db)
    assert watch.poll(next(MONO)) is None
    board.corrupt("new damage")
    write(db, board, pid=10)
    assert watch.poll(next(MONO)) == "the door controller met: new damage"


def test_an_older_health_file_without_the_count_reads_as_none_found(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    doc = {"pid": 1, "at": NOW.isoformat(), "faults": [], "journalled": 0, "in_memory": 0}
    health_path(db).write_text(json.dumps(doc))
    health = read_door_health(db)
    assert health is not None and (health.corrupt_found, health.corrupt_detail) == (0, "")
    watch = CorruptWatch(db)
    assert watch.poll(next(MONO)) is None


def test_a_long_detail_still_fits_the_file(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    board = FaultBoard()
    board.corrupt("x" * 10_000)
    write(db, board, pid=3)
    health = read_door_health(db)
    assert health is not None and health.corrupt_found == 1
    assert health.corrupt_detail == "x" * 500


def test_news_at_most_once_per_hold_and_none_lost(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    board = FaultBoard()
    write(db, board, pid=5)
    watch = CorruptWatch(db, hold_s=300.0)
    board.corrupt("first")
    write(db, board, pid=5)
    assert watch.poll(1000.0) == "the door controller met: first"
    board.corrupt("second")  # the same row again, a tap later
    write(db, board, pid=5)
    assert watch.poll(1001.0) is None  # held
    assert watch.poll(1299.0) is None
    assert (
        watch.poll(1300.0) == "the door controller met: second"
    )  # kept, and given when the hold ends
    assert watch.poll(2000.0) is None


def test_a_kiosk_reports_like_the_door_and_shares_the_hold(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    watch = CorruptWatch(db, watched(["foyer", "hall"]), hold_s=300.0)
    assert watch.poll(0.0) is None
    foyer = CorruptTally(db, "kiosk-foyer")
    try:
        assert corrupt_path_count(db, "kiosk-foyer") == 0  # nothing written before a find
        foyer.met(ValueError("stored booking 'b1' does not validate"), NOW)
        assert corrupt_path_count(db, "kiosk-foyer") == 1
        assert watch.poll(1000.0) == "kiosk foyer met: stored booking 'b1' does not validate"
        board = FaultBoard()
        board.corrupt("stored credential does not validate")
        write(db, board, pid=10)  # the door finds one too, within the hold
        assert watch.poll(1001.0) is None
        assert watch.poll(1300.0) == "the door controller met: stored credential does not validate"
        foyer.met("again", NOW)
        assert watch.poll(1601.0) == "kiosk foyer met: again"
        assert watch.poll(2000.0) is None
    finally:
        foyer.close()
    other = CorruptWatch(db, watched(["foyer"]))  # a link started now: the baseline
    assert other.poll(0.0) is None


def test_a_kiosk_the_link_does_not_know_is_not_watched(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    watch = CorruptWatch(db, watched(["foyer"]))
    stray = CorruptTally(db, "kiosk-cellar")
    try:
        stray.met("stored booking does not validate", NOW)
    finally:
        stray.close()
    assert watch.poll(0.0) is None


def test_a_tally_that_cannot_write_its_file_goes_on(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "node.db"
    tally = CorruptTally(missing, "kiosk-foyer")
    tally.met("stored booking does not validate", NOW)  # logged, never raised
    assert tally.count == 1
    tally.close()
    with pytest.raises(ValueError, match="not a process name"):
        health_path(tmp_path / "node.db", "../etc")


def corrupt_path_count(db: Path, process: str) -> int:
    health = read_door_health(db, process)
    return 0 if health is None else health.corrupt_found
