"""Mosquitto's memory at fleet scale: sessions, retained heads and offline queues of 2,000 nodes.

Run ``.venv/bin/python bench/broker_fleet.py`` (about a minute). One private
Mosquitto (production limits: persistence on, ``max_queued_messages``
10,000, ``max_queued_bytes`` 32 MiB per client, 256 KiB packets) on a
loopback port; ``--nodes`` MQTT 5 clients (aiomqtt), each with its node id,
``clean_start`` false and a day's session, subscribed to its ``dn/#`` as a
node is. Mosquitto's resident memory (VmRSS) is read after each step, against
the broker idle as the baseline:

1. every node connected and subscribed;
2. a retained ``head`` per node (a signed head is about 400 bytes);
3. every node offline (sessions kept), then ``--queued`` QoS 1 messages of
   ``--size`` bytes published to each node's ``dn/`` (what waits for a node
   that is away: heads, acks, commands);
4. the broker restarted (SIGTERM saves, the start loads the persistence
   file): memory, file size and load time.

Prints bytes per session, per retained head and per queued message, and what
that makes for 2,000 and 20,000 nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.broker import BrokerConfig, PrivateBroker
from tests.support.fleet.processes import rss_kib


def rss(broker: PrivateBroker) -> int:
    assert broker.pid is not None
    return rss_kib(broker.pid) * 1024


async def connect_all(host: str, port: int, ids: list[str]) -> list[aiomqtt.Client]:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 86_400
    clients = []
    for i in range(0, len(ids), 100):
        batch = [
            aiomqtt.Client(
                host,
                port,
                identifier=n,
                protocol=aiomqtt.ProtocolVersion.V5,
                clean_start=False,
                properties=props,
                timeout=30,
            )
            for n in ids[i : i + 100]
        ]
        await asyncio.gather(*(c.__aenter__() for c in batch))
        await asyncio.gather(
            *(
                c.subscribe(f"hallvakt/v1/{n}/dn/#", qos=1)
                for c, n in zip(batch, ids[i : i + 100], strict=True)
            )
        )
        clients += batch
    return clients


async def run(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    broker = PrivateBroker(BrokerConfig(unix_socket=None, autosave_interval=3600)).start()
    try:
        assert broker.tcp_address is not None
        host, port = broker.tcp_address
        ids = [f"mem.n{i:05d}" for i in range(args.nodes)]
        time.sleep(0.5)
        base = rss(broker)
        print(f"broker idle: {base / 2**20:.1f} MiB")
        clients = await connect_all(host, port, ids)
        connected = rss(broker)
        per_session = (connected - base) / args.nodes
        print(
            f"{args.nodes} nodes connected and subscribed: {connected / 2**20:.1f} MiB,"
            f" {per_session / 1024:.1f} KiB per node ({connected / base:.1f}x idle)"
        )
        head = b"h" * args.head
        pub = clients[0]
        for n in ids:
            await pub.publish(f"hallvakt/v1/{n}/dn/head", head, qos=1, retain=True)
        retained = rss(broker)
        print(
            f"+ a retained head of {args.head} B per node: {retained / 2**20:.1f} MiB,"
            f" {(retained - connected) / args.nodes:.0f} B per head"
        )
        for c in clients[1:]:
            await c.__aexit__(None, None, None)
        await asyncio.sleep(1)
        offline = rss(broker)
        body = b"q" * args.size
        t0 = time.monotonic()
        for _ in range(args.queued):
            for n in ids[1:]:
                await pub.publish(f"hallvakt/v1/{n}/dn/chg", body, qos=1)
        queued_s = time.monotonic() - t0
        queued = rss(broker)
        count = args.queued * (args.nodes - 1)
        per_msg = (queued - offline) / count
        print(
            f"{args.nodes - 1} nodes offline, {args.queued} messages of {args.size} B queued each"
            f" ({count} in {queued_s:.1f} s): {queued / 2**20:.1f} MiB,"
            f" {per_msg:.0f} B per queued message"
        )
        await pub.__aexit__(None, None, None)
        t0 = time.monotonic()
        broker.restart()
        load_s = time.monotonic() - t0
        db = sum(f.stat().st_size for f in Path(broker.directory / "persistence").glob("*"))
        restarted = rss(broker)
        print(
            f"restart: {load_s:.1f} s until it answered; persistence file {db / 2**20:.1f} MiB;"
            f" {restarted / 2**20:.1f} MiB after loading it"
        )
        print(
            f"\nper node, as measured: session {per_session / 1024:.1f} KiB,"
            f" retained head {(retained - connected) / args.nodes:.0f} B,"
            f" queued message {per_msg:.0f} B"
        )
        for fleet in (2_000, 20_000):
            idle = fleet * (per_session + (retained - connected) / args.nodes)
            full = fleet * 10_000 * per_msg  # max_queued_messages reached by every node
            print(
                f"{fleet:>6} nodes: {idle / 2**20:,.0f} MiB online;"
                f" every node offline with max_queued_messages (10,000) waiting:"
                f" {full / 2**30:,.1f} GiB"
            )
    finally:
        broker.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=2000)
    p.add_argument("--head", type=int, default=400, help="bytes of a retained head")
    p.add_argument("--queued", type=int, default=20, help="messages queued per offline node")
    p.add_argument("--size", type=int, default=600, help="bytes of each queued message")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
