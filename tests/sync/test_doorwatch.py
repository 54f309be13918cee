"""The link's watch on corrupt records the door met (sync.link.doorwatch),
over the door's real health file (sync.replica.door_health)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from door_controller.faults import FaultBoard
from sync.link.doorwatch import DoorCorruptWatch
from sync.replica.door_health import HealthFile, health_path, read_door_health

NOW = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)


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
    assert watch.poll() is None
    board = FaultBoard()
    write(db, board, pid=10)
    assert watch.poll() is None  # a door that found nothing
    board.corrupt("stored credential does not validate")
    write(db, board, pid=10)
    assert watch.poll() == "stored credential does not validate"
    assert watch.poll() is None  # said once
    board.corrupt("stored booking does not validate")
    write(db, board, pid=10)
    assert watch.poll() == "stored booking does not validate"
    write(db, FaultBoard(), pid=11)  # the door restarted: its count begins again
    assert watch.poll() is None
    again = FaultBoard()
    again.corrupt("stored door does not validate")
    write(db, again, pid=11)
    assert watch.poll() == "stored door does not validate"


def test_what_the_door_found_before_the_link_started_is_the_baseline(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    board = FaultBoard()
    board.corrupt("old damage")  # the link's boot check finds this itself
    write(db, board, pid=10)
    watch = DoorCorruptWatch(db)
    assert watch.poll() is None
    board.corrupt("new damage")
    write(db, board, pid=10)
    assert watch.poll() == "new damage"


def test_an_older_health_file_without_the_count_reads_as_none_found(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    doc = {"pid": 1, "at": NOW.isoformat(), "faults": [], "journalled": 0, "in_memory": 0}
    health_path(db).write_text(json.dumps(doc))
    health = read_door_health(db)
    assert health is not None and (health.corrupt_found, health.corrupt_detail) == (0, "")
    watch = DoorCorruptWatch(db)
    assert watch.poll() is None


def test_a_long_detail_still_fits_the_file(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    board = FaultBoard()
    board.corrupt("x" * 10_000)
    write(db, board, pid=3)
    health = read_door_health(db)
    assert health is not None and health.corrupt_found == 1
    assert health.corrupt_detail == "x" * 500
