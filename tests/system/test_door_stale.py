"""A stale replica at the real door (PROTOCOL.md §7), with the node's own walk-in.

The sync link stopped hearing central 100 hours ago (past the default
``max_offline_hours`` of 72): the node database's last verified head is that
old. The real ``hallvakt door`` process then lets the staff card in, refuses a
leader whose team is booked now (``stale_replica``), and honours the visitor
code of a walk-in that this node sold, while stale, inside a lease it holds:
the walk-in is made from this test process exactly as the kiosk makes it
(``kiosk.walkin_store.store_walkin``: ``create_walkin`` and the code's
credential in one transaction), after asking the one shared rule
(``sync.replica.walkin_rule.walkin_access``) as the kiosk does, while the door
runs; then the code is keyed in at the door's reader (libosdp's own PD).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from kiosk.walkin_store import store_walkin
from sync.protocol.timeutil import format_instant
from sync.replica import Booking, Lease, Replica, code_digest
from sync.replica.walkin_rule import WalkinAccess, walkin_access
from tests.support.door_site import KEY, LEADER_CARD, NODE_ID, STAFF_CARD, DoorSite

WALKIN_CODE = "135791"


def test_stale_replica_staff_yes_leader_no_our_walkin_yes(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    lease_start = now - timedelta(minutes=30)
    ops = [
        {  # a gym behind the same door, taking walk-ins in 30-minute slots
            "op": "upsert",
            "entity": "resource",
            "id": "gym",
            "data": {"id": "gym", "name": "Gym", "kind": "room", "walkin_slot_minutes": 30},
        },
        {
            "op": "upsert",
            "entity": "door",
            "id": "d1",
            "data": {"id": "d1", "name": "Entré", "resources": ["hall", "gym"]},
        },
        {  # this node's lease on the gym, granted before the link stopped
            "op": "upsert",
            "entity": "lease",
            "id": "lease-1",
            "data": {
                "id": "lease-1",
                "node": NODE_ID,
                "resource": "gym",
                "start": format_instant(lease_start),
                "end": format_instant(lease_start + timedelta(hours=2)),
            },
        },
    ]
    site = DoorSite(tmp_path / "node", now=now, extra_ops=ops, head_age=timedelta(hours=100))
    try:
        site.start()
        site.tap(STAFF_CARD, reader="r2")
        site.wait(lambda: len(site.access()) == 1, "the staff card decided")
        site.tap(LEADER_CARD, reader="r2")  # b1 of the leader's team is on now
        site.wait(lambda: len(site.access()) == 2, "the leader decided")
        assert site.access() == [(True, "grant"), (False, "stale_replica")]

        # the kiosk sells a walk-in of the gym, starting now, while stale
        with Replica.open(site.database) as rep:
            lease = rep.get(Lease, "lease-1")
            assert lease is not None
            start = lease_start + timedelta(minutes=30)  # a whole slot into the lease: now
            booking = Booking(
                "walkin-1",
                ("gym",),
                start,
                start + timedelta(minutes=30),
                origin="walkin",
                lease="lease-1",
                node=NODE_ID,
            )
            assert walkin_access(booking, lease, node=NODE_ID, at=start, clock_trusted=True) is (
                WalkinAccess.OPENS
            )
            store_walkin(rep, NODE_ID, booking, code_digest(KEY, "f1", WALKIN_CODE), now)
        site.keys(WALKIN_CODE + "#")  # at the door, on its keypad
        site.wait(lambda: len(site.access()) == 3, "the walk-in code decided")
        assert site.access()[-1] == (True, "visitor_code")
        assert site.relay.released() is True
        site.keys("246810#")  # the visitor code of the team's (central) booking: stale
        site.wait(lambda: len(site.access()) == 4, "the central booking's code decided")
        assert site.access()[-1] == (False, "stale_replica")
    finally:
        site.close()
