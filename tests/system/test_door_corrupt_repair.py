"""A corrupt record met by the door at decision time is repaired by the link
(issue 13 §3, docs/sync.md "Self-repair").

Central's gateway, the node's link (``hallvakt sync``) and its door
controller (``hallvakt door``, libosdp's own PD on a pty) all run as
processes; the door's records (door d1, a person with a card, a staff card
and grant) come from central through the link. While all three run, the
person's credential row is damaged on disk. The link's once-per-boot check
has long finished and the link reads no credential, so only the door can
find it: the card is refused ``replica_unreadable`` (staff only, fail
secure), the door counts it in its health file, the link sees that, asks
central for a snapshot, and the snapshot rewrites the row; the same card is
then decided from the replica again and the door's fault ends.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.replica import Credential, Door, ReplicaCorrupt, card_digest
from tests.support.broker import PrivateBroker
from tests.support.door_site import KEY, LEADER_CARD, STAFF_CARD, DoorSite
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    FACILITY,
    CentralSite,
    NodeSite,
    one_node_system,
    wait_for,
)

NODE = "repair.hall.n1"
ROUND_THE_CLOCK = [
    {"days": [1, 2, 3, 4, 5, 6, 7], "from": "00:00", "to": "12:00"},
    {"days": [1, 2, 3, 4, 5, 6, 7], "from": "12:00", "to": "00:00"},
]


def door_records() -> dict[str, list[dict[str, Any]]]:
    return {
        "door": [{"id": "d1", "name": "Entré", "resources": ["hall.a"]}],
        "holder": [
            {"id": "rp.person", "kind": "person", "display_name": "Anna"},
            {"id": "rp.staff", "kind": "staff", "display_name": "Vaktmästare"},
        ],
        "credential": [
            {
                "id": "rp.card",
                "holder": "rp.person",
                "kind": "card",
                "digest": card_digest(KEY, LEADER_CARD),
            },
            {
                "id": "rp.staffcard",
                "holder": "rp.staff",
                "kind": "card",
                "digest": card_digest(KEY, STAFF_CARD),
            },
        ],
        "grant": [
            {"id": "rp.grant", "holder": "rp.staff", "doors": ["d1"], "windows": ROUND_THE_CLOCK}
        ],
    }


@pytest.fixture
def system(
    make_broker: Callable[..., PrivateBroker], tmp_path: Path
) -> Iterator[tuple[PrivateBroker, CentralSite, NodeSite]]:
    broker = make_broker(log_types=BROKER_LOG_TYPES)
    with one_node_system(broker, tmp_path, NODE) as (central, node):
        yield broker, central, node


def decided(site: DoorSite) -> list[tuple[bool, str]]:
    """The door's decisions as it logs them (the link sends its events away:
    the outbox does not keep them)."""
    found = re.findall(r"access (granted|denied) door=\S+ reader=\S+ reason=(\S+)", site.log_text())
    return [(g == "granted", r) for g, r in found]


def decodes(node: NodeSite) -> bool:
    with node.replica() as rep:
        try:
            return rep.get(Credential, "rp.card") is not None
        except ReplicaCorrupt:
            return False


def test_a_corrupt_row_the_door_meets_is_repaired_by_a_snapshot(
    system: tuple[PrivateBroker, CentralSite, NodeSite], tmp_path: Path
) -> None:
    broker, central, node = system
    records = tmp_path / "door.json"
    records.write_text(json.dumps(door_records()))
    central.admin("import", "--facility", FACILITY, str(records))
    central.start(broker)
    node.link.start()
    alive = [central.gateway, node.link]
    with node.replica() as rep:
        wait_for(lambda: rep.get(Door, "d1") is not None, "the door's records", alive=alive)
    wait_for(lambda: "database check took" in node.link.log_text(), "the boot check", alive=alive)
    site = DoorSite(tmp_path / "door", now=datetime.now(UTC), database=node.database, seed=False)
    try:
        site.start()
        site.tap(LEADER_CARD, reader="r2")
        site.wait(lambda: decided(site) == [(False, "no_booking")], "the card decided")

        with sqlite3.connect(node.database, isolation_level=None) as conn:
            conn.execute(
                "UPDATE credentials SET data = '{\"id\": \"rp.card\",' WHERE id = 'rp.card'"
            )
        assert not decodes(node)
        site.tap(LEADER_CARD, reader="r2")
        site.wait(lambda: len(decided(site)) == 2, "the damaged card decided")
        assert decided(site)[-1] == (False, "replica_unreadable")

        wait_for(lambda: decodes(node), "the row repaired by central's snapshot", alive=alive)
        assert "the door controller met" in node.link.log_text()
        site.tap(LEADER_CARD, reader="r2")
        site.wait(lambda: len(decided(site)) == 3, "the repaired card decided")
        assert decided(site)[-1] == (False, "no_booking")  # read from the replica again
        site.wait(lambda: site.faults() == (), "the door's fault ended")
        site.tap(STAFF_CARD, reader="r2")
        site.wait(lambda: len(decided(site)) == 4, "the staff card decided")
        assert decided(site)[-1] == (True, "grant")
        site.check_alive()
        assert "Traceback" not in site.log_text() + node.link.log_text()
        assert node.link.log_text().count("the door controller met") == 1
    finally:
        site.close()
