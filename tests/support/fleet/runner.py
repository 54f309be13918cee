"""A fleet of ``SimNode`` over real MQTT: one asyncio MQTT client (aiomqtt) per node.

- Every node is its own MQTT 5 client identity (client id = node id), with
  ``clean_start`` false and a session expiry of a day (PROTOCOL.md §2), a
  signed Will (``status`` offline), a subscription to its ``dn/#``, and a
  jittered exponential reconnect (full jitter between ``reconnect_min_s`` and
  ``reconnect_max_s``). On every connection it says ``hello`` first, then
  ``status`` online.
- ``Fleet.start(ramp_s)`` connects the nodes spread over ``ramp_s`` seconds;
  every node pumps its due ``events`` every ``pump_s``. ``Fleet.stop()``
  disconnects them all (a normal disconnect keeps the sessions).
- Observation for tests and the bench: ``connected``, ``hellos``, per node the
  time each ``applied_rev`` was reached (``applied_at``) and the time the last
  message of each kind came (``received_at``), when its last publication of
  each kind began (``sent_at``) and the broker acknowledged it
  (``puback_at``), message counters, and
  ``wait_until(predicate, timeout)``. A message central sends that a node
  rejects fails the fleet (``errors``).
- aiomqtt (2.5) sets an exception on a connection's "disconnected" future
  when the connection drops while nothing waits on it (a broker restart, or
  the broker stopping under a client whose task has ended), and asyncio then
  prints "Future exception was never retrieved" for each: every connection's
  future is read when it completes, so a dropped connection is only what
  the reconnect loop makes of it.

One process holds a few thousand nodes on this machine's loopback
(docs/benchmarks.md "Fleet"); mind ``ulimit -n`` and the broker's
``max_connections``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.protocol import Outgoing, State, node_subscriptions

from .node import SimNode


@dataclass(frozen=True, slots=True)
class Broker:
    """Where the fleet connects: a TCP host and port (loopback) or a unix socket path."""

    host: str = "127.0.0.1"
    port: int = 1883
    unix: str | None = None


@dataclass
class Fleet:
    """The nodes, their connections and what was observed (module docstring)."""

    nodes: list[SimNode]
    broker: Broker
    pump_s: float = 0.2
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 300.0
    session_expiry_s: int = 86_400
    keepalive_s: int = 60
    clock: Callable[[], float] = time.time
    connected: set[str] = field(default_factory=set)
    hellos: Counter[str] = field(default_factory=Counter)
    applied_at: dict[str, dict[int, float]] = field(default_factory=dict)
    received_at: dict[str, dict[str, float]] = field(default_factory=dict)
    # node -> kind -> when its last publication of that kind began, and when the
    # broker's PUBACK for it came (the fan-out's stages: bench/fleet.py)
    sent_at: dict[str, dict[str, float]] = field(default_factory=dict)
    puback_at: dict[str, dict[str, float]] = field(default_factory=dict)
    received: Counter[str] = field(default_factory=Counter)
    published: Counter[str] = field(default_factory=Counter)
    up_per_second: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _kick: dict[str, asyncio.Event] = field(default_factory=dict)
    _clients: dict[str, aiomqtt.Client] = field(default_factory=dict)

    # --- running ----------------------------------------------------------------------

    async def start(self, ramp_s: float = 0.0, nodes: Iterable[SimNode] | None = None) -> None:
        """Connect ``nodes`` (default: all), their first connects spread over ``ramp_s``."""
        chosen = list(self.nodes if nodes is None else nodes)
        for i, sim in enumerate(chosen):
            delay = ramp_s * i / max(1, len(chosen))
            self._kick[sim.node] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._run(sim, delay), name=sim.node))

    async def stop(self, timeout: float = 30.0) -> None:
        """Disconnect every node; raises ``TimeoutError`` if a client will not end.
        A task is cancelled again each second until it ends: Python 3.11's
        ``asyncio.wait_for`` (aiomqtt's publish waits through it) swallows a
        cancellation that comes as the awaited future completes, and the node
        would then wait for its next message for ever."""
        self._stop.set()
        tasks, self._tasks = self._tasks, []
        self._stop = asyncio.Event()
        pending = set(tasks)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for t in pending:
                t.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        if pending:
            names = sorted(t.get_name() for t in pending)[:5]
            where = _where(next(iter(pending)))
            raise TimeoutError(f"{len(pending)} node clients did not stop: {names}; one in {where}")

    async def send(self, sim: SimNode, out: Outgoing) -> None:
        """Publish ``out`` on ``sim``'s connection (raises ``KeyError`` when it has none)."""
        await self._publish(self._clients[sim.node], out)

    def kick(self, node: str) -> None:
        """Pump ``node``'s events now rather than at the next ``pump_s``."""
        ev = self._kick.get(node)
        if ev is not None:
            ev.set()

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float, what: str = "the condition"
    ) -> float:
        """Seconds until ``predicate()`` held; raises ``TimeoutError`` after ``timeout``."""
        t0 = time.monotonic()
        while not predicate():
            if self.errors:
                raise AssertionError("; ".join(self.errors[:5]))
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{what} not within {timeout} s")
            await asyncio.sleep(0.02)
        return time.monotonic() - t0

    # --- one node -----------------------------------------------------------------------

    def _client(self, sim: SimNode) -> aiomqtt.Client:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry_s
        will_props = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
        will_props.WillDelayInterval = 30
        will = sim.status(self.clock(), State.OFFLINE)
        b = self.broker
        return aiomqtt.Client(
            b.unix or b.host,
            b.port,
            identifier=sim.node,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=props,
            will=aiomqtt.Will(will.topic, will.payload, qos=1, retain=True, properties=will_props),
            transport="unix" if b.unix else "tcp",
            keepalive=self.keepalive_s,
            timeout=30,
        )

    async def _publish(self, client: aiomqtt.Client, out: Outgoing) -> None:
        parts = out.topic.split("/")
        kind, node = parts[-1], parts[2]
        self.published[kind] += 1
        began = self.clock()
        self.up_per_second[int(began)] += 1
        await client.publish(out.topic, out.payload, qos=1, retain=out.retain)
        self.sent_at.setdefault(node, {})[kind] = began
        self.puback_at.setdefault(node, {})[kind] = self.clock()

    async def _run(self, sim: SimNode, delay: float) -> None:
        await asyncio.sleep(delay)
        attempt = 0
        while not self._stop.is_set():
            client_of_session = self._client(sim)
            try:
                async with client_of_session as client:
                    attempt = 0
                    await client.subscribe(node_subscriptions(sim.node)[0], qos=1)
                    self.connected.add(sim.node)
                    self._clients[sim.node] = client
                    self.hellos[sim.node] += 1
                    await self._publish(client, sim.hello(self.clock()))
                    await self._publish(client, sim.status(self.clock()))
                    pump = asyncio.create_task(self._pump(sim, client))
                    try:
                        await self._receive(sim, client)
                    finally:
                        pump.cancel()
                        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                            await pump
            except aiomqtt.MqttError:
                pass
            except AssertionError as exc:
                self.errors.append(str(exc))
                return
            except Exception as exc:  # a node that dies says why (never silently)
                self.errors.append(f"{sim.node}: {exc!r}")
                return
            finally:
                self.connected.discard(sim.node)
                self._clients.pop(sim.node, None)
                _read_when_done(client_of_session)
            if self._stop.is_set():
                return
            cap = min(self.reconnect_max_s, self.reconnect_min_s * 2**attempt)
            attempt = min(attempt + 1, 20)
            await asyncio.sleep(max(0.01, random.uniform(0, cap)))

    async def _receive(self, sim: SimNode, client: aiomqtt.Client) -> None:
        async for m in client.messages:
            kind = str(m.topic).rsplit("/", 1)[1]
            self.received[kind] += 1
            payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
            before = sim.applied_rev
            now = self.clock()
            self.received_at.setdefault(sim.node, {})[kind] = now
            outs = sim.receive(str(m.topic), payload, now)
            if sim.applied_rev != before:
                self.applied_at.setdefault(sim.node, {})[sim.applied_rev] = now
            for out in outs:
                await self._publish(client, out)

    async def _pump(self, sim: SimNode, client: aiomqtt.Client) -> None:
        kick = self._kick[sim.node]
        while True:
            for out in sim.due(self.clock()):
                await self._publish(client, out)
            kick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), self.pump_s)

    # --- observations -------------------------------------------------------------------

    def at_rev(self, rev: int) -> int:
        """How many nodes have applied ``rev`` or later."""
        return sum(1 for n in self.nodes if n.applied_rev >= rev)

    def backlog(self) -> int:
        return sum(n.backlog for n in self.nodes)


def _read_when_done(client: aiomqtt.Client) -> None:
    """Read the connection's "disconnected" outcome whenever it comes (module
    rules): aiomqtt keeps it in a private future, the only handle there is."""
    fut: asyncio.Future[None] = client._disconnected

    def read(f: asyncio.Future[None]) -> None:
        if not f.cancelled():
            f.exception()

    fut.add_done_callback(read)


def _where(task: asyncio.Task[None]) -> str:
    """Where a task waits: its innermost frame, for a diagnosis."""
    frames = task.get_stack()
    if not frames:
        return "(no frame)"
    f = frames[-1]
    return f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno} {f.f_code.co_name}"
