"""No-show release through the real link: ``hallvakt sync`` and ``hallvakt central`` as
processes on a real Mosquitto (sync/replica/release.py, sync/central/evidence/release.py).

The municipality turns release on for one room (15 minutes) through an import,
with a booking that started 20 minutes ago and nobody in. The node's sweep
records ``booking.released``; the link carries it; central marks the booking
(cancelled, evidence ``released``) and grants the node a lease on the rest of
the slot; the node gets both as changes, its kiosk's free slots (``free_slots``,
what the walk-in screen lists) now offer that time, and a walk-in sold there
is accepted by central. Before central's lease nothing is offered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.central import changelog as cl
from sync.central.db import Store
from sync.replica import Booking, Lease, backlog, create_walkin, free_slots, sweep_releases
from tests.support.broker import PrivateBroker
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    FACILITY,
    CentralSite,
    NodeSite,
    one_node_system,
    wait_for,
)

NODE = "e2e.release.n1"
ROOM = "release.room"


@pytest.fixture
def system(
    make_broker: Callable[..., PrivateBroker], tmp_path: Path
) -> Iterator[tuple[PrivateBroker, CentralSite, NodeSite]]:
    broker = make_broker(log_types=BROKER_LOG_TYPES)
    with one_node_system(broker, tmp_path, NODE) as (central, node):
        yield broker, central, node


def z(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_booking_nobody_entered_is_released_and_its_rest_sold_as_a_walkin(
    system: tuple[PrivateBroker, CentralSite, NodeSite], tmp_path: Path
) -> None:
    broker, central, node = system
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=20)
    end = start + timedelta(hours=2)
    changes = {
        "resource": [
            {
                "id": ROOM,
                "name": "Släppbara rummet",
                "kind": "room",
                "walkin_slot_minutes": 30,
                "walkin_max_slots": 2,
                "release_after_minutes": 15,
            }
        ],
        "booking": [
            {
                "id": "rel-1",
                "resources": [ROOM],
                "start": z(start),
                "end": z(end),
                "holder": "assoc.0001",
                "title": "Träning",
            }
        ],
    }
    path = tmp_path / "release.json"
    path.write_text(json.dumps(changes))
    central.admin("import", "--facility", FACILITY, str(path))
    central.start(broker)
    node.link.start()
    alive = [central.gateway, node.link]
    with node.replica() as rep:
        wait_for(
            lambda: rep.get(Booking, "rel-1") is not None and backlog(rep) == 0,
            "the booking on the node",
            alive=alive,
        )
        assert free_slots(rep, NODE, ROOM, start, end) == []  # no lease: nothing to sell

        (event,) = sweep_releases(rep, datetime.now(UTC))
        assert event.body["booking"] == "rel-1"
        wait_for(
            lambda: rep.get(Lease, "rl:rel-1") is not None,
            "central's lease on the rest of the slot",
            alive=alive,
        )
        booking = rep.get(Booking, "rel-1")
        assert booking is not None and booking.status == "cancelled"
        lease = rep.get(Lease, "rl:rel-1")
        assert lease is not None and lease.node == NODE and lease.end == end
        assert lease.start == start + timedelta(minutes=30)  # the next slot boundary
        slots = free_slots(rep, NODE, ROOM, start, end)
        assert [s.start for s in slots][:1] == [lease.start]

        walkin = Booking.from_wire(
            {
                "id": "rel-walkin",
                "resources": [ROOM],
                "start": z(lease.start),
                "end": z(lease.start + timedelta(minutes=60)),
                "title": "Drop-in",
                "origin": "walkin",
                "lease": lease.id,
                "node": NODE,
            }
        )
        create_walkin(rep, NODE, walkin, datetime.now(UTC))
        wait_for(
            lambda: (
                central.query(
                    "SELECT verdict FROM events WHERE node = ? AND type = 'walkin.created'", NODE
                )
                == [("accepted",)]
            ),
            "the walk-in accepted",
            alive=alive,
        )
    with Store.open(central.store) as s:
        b = cl.get(s, FACILITY, Booking, "rel-1")
        assert b is not None and b.status == "cancelled"
        assert s.execute(
            "SELECT status, released_ts IS NOT NULL, released_node, entries FROM evidence"
            " WHERE facility = ? AND booking_id = 'rel-1'",
            [FACILITY],
        ).fetchone() == ("cancelled", True, NODE, 0)
    for log in (node.link.log_text(), central.gateway.log_text()):
        assert "Traceback" not in log
