"""Central's store path alone: one message per transaction, group commit, or a worker pool.

Run ``.venv/bin/python bench/central_commit.py`` (a few minutes on this
machine; ``--quick`` for a smoke run). No broker: signed messages are made
in advance and handed to ``Central`` in this process, so what is measured is
the gateway's work per message and the store's commit, nothing else. The
store is a private PostgreSQL (Debian's, initdb into a temp dir, fsync and
synchronous_commit on, as in production) and a SQLite file
(``synchronous=FULL``).

Each round, every one of ``--nodes`` registered nodes sends one ``events``
message of ``--events`` events (a new epoch per round, so each round stores
everything anew), and the same nodes then send a ``cursor`` (a fan-out's
answers). Modes, interleaved per round:

- ``one``: ``Central.handle`` per message: one transaction, one commit each
  (how a gateway worked before group commit). The baseline.
- ``batch N``: ``Central.handle_batch`` on N messages at a time: one
  transaction, one commit per N messages (group commit).
- ``pool K``: K threads, each its own ``Central`` on the shared store's
  connection pool, one message per transaction, a node's messages always to
  the same thread (per-node order); PostgreSQL only (a SQLite file has one
  writer at a time). Its commits wait for the disk side by side.

Printed per mode: messages per second and events per second (median and p99
of the per-round rates over ``--rounds`` rounds), the ratio to ``one``, and
on PostgreSQL the WAL flushes per round (``pg_stat_wal.wal_sync``: the disk
waits the commits paid). The issue names no goal for this path; it is how
docs/benchmarks.md ("Central at fleet scale") chose group commit over a pool.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support

from sync.central.feed import Signer
from sync.central.gateway import Central, Settings
from sync.central.store import Store, open_store
from sync.protocol import Cursor, Events, Outgoing, Want
from sync.protocol.testing import private_key
from sync.replica import OutboxEvent, uuid7
from tests.conftest import Site
from tests.support.fleet import make_nodes, seed
from tests.support.fleet.node import SimNode
from tests.support.pgserver import PostgresServer

FAC = "fac1"
Messages = list[tuple[str, bytes]]


def load() -> str:
    """The machine's 1, 5 and 15 minute load averages (others' work shows here)."""
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]


def messages(sims: list[SimNode], events: int, now: int) -> Messages:
    """One new epoch per node: an ``events`` message of ``events``, then a cursor."""
    out: list[Outgoing] = []
    for sim in sims:
        sim.epoch += 1
        batch = tuple(
            OutboxEvent(s, uuid7(now * 1000 + s), "door.opened", datetime.now(UTC), {"door": "a"})
            for s in range(1, events + 1)
        )
        out.append(sim.sign(Events(sim.epoch, batch), now))
    out += [sim.sign(Cursor(1, Want.CHANGES), now) for sim in sims]
    return [(o.topic, o.payload) for o in out]


def wal_syncs(store: Store) -> int:
    if store.engine != "postgresql":
        return 0
    return int(store.execute("SELECT wal_sync FROM pg_stat_wal").scalar())


def run_one(central: Central, msgs: Messages, now: int) -> None:
    for topic, payload in msgs:
        central.handle(topic, payload, now)


def run_batch(size: int) -> Callable[[Central, Messages, int], None]:
    def run(central: Central, msgs: Messages, now: int) -> None:
        for i in range(0, len(msgs), size):
            central.handle_batch(msgs[i : i + size], now)

    return run


def run_pool(k: int, make: Callable[[], Central]) -> Callable[[Central, Messages, int], None]:
    centrals = [make() for _ in range(k)]

    def run(central: Central, msgs: Messages, now: int) -> None:
        shares: list[Messages] = [[] for _ in range(k)]
        for m in msgs:
            shares[hash(m[0].split("/")[2]) % k].append(m)
        threads = [
            threading.Thread(target=run_one, args=(c, share, now))
            for c, share in zip(centrals, shares, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return run


def bench_engine(url: str, args: argparse.Namespace) -> dict[str, float]:
    pool = 9 if url.startswith("postgresql") else 1
    store = open_store(url, max_size=pool) if pool > 1 else open_store(url)
    site = Site()
    signer = Signer("central-1", private_key("central"))
    now = int(time.time())
    sims = make_nodes(args.nodes, {"central-1": signer.key.public_key()})
    seed(store, FAC, site.central_ops(), sims, datetime.now(UTC))

    def make() -> Central:
        return Central(store, signer, Settings(renew_every_s=10**9, prune_every_s=10**9))

    central = make()
    central.tick(now)  # leases and pruning out of the way
    modes: dict[str, Callable[[Central, Messages, int], None]] = {"one": run_one}
    for size in args.batches:
        modes[f"batch {size}"] = run_batch(size)
    if store.engine == "postgresql":
        for k in args.pools:
            modes[f"pool {k}"] = run_pool(k, make)
    rates: dict[str, list[float]] = {m: [] for m in modes}
    syncs: dict[str, list[int]] = {m: [] for m in modes}
    n_msgs = 2 * args.nodes
    for rnd in range(args.rounds):
        for name, run in modes.items():
            msgs = messages(sims, args.events, now)
            before = store.execute("SELECT count(*) FROM events").scalar()
            w0 = wal_syncs(store)
            t0 = time.perf_counter()
            run(central, msgs, now)
            wall = time.perf_counter() - t0
            stored = store.execute("SELECT count(*) FROM events").scalar() - before
            assert stored == args.nodes * args.events, (name, stored)
            rates[name].append(n_msgs / wall)
            syncs[name].append(wal_syncs(store) - w0)
            print(
                f"  round {rnd + 1} {name:>10}: {n_msgs / wall:8,.0f} messages/s"
                f" ({wall:.2f} s), {syncs[name][-1]} WAL flushes",
                flush=True,
            )
    store.close()
    base = statistics.median(rates["one"])
    out = {}
    for name in modes:
        med = statistics.median(rates[name])
        out[name] = med / base
        print(
            f"{name:>10}: median {med:8,.0f} messages/s ({med * args.events / 2:,.0f} events/s),"
            f" p99-slowest round {min(rates[name]):,.0f}/s;"
            f" {statistics.median(syncs[name]):.0f} WAL flushes a round;"
            f" {med / base:.1f}x one"
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=400)
    p.add_argument("--events", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batches", type=int, nargs="*", default=[16, 64, 256])
    p.add_argument("--pools", type=int, nargs="*", default=[4, 8])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.nodes, args.rounds, args.batches, args.pools = 60, 1, [64], [4]
    print(f"{args.nodes} nodes, {args.events} events a message; median of {args.rounds} rounds")
    print("\n== PostgreSQL (fsync on, synchronous_commit on)")
    print(f"load average at its start: {load()}")
    with PostgresServer(fast=False, settings={"max_connections": "40"}) as server:
        pg = bench_engine(server.create_database("central"), args)
    print("\n== SQLite (WAL, synchronous=FULL)")
    print(f"load average at its start: {load()}")
    with tempfile.TemporaryDirectory() as d:
        bench_engine(str(Path(d) / "central.db"), args)
    best = max((v, k) for k, v in pg.items() if k != "one")
    print(f"\nfastest on PostgreSQL: {best[1]}, {best[0]:.1f}x one message per transaction")


if __name__ == "__main__":
    main()
