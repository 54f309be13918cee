"""A corrupt record the kiosk meets is repaired by the link (issue 13 §3,
docs/sync.md "Self-repair").

Central's gateway (``hallvakt central``) and the node's link (``hallvakt
sync``, its node.toml naming kiosk ``foyer``) run as processes on a private
Mosquitto with the demo facility. Once the link's once-per-boot check has
finished, today's bookings are damaged on disk; the link reads no booking,
so only the kiosk can find them. The real kiosk (``kiosk.ui.app.KioskApp``
in Kivy's offscreen window, a process of its own: tests/kiosk/kivy_driver.py)
starts on that database: it meets the damage building Today, shows no
bookings instead of dying, and counts it in its health file
(``node.db-kiosk-foyer-health``); the link sees that, asks central for a
snapshot, and the snapshot rewrites the rows. A kiosk started again reads
today's bookings and reports nothing more.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sync.replica import ReplicaCorrupt, day_bounds, day_schedule, local_day
from sync.replica.door_health import read_door_health
from tests.support.broker import PrivateBroker
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    FACILITY,
    CentralSite,
    NodeSite,
    first_sync,
    one_node_system,
    wait_for,
)
from tests.support.kiosk_run import run_kiosk, texts

NODE = "repair.hall.k1"
System = tuple[PrivateBroker, CentralSite, NodeSite]


@pytest.fixture
def system(make_broker: Callable[..., PrivateBroker], tmp_path: Path) -> Iterator[System]:
    broker = make_broker(log_types=BROKER_LOG_TYPES)
    with one_node_system(broker, tmp_path, NODE) as (central, node):
        yield broker, central, node


def today_ids(node: NodeSite) -> list[str]:
    """The bookings the kiosk's Today reads: those of the facility's day."""
    with node.replica() as rep:
        tz = rep.tz
        start, end = day_bounds(local_day(datetime.now(UTC), tz), tz)
        rows = rep.conn.execute(
            "SELECT id FROM bookings WHERE end_ts > ? AND start_ts < ? ORDER BY id",
            [int(start.timestamp()), int(end.timestamp())],
        ).fetchall()
    return [str(r[0]) for r in rows]


def schedule_reads(node: NodeSite) -> bool:
    with node.replica() as rep:
        try:
            day_schedule(rep, local_day(datetime.now(UTC), rep.tz))
        except ReplicaCorrupt:
            return False
        return True


def test_a_corrupt_row_the_kiosk_meets_is_repaired_by_a_snapshot(
    system: System, tmp_path: Path
) -> None:
    broker, central, node = system
    with node.config.open("a", encoding="utf-8") as f:
        f.write('[[kiosks]]\nid = "foyer"\n')  # the kiosk run_kiosk plays
    alive = first_sync(broker, central, node)
    wait_for(lambda: "database check took" in node.link.log_text(), "the boot check", alive=alive)
    ids = today_ids(node)
    assert ids, "the demo facility has bookings today"
    with sqlite3.connect(node.database, isolation_level=None) as conn:
        marks = ", ".join("?" * len(ids))
        conn.execute(f"UPDATE bookings SET data = substr(data, 1, 20) WHERE id IN ({marks})", ids)
    assert not schedule_reads(node)

    # What the kiosk shows is measured at once: its report reaches the link
    # within the minute the kiosk then advances, and a snapshot can mend the
    # rows (in about 0.1 s since the held parts) before a later read of Today.
    steps = [["measure", "kiosk-corrupt-today"], ["shot", "kiosk-corrupt-today"], ["advance", 61]]
    first = run(tmp_path, node, steps)
    shown = texts(first, "kiosk-corrupt-today")
    assert any("Bokningarna kan inte läsas just nu" in t for t in shown), shown
    health = read_door_health(node.database, "kiosk-foyer")
    assert health is not None and health.corrupt_found >= 1
    assert "booking" in health.corrupt_detail and health.faults == ()

    wait_for(lambda: schedule_reads(node), "the rows repaired by central's snapshot", alive=alive)
    log = node.link.log_text()
    assert log.count("kiosk foyer met: ") == 1
    assert "Traceback" not in log

    again = run(tmp_path, node, [["measure", "kiosk-repaired-today"]])
    assert read_door_health(node.database, "kiosk-foyer") == health  # nothing more met
    shown = texts(again, "kiosk-repaired-today")
    assert not any("Bokningarna kan inte läsas" in t for t in shown), shown
    for proc in alive:
        assert proc.running


def run(tmp_path: Path, node: NodeSite, steps: list[list[object]]) -> dict[str, object]:
    return run_kiosk(
        tmp_path, node.database, steps, node=NODE, facility=FACILITY, report_corrupt=True
    )
