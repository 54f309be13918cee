"""A node and the central gateway, end to end, as separate processes on a real Mosquitto.

``hallvakt sync --config node.toml`` and ``hallvakt central --config central.toml``
run as child processes (tests/support/e2e/), set up the way an installer and
central's operator do it: ``hallvakt central init``, ``hallvakt provision``,
``hallvakt central register-node``, ``hallvakt central demo-seed``. A wiretap
client subscribed to ``hallvakt/v1/#`` records what crosses the broker. Shown:

- hello first, then status; central answers with its head and a snapshot; the
  node's cursor; events up and acks down until the outbox is empty; a central
  booking (``hallvakt central book``) reaches the node as ``changes``;
- a walk-in inside a lease the node holds is accepted and comes back as
  central's booking; a walk-in outside it (the node's replica claims a longer
  lease than central granted, as a restored or tampered database would) is
  rejected as ``outside_lease``, and the node records that verdict;
- central holds exactly the node's events; SIGTERM ends both with status 0 and
  central sees the node offline.

And ``bench/sync_link.py --quick`` runs (it measures this same pipeline).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.central import changelog as cl
from sync.central.db import Store
from sync.central.testing import as_dict, replica_records
from sync.replica import (
    Booking,
    Lease,
    Replica,
    backlog,
    bookings_overlapping,
    create_walkin,
    free_slots,
    related_resources,
    resource_tree,
    walkin_states,
)
from tests.support.broker import PrivateBroker, mosquitto_available
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    FACILITY,
    CentralSite,
    NodeSite,
    Peer,
    append_events,
    exactly_once,
    one_node_system,
    wait_for,
)

NODE = "e2e.hall.n1"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def system(
    make_broker: Callable[..., PrivateBroker], tmp_path: Path
) -> Iterator[tuple[PrivateBroker, CentralSite, NodeSite]]:
    broker = make_broker(log_types=BROKER_LOG_TYPES)
    with one_node_system(broker, tmp_path, NODE) as (central, node):
        yield broker, central, node


def walkin(ident: str, lease: Lease, start: datetime, end: datetime) -> Booking:
    return Booking.from_wire(
        {
            "id": ident,
            "resources": [lease.resource],
            "start": start.isoformat().replace("+00:00", "Z"),
            "end": end.isoformat().replace("+00:00", "Z"),
            "title": "Drop-in",
            "origin": "walkin",
            "lease": lease.id,
            "node": NODE,
        }
    )


def pick_slots(rep: Replica, now: datetime) -> tuple[Lease, datetime, Lease, datetime]:
    """A free slot inside a future lease, and a lease whose next slot after its
    end is free (for the walk-in outside it). Slots are 60 minutes (demo data)."""
    tree = resource_tree(rep)
    leases = sorted(
        (x for x in rep.all(Lease) if x.node == NODE and x.start > now + timedelta(minutes=5)),
        key=lambda x: x.start,
    )
    inside = next(
        (x, s.start) for x in leases for s in free_slots(rep, NODE, x.resource, x.start, x.end)[:1]
    )
    step = timedelta(minutes=tree[inside[0].resource].walkin_slot_minutes or 60)
    outside = next(
        (x, x.end)
        for x in leases
        if x.id != inside[0].id
        and not bookings_overlapping(rep, related_resources(tree, x.resource), x.end, x.end + step)
        and not any(
            o.resource in related_resources(tree, x.resource)
            and o.start < x.end + step
            and x.end < o.end
            for o in leases
        )
    )
    return inside[0], inside[1], outside[0], outside[1]


def test_node_and_central_exchange_everything_and_judge_walkins(
    system: tuple[PrivateBroker, CentralSite, NodeSite],
) -> None:
    broker, central, node = system
    assert broker.unix_socket is not None
    tap = Peer("wiretap", broker.unix_socket)
    try:
        assert tap.subscribe("hallvakt/v1/#") == [1]
        with node.replica() as rep:
            committed = {e.seq: e.id for e in append_events(rep, 25)}  # before any connect
            epoch = rep.state().epoch
            central.start(broker)
            node.link.start()
            alive = [central.gateway, node.link]
            # hello -> head + snapshot; events -> acks (central's rev read each time:
            # its first lease renewal may move it)
            wait_for(
                lambda: rep.state().applied_rev == central.revs(FACILITY)[0] and backlog(rep) == 0,
                "the snapshot applied and the outbox empty",
                alive=alive,
            )
            with Store.open(central.store) as s:
                assert replica_records(rep) == as_dict(cl.all_records(s, FACILITY))

            # a central booking -> head + changes
            rev1 = rep.state().applied_rev
            day = (datetime.now(UTC) + timedelta(days=20)).date()
            central.admin(
                "book",
                *("--facility", FACILITY, "--resource", "gym", "--id", "e2e-central-1"),
                *("--start", f"{day} 10:00", "--end", f"{day} 11:30", "--title", "Match"),
            )
            rev2 = central.revs(FACILITY)[0]
            assert rev2 > rev1
            wait_for(lambda: rep.state().applied_rev == rev2, "the changes", alive=alive)
            assert rep.get(Booking, "e2e-central-1") is not None

            # walk-ins: one inside a lease the node holds, one outside it
            now = datetime.now(UTC)
            lease, start, other, after = pick_slots(rep, now)
            step = timedelta(minutes=60)
            ok = walkin("e2e-walkin-in", lease, start, start + step)
            with rep.write():  # the replica claims one more slot than central granted
                rep.put(Lease(other.id, other.node, other.resource, other.start, after + step))
            bad = walkin("e2e-walkin-out", other, after, after + step)
            for booking in (ok, bad):
                event = create_walkin(rep, NODE, booking, now)
                committed[event.seq] = event.id
            wait_for(
                lambda: all(s[0] != "pending" for s in walkin_states(rep).values()),
                "both verdicts",
                alive=alive,
            )
            states = walkin_states(rep)
            assert states[ok.id] == ("accepted", "")
            assert states[bad.id][0] == "rejected"
            assert states[bad.id][1].startswith("outside_lease"), states[bad.id]
            rejected = rep.get(Booking, bad.id)
            assert rejected is not None and rejected.status == "rejected"
            assert central.query(
                "SELECT id, origin, json_extract(data, '$.status') FROM bookings"
                " WHERE facility = ? AND id LIKE 'e2e-%'"
                " ORDER BY id",
                FACILITY,
            ) == [("e2e-central-1", "central", "confirmed"), (ok.id, "walkin", "confirmed")]
            assert central.query(
                "SELECT verdict FROM events WHERE node = ? AND type = 'walkin.created'"
                " ORDER BY seq",
                NODE,
            ) == [("accepted",), ("rejected",)]
            # the accepted walk-in is central's booking now and comes back as changes
            rev3 = central.revs(FACILITY)[0]
            assert rev3 > rev2
            wait_for(lambda: rep.state().applied_rev == rev3, "the walk-in's revision")
            with Store.open(central.store) as s:
                booked = cl.get(s, FACILITY, Booking, ok.id)
            assert booked is not None and rep.get(Booking, ok.id) == booked

            wait_for(lambda: backlog(rep) == 0, "the outbox empty")
            assert exactly_once(committed, epoch, central.events(NODE)) == []
            assert rep.state().last_seq == max(committed) == len(committed)

            assert node.link.terminate() == 0
            wait_for(
                lambda: (
                    central.query("SELECT status_state FROM node_state WHERE node = ?", NODE)
                    == [("offline",)]
                ),
                "central to see the node offline",
            )
            assert central.gateway.terminate() == 0

        heard = tap.drain()
        up = [h.kind for h in heard if "/up/" in h.topic]
        down = {h.kind for h in heard if "/dn/" in h.topic}
        status = [h.claims["state"] for h in heard if h.topic.endswith("/status")]
        assert up[0] == "hello" and {"events", "cursor"} <= set(up), up[:10]
        assert {"head", "snapshot", "changes", "ack"} <= down, down
        assert status[0] == "online" and status[-1] == "offline"
        for log in (node.link.log_text(), central.gateway.log_text()):
            assert "Traceback" not in log
        assert central.security_log() == [] and central.quarantine() == []
    finally:
        tap.close()


@pytest.mark.slow
def test_the_sync_bench_runs() -> None:
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed")
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "sync_link.py"), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # 2,000 end to end, 2,000 from a committed outbox, 5,000 after a link
    # restart, 5,000 after a broker restart, 20 single events: central holds
    # each once.
    assert "exactly once: central holds all 14,020 committed events" in done.stdout, done.stdout
    assert "goal e2e >= 0.5x the bare durable pipeline:" in done.stdout
    assert "goal from a committed outbox >= 0.5x the bare durable pipeline" in done.stdout
    assert "the appends alone cap e2e at" in done.stdout
    assert "goal 5,000 events stored < 10 s after the broker is back" in done.stdout
