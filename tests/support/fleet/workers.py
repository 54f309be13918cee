"""The fleet in several processes: ``WorkerFleet`` runs a ``Fleet`` share in each worker.

One Python process holding 2,000 simulated nodes is one event loop that
verifies every message central sends, applies it and signs every answer:
at fleet scale that loop, not central, set the pace of a fan-out
(docs/benchmarks.md, "Central at fleet scale"). ``WorkerFleet`` spreads the
nodes over ``workers`` processes (``multiprocessing``, spawned): worker ``k``
holds nodes ``k, k + workers, ...`` as an ordinary ``Fleet`` of ``SimNode``
(runner.py, node.py: the same protocol-true nodes, each its own MQTT client
identity), with its own event loop and its own core when one is free.

- The nodes are made in the parent (``make_nodes``, so that their keys can
  be registered in central's store) and sent to the workers as their raw
  keys and settings (``NodeSpec``); a worker builds its ``SimNode`` from them.
  The parent's ``SimNode`` objects are not kept in step: ask the workers.
- The parent speaks to each worker over a pipe, one request at a time
  (``call``): start, stop, events, a new database on some nodes, and the
  readings the bench and the tests need (``poll``: connected, revisions
  applied, backlog, counters, errors; ``timings``: per node when each stage
  of a revision happened, by the wall clock, which all processes share).
- A node that rejects what central sent fails its worker's fleet (``errors``
  in every ``poll``), and ``wait_until`` raises it, as ``Fleet.wait_until``
  does.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .node import SimNode
from .runner import Broker, Fleet

_SETTINGS = ("batch_size", "resend_s", "max_in_flight", "cursor_retry_s", "cursor_retry_max_s")


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """What a worker needs to build one ``SimNode``: picklable."""

    node: str
    key: bytes  # raw Ed25519 private key
    kid: str
    settings: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, sim: SimNode) -> NodeSpec:
        raw = sim.key.private_bytes_raw()
        return cls(sim.node, raw, sim.kid, tuple((k, getattr(sim, k)) for k in _SETTINGS))

    def build(self, central_keys: Mapping[str, Ed25519PublicKey]) -> SimNode:
        key = Ed25519PrivateKey.from_private_bytes(self.key)
        return SimNode(self.node, key, self.kid, central_keys, **dict(self.settings))


@dataclass(frozen=True, slots=True)
class Reading:
    """What ``poll`` returns, summed over the workers."""

    connected: int = 0
    applied: Counter[int] = field(default_factory=Counter)  # applied_rev -> nodes
    backlog: int = 0
    published: Counter[str] = field(default_factory=Counter)  # up-kind -> messages
    hellos: int = 0  # hellos said, all nodes
    min_hellos: int = 0  # the fewest hellos any node said
    stats: Counter[str] = field(default_factory=Counter)  # SimNode.stats, all nodes
    errors: tuple[str, ...] = ()

    def at_rev(self, rev: int) -> int:
        return sum(n for r, n in self.applied.items() if r >= rev)

    def __add__(self, other: Reading) -> Reading:
        return Reading(
            self.connected + other.connected,
            self.applied + other.applied,
            self.backlog + other.backlog,
            self.published + other.published,
            self.hellos + other.hellos,
            min(self.min_hellos, other.min_hellos),
            self.stats + other.stats,
            self.errors + other.errors,
        )


# --- the worker's side -------------------------------------------------------------------


class _Agent:
    """A worker's fleet and the requests it answers (``WorkerFleet.call``)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.by_name = {s.node: s for s in fleet.nodes}

    async def start(self, ramp_s: float) -> None:
        await self.fleet.start(ramp_s=ramp_s)

    async def stop(self, timeout: float) -> None:
        await self.fleet.stop(timeout)

    async def poll(self) -> Reading:
        f = self.fleet
        stats: Counter[str] = Counter()
        for s in f.nodes:
            stats.update(s.stats)
        return Reading(
            len(f.connected),
            Counter(s.applied_rev for s in f.nodes),
            f.backlog(),
            Counter(f.published),
            sum(f.hellos.values()),
            min((f.hellos[s.node] for s in f.nodes), default=0),
            stats,
            tuple(f.errors[:5]),
        )

    async def add_events(self, n: int) -> None:
        now = time.time()
        for s in self.fleet.nodes:
            s.add_events(n, now)
            self.fleet.kick(s.node)

    async def renew(self, names: list[str]) -> float:
        """A new database on each of ``names`` (empty replica, new epoch), each
        saying hello at once; the wall time before the first."""
        t0 = time.time()
        for name in names:
            sim = self.by_name[name]
            sim.forget_replica()
            await self.fleet.send(sim, sim.hello(time.time()))
        return t0

    async def applied_at(self, rev: int, since: float) -> dict[str, float]:
        """Nodes that applied ``rev`` at or after wall time ``since``: when."""
        out = {}
        for name, revs in self.fleet.applied_at.items():
            t = revs.get(rev)
            if t is not None and t >= since:
                out[name] = t
        return out

    async def timings(self, since: float) -> dict[str, dict[str, float]]:
        """Per node, the wall times at or after ``since``: ``got_<kind>`` (last
        message of that kind received), ``sent_<kind>``/``puback_<kind>`` (last
        publication of that kind began / acknowledged by the broker)."""
        f = self.fleet
        out: dict[str, dict[str, float]] = {}
        for prefix, table in (
            ("got_", f.received_at),
            ("sent_", f.sent_at),
            ("puback_", f.puback_at),
        ):
            for name, kinds in table.items():
                for kind, t in kinds.items():
                    if t >= since:
                        out.setdefault(name, {})[prefix + kind] = t
        return out

    async def up_per_second(self, clear: bool) -> Counter[int]:
        got = Counter(self.fleet.up_per_second)
        if clear:
            self.fleet.up_per_second.clear()
        return got


async def _serve(conn: multiprocessing.connection.Connection, agent: _Agent) -> None:
    loop = asyncio.get_running_loop()
    requests: asyncio.Queue[Any] = asyncio.Queue()

    def readable() -> None:
        try:
            requests.put_nowait(conn.recv())
        except EOFError:
            requests.put_nowait(None)
            loop.remove_reader(conn.fileno())

    loop.add_reader(conn.fileno(), readable)
    while True:
        req = await requests.get()
        if req is None or req[0] == "exit":
            with contextlib.suppress(TimeoutError, Exception):
                await agent.fleet.stop(10)
            return
        name, args = req
        try:
            result = ("ok", await getattr(agent, name)(*args))
        except Exception:
            result = ("error", traceback.format_exc())
        conn.send(result)


def _worker(
    conn: multiprocessing.connection.Connection,
    specs: list[NodeSpec],
    central_keys: dict[str, bytes],
    broker: Broker,
    fleet_kw: dict[str, Any],
) -> None:
    keys = {k: Ed25519PublicKey.from_public_bytes(v) for k, v in central_keys.items()}
    fleet = Fleet([s.build(keys) for s in specs], broker, **fleet_kw)
    asyncio.run(_serve(conn, _Agent(fleet)))


# --- the parent's side -------------------------------------------------------------------


class WorkerFailed(RuntimeError):
    """A worker raised while answering a request (its traceback is the message)."""


class WorkerFleet:
    """``workers`` processes, each running a ``Fleet`` of its share (module docstring).
    ``fleet_kw`` goes to every ``Fleet`` (``pump_s``, ``reconnect_min_s``...)."""

    def __init__(
        self,
        nodes: list[SimNode],
        broker: Broker,
        central_keys: Mapping[str, Ed25519PublicKey],
        workers: int = 2,
        **fleet_kw: Any,
    ) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self.nodes = [s.node for s in nodes]
        self.share = {s.node: i % workers for i, s in enumerate(nodes)}
        ctx = multiprocessing.get_context("spawn")  # the parent runs threads and a loop
        raw = {k: v.public_bytes_raw() for k, v in central_keys.items()}
        self._conns: list[multiprocessing.connection.Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self._locks: list[asyncio.Lock] = []
        for k in range(workers):
            mine, theirs = ctx.Pipe()
            specs = [NodeSpec.of(s) for i, s in enumerate(nodes) if i % workers == k]
            p = ctx.Process(
                target=_worker,
                args=(theirs, specs, raw, broker, fleet_kw),
                name=f"fleet-worker-{k}",
                daemon=True,
            )
            p.start()
            theirs.close()
            self._conns.append(mine)
            self.processes.append(p)
        self._locks = [asyncio.Lock() for _ in range(workers)]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    async def _one(self, k: int, name: str, args: tuple[Any, ...]) -> Any:
        async with self._locks[k]:
            conn = self._conns[k]
            conn.send((name, args))
            status, value = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        if status != "ok":
            raise WorkerFailed(f"worker {k}, {name}: {value}")
        return value

    async def call(self, name: str, *args: Any) -> list[Any]:
        """``name(*args)`` on every worker at once; their answers, in worker order."""
        return list(
            await asyncio.gather(*(self._one(k, name, args) for k in range(len(self._conns))))
        )

    async def start(self, ramp_s: float = 0.0) -> None:
        """Connect every node, each worker's spread over ``ramp_s`` (so all are)."""
        await self.call("start", ramp_s)

    async def stop(self, timeout: float = 30.0) -> None:
        """Disconnect every node (sessions kept), then end the workers."""
        try:
            await self.call("stop", timeout)
        finally:
            self.close()

    def close(self) -> None:
        """End the workers (idempotent): ask, then terminate what is still alive."""
        for conn in self._conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("exit", ()))
        for p in self.processes:
            p.join(15)
            if p.is_alive():
                p.terminate()
                p.join(5)
        for conn in self._conns:
            conn.close()
        self._conns = []
        self.processes = []

    async def poll(self) -> Reading:
        total = Reading(min_hellos=10**9)
        for r in await self.call("poll"):
            total = total + r
        return total

    async def add_events(self, n: int) -> None:
        """``n`` events in every node's outbox, pumped at once."""
        await self.call("add_events", n)

    async def renew(self, names: list[str]) -> float:
        """A new database on each of ``names``, each saying hello; the wall time before."""
        per = [[n for n in names if self.share[n] == k] for k in range(len(self._conns))]
        starts = await asyncio.gather(
            *(self._one(k, "renew", (mine,)) for k, mine in enumerate(per) if mine)
        )
        return float(min(starts))

    async def applied_at(self, rev: int, since: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for part in await self.call("applied_at", rev, since):
            out.update(part)
        return out

    async def timings(self, since: float) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for part in await self.call("timings", since):
            out.update(part)
        return out

    async def up_per_second(self, clear: bool = False) -> Counter[int]:
        total: Counter[int] = Counter()
        for part in await self.call("up_per_second", clear):
            total.update(part)
        return total

    async def wait_until(
        self,
        predicate: Callable[[Reading], bool],
        timeout: float,
        what: str = "the condition",
        every_s: float = 0.1,
    ) -> float:
        """Seconds until ``predicate(poll())`` held; raises ``TimeoutError``
        after ``timeout``, and ``AssertionError`` when a node failed."""
        t0 = time.monotonic()
        while True:
            r = await self.poll()
            if r.errors:
                raise AssertionError("; ".join(r.errors[:5]))
            if predicate(r):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{what} not within {timeout} s")
            await asyncio.sleep(every_s)
