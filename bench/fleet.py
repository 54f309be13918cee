"""Central at fleet scale: 2,000 simulated nodes, loopback Mosquitto, PostgreSQL, 1 and 2 gateways.

Run ``.venv/bin/python bench/fleet.py`` (about 20 minutes on this machine;
``--nodes 300 --ramp 3 --rounds 1`` for a smoke run). Results and "where it
breaks": docs/benchmarks.md, "Central at fleet scale". Everything is real and
private to the run: a PostgreSQL server (Debian's, initdb into a temp dir,
fsync on as in production), a Mosquitto on a loopback port (persistence on,
production limits), ``hallvakt central`` gateway processes, and ``--nodes``
simulated nodes (tests/support/fleet) in this process, each its own MQTT client
identity (aiomqtt), each following PROTOCOL.md: a signed hello, events,
cursors, changes and snapshots applied to an in-memory replica, acks.

Phases, with the goals of issue 15 §3 checked (MISSED when missed):
1. cold start: every node connects (spread over ``--ramp`` s) and gets its
   first snapshot.
2. events stored per second with 1 gateway, then 2 (``--events`` per node,
   ``--rounds`` rounds interleaved): ratio 2/1, goal >= 1.7x when the store is
   not the bottleneck; CPU of every process in the phase says which is.
3. fan-out: one booking change; seconds until every node's cursor in the
   store shows it (goal < 10 s); per-node median and p99.
4. broker restart (SIGTERM, start): seconds until every node said hello
   again and is current (goal < 60 s); peak up-messages per second, gateway
   CPU, and snapshots sent (goal: none, a reconnect storm is not a resync).
5. 200 nodes needing a snapshot at once (new databases: hello with an empty
   replica): seconds until all applied, gateways' peak RSS; baseline: one
   node alone in the same run.
6. central's RSS; PostgreSQL bytes per stored event and per node per month
   at ``--per-day`` events a day.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support

from sync.central import changelog as cl
from sync.central.store import Store, open_store
from sync.protocol.testing import private_key
from tests.conftest import Site
from tests.support.broker import BrokerConfig, PrivateBroker
from tests.support.fleet import Broker, Fleet, make_nodes, register
from tests.support.fleet.node import SimNode
from tests.support.fleet.processes import (
    Gateway,
    cpu_seconds,
    peak_rss_kib,
    rss_kib,
    write_config,
)
from tests.support.pgserver import PostgresServer

FAC = "fac1"
RESULTS: list[tuple[str, bool]] = []


def goal(what: str, ok: bool) -> str:
    RESULTS.append((what, ok))
    return f"{what}: {'met' if ok else 'MISSED'}"


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]


class Cpu:
    """CPU seconds of named processes between ``start()`` and ``stop()``."""

    def __init__(self, pids: Callable[[], dict[str, list[int]]]) -> None:
        self.pids = pids
        self.t0 = 0.0
        self.base: dict[tuple[str, int], float] = {}

    def _now(self) -> dict[tuple[str, int], float]:
        return {(name, p): cpu_seconds(p) for name, ps in self.pids().items() for p in ps}

    def start(self) -> None:
        self.t0, self.base = time.monotonic(), self._now()

    def stop(self) -> str:
        """Per name: CPU used since ``start`` (a process started meanwhile counts whole)."""
        wall = time.monotonic() - self.t0
        used: dict[str, float] = {}
        for (name, pid), t in self._now().items():
            used[name] = used.get(name, 0.0) + t - self.base.get((name, pid), 0.0)
        parts = [f"{n} {100 * u / wall:.0f}%" for n, u in used.items()]
        return "CPU (100% = one core): " + ", ".join(parts)


def postgres_pids(server: PostgresServer) -> list[int]:
    root = server.pid()
    if root is None:
        return []
    out = [root]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1]) == root:
                    out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


async def run(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"file descriptors: soft limit raised {soft} -> {hard}")
    site = Site()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"hallvakt-fleet-{os.getpid()}"
    work.mkdir()
    pg = {"max_connections": "50"}
    if args.commit_async:  # the store without its fsync wait: what the rest can do
        pg["synchronous_commit"] = "off"
    print(f"PostgreSQL: synchronous_commit {'off' if args.commit_async else 'on (production)'}")
    server = PostgresServer(fast=False, settings=pg).start()
    broker = PrivateBroker(BrokerConfig(unix_socket=None), directory=work / "broker").start()
    gateways: list[Gateway] = []
    fleet: Fleet | None = None
    try:
        url = server.create_database("central")
        central_key = private_key("central")
        sims = make_nodes(
            args.nodes, {"central-1": central_key.public_key()}, batch_size=64, resend_s=30.0
        )
        with open_store(url) as s:
            ops = [cl.upsert_wire(e, d) for e, it in site.entities().items() for d in it]
            cl.mutate(s, FAC, ops, datetime.now(UTC))
            t0 = time.monotonic()
            register(s, sims, FAC, int(time.time()))
            print(f"registered {len(sims)} nodes in {time.monotonic() - t0:.1f} s")
        assert broker.tcp_address is not None
        host, port = broker.tcp_address
        for i in (1, 2):
            cfg = write_config(
                work / "gw",
                store=url,
                broker_url=f"mqtt://{host}:{port}",
                client_id=f"central-{i}",
                key=central_key,
            )
            gateways.append(Gateway(cfg, work / f"central-{i}.log"))
        gateways[0].start().wait_connected()
        fleet = Fleet(sims, Broker(host, port), pump_s=0.5, reconnect_min_s=1.0)

        def pids() -> dict[str, list[int]]:
            live = [g.pid for g in gateways if g.proc is not None and g.proc.poll() is None]
            return {
                "gateways": live,
                "mosquitto": [broker.pid] if broker.pid else [],
                "postgres": postgres_pids(server),
                "nodes (this process)": [os.getpid()],
            }

        cpu = Cpu(pids)
        with open_store(url) as store:
            await cold_start(fleet, sims, args, cpu)
            await events_phase(fleet, sims, gateways, store, args, cpu)
            await fan_out(fleet, sims, store, site, cpu)
            await broker_restart(fleet, sims, broker, store, args, cpu)
            await snapshots(fleet, sims, gateways, store, args, cpu)
            sizes(sims, gateways, store, args)
    finally:
        if fleet is not None:
            try:
                await fleet.stop()
            except TimeoutError as exc:
                print(f"(at the end: {exc})")
        for g in gateways:
            g.stop()
        broker.stop()
        server.stop()
    print("\n== goals")
    for what, ok in RESULTS:
        print(f"  {what}: {'met' if ok else 'MISSED'}")


async def cold_start(fleet: Fleet, sims: list[SimNode], args: argparse.Namespace, cpu: Cpu) -> None:
    print(f"\n== 1. cold start: {len(sims)} nodes connect over {args.ramp} s, each gets a snapshot")
    cpu.start()
    t0 = time.monotonic()
    await fleet.start(ramp_s=args.ramp)
    await fleet.wait_until(lambda: len(fleet.connected) == len(sims), 120, "every node connected")
    connected = time.monotonic() - t0
    await fleet.wait_until(lambda: fleet.at_rev(1) == len(sims), 1200, "every first snapshot")
    print(
        f"all connected after {connected:.1f} s, all at rev 1 after {time.monotonic() - t0:.1f} s"
    )
    print(cpu.stop())


async def events_phase(
    fleet: Fleet,
    sims: list[SimNode],
    gateways: list[Gateway],
    store: Store,
    args: argparse.Namespace,
    cpu: Cpu,
) -> None:
    n = args.events * len(sims)
    print(
        f"\n== 2. events stored per second: {args.events} per node ({n} a round), 1 and 2 gateways"
    )
    rates: dict[int, list[float]] = {1: [], 2: []}
    for rnd in range(args.rounds):
        for count in (1, 2):
            second = gateways[1]
            running = second.proc is not None and second.proc.poll() is None
            if count == 2 and not running:
                seen = second.log().count("hallvakt.central.link INFO connected")
                second.start().wait_connected(count=seen + 1)
            elif count == 1 and running:
                second.stop()  # a clean stop leaves the shared group (sync/central/link.py)
            before = store.execute("SELECT count(*) FROM events").scalar()
            cpu.start()
            t0 = time.monotonic()
            for sim in sims:
                sim.add_events(args.events, time.time())
                fleet.kick(sim.node)
            await fleet.wait_until(lambda: fleet.backlog() == 0, 1200, "every event acknowledged")
            wall = time.monotonic() - t0
            stored = store.execute("SELECT count(*) FROM events").scalar() - before
            assert stored == n, (stored, n)
            rates[count].append(n / wall)
            print(
                f"round {rnd + 1}, {count} gateway(s): {n / wall:,.0f} events/s ({wall:.1f} s);"
                f" {cpu.stop()}"
            )
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(
        f"median: 1 gateway {one:,.0f} events/s, 2 gateways {two:,.0f} events/s:"
        f" ratio {two / one:.2f}x"
    )
    print(goal("2 gateways >= 1.7x one", two / one >= 1.7))
    total = store.execute("SELECT count(*), count(DISTINCT id) FROM events").rows[0]
    print(f"events stored {total[0]}, distinct ids {total[1]} (each once)")


async def fan_out(fleet: Fleet, sims: list[SimNode], store: Store, site: Any, cpu: Cpu) -> None:
    print(f"\n== 3. fan-out: one booking change to {len(sims)} nodes")
    await fleet.wait_until(
        lambda: (
            store.execute("SELECT count(*) FROM node_state WHERE status_state = 'online'").scalar()
            == len(sims)
        ),
        60,
        "every node online",
    )
    times = []
    for rnd in range(3):
        day = datetime(2026, 6, 1, 8, tzinfo=UTC) + timedelta(days=rnd)
        b = site.booking(f"fan{rnd}", ["gym"], day, day + timedelta(hours=1))
        cpu.start()
        t0 = time.time()
        rev = cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], datetime.now(UTC))
        waited = await fleet.wait_until(
            lambda rev=rev: (
                store.execute(
                    "SELECT count(*) FROM node_state WHERE applied_rev >= ?", [rev]
                ).scalar()
                == len(sims)
            ),
            120,
            "every cursor at the new rev",
        )
        per_node = [
            fleet.applied_at[s.node][rev] - t0
            for s in sims
            if rev in fleet.applied_at.get(s.node, {})
        ]
        times.append(waited)
        print(
            f"round {rnd + 1}: every cursor in the store at rev {rev} after {waited:.2f} s;"
            f" per node applied: median {statistics.median(per_node):.2f} s,"
            f" p99 {p99(per_node):.2f} s;"
            f" {cpu.stop()}"
        )
    print(
        goal(
            f"fan-out median {statistics.median(times):.2f} s < 10 s", statistics.median(times) < 10
        )
    )


async def broker_restart(
    fleet: Fleet,
    sims: list[SimNode],
    broker: PrivateBroker,
    store: Store,
    args: argparse.Namespace,
    cpu: Cpu,
) -> None:
    print(
        f"\n== 4. broker restart with {len(sims)} nodes"
        " (SIGTERM, start; the same port and persistence)"
    )
    rev = cl.revs(store, FAC).rev
    hellos = sum(fleet.hellos.values())
    snaps = sum(s.stats["got_snapshot"] for s in sims)
    fleet.up_per_second.clear()
    cpu.start()
    t0 = time.monotonic()
    broker.restart()
    restarted = time.monotonic() - t0
    await fleet.wait_until(
        lambda: (
            all(fleet.hellos[s.node] >= 2 for s in sims)
            or sum(fleet.hellos.values()) - hellos >= len(sims)
        ),
        300,
        "every node's hello",
    )
    hello_s = time.monotonic() - t0
    await fleet.wait_until(
        lambda: len(fleet.connected) == len(sims) and fleet.at_rev(rev) == len(sims), 300, "current"
    )
    current_s = time.monotonic() - t0
    peak = max(fleet.up_per_second.values(), default=0)
    new_snaps = sum(s.stats["got_snapshot"] for s in sims) - snaps
    print(
        f"broker back after {restarted:.1f} s; every node said hello after {hello_s:.1f} s and was"
        f" current after {current_s:.1f} s; peak {peak} messages/s up;"
        f" {new_snaps} snapshot parts sent;"
        f" {cpu.stop()}"
    )
    print(goal(f"back and current {current_s:.1f} s < 60 s", current_s < 60))
    print(goal(f"no resync storm ({new_snaps} snapshots for {len(sims)} nodes)", new_snaps == 0))


async def snapshots(
    fleet: Fleet,
    sims: list[SimNode],
    gateways: list[Gateway],
    store: Store,
    args: argparse.Namespace,
    cpu: Cpu,
) -> None:
    k = min(200, len(sims))
    print(
        f"\n== 5. {k} nodes needing a snapshot at once (a new database: hello, empty replica),"
        " baseline one node"
    )
    rss0 = {g.pid: rss_kib(g.pid) for g in gateways if g.proc and g.proc.poll() is None}
    results = {}
    for label, group in (("one node", sims[:1]), (f"{k} nodes", sims[1 : k + 1])):
        marks = {s.node: s.stats["applied_snapshots"] for s in group}
        peak = 0
        cpu.start()
        t0 = time.monotonic()
        for s in group:  # a new node database: empty replica, new epoch, a hello
            s.forget_replica()
            await fleet.send(s, s.hello(time.time()))
        while not all(s.stats["applied_snapshots"] > marks[s.node] for s in group):
            peak = max(peak, sum(rss_kib(p) for p in rss0))
            if time.monotonic() - t0 > 300:
                raise TimeoutError("snapshots not applied")
            await asyncio.sleep(0.01)
        results[label] = time.monotonic() - t0
        print(
            f"{label}: all applied after {results[label]:.2f} s;"
            f" gateways' RSS peak {peak / 1024:.0f} MiB; {cpu.stop()}"
        )
    base = results["one node"]
    print(
        f"{k} at once: {results[f'{k} nodes']:.2f} s,"
        f" ratio {results[f'{k} nodes'] / base:.1f}x one node alone"
    )
    for g in gateways:
        if g.proc and g.proc.poll() is None:
            print(
                f"gateway pid {g.pid}: RSS now {rss_kib(g.pid) / 1024:.0f} MiB,"
                f" lifetime peak {peak_rss_kib(g.pid) / 1024:.0f} MiB"
                f" (idle before: {rss0.get(g.pid, 0) / 1024:.0f} MiB)"
            )


def sizes(
    sims: list[SimNode], gateways: list[Gateway], store: Store, args: argparse.Namespace
) -> None:
    print("\n== 6. central's memory and the store's size")
    for g in gateways:
        if g.proc and g.proc.poll() is None:
            print(f"gateway pid {g.pid}: RSS {rss_kib(g.pid) / 1024:.0f} MiB")
    events = store.execute("SELECT count(*) FROM events").scalar()
    ev_bytes = store.execute(
        "SELECT pg_total_relation_size('events') + pg_total_relation_size('event_streams')"
    ).scalar()
    per_event = ev_bytes / events
    month = per_event * args.per_day * 30
    print(
        f"events: {events} rows, {ev_bytes / 2**20:.1f} MiB with indexes:"
        f" {per_event:.0f} bytes each;"
        f" at {args.per_day} events a node a day: {month / 2**20:.1f} MiB per node per month,"
        f" {month * len(sims) / 2**30:.2f} GiB a month for {len(sims)} nodes"
    )
    print(f"whole database: {store.size_bytes() / 2**20:.1f} MiB for {len(sims)} nodes")


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM: stop the servers and gateways on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=2000)
    p.add_argument("--events", type=int, default=20, help="events per node per round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument(
        "--ramp", type=float, default=20.0, help="seconds over which nodes first connect"
    )
    p.add_argument(
        "--per-day", type=int, default=300, help="events a node makes a day (size estimate)"
    )
    p.add_argument(
        "--commit-async",
        action="store_true",
        help="synchronous_commit=off: the store not waiting on the disk (never in production)",
    )
    args = p.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
