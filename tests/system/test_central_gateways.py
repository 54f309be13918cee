"""Two gateways, one store, one broker; one gateway killed mid-flow (docs/central.md).

Real parts only: a private Mosquitto, central's store on each engine (a
SQLite file, a private PostgreSQL), two ``hallvakt central`` processes sharing
``up/`` through MQTT 5 shared subscriptions, and a fleet of simulated nodes
(tests/support/fleet) that speak the contract over their own MQTT client
identities and apply what they get to an in-memory replica.

While the nodes send events and central's state changes under them, one
gateway is killed with SIGKILL: what it had taken from the broker but not
acknowledged waits in its session, and the nodes resend what was not
acknowledged to them. Then it is started again, as systemd's Restart=always
would. At the end nothing is lost (every event stored, once), nothing is
applied twice (unique events; every node's replica equals central's
state, which no batch applied twice could give) and every node is current.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sync.central import changelog as cl
from sync.central.store import Store
from sync.protocol.testing import private_key
from tests.support.broker import PrivateBroker
from tests.support.fleet import Broker, Fleet, make_nodes, seed
from tests.support.fleet.processes import Gateway, write_config

FAC = "fac1"
NODES = 16
EVENTS = 400  # per node, in batches of 32


def test_a_gateway_killed_mid_flow_loses_nothing_and_applies_nothing_twice(
    make_broker: Callable[..., PrivateBroker], store_url: str, site: Any, tmp_path: Path
) -> None:
    broker = make_broker()
    assert broker.unix_socket is not None
    central_key = private_key("central")
    keys = {"central-1": central_key.public_key()}
    sims = make_nodes(NODES, keys, prefix="kill", batch_size=32, resend_s=2.0, cursor_retry_s=1.0)
    with Store.open(store_url) as s:
        seed(s, FAC, site.central_ops(), sims, datetime.now(UTC))
    gateways = [
        Gateway(
            write_config(
                tmp_path / "gw",
                store=store_url,
                broker_url=f"unix://{broker.unix_socket}",
                client_id=f"central-{i}",
                key=central_key,
            ),
            tmp_path / f"central-{i}.log",
        ).start()
        for i in (1, 2)
    ]
    try:
        for gw in gateways:
            gw.wait_connected()
        asyncio.run(asyncio.wait_for(_flow(sims, broker, gateways, store_url, site), 300))
    finally:
        for gw in gateways:
            gw.stop()
    logs = "".join(gw.log() for gw in gateways)
    assert "Traceback" not in logs, logs[-3000:]
    with Store.open(store_url) as s:
        for sim in sims:
            rows = s.execute(
                "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events"
                " WHERE node = ? AND epoch = ?",
                [sim.node, str(sim.epoch)],
            ).rows[0]
            assert rows == (EVENTS, EVENTS, 1, EVENTS), sim.node  # all, once each
        state = {(r.ENTITY, r.id): r.to_wire() for r in cl.all_records(s, FAC)}
        rev = cl.revs(s, FAC).rev
        behind = s.execute(
            "SELECT count(*) FROM node_state WHERE node LIKE 'kill.%' AND applied_rev != ?",
            [rev],
        ).scalar()
    assert behind == 0
    for sim in sims:
        assert sim.applied_rev == rev and sim.replica == state, sim.node
        assert sim.backlog == 0 and sim.acked == EVENTS


async def _flow(
    sims: list[Any], broker: PrivateBroker, gateways: list[Gateway], url: str, site: Any
) -> None:
    assert broker.unix_socket is not None
    fleet = Fleet(
        sims,
        Broker(unix=str(broker.unix_socket)),
        reconnect_min_s=0.05,
        reconnect_max_s=0.5,
        pump_s=0.05,
    )
    await fleet.start()
    try:
        await fleet.wait_until(lambda: fleet.at_rev(1) == NODES, 20, "every node's snapshot")
        for sim in sims:
            sim.add_events(EVENTS, time.time())
            fleet.kick(sim.node)
        day = datetime(2026, 6, 1, 8, tzinfo=UTC)
        with Store.open(url) as store:
            killed = False
            for i in range(40):  # central's state keeps changing under the flow
                b = site.booking(
                    f"k{i}", ["gym"], day + timedelta(hours=i), day + timedelta(hours=i, minutes=30)
                )
                cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], datetime.now(UTC))
                stored = store.execute("SELECT count(*) FROM events").scalar()
                if not killed and stored >= NODES * EVENTS // 4:
                    gateways[0].kill()  # mid-flow: batches taken, maybe stored, not acked
                    killed = True
                await asyncio.sleep(0.05)
            assert killed, "the flow ended before the kill"
            # only the second gateway now: the nodes' resends still get through
            await fleet.wait_until(
                lambda: store.execute("SELECT count(*) FROM events").scalar() > NODES * EVENTS // 2,
                60,
                "progress with one gateway",
            )
            gateways[0].start()  # as Restart=always: its session is delivered again
            gateways[0].wait_connected(count=2)
            rev = cl.revs(store, FAC).rev
        try:
            await fleet.wait_until(
                lambda: fleet.backlog() == 0 and fleet.at_rev(rev) == NODES,
                90,
                "every event acknowledged and every node current",
            )
        except TimeoutError:
            late = {n.node: (n.backlog, n.acked, n.applied_rev) for n in sims if n.backlog}
            behind = {
                n.node: (n.applied_rev, n.head_rev, dict(n.stats), n.node in fleet.connected)
                for n in sims
                if n.applied_rev != rev
            }
            logs = [gw.log()[-1500:] for gw in gateways]
            raise AssertionError(f"rev {rev}; outbox {late}; behind {behind}; {logs}") from None
        assert fleet.errors == []
    finally:
        await fleet.stop()
