"""Faults in the running system: processes killed, the broker lost, a log pruned.

The node's link (``hallvakt sync``) and central's gateway (``hallvakt central``)
run as child processes on a private Mosquitto (tests/support/e2e/). The
node's events come from the test through ``sync.replica.append_event`` (an
``EventWriter`` thread stands in for the door controller), and every committed
``(seq, id)`` is recorded before an ack can delete it. Each test ends with
``exactly_once``: central's event store (unique (node, epoch, seq)) holds
exactly the node's committed events, none missing, none stored twice or under
another id, and the node's outbox is empty.

- the link SIGKILLed at 50 random moments while events flow;
- the broker SIGKILLed and restarted, three times, while events flow;
- the broker down while the node records 50,000 events, then the catch-up;
- central's gateway SIGKILLed mid-batch and restarted, five times;
- a node whose ``applied_rev`` is below the pruned change log gets a snapshot.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.central import changelog as cl
from sync.central.db import Store
from sync.central.testing import as_dict, replica_records
from sync.replica import Replica, backlog
from tests.support.broker import PrivateBroker
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    FACILITY,
    BrokerAccess,
    CentralSite,
    EventWriter,
    NodeSite,
    append_events,
    demo_system,
    exactly_once,
    first_sync,
    wait_for,
)

NODE = "faults.hall.n1"
System = tuple[PrivateBroker, CentralSite, NodeSite]


def make_system(make_broker: Callable[..., PrivateBroker], root: Path, *debug: str) -> System:
    broker = make_broker(log_types=BROKER_LOG_TYPES + debug)
    access = BrokerAccess.unix(broker)
    central, (node,) = demo_system(root, access, {NODE: access})
    return broker, central, node


@pytest.fixture
def system(make_broker: Callable[..., PrivateBroker], tmp_path: Path) -> Iterator[System]:
    broker, central, node = make_system(make_broker, tmp_path)
    try:
        yield broker, central, node
    finally:
        node.link.stop()
        central.stop()


@pytest.fixture
def rng() -> random.Random:
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed}")  # shown with a failure: the moments can be replayed
    return random.Random(seed)


def settle(central: CentralSite, node: NodeSite, rep: Replica, committed: dict[int, str]) -> float:
    """Wait until central holds every committed event and the outbox is empty;
    then check exactly-once. Returns the seconds waited."""
    took = wait_for(
        lambda: backlog(rep) == 0 and central.event_count(NODE) >= len(committed),
        f"central to hold all {len(committed)} events",
        alive=[central.gateway, node.link],
    )
    st = rep.state()
    assert exactly_once(committed, st.epoch, central.events(NODE)) == []
    # every seq the outbox ever used is one the test committed: nothing else wrote
    assert st.last_seq == len(committed) == max(committed)
    assert st.acked_through == st.last_seq
    assert central.through(NODE, st.epoch) == st.last_seq
    assert central.quarantine() == []  # no seq ever came back with another id
    assert "Traceback" not in central.gateway.log_text() + node.link.log_text()
    return took


@pytest.mark.slow
def test_the_link_killed_at_50_random_moments_loses_and_repeats_nothing(
    system: System, rng: random.Random
) -> None:
    broker, central, node = system
    with node.replica() as rep:
        first_sync(broker, central, node)
        writer = EventWriter(node.database, burst=4, pause_s=0.004)
        writer.start()
        alive = [central.gateway, node.link]
        moments = {"after its hello, with events stored": 0, "while starting or connecting": 0}
        backlogs = []
        started = time.monotonic()
        connects = 0  # logged by the links before the current one started
        again = 0
        try:
            for _ in range(50):
                if rng.random() < 0.8:
                    wait_for(lambda n=connects: node.connects() > n, "a connection", alive=alive)
                    stored = central.event_count(NODE)
                    wait_for(
                        lambda n=stored: central.event_count(NODE) > n, "events stored", alive=alive
                    )
                    time.sleep(rng.uniform(0.0, 0.3))
                    moments["after its hello, with events stored"] += 1
                else:
                    time.sleep(rng.uniform(0.0, 0.5))
                    moments["while starting or connecting"] += 1
                # events recorded and not yet acknowledged (nearly always already)
                wait_for(lambda: backlog(rep) > 0, "an unacknowledged event", alive=alive)
                backlogs.append(backlog(rep))
                node.link.check_alive()
                assert node.link.kill() == -9
                # stored by central, not yet acknowledged on the node: sent again
                st = rep.state()
                again += max(0, central.through(NODE, st.epoch) - st.acked_through)
                connects = node.connects()
                node.link.start()
        finally:
            writer.stop()
        assert writer.errors == []
        took = settle(central, node, rep, writer.committed)
    backlogs.sort()
    print(
        f"50 kills in {time.monotonic() - started:.1f} s: {moments}; outbox backlog at the"
        f" kill min/median/max {backlogs[0]}/{backlogs[25]}/{backlogs[-1]}; at least {again}"
        f" events stored by central but unacknowledged on the node at a kill (sent again);"
        f" {len(writer.committed)} events, settled {took:.1f} s after the last restart"
    )
    assert node.link.starts == 51  # the first and one after each kill


@pytest.mark.slow
def test_the_broker_killed_and_restarted_while_events_flow(
    system: System, rng: random.Random
) -> None:
    broker, central, node = system
    with node.replica() as rep:
        first_sync(broker, central, node)
        writer = EventWriter(node.database, burst=4, pause_s=0.004)
        writer.start()
        alive = [central.gateway, node.link]
        recovered = []
        try:
            for _ in range(3):
                stored = central.event_count(NODE)
                wait_for(lambda n=stored: central.event_count(NODE) > n + 50, "flow", alive=alive)
                assert broker.kill() == -9  # loses what changed since its last autosave
                time.sleep(rng.uniform(0.0, 0.5))
                subscribed = central.subscriptions(broker)
                broker.start()
                back = time.monotonic()
                central.wait_subscribed(broker, subscribed)
                stored = central.event_count(NODE)
                wait_for(
                    lambda n=stored: central.event_count(NODE) > n + 50, "flow again", alive=alive
                )
                recovered.append(time.monotonic() - back)
        finally:
            writer.stop()
        assert writer.errors == []
        took = settle(central, node, rep, writer.committed)
    print(
        f"3 broker kills: flow again after {', '.join(f'{t:.1f}' for t in recovered)} s;"
        f" {len(writer.committed)} events, settled in {took:.1f} s"
    )


@pytest.mark.slow
def test_50000_events_recorded_while_the_broker_is_down_then_catch_up(system: System) -> None:
    broker, central, node = system
    with node.replica() as rep:
        first_sync(broker, central, node)
        assert broker.kill() == -9
        t = time.monotonic()
        events = append_events(rep, 50_000, per_tx=10_000)  # a week of a busy hall
        write_s = time.monotonic() - t
        committed = {e.seq: e.id for e in events}
        connects, subscribed = node.connects(), central.subscriptions(broker)
        broker.start()
        back = time.monotonic()
        alive = [central.gateway, node.link]
        seen: dict[str, float] = {}  # which comes back first is left to their backoffs

        def both_back() -> bool:
            at = time.monotonic() - back
            if node.connects() > connects:
                seen.setdefault("node", at)
            if central.subscriptions(broker) > subscribed:
                seen.setdefault("central", at)
            return len(seen) == 2

        wait_for(both_back, "the node and central back on the broker", alive=alive)
        settle(central, node, rep, committed)
    caught_up = time.monotonic() - back
    print(
        f"50,000 events written in {write_s:.1f} s with the broker down; broker back ->"
        f" node connected {seen['node']:.1f} s, central subscribed {seen['central']:.1f} s"
        f" -> all stored and acknowledged {caught_up:.1f} s after the broker came back"
    )
    assert caught_up - max(seen.values()) < 60.0, "catch-up far beyond the 30 s goal"


@pytest.mark.slow
def test_the_gateway_killed_mid_batch_and_restarted(
    make_broker: Callable[..., PrivateBroker], tmp_path: Path, rng: random.Random
) -> None:
    broker, central, node = make_system(make_broker, tmp_path, "debug")
    try:
        with node.replica() as rep:
            first_sync(broker, central, node)
            assert node.link.terminate() == 0
            committed = {e.seq: e.id for e in append_events(rep, 30_000, per_tx=10_000)}
            node.link.start()
            writer = EventWriter(node.database, burst=2, pause_s=0.01)
            writer.start()
            alive = [central.gateway, node.link]
            try:
                for _ in range(5):
                    stored = central.event_count(NODE)
                    wait_for(lambda n=stored: central.event_count(NODE) > n, "events", alive=alive)
                    time.sleep(rng.uniform(0.0, 0.2))
                    assert central.gateway.kill() == -9
                    time.sleep(rng.uniform(0.0, 0.3))  # what the node sends waits in the session
                    central.start(broker)
            finally:
                writer.stop()
            assert writer.errors == []
            committed |= writer.committed
            took = settle(central, node, rep, committed)
        # Batches the gateway had received but not acknowledged when it died came
        # again from its session, flagged DUP: it was killed inside a batch.
        redelivered = broker.log_text().count(f"Sending PUBLISH to {central.client_id} (d1")
        print(
            f"5 gateway kills; {redelivered} batches redelivered to it;"
            f" {len(committed)} events, settled in {took:.1f} s"
        )
        assert redelivered > 0
    finally:
        node.link.stop()
        central.stop()


@pytest.mark.slow
def test_a_node_behind_the_pruned_change_log_gets_a_snapshot(system: System) -> None:
    broker, central, node = system
    with node.replica() as rep:
        first_sync(broker, central, node)
        committed = {e.seq: e.id for e in append_events(rep, 200)}
        wait_for(lambda: backlog(rep) == 0, "the first events acknowledged")
        assert node.link.terminate() == 0
        applied = rep.state().applied_rev
        committed |= {e.seq: e.id for e in append_events(rep, 300, start=200)}  # offline
        day = (datetime.now(UTC) + timedelta(days=25)).date()
        for hour in (9, 11, 13):
            central.admin(
                "book",
                *("--facility", FACILITY, "--resource", "gym", "--id", f"late-{hour}"),
                *("--start", f"{day} {hour:02d}:00", "--end", f"{day} {hour + 1:02d}:00"),
            )
        # the retention job, as if those revisions were older than changelog_days
        with Store.open(central.store) as s:
            moved = cl.prune_log(s, datetime.now(UTC) + timedelta(days=2), 1, 0)
        rev, oldest = central.revs(FACILITY)
        assert moved == {FACILITY: rev} and oldest == rev >= applied + 3
        snapshots = central.gateway.log_text().count(f"for {NODE}:")
        node.link.start()
        wait_for(
            lambda: rep.state().applied_rev == rev,
            "the snapshot",
            alive=[central.gateway, node.link],
        )
        log = central.gateway.log_text()
        assert f"snapshot rev {rev} for {NODE}:" in log
        assert log.count(f"for {NODE}:") == snapshots + 1
        with Store.open(central.store) as s:
            assert replica_records(rep) == as_dict(cl.all_records(s, FACILITY))
        settle(central, node, rep, committed)
