"""A fan-out shared by several gateways (sync/central/gateway.py ``heads_parts``).

A booking change makes every node of the facility due for a head, and every
online node behind it gets the changes it lacks with it. The heads are
claimed ``heads_chunk`` at a time, each claim under the job lock and recorded
in the same write, so two gateways ticking at once share the signing and
still give each node one head and one batch: never two different batches
for the same base, never one batch twice. The nodes are ``SimNode``
(tests/support/fleet): they gate everything central sends with its pinned
key and apply it to an in-memory replica. Both store engines.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync.central import changelog as cl
from sync.central.feed import Signer
from sync.central.gateway import Central, Settings
from sync.central.store import Store
from sync.protocol import Outgoing, State
from sync.protocol.testing import private_key
from tests.support.fleet import make_nodes, seed
from tests.support.fleet.node import SimNode

NOW = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
T = int(NOW.timestamp())
FAC = "fac1"
NODES = 7
CHUNK = 3
SIGNER = Signer("central-1", private_key("central"))


def gateway(store: Store) -> Central:
    return Central(store, SIGNER, Settings(renew_every_s=10**9, heads_chunk=CHUNK))


def deliver(sims: dict[str, SimNode], outs: list[Outgoing], now: int) -> list[Outgoing]:
    """Each message to its node (which gates and applies it); what they answer."""
    back: list[Outgoing] = []
    for o in outs:
        back += sims[o.topic.split("/")[2]].receive(o.topic, o.payload, now)
    return back


def kinds(outs: list[Outgoing]) -> Counter[tuple[str, str]]:
    """(node, kind) of each message."""
    return Counter((o.topic.split("/")[2], o.topic.rsplit("/", 1)[1]) for o in outs)


@pytest.fixture
def fleet(store_url: str, site: Any) -> Iterator[tuple[Store, dict[str, SimNode]]]:
    """``NODES`` nodes online at rev 1, every head published; then a change (rev 2)."""
    sims = make_nodes(NODES, {"central-1": SIGNER.key.public_key()}, prefix="fan")
    with Store.open(store_url) as s:
        seed(s, FAC, site.central_ops(), sims, NOW)
        gw = gateway(s)
        by_name = {x.node: x for x in sims}
        for sim in sims:
            for out in (sim.hello(T), sim.status(T, State.ONLINE)):
                back = deliver(by_name, gw.handle(out.topic, out.payload, T), T)
                for b in back:  # the cursor after its snapshot: nothing more to send
                    assert gw.handle(b.topic, b.payload, T) == []
        assert all(x.applied_rev == 1 for x in sims)
        gw.tick(T)  # every head published at rev 1
        b = site.booking("fan", ["gym"], NOW + timedelta(hours=1), NOW + timedelta(hours=2))
        assert cl.mutate(s, FAC, [cl.upsert_wire("booking", b)], NOW) == 2
        yield s, by_name


def test_two_gateways_ticking_in_turn_share_the_fan_out_and_send_each_node_one_batch(
    fleet: tuple[Store, dict[str, SimNode]],
) -> None:
    store, sims = fleet
    with Store.open(store.url) as other:
        a, b = gateway(store), gateway(other)
        parts_a, parts_b = a.tick_parts(T + 1), b.tick_parts(T + 1)
        first_a, first_b = next(parts_a), next(parts_b)  # interleaved, as two ticks at once
        assert len(kinds(first_a)) == len(kinds(first_b)) == 2 * CHUNK  # a changes + a head each
        rest = [o for part in (*parts_a, *parts_b) for o in part]
        got = kinds(first_a + first_b + rest)
        assert got == Counter({(n, k): 1 for n in sims for k in ("chg", "head")})
        # disjoint shares: no node's head came from both
        assert {n for n, _ in kinds(first_a)}.isdisjoint({n for n, _ in kinds(first_b)})
        cursors = deliver(sims, first_a + first_b + rest, T + 1)
        assert all(s.applied_rev == 2 for s in sims.values())
        state = {(r.ENTITY, r.id): r.to_wire() for r in cl.all_records(store, FAC)}
        assert all(s.replica == state for s in sims.values())
        for c in cursors:  # each node's cursor at rev 2: current, nothing more
            assert a.handle(c.topic, c.payload, T + 2) == []
        assert a.tick(T + 2) == [] and b.tick(T + 2) == []  # nothing claimed twice


def test_two_gateways_ticking_at_the_same_moment_claim_each_head_once(
    fleet: tuple[Store, dict[str, SimNode]],
) -> None:
    store, sims = fleet
    results: list[list[Outgoing]] = []
    barrier = threading.Barrier(2)

    def tick() -> None:
        with Store.open(store.url) as s:
            gw = gateway(s)
            barrier.wait(5)
            results.append(gw.tick(T + 1))

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2
    got = kinds(results[0] + results[1])
    assert got == Counter({(n, k): 1 for n in sims for k in ("chg", "head")})
    deliver(sims, results[0] + results[1], T + 1)
    assert all(s.applied_rev == 2 for s in sims.values())
    state = {(r.ENTITY, r.id): r.to_wire() for r in cl.all_records(store, FAC)}
    assert all(s.replica == state for s in sims.values())  # central's state, once each
