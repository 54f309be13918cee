"""The simulated fleet in worker processes (tests/support/fleet/workers.py) against a real central.

``bench/fleet.py`` runs its 2,000 nodes this way; this test holds the same
machinery to what the bench relies on, at a small size: real Mosquitto, a
``hallvakt central`` process on each store engine, and the nodes spread over
two spawned worker processes, each node its own MQTT client identity.

- every node connects, says hello and applies its first snapshot;
- events are stored once each and acknowledged (the workers' outboxes empty);
- a booking change reaches every node (pushed with its head) and the
  per-node timings the bench reads are there, in the shared wall clock;
- a new database on two nodes (``renew``) gets each of them a snapshot;
- no node rejected anything central sent, and the workers end cleanly.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sync.central import changelog as cl
from sync.central.store import Store
from sync.protocol.testing import private_key
from tests.support.broker import PrivateBroker
from tests.support.fleet import Broker, make_nodes, seed
from tests.support.fleet.processes import Gateway, write_config
from tests.support.fleet.workers import WorkerFleet

FAC = "fac1"
NODES = 6
EVENTS = 50


def test_a_fleet_in_two_worker_processes_follows_the_protocol_end_to_end(
    make_broker: Callable[..., PrivateBroker], store_url: str, site: Any, tmp_path: Path
) -> None:
    broker = make_broker()
    assert broker.unix_socket is not None
    central_key = private_key("central")
    keys = {"central-1": central_key.public_key()}
    sims = make_nodes(NODES, keys, prefix="wk", batch_size=16, resend_s=2.0, cursor_retry_s=1.0)
    with Store.open(store_url) as s:
        seed(s, FAC, site.central_ops(), sims, datetime.now(UTC))
    cfg = write_config(
        tmp_path / "gw",
        store=store_url,
        broker_url=f"unix://{broker.unix_socket}",
        client_id="central-1",
        key=central_key,
    )
    gw = Gateway(cfg, tmp_path / "central-1.log").start()
    try:
        gw.wait_connected()
        fleet = WorkerFleet(
            sims,
            Broker(unix=str(broker.unix_socket)),
            keys,
            workers=2,
            reconnect_min_s=0.05,
            reconnect_max_s=0.5,
            pump_s=0.05,
        )
        try:
            asyncio.run(asyncio.wait_for(_flow(fleet, store_url, site), 120))
        finally:
            fleet.close()
        assert not any(p.is_alive() for p in fleet.processes)
    finally:
        gw.stop()
    assert "Traceback" not in gw.log(), gw.log()[-3000:]


async def _flow(fleet: WorkerFleet, url: str, site: Any) -> None:
    assert len(set(fleet.pids)) == 2 and os.getpid() not in fleet.pids
    await fleet.start()
    await fleet.wait_until(
        lambda r: r.connected == NODES and r.at_rev(1) == NODES, 30, "every first snapshot"
    )
    first = await fleet.poll()
    assert first.stats["applied_snapshots"] == NODES and first.min_hellos == 1
    await fleet.add_events(EVENTS)
    await fleet.wait_until(lambda r: r.backlog == 0, 30, "every event acknowledged")
    with Store.open(url) as store:
        rows = store.execute("SELECT count(*), count(DISTINCT id) FROM events").rows[0]
        assert rows == (NODES * EVENTS, NODES * EVENTS)
        t0 = time.time()
        day = datetime(2026, 6, 1, 8, tzinfo=UTC)
        b = site.booking("w1", ["gym"], day, day + timedelta(hours=1))
        rev = cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], datetime.now(UTC))
        await fleet.wait_until(lambda r: r.at_rev(rev) == NODES, 30, "the change everywhere")
        seen = await fleet.timings(t0)
        assert len(seen) == NODES and all("got_chg" in t and "sent_cur" in t for t in seen.values())
        applied = await fleet.applied_at(rev, t0)
        assert sorted(applied) == sorted(fleet.nodes)
        assert all(t0 <= t <= time.time() for t in applied.values())
        # a new database on two nodes, one in each worker: each gets a snapshot
        renewed = fleet.nodes[:2]
        t1 = await fleet.renew(renewed)
        await fleet.wait_until(lambda r: r.stats["applied_snapshots"] == NODES + 2, 30, "snapshots")
        assert sorted(await fleet.applied_at(rev, t1)) == sorted(renewed)
        behind = store.execute(
            "SELECT count(*) FROM node_state WHERE node LIKE 'wk.%' AND applied_rev != ?", [rev]
        ).scalar()
        assert behind == 0
    last = await fleet.poll()
    assert last.errors == () and last.stats["duplicate_batches"] == 0
    await fleet.stop()
