"""The link's watch on corrupt records the door met (sync.link.doorwatch),
over the door's real health file (sync.replica.door_health)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from door_controller.faults import FaultBoard
from sync.link.doorwatch import HOLD_S, DoorCorruptWatch
from sync.replica.door_health import HealthFile, health_path, read_door_health

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
    watch = DoorCorruptWatch(db)  # no file yet: the baseline is nothing
    assert watch.poll(next(MONO)) is None
    board = FaultBoard()
    write(db, board, pid=10)
    assert watch.poll(next(MONO)) is None  # a door that found nothing
    board.corrupt("stored credential does not validate")
    write(db, board, pid=10)
    assert watch.poll(next(MONO)) == "stored credential does not validate"
    assert watch.poll(next(MONO)) is None  # said once
    board.corrupt("stored booking does not validate")
    write(db, board, pid=10)
    assert watch.poll(next(MONO)) == "stored booking does not validate"
    write(db, FaultBoard(), pid=11)  # the door restarted: its count begins again
    assert watch.poll(next(MONO)) is None
    again = FaultBoard()
    again.corrupt("stored door does not validate")
    write(db, again, pid=11)
    assert watch.poll(next(MONO)) == "stored door does not validate"


def test_what_the_door_found_before_the_link_started_is_the_baseline(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    board = FaultBoard()
    board.corrupt("old damage")  # the link's boot check finds this itself
    write(db, board, pid=10)
    watch = DoorCorruptWatch(db)
    assert watch.poll(next(MONO)) is None
    board.corrupt("new damage")
    write(db, board, pid=10)
    assert watch.poll(next(MONO)) == "new damage"


def test_an_older_health_file_without_the_count_reads_as_none_found(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    doc = {"pid": 1, "at": NOW.isoformat(), "faults": [], "journalled": 0, "in_memory": 0}
    health_path(db).write_text(json.dumps(doc))
    health = read_door_health(db)
    assert health is not None and (health.corrupt_found, health.corrupt_detail) == (0, "")
    watch = DoorCorruptWatch(db)
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
    watch = DoorCorruptWatch(db, hold_s=300.0)
    board.corrupt("first")
    write(db, board, pid=5)
    assert watch.poll(1000.0) == "first"
    board.corrupt("second")  # the same row again, a tap later
    write(db, board, pid=5)
    assert watch.poll(1001.0) is None  # held
    assert watch.poll(1299.0) is None
    assert watch.poll(1300.0) == "second"  # kept, and given when the hold ends
    assert watch.poll(2000.0) is None
