"""Central at fleet scale: 2,000 simulated nodes, loopback Mosquitto, PostgreSQL, 1 and 2 gateways.

Run ``.venv/bin/python bench/fleet.py`` (about 25 minutes on this machine;
``--nodes 300 --ramp 3 --rounds 1`` for a smoke run; ``--phases 4`` for the
cold start and the fan-out only; ``--phases 2,3,8`` for the events stored
per second, free and with the gateways held to a CPU quota). Results and "where it
breaks": docs/benchmarks.md, "Central at fleet scale". Everything is real and
private to the run: a PostgreSQL server (Debian's, initdb into a temp dir,
fsync on as in production), a Mosquitto on a loopback port (persistence on,
production limits), ``hallvakt central`` gateway processes (group commit:
each handles what it has received in one store transaction), and
``--nodes`` simulated nodes (tests/support/fleet) in ``--workers`` worker
processes (tests/support/fleet/workers.py: each its own event loop holding
a share of the nodes; this process only steers and reads them), each node
its own MQTT client identity (aiomqtt), each following PROTOCOL.md: a signed
hello, events, cursors, changes and snapshots applied to an in-memory
replica, acks.

Phases, with the goals of issue 15 §3 checked (MISSED when missed). Every
phase prints the CPU of each process (100% = one core), how busy the whole
machine was (other people's work included) and how long its cores waited on
the disk (iowait), the store's WAL flushes (each flush a wait on the disk),
and which of the two ran out ("limit": the CPU when the cores were at least
95% busy, the store's disk when flushing took half the time):
1. cold start: every node connects (spread over ``--ramp`` s) and gets its
   first snapshot.
2. events stored per second with 1 gateway, then 2, nodes sending live
   (``--events`` per node, ``--rounds`` rounds interleaved): ratio 2/1, goal
   >= 1.7x when the store is not the bottleneck.
3. central's capacity: the same events wait in the broker for the
   gateway(s), which then drain them; events stored per second from the
   moment every gateway is connected to the last stored (the broker keeps
   each waiting message in one member's session of the shared group, so a
   gateway still starting up holds its share back: timing from the first
   stored event measured that skew, until 2026-12-06), 1 and 2 gateways,
   ratio 2/1 (the same goal):
   the nodes' own CPU is then out of the way, so it says what central does.
   Each round prints what every gateway handled, by kind, from its stop
   line; before the first round both gateway identities are started once,
   so that their sessions' first subscription (which gets every node's
   retained status, once a session) is not drained inside a round.
4. fan-out: one booking change; seconds until every node's cursor in the
   store shows it (goal < 10 s), and the stages: the gateway's tick began,
   decided (heads and changes signed) and handed to the broker; changes
   reached the nodes, applied, cursor stored (median, p99, last over nodes).
   And the cost of signing one head in this process.
5. broker restart (SIGTERM, start): seconds until every node said hello
   again and is current (goal < 60 s); peak up-messages per second, gateway
   CPU, and snapshots sent (goal: none, a reconnect storm is not a resync).
6. 200 nodes needing a snapshot at once (new databases: hello with an empty
   replica): seconds until all applied, per node median and p99, gateways'
   peak RSS; baseline: one node alone, five times, after central is quiet
   (no WAL written for 2 s).
7. central's RSS; PostgreSQL bytes per stored event and per node per month
   at ``--per-day`` events a day.
8. phases 2 and 3 again (``--held-phases``) with each gateway held to
   ``--gateway-cpu`` of a core (default 0.1), each in its own cgroup v1 cpu
   group with the same quota (tests/support/fleet/cgroup.py), as a
   container's CPU limit or systemd's ``CPUQuota=`` holds it in production:
   the gateways are then the limit by construction, the machine's two
   shared cores are not, and 2 gateways against 1 says whether the design
   (shared subscriptions, every decision in the store) scales; the same goal,
   >= 1.7x. Each round proves its limit: each gateway's CPU against its
   quota and the periods it was throttled in (the group's ``cpu.stat``), the
   machine's idle share, PostgreSQL's CPU and WAL flushing; "limit: the
   gateways' CPU quota" only when every gateway used at least 85% of its
   quota, throttled in at least half of its periods, with the cores under
   95% busy. Where no writable cgroup v1 cpu controller exists (not root, a
   cgroup v2-only machine) it prints one line saying so and why, and the
   rest runs. The groups are removed at the end, also on an error or an
   interrupt (SIGTERM too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support

from sync.central import changelog as cl
from sync.central.feed import Signer
from sync.central.store import Store, open_store
from sync.protocol import Head
from sync.protocol.testing import private_key
from tests.conftest import Site
from tests.support.broker import BrokerConfig, PrivateBroker
from tests.support.fleet import Broker, make_nodes, register
from tests.support.fleet.cgroup import CpuQuota, Throttling, unavailable
from tests.support.fleet.measure import (
    Cpu,
    StoreReading,
    StoreStats,
    handled,
    held_limit,
    limit,
    percentile,
    ticks,
)
from tests.support.fleet.node import SimNode
from tests.support.fleet.processes import Gateway, peak_rss_kib, rss_kib, write_config
from tests.support.fleet.workers import WorkerFleet
from tests.support.pgserver import PostgresServer

FAC = "fac1"
DB = "central"
RESULTS: list[tuple[str, bool]] = []
GATEWAY_CPU = 0.1  # phase 8's default share of a core per gateway (docs/benchmarks.md)


def goal(what: str, ok: bool) -> str:
    RESULTS.append((what, ok))
    return f"{what}: {'met' if ok else 'MISSED'}"


def spread(values: list[float]) -> str:
    if not values:
        return "(none)"
    return (
        f"median {statistics.median(values):.2f} s, p99 {percentile(values, 99):.2f} s,"
        f" last {max(values):.2f} s"
    )


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


class Central:
    """The gateway processes: ``leave[i]`` leaves the shared subscription on a
    clean stop (the production setting for several gateways), ``keep[i]`` is
    the same identity keeping it (so that messages wait in its session)."""

    def __init__(self, work: Path, url: str, broker_url: str, key: Any) -> None:
        self.leave: list[Gateway] = []
        self.keep: list[Gateway] = []
        self.kept: set[int] = set()  # identities whose stopped session keeps the subscription
        self.quotas: list[CpuQuota] = []  # phase 8: gateway i's CPU group (identity central-i)
        for i in (1, 2):
            for keeps, where in ((False, self.leave), (True, self.keep)):
                cfg = write_config(
                    work / ("gw-keep" if keeps else "gw"),
                    store=url,
                    broker_url=broker_url,
                    client_id=f"central-{i}",
                    key=key,
                    leave_shared_on_stop=not keeps,
                )
                where.append(Gateway(cfg, work / f"central-{i}.log"))

    def running(self) -> list[Gateway]:
        return [g for g in self.leave + self.keep if g.proc is not None and g.proc.poll() is None]

    def index(self, g: Gateway) -> int:
        """0 for identity central-1, 1 for central-2."""
        return self.leave.index(g) if g in self.leave else self.keep.index(g)

    def launch(self, g: Gateway) -> Gateway:
        """Start ``g``, inside its identity's CPU group when there are groups."""
        g.start()
        if self.quotas:
            self.quotas[self.index(g)].add(g.pid)
        return g

    def start(self, g: Gateway) -> None:
        seen = g.connections()
        self.launch(g).wait_connected(timeout=90 if self.quotas else 30, count=seen + 1)

    def serve(self, count: int) -> None:
        """Exactly gateways 1..count running, leaving the group on a clean stop;
        an identity whose stopped session still holds the shared subscription
        is started and stopped cleanly, so that it leaves the group."""
        for g in self.keep:
            g.stop()
        for i, g in enumerate(self.leave):
            up = g.proc is not None and g.proc.poll() is None
            if i < count and not up:
                self.start(g)
            elif i >= count and (up or i in self.kept):
                if not up:
                    self.start(g)
                g.stop()  # a clean stop leaves the shared group (sync/central/link.py)
            self.kept.discard(i)

    def hold(self, count: int) -> None:
        """Gateways 1..count subscribed, then stopped keeping the subscription:
        what nodes send now waits in their sessions."""
        self.serve(0)
        for i, g in enumerate(self.keep[:count]):
            self.start(g)
            self.kept.add(i)
        for g in self.keep[:count]:
            g.stop()

    def stop_all(self) -> None:
        for g in self.leave + self.keep:
            g.stop()


async def run(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"file descriptors: soft limit raised {soft} -> {hard}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()} at the start")
    site = Site()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"hallvakt-fleet-{os.getpid()}"
    work.mkdir()
    pg = {"max_connections": "50", "track_wal_io_timing": "on"}
    if args.commit_async:  # the store without its fsync wait: what the rest can do
        pg["synchronous_commit"] = "off"
    print(f"PostgreSQL: synchronous_commit {'off' if args.commit_async else 'on (production)'}")
    server = PostgresServer(fast=False, settings=pg).start()
    broker = PrivateBroker(BrokerConfig(unix_socket=None), directory=work / "broker").start()
    central: Central | None = None
    fleet: WorkerFleet | None = None
    try:
        url = server.create_database(DB)
        central_key = private_key("central")
        sims = make_nodes(
            args.nodes, {"central-1": central_key.public_key()}, batch_size=64, resend_s=60.0
        )
        with open_store(url) as s:
            cl.mutate(s, FAC, site.central_ops(), datetime.now(UTC))
            t0 = time.monotonic()
            register(s, sims, FAC, int(time.time()))
            print(f"registered {len(sims)} nodes in {time.monotonic() - t0:.1f} s")
        assert broker.tcp_address is not None
        host, port = broker.tcp_address
        central = Central(work, url, f"mqtt://{host}:{port}", central_key)
        central.serve(1)
        t0 = time.monotonic()
        fleet = WorkerFleet(
            sims,
            Broker(host, port),
            {"central-1": central_key.public_key()},
            workers=args.workers,
            pump_s=0.5,
            reconnect_min_s=1.0,
        )
        await fleet.wait_until(lambda r: True, 60, "the workers")
        print(
            f"{args.workers} node worker processes ({len(sims) // args.workers} nodes each)"
            f" up in {time.monotonic() - t0:.1f} s"
        )
        gws, workers = central, fleet

        def pids() -> dict[str, list[int]]:
            nodes = {f"nodes {k + 1}": [p] for k, p in enumerate(workers.pids)}
            return {
                "gateways": [g.pid for g in gws.running()],
                "mosquitto": [broker.pid] if broker.pid else [],
                "postgres": postgres_pids(server),
                **nodes,
                "bench": [os.getpid()],
            }

        def pids_held() -> dict[str, list[int]]:  # phase 8: each gateway by its identity
            rest = pids()
            del rest["gateways"]
            return {f"gateway {gws.index(g) + 1}": [g.pid] for g in gws.running()} | rest

        cpu = Cpu(pids)
        with open_store(url) as store:
            stats = StoreStats(store)
            await cold_start(fleet, sims, args, cpu, stats)
            if 2 in args.phases:
                await events_live(fleet, sims, central, store, args, cpu, stats)
            if 3 in args.phases:
                await events_backlog(fleet, sims, central, store, args, cpu, stats)
            central.serve(2)
            if 4 in args.phases:
                await fan_out(
                    fleet, sims, store, site, central, args.fanout_rounds, cpu, stats, url
                )
            if 5 in args.phases:
                await broker_restart(fleet, sims, broker, store, cpu, stats)
            if 6 in args.phases:
                await snapshots(fleet, sims, central, store, cpu, stats)
            if 7 in args.phases:
                sizes(sims, central, store, args)
            if 8 in args.phases:
                await gateways_held(fleet, sims, central, store, args, Cpu(pids_held), stats)
    finally:
        if fleet is not None:
            try:
                await fleet.stop()
            except (TimeoutError, RuntimeError) as exc:
                print(f"(at the end: {exc})")
                fleet.close()
        if central is not None:
            central.stop_all()
        broker.stop()
        server.stop()
    print("\n== goals")
    for what, ok in RESULTS:
        print(f"  {what}: {'met' if ok else 'MISSED'}")


async def cold_start(
    fleet: WorkerFleet, sims: list[SimNode], args: argparse.Namespace, cpu: Cpu, stats: StoreStats
) -> None:
    print(f"\n== 1. cold start: {len(sims)} nodes connect over {args.ramp} s, each gets a snapshot")
    cpu.start()
    s0 = stats.read()
    t0 = time.monotonic()
    await fleet.start(ramp_s=args.ramp)
    n = len(sims)
    await fleet.wait_until(lambda r: r.connected == n, 120, "every node connected")
    connected = time.monotonic() - t0
    await fleet.wait_until(lambda r: r.at_rev(1) == n, 1200, "every first snapshot")
    wall = time.monotonic() - t0
    snaps = (await fleet.poll()).stats["applied_snapshots"]
    print(f"all connected after {connected:.1f} s, all at rev 1 after {wall:.1f} s;")
    used = cpu.stop()
    print(f"{snaps} snapshots applied; {used}; {await ended(stats, s0, wall, cpu)}")


async def quiet(fleet: WorkerFleet, stats: StoreStats, still_s: float = 2.0) -> float:
    """Seconds until central is quiet: every node's outbox empty and no WAL
    written for ``still_s`` (nothing left to handle)."""
    t0 = time.monotonic()
    await fleet.wait_until(lambda r: r.backlog == 0, 600, "every event acknowledged")
    lsn, since = stats.wal_lsn(), time.monotonic()
    while time.monotonic() - since < still_s:
        await asyncio.sleep(0.2)
        now = stats.wal_lsn()
        if now != lsn:
            lsn, since = now, time.monotonic()
        if time.monotonic() - t0 > 600:
            raise TimeoutError("central never became quiet")
    return time.monotonic() - t0


async def ended(stats: StoreStats, s0: StoreReading, wall: float, cpu: Cpu) -> str:
    """The store's flushes since ``s0`` and which resource ran out (``limit``)."""
    s1 = await stats.settled()
    return f"{stats.since(s0, s1, wall)}; {limit(cpu, s1.sync_ms - s0.sync_ms, wall)}"


def stored_events(store: Store) -> int:
    """Events stored, read cheaply for a poll every 20 ms: the sum of every
    stream's ``through`` (one row a node and epoch; each stream here is
    contiguous, so it moves with the events table). Counting the events
    table itself, 80,000 rows and more, 50 times a second cost PostgreSQL a
    third of a core, the bench's own load inside the figure it measures."""
    return int(store.execute("SELECT coalesce(sum(through), 0) FROM event_streams").scalar())


async def resends(fleet: WorkerFleet, before: int) -> str:
    """Batches the nodes sent again since ``before`` (not acknowledged within
    their ``resend_s``): each is more work for central than its events count."""
    return f"{(await fleet.poll()).stats['resent_batches'] - before} batches resent"


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


class Held:
    """Phase 8: each gateway identity in its own CPU group with the same quota
    (tests/support/fleet/cgroup.py). Per round: each running gateway's
    throttling, read with the round's CPU, and which limit the round hit."""

    phase = 8

    def __init__(self, quotas: list[CpuQuota]) -> None:
        self.quotas, self.cores = quotas, quotas[0].cores
        self.tag = f", each held to {self.cores:g} of a core"
        self.s0: list[Throttling] = []
        self.bound: dict[int, list[bool]] = {1: [], 2: []}
        self.per_cpu_s: dict[int, list[float]] = {1: [], 2: []}

    def start(self) -> None:
        self.s0 = [q.stat() for q in self.quotas]

    def read(self, count: int) -> dict[str, Throttling]:
        return {
            f"gateway {i + 1}": q.stat() - a
            for i, (q, a) in enumerate(zip(self.quotas, self.s0, strict=True))
            if i < count
        }


async def verdict(
    stats: StoreStats,
    s0: StoreReading,
    wall: float,
    cpu: Cpu,
    held: Held | None,
    count: int,
    events: int,
) -> str:
    """``ended``, or with gateways held to a quota, which limit the round hit
    (``held_limit``: the gateways' quota, the machine, the store's disk), and
    the events stored per CPU-second of the gateways (the same with 1 and 2
    gateways when a second one costs nothing extra per event)."""
    if held is None:
        return await ended(stats, s0, wall, cpu)
    throttling = held.read(count)  # now, with the CPU just read, before the store settles
    gw_s = sum(cpu.used.get(name, 0.0) for name in throttling) * wall
    held.per_cpu_s[count].append(events / max(1e-9, gw_s))
    s1 = await stats.settled()
    bound, text = held_limit(cpu, held.cores, throttling, s1.sync_ms - s0.sync_ms, wall)
    held.bound[count].append(bound)
    return (
        f"{events / max(1e-9, gw_s):,.0f} events per gateway CPU-second;"
        f" {stats.since(s0, s1, wall)}; {text}"
    )


def ratio_goal(label: str, rates: dict[int, list[float]], held: Held | None = None) -> None:
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(
        f"{label}: 1 gateway median {one:,.0f} events/s (slowest round {min(rates[1]):,.0f}),"
        f" 2 gateways median {two:,.0f} events/s (slowest {min(rates[2]):,.0f}):"
        f" ratio {two / one:.2f}x; {load()}"
    )
    if held is not None:
        e1, e2 = (statistics.median(held.per_cpu_s[c]) for c in (1, 2))
        print(
            "the gateways' quota was the limit in"
            + ",".join(
                f" {sum(held.bound[c])} of {len(held.bound[c])} rounds with {c}" for c in (1, 2)
            )
            + f"; events per gateway CPU-second, median: 1 gateway {e1:,.0f}, 2 gateways"
            f" {e2:,.0f} ({e2 / e1:.2f}x: what a second gateway costs per event)"
        )
    print(goal(f"{label}: 2 gateways >= 1.7x one ({two / one:.2f}x)", two / one >= 1.7))


async def events_live(
    fleet: WorkerFleet,
    sims: list[SimNode],
    central: Central,
    store: Store,
    args: argparse.Namespace,
    cpu: Cpu,
    stats: StoreStats,
    held: Held | None = None,
) -> None:
    n = args.events * len(sims)
    print(
        f"\n== {held.phase if held else 2}. events stored per second, nodes sending live:"
        f" {args.events} per node ({n} a round), 1 and 2 gateways{held.tag if held else ''}"
    )
    rates: dict[int, list[float]] = {1: [], 2: []}
    for rnd in range(args.rounds):
        for count in (1, 2):
            central.serve(count)
            await quiet(fleet, stats)
            before = store.execute("SELECT count(*) FROM events").scalar()
            resent = (await fleet.poll()).stats["resent_batches"]
            cpu.start()
            if held:
                held.start()
            s0 = stats.read()
            t0 = time.monotonic()
            await fleet.add_events(args.events)
            await fleet.wait_until(lambda r: r.backlog == 0, 1200, "every event acknowledged")
            wall = time.monotonic() - t0
            stored = store.execute("SELECT count(*) FROM events").scalar() - before
            assert stored == n, (stored, n)
            rates[count].append(n / wall)
            used = cpu.stop()
            print(
                f"round {rnd + 1}, {count} gateway(s): {n / wall:,.0f} events/s ({wall:.1f} s);"
                f" {await resends(fleet, resent)}; {load()}; {used};"
                f" {await verdict(stats, s0, wall, cpu, held, count, n)}"
            )
    ratio_goal(f"live{held.tag if held else ''}", rates, held)
    total = store.execute("SELECT count(*), count(DISTINCT id) FROM events").rows[0]
    print(f"events stored {total[0]}, distinct ids {total[1]} (each once)")


async def events_backlog(
    fleet: WorkerFleet,
    sims: list[SimNode],
    central: Central,
    store: Store,
    args: argparse.Namespace,
    cpu: Cpu,
    stats: StoreStats,
    held: Held | None = None,
) -> None:
    n = args.events * len(sims)
    print(
        f"\n== {held.phase if held else 3}. central's capacity: {n} events ({len(sims)} messages)"
        f" wait in the broker, then 1 or 2 gateways drain them{held.tag if held else ''}"
    )
    rates: dict[int, list[float]] = {1: [], 2: []}
    # Both identities' sessions made, and their first subscription's retained
    # statuses (every node's, once a session: sync/central/link.py) handled,
    # before any round: else the first round with 2 gateways drains them too.
    central.serve(2)
    await quiet(fleet, stats)
    for rnd in range(args.rounds):
        for count in (1, 2):
            await quiet(fleet, stats)
            central.hold(count)
            rows_before = store.execute("SELECT count(*) FROM events").scalar()
            before = stored_events(store)
            r0 = await fleet.poll()
            sent, resent = r0.published["evt"], r0.stats["resent_batches"]
            await fleet.add_events(args.events)
            target = sent + len(sims)
            await fleet.wait_until(
                lambda r: r.published["evt"] >= target,  # noqa: B023 (awaited here)
                300,
                "all sent",
            )
            s0 = stats.read()
            launched = central.keep[:count]
            seen = [g.connections() for g in launched]
            marks = [len(g.log()) for g in launched]  # their stop lines come after these
            for g in launched:
                central.launch(g)
            # The clock starts once every launched gateway is connected, and
            # counts what is stored from then: the broker queued each message
            # in one member's session of the shared group, so a gateway still
            # starting up (seconds of wall time under a quota) holds its share
            # back, and timing from the first stored event measured that skew.
            first = last = 0.0
            early = 0  # stored before the clock started
            began = time.monotonic()
            while True:
                stored = stored_events(store) - before
                now = time.monotonic()
                if not first and all(
                    g.connections() > k for g, k in zip(launched, seen, strict=True)
                ):
                    first, early = now, stored
                    cpu.start()  # the gateways' start-up (imports, connecting) left out
                    if held:
                        held.start()
                if first and stored >= n:
                    last = now
                    break
                if now - began > 600:
                    raise TimeoutError(f"backlog not drained: {stored} of {n}")
                await asyncio.sleep(0.02)
            rates[count].append((n - early) / (last - first))
            used = cpu.stop()
            rows = store.execute("SELECT count(*) FROM events").scalar() - rows_before
            assert rows == n, (rows, n)  # the cheap count above was the true one
            print(
                f"round {rnd + 1}, {count} gateway(s): {(n - early) / (last - first):,.0f} events/s"
                f" ({n - early} events in {last - first:.1f} s, from every gateway connected"
                f" to the last stored; {early} stored before);"
                f" {await resends(fleet, resent)}; {load()};"
                f" {used}; {await verdict(stats, s0, last - first, cpu, held, count, n)}"
            )
            for g in central.keep[:count]:
                g.stop()  # its session keeps the subscription: serve() makes it leave
            print(
                "  handled from connecting to stopping: "
                + "; ".join(
                    f"gateway {i + 1}: {handled(g.log()[m:])}"
                    for i, (g, m) in enumerate(zip(launched, marks, strict=True))
                )
            )
            await fleet.wait_until(lambda r: r.backlog == 0, 600, "every event acknowledged")
    central.serve(1)
    ratio_goal(f"capacity{held.tag if held else ''}", rates, held)


class CursorWatch:
    """When each node's cursor reached ``rev`` in the store, seen by a thread of
    its own with its own connection, every 20 ms: the bench's event loop,
    busy with 2,000 nodes' messages, would see it late."""

    def __init__(self, url: str, rev: int, t0: float) -> None:
        self.url, self.rev, self.t0 = url, rev, t0
        self.stored_at: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="cursor-watch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with open_store(self.url) as store:
            while not self.stop.is_set():
                rows = store.execute(
                    "SELECT node FROM node_state WHERE applied_rev >= ?", [self.rev]
                ).rows
                now = time.time() - self.t0
                for (node,) in rows:
                    self.stored_at.setdefault(str(node), now)
                self.stop.wait(0.02)

    def close(self) -> dict[str, float]:
        self.stop.set()
        self.thread.join(10)
        return self.stored_at


async def fan_out(
    fleet: WorkerFleet,
    sims: list[SimNode],
    store: Store,
    site: Any,
    central: Central,
    rounds: int,
    cpu: Cpu,
    stats: StoreStats,
    url: str,
) -> None:
    print(
        f"\n== 4. fan-out: one booking change to {len(sims)} nodes, rounds with 2 gateways"
        " and with 1 in turn (the signing shared or not)"
    )
    signer = Signer("central-1", private_key("central"))
    t0 = time.perf_counter()
    for s in sims:
        signer.pack(Head(1, 0, int(time.time()) + 7200), s.node, int(time.time()))
    each = (time.perf_counter() - t0) / len(sims)
    print(f"signing a head for each node in this process: {each * 1e6:.0f} µs each")
    await fleet.wait_until(
        lambda _: (
            store.execute("SELECT count(*) FROM node_state WHERE status_state = 'online'").scalar()
            == len(sims)
        ),
        60,
        "every node online",
    )
    times: dict[int, list[float]] = {1: [], 2: []}
    central_done: dict[int, list[float]] = {1: [], 2: []}
    for rnd, count in ((r, c) for r in range(rounds) for c in (2, 1)):
        central.serve(count)
        await quiet(fleet, stats)
        day = datetime(2026, 6, 1, 8, tzinfo=UTC) + timedelta(days=2 * rnd + count)
        b = site.booking(f"fan{rnd}-{count}", ["gym"], day, day + timedelta(hours=1))
        cursors = (await fleet.poll()).published["cur"]
        cpu.start()
        s0 = stats.read()
        t0 = time.time()
        rev = cl.revs(store, FAC).rev + 1  # the revision the change will make
        watch = CursorWatch(url, rev, t0)
        made = cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], datetime.now(UTC))
        assert made == rev, (made, rev)
        committed = time.time() - t0
        while len(watch.stored_at) < len(sims):
            if time.time() - t0 > 120:
                watch.close()
                raise TimeoutError(f"{len(watch.stored_at)} of {len(sims)} cursors at rev {rev}")
            await asyncio.sleep(0.05)
        stored_at = watch.close()
        waited = max(stored_at.values())
        used = cpu.stop()
        times[count].append(waited)
        seen = await fleet.timings(t0)
        applied_at = await fleet.applied_at(rev, t0)

        got = [t["got_chg"] - t0 for t in seen.values() if "got_chg" in t]
        applied = [t - t0 for t in applied_at.values()]
        cur_sent = [t["sent_cur"] - t0 for t in seen.values() if "sent_cur" in t]
        cur_acked = [t["puback_cur"] - t0 for t in seen.values() if "sent_cur" in t]
        # central's own part for a node: its cursor acknowledged by the broker -> stored
        central_part = [
            stored_at[n] - (t["puback_cur"] - t0)
            for n, t in seen.items()
            if "sent_cur" in t and n in stored_at
        ]
        cursors_now = (await fleet.poll()).published["cur"]
        gws = [t for g in central.leave for t in ticks(g.log(), t0)]
        done = max((t.began + t.decided_s + t.handed_s - t0 for t in gws), default=0.0)
        central_done[count].append(done)
        stage = "; ".join(
            f"tick began +{t.began - t0:.2f} s: {t.messages} messages decided in"
            f" {t.decided_s:.2f} s, handed to the broker in {t.handed_s:.2f} s"
            for t in gws
        )
        print(
            f"round {rnd + 1}, {count} gateway(s): every cursor in the store at rev {rev}"
            f" after {waited:.2f} s (the change committed in {committed:.3f} s;"
            f" {stage or 'no tick logged'}; central's side done at +{done:.2f} s);"
            f" changes reached the nodes: {spread(got)}; applied: {spread(applied)};"
            f" cursor published: {spread(cur_sent)}; its PUBACK: {spread(cur_acked)};"
            f" cursor stored: {spread(list(stored_at.values()))};"
            f" PUBACK -> stored (central's part): {spread(central_part)};"
            f" {cursors_now - cursors} cursors sent; {used};"
            f" {await ended(stats, s0, waited, cpu)}"
        )
    one, two = statistics.median(central_done[1]), statistics.median(central_done[2])
    print(
        f"central's side (change committed -> last head handed to the broker), median:"
        f" 1 gateway {one:.2f} s, 2 gateways {two:.2f} s ({one / max(1e-9, two):.2f}x faster"
        f" with 2); every cursor stored, median: 1 gateway {statistics.median(times[1]):.2f} s,"
        f" 2 gateways {statistics.median(times[2]):.2f} s"
    )
    med, p99 = statistics.median(times[2]), percentile(times[2], 99)
    print(goal(f"fan-out (2 gateways) median {med:.2f} s (p99 {p99:.2f} s) < 10 s", med < 10))
    central.serve(2)


async def broker_restart(
    fleet: WorkerFleet,
    sims: list[SimNode],
    broker: PrivateBroker,
    store: Store,
    cpu: Cpu,
    stats: StoreStats,
) -> None:
    print(
        f"\n== 5. broker restart with {len(sims)} nodes"
        " (SIGTERM, start; the same port and persistence)"
    )
    await quiet(fleet, stats)
    rev = cl.revs(store, FAC).rev
    r0 = await fleet.poll()
    hellos, min_hellos, snaps = r0.hellos, r0.min_hellos, r0.stats["got_snapshot"]
    await fleet.up_per_second(clear=True)
    cpu.start()
    s0 = stats.read()
    t0 = time.monotonic()
    broker.restart()
    restarted = time.monotonic() - t0
    await fleet.wait_until(
        lambda r: r.min_hellos > min_hellos or r.hellos - hellos >= len(sims),
        300,
        "every node's hello",
    )
    hello_s = time.monotonic() - t0
    await fleet.wait_until(
        lambda r: r.connected == len(sims) and r.at_rev(rev) == len(sims), 300, "current"
    )
    current_s = time.monotonic() - t0
    peak = max((await fleet.up_per_second()).values(), default=0)
    new_snaps = (await fleet.poll()).stats["got_snapshot"] - snaps
    used = cpu.stop()
    print(
        f"broker back after {restarted:.1f} s; every node said hello after {hello_s:.1f} s and was"
        f" current after {current_s:.1f} s; peak {peak} messages/s up;"
        f" {new_snaps} snapshot parts sent;"
        f" {used}; {await ended(stats, s0, current_s, cpu)}"
    )
    print(goal(f"back and current {current_s:.1f} s < 60 s", current_s < 60))
    print(goal(f"no resync storm ({new_snaps} snapshots for {len(sims)} nodes)", new_snaps == 0))


async def snapshot_group(
    fleet: WorkerFleet, group: list[SimNode], watch: list[int], rev: int
) -> tuple[float, list[float], int]:
    """A new database on each node of ``group`` at once (empty replica, new
    epoch, a hello; each worker renews its own): seconds until all applied
    their snapshot of ``rev``, each node's seconds, and the gateways' peak RSS
    (KiB). Times are the workers' wall clock from just before the first hello."""
    peak = 0
    t0 = await fleet.renew([s.node for s in group])
    while True:
        done = await fleet.applied_at(rev, t0)
        peak = max(peak, sum(rss_kib(p) for p in watch))
        if len(done) >= len(group):
            break
        if time.time() - t0 > 300:
            raise TimeoutError(f"snapshots not applied: {len(done)} of {len(group)}")
        await asyncio.sleep(0.05)
    each = [t - t0 for t in done.values()]
    return max(each), each, peak


async def snapshots(
    fleet: WorkerFleet,
    sims: list[SimNode],
    central: Central,
    store: Store,
    cpu: Cpu,
    stats: StoreStats,
) -> None:
    k = min(200, len(sims) // 3)
    print(
        f"\n== 6. {k} nodes needing a snapshot at once (a new database: hello, empty replica);"
        " baseline: one node alone, five times; central quiet before each"
    )
    watch = [g.pid for g in central.running()]
    rss0 = {p: rss_kib(p) for p in watch}
    alone = []
    for i in range(5):
        await quiet(fleet, stats)
        took, _, _ = await snapshot_group(fleet, [sims[-1 - i]], watch, cl.revs(store, FAC).rev)
        alone.append(took)
    base = statistics.median(alone)
    print(f"one node alone: {', '.join(f'{t:.2f}' for t in alone)} s: median {base:.2f} s")
    results = []
    for rnd in range(2):
        group = sims[rnd * k : (rnd + 1) * k]
        quiet_s = await quiet(fleet, stats)
        cpu.start()
        s0 = stats.read()
        took, each, peak = await snapshot_group(fleet, group, watch, cl.revs(store, FAC).rev)
        used = cpu.stop()
        results.append(took)
        print(
            f"round {rnd + 1}: {k} at once (after {quiet_s:.1f} s to quiet): all applied after"
            f" {took:.2f} s, per node {spread(each)}; gateways' RSS peak {peak / 1024:.0f} MiB"
            f" (sum of {len(watch)}); {used}; {await ended(stats, s0, took, cpu)}"
        )
    med = statistics.median(results)
    print(f"{k} at once: median {med:.2f} s, {med / base:.1f}x one node alone ({base:.2f} s)")
    for p in watch:
        print(
            f"gateway pid {p}: RSS now {rss_kib(p) / 1024:.0f} MiB,"
            f" lifetime peak {peak_rss_kib(p) / 1024:.0f} MiB"
            f" (before this phase: {rss0.get(p, 0) / 1024:.0f} MiB)"
        )


def sizes(sims: list[SimNode], central: Central, store: Store, args: argparse.Namespace) -> None:
    print("\n== 7. central's memory and the store's size")
    for g in central.running():
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


async def gateways_held(
    fleet: WorkerFleet,
    sims: list[SimNode],
    central: Central,
    store: Store,
    args: argparse.Namespace,
    cpu: Cpu,
    stats: StoreStats,
) -> None:
    """Phases 2 and 3 again with each gateway in its own CPU group holding it
    to ``--gateway-cpu`` of a core, as a container's CPU limit would: the
    gateways are then the limit by construction (each round says whether they
    were), and 2 against 1 says whether the design scales."""
    cores = args.gateway_cpu
    why = unavailable()
    if why is not None or cores <= 0:
        reason = why or "--gateway-cpu 0"
        print(f"\n== 8. gateways held to a CPU quota: not measured: {reason}")
        return
    run_tag = os.getpid()
    with contextlib.ExitStack() as groups:  # removed on the way out, also on an interrupt
        central.serve(0)  # each is started again inside its group
        central.quotas = [
            groups.enter_context(CpuQuota(f"hallvakt-fleet-{run_tag}-central-{i}", cores))
            for i in (1, 2)
        ]
        print(
            f"\n(phase 8: cgroup v1 cpu groups {', '.join(str(q.path) for q in central.quotas)}:"
            f" {central.quotas[0].quota_us} µs of CPU every {central.quotas[0].period_us} µs each)"
        )
        try:
            if 2 in args.held_phases:
                await events_live(
                    fleet, sims, central, store, args, cpu, stats, Held(central.quotas)
                )
            if 3 in args.held_phases:
                await events_backlog(
                    fleet, sims, central, store, args, cpu, stats, Held(central.quotas)
                )
        finally:
            central.stop_all()  # out of their groups before the groups go
            central.quotas = []


def _phases(text: str) -> set[int]:
    return {int(x) for x in text.split(",")}


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM: stop the servers and gateways on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2, help="processes holding the simulated nodes")
    p.add_argument("--events", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3, help="rounds of phases 2 and 3")
    p.add_argument("--fanout-rounds", type=int, default=5)
    p.add_argument(
        "--phases",
        type=_phases,
        default={2, 3, 4, 5, 6, 7, 8},
        help="phases to run after the cold start (1), e.g. 4 for the fan-out only",
    )
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
    p.add_argument(
        "--gateway-cpu",
        type=float,
        default=GATEWAY_CPU,
        help="phase 8: each gateway held to this share of a core (0: not measured)",
    )
    p.add_argument(
        "--held-phases",
        type=_phases,
        default={2, 3},
        help="phase 8: which of the live (2) and backlog (3) figures to measure held",
    )
    args = p.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
