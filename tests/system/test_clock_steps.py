"""Wall-clock steps under the real door and link processes (issue 13 §6).

The wall clock of ``hallvakt door`` and ``hallvakt sync`` is stepped while
they run, through the node's one clock adapter (its test hooks,
``tests.support.clockstep``), while their monotonic clock goes on as an NTP
step leaves it. The untrusted clock that such a step leaves on a real
machine (the kernel marks it unsynchronised until NTP is back) is given
through the adapter's distrust file.

Door: booking windows are judged by the stepped wall clock (a visitor code
opens inside its booking's window and is refused an hour earlier or a day
later), the staff grant holds at every step, an untrusted clock gives the
staff-only rule (PROTOCOL.md §7), Saturday-night windows across both DST
changes of Europe/Stockholm and a booking through the autumn's repeated hour
hold in the running process, the outbox's seq stays contiguous and the
process never dies.

Link: events written while its clock is an hour back, then a day ahead, all
reach central exactly once, in seq order, with the link alive and no
traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync.replica import Replica, backlog, card_digest, code_digest, pending_events
from tests.support import clockstep
from tests.support.broker import PrivateBroker
from tests.support.door_site import KEY, STAFF_CARD, VISITOR_CODE, DoorSite
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    BrokerAccess,
    append_events,
    demo_system,
    exactly_once,
    first_sync,
    wait_for,
)

HOUR, DAY = 3600, 86400
NIGHT_CARD = "55667788/32"  # a night patrol: Saturday 22:00-02:00, facility time
DST_CODE = "975310"  # the visitor code of b-dst, through the autumn's repeated hour


def night_patrol_ops() -> list[dict[str, Any]]:
    def up(entity: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"op": "upsert", "entity": entity, "id": data["id"], "data": data}

    return [
        up("holder", {"id": "s2", "kind": "staff", "display_name": "Nattpatrull"}),
        up(
            "credential",
            {"id": "c10", "holder": "s2", "kind": "card", "digest": card_digest(KEY, NIGHT_CARD)},
        ),
        up(
            "grant",
            {
                "id": "g2",
                "holder": "s2",
                "doors": ["d1"],
                "windows": [{"days": [6], "from": "22:00", "to": "02:00"}],
            },
        ),
        # a booking through the autumn's repeated hour: 02:30 CEST to 02:30 CET
        up(
            "booking",
            {
                "id": "b-dst",
                "resources": ["hall"],
                "start": "2026-10-25T00:30:00Z",
                "end": "2026-10-25T01:30:00Z",
                "holder": "ik",
            },
        ),
        up(
            "credential",
            {
                "id": "v-dst",
                "kind": "code",
                "booking": "b-dst",
                "digest": code_digest(KEY, "f1", DST_CODE),
            },
        ),
    ]


@pytest.fixture
def door(tmp_path: Path) -> Iterator[tuple[DoorSite, clockstep.WallClock]]:
    wall = clockstep.WallClock(tmp_path / "clock")
    now = datetime.now(UTC).replace(microsecond=0)
    site = DoorSite(tmp_path / "node", now=now, extra_ops=night_patrol_ops(), env=wall.env())
    try:
        site.start()
        yield site, wall
    finally:
        site.close()


def decide(site: DoorSite, present: Callable[[], None]) -> tuple[bool, str]:
    """Present once at reader r1 and return the door's decision."""
    before = len(site.access())
    present()
    site.wait(lambda: len(site.access()) > before, "the door's decision")
    assert len(site.access()) == before + 1
    return site.access()[-1]


def code(site: DoorSite) -> tuple[bool, str]:
    return decide(site, lambda: site.keys(VISITOR_CODE + "#"))


def card(site: DoorSite, number: str) -> tuple[bool, str]:
    return decide(site, lambda: site.tap(number))


def step_to(wall: clockstep.WallClock, instant: datetime) -> None:
    wall.step(round(instant.timestamp() - time.time()))


def test_door_booking_windows_trust_and_outbox_across_wall_steps(
    door: tuple[DoorSite, clockstep.WallClock],
) -> None:
    site, wall = door
    # b1 of the leader's team runs [now - 5 min, now + 55 min), its visitor
    # code opening 30 min before the start (door d1's before_minutes).
    assert code(site) == (True, "visitor_code")

    wall.step(-HOUR)  # 55 min before b1 starts: 25 min before its window
    assert code(site) == (False, "outside_window")
    assert card(site, STAFF_CARD) == (True, "grant")

    wall.step(+DAY)  # b1 ended yesterday
    assert code(site) == (False, "outside_window")
    assert card(site, STAFF_CARD) == (True, "grant")

    wall.distrust()  # the step left the clock unsynchronised: staff only
    assert card(site, STAFF_CARD) == (True, "grant")
    assert code(site) == (False, "clock_untrusted")
    wall.step(0)  # even with the right time back, while untrusted
    assert code(site) == (False, "clock_untrusted")

    wall.trust()
    assert code(site) == (True, "visitor_code")

    events = pending_events_of(site)
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the outbox's seq has a gap"
    stamps = [e.at for e in events if e.type.startswith("access.")]
    assert len(stamps) == 9
    # the events carry the wall time the door read: an hour back, a day ahead
    real = datetime.now(UTC)
    assert any(abs(s - (real - timedelta(hours=1))) < timedelta(minutes=5) for s in stamps)
    assert any(abs(s - (real + timedelta(days=1))) < timedelta(minutes=5) for s in stamps)
    site.check_alive()
    assert "Traceback" not in site.log_text()


def test_door_night_window_across_both_dst_changes(
    door: tuple[DoorSite, clockstep.WallClock],
) -> None:
    site, wall = door
    # Europe/Stockholm: autumn back at 03:00 CEST on 2026-10-25 (01:00 UTC),
    # spring forward at 02:00 CET on 2027-03-28 (01:00 UTC). Saturday nights.
    table = [
        (datetime(2026, 10, 24, 19, 58, tzinfo=UTC), False),  # 21:58 CEST
        (datetime(2026, 10, 24, 20, 2, tzinfo=UTC), True),  # 22:02 CEST
        (datetime(2026, 10, 24, 23, 57, tzinfo=UTC), True),  # 01:57 CEST
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), False),  # 02:30 CEST (first)
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), False),  # 02:30 CET (second)
        (datetime(2027, 3, 27, 20, 58, tzinfo=UTC), False),  # 21:58 CET
        (datetime(2027, 3, 27, 21, 2, tzinfo=UTC), True),  # 22:02 CET
        (datetime(2027, 3, 28, 0, 57, tzinfo=UTC), True),  # 01:57 CET
        (datetime(2027, 3, 28, 1, 3, tzinfo=UTC), False),  # 03:03 CEST: window over
    ]
    got = []
    for instant, _ in table:
        step_to(wall, instant)
        got.append(card(site, NIGHT_CARD)[0])
    assert got == [granted for _, granted in table]
    # a booking's window is instants, whatever the local hour says: b-dst runs
    # [00:30, 01:30) UTC, its door opening 30 min before and 15 min after
    codes = [
        (datetime(2026, 10, 24, 23, 50, tzinfo=UTC), (False, "outside_window")),  # 01:50 CEST
        (datetime(2026, 10, 25, 0, 10, tzinfo=UTC), (True, "visitor_code")),  # 02:10 CEST
        (datetime(2026, 10, 25, 1, 10, tzinfo=UTC), (True, "visitor_code")),  # 02:10 CET
        (datetime(2026, 10, 25, 1, 40, tzinfo=UTC), (True, "visitor_code")),  # 02:40 CET
        (datetime(2026, 10, 25, 2, 0, tzinfo=UTC), (False, "outside_window")),  # 03:00 CET
    ]
    decided = []
    for instant, _ in codes:
        step_to(wall, instant)
        decided.append(decide(site, lambda: site.keys(DST_CODE + "#")))
    assert decided == [want for _, want in codes]
    seqs = [e.seq for e in pending_events_of(site)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    site.check_alive()
    assert "Traceback" not in site.log_text()


def pending_events_of(site: DoorSite) -> list[Any]:
    with Replica.open(site.database) as rep:
        return pending_events(rep, limit=100_000)


def stamped_within(status: dict[str, Any], offset_s: int) -> bool:
    """Whether the link's status file was written at real time + ``offset_s``."""
    if "at" not in status:
        return False
    at = datetime.fromisoformat(status["at"].replace("Z", "+00:00"))
    return abs(at - datetime.now(UTC) - timedelta(seconds=offset_s)) < timedelta(minutes=2)


# --- the link ------------------------------------------------------------------------

NODE = "clock.hall.n1"


def test_link_loses_nothing_across_wall_steps(
    make_broker: Callable[..., PrivateBroker], tmp_path: Path
) -> None:
    broker = make_broker(log_types=BROKER_LOG_TYPES)
    access = BrokerAccess.unix(broker)
    central, (node,) = demo_system(tmp_path, access, {NODE: access})
    wall = clockstep.WallClock(tmp_path / "clock")
    node.link.env = wall.env()
    try:
        alive = first_sync(broker, central, node)
        with node.replica() as rep:
            committed: dict[int, str] = {}
            for offset in (-HOUR, +DAY, 0):
                wall.step(offset)
                start = len(committed)
                committed.update((e.seq, e.id) for e in append_events(rep, 200, start=start))
                wait_for(
                    lambda: backlog(rep) == 0,
                    f"the outbox to drain at {offset:+d} s",
                    alive=alive,
                )
                # the link's own wall clock moved (its status file's time)
                wait_for(
                    lambda o=offset: stamped_within(node.status(), o),
                    f"the link's status stamped at {offset:+d} s",
                    alive=alive,
                )
            epoch = rep.state().epoch
        assert exactly_once(committed, epoch, central.events(NODE)) == []
        assert sorted(committed) == list(range(1, len(committed) + 1))
        assert "Traceback" not in node.link.log_text() + central.gateway.log_text()
    finally:
        node.link.stop()
        central.stop()
