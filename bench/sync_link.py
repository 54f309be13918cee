"""Benchmark of the sync link end to end against raw paho QoS 1 on the same broker.

Run ``.venv/bin/python bench/sync_link.py`` (about a minute), ``--quick`` for a smoke
run. One private Mosquitto (hallvakt/demo/broker/, unix socket, production limits)
serves every phase of the run, so the ratio is what to read:

1. baseline: raw paho QoS 1. A publisher (this process) sends ``--events``
   messages, each one event's wire JSON (about 300 bytes), to a subscriber at
   QoS 1 in a child process (as the node and central are two processes).
   Messages per second from the first publish to the last message received.
2. durable end to end: ``hallvakt central`` (the gateway) and ``hallvakt sync``
   (the node's link) as child processes, connected and idle, set up as in
   tests/system (tests/support/e2e/). This process appends ``--events``
   events to the node's outbox (``append_event``, transactions of 100, as fast
   as it can) and waits until central's store holds them all and the outbox is
   empty: every event went outbox -> signed batch -> central's SQLite
   (``synchronous=FULL``) -> ack -> outbox row deleted. Events per second from
   the first commit to the last row deleted. Goal: at least 0.5x the baseline.
3. catch-up: the link stopped (SIGTERM), ``--catchup`` events (50,000: a week
   of a busy hall) appended in transactions of 10,000, the link started again;
   seconds from its start to the outbox empty and central holding them all,
   and from its connection (CONNACK logged) to that. Goal: under 30 s.
4. one event: outbox -> deleted, median of 20 single appends (context: the
   link sees another process's commit within its 100 ms poll).

Every phase runs ``--rounds`` times (interleaved baseline, e2e, catch-up) and
reports the median; central's event store is checked against every committed
(seq, id) at the end (``exactly_once``).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path, and this
# file is named like the package it measures: drop the directory, so that
# `import sync` is the package; the repository root gives tests.support.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from sync.replica import Replica, append_event, backlog  # noqa: E402
from tests.support.broker import BrokerConfig, PrivateBroker  # noqa: E402
from tests.support.e2e import (  # noqa: E402
    BROKER_LOG_TYPES,
    BrokerAccess,
    append_events,
    demo_system,
    event_body,
    exactly_once,
    wait_for,
)

NODE = "bench.hall.n1"
TOPIC = "bench/raw"
BATCH = 256  # events per message in the batched baseline: the link's batch size
POLL_S = 0.002


def client(client_id: str, sock: Path) -> paho.Client:
    c = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, transport="unix"
    )
    c.max_inflight_messages_set(20)  # paho's default, stated
    return c


def subscriber(sock: Path, n: int) -> int:
    """Child process: receive ``n`` QoS 1 messages; print the monotonic time of
    the last (CLOCK_MONOTONIC is one clock for every process on the machine)."""
    got: queue.SimpleQueue[float] = queue.SimpleQueue()
    count = 0

    def on_message(c: Any, u: Any, m: paho.MQTTMessage) -> None:
        nonlocal count
        count += 1
        if count == n:
            got.put(time.monotonic())

    c = client("bench-sub", sock)
    c.on_message = on_message
    c.on_subscribe = lambda *a: print("ready", flush=True)
    c.connect(str(sock), 1883, clean_start=True)
    c.subscribe(TOPIC, qos=1)
    c.loop_start()
    try:
        print(json.dumps({"last": got.get(timeout=300)}), flush=True)
    finally:
        c.disconnect()
        c.loop_stop()
    return 0


def baseline(sock: Path, n: int, batch: int = 1) -> float:
    """Raw paho QoS 1 (module docstring, 1): events per second when each
    message carries ``batch`` events (1: messages per second)."""
    messages = -(-n // batch)
    with subprocess.Popen(
        [sys.executable, __file__, "--subscriber", str(sock), str(messages)],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        events = [{"seq": i, "type": "access.granted", "body": event_body_for(i)} for i in range(n)]
        payloads = [
            json.dumps(events[i] if batch == 1 else events[i : i + batch]).encode()
            for i in range(0, n, batch)
        ]
        acked: queue.SimpleQueue[int] = queue.SimpleQueue()
        pub = client("bench-pub", sock)
        pub.on_publish = lambda c, u, mid, rc, p: acked.put(mid)
        pub.connect(str(sock), 1883, clean_start=True)
        pub.loop_start()
        try:
            t0 = time.monotonic()
            for p in payloads:
                pub.publish(TOPIC, p, qos=1)
            for _ in payloads:
                acked.get(timeout=300)
            last = float(json.loads(child.stdout.readline())["last"])
        finally:
            pub.disconnect()
            pub.loop_stop()
    return n / (last - t0)


def event_body_for(i: int) -> dict[str, Any]:
    return event_body(random.Random(i), i)


class Pipeline:
    """Central's gateway and the node's link on ``broker`` (module docstring, 2-4)."""

    def __init__(self, root: Path, broker: PrivateBroker) -> None:
        access = BrokerAccess.unix(broker)
        self.broker = broker
        self.central, (self.node,) = demo_system(root, access, {NODE: access})
        self.committed: dict[int, str] = {}
        self.rep: Replica | None = None

    def start(self) -> None:
        self.central.start(self.broker)
        self.node.link.start()
        self.rep = rep = self.node.replica()
        fac = self.node.facility
        wait_for(lambda: rep.state().applied_rev == self.central.revs(fac)[0], "the snapshot")

    def drained(self) -> bool:
        assert self.rep is not None
        return backlog(self.rep) == 0 and self.central.event_count(NODE) >= len(self.committed)

    def wait_drained(self) -> float:
        """Poll every 2 ms until drained; the monotonic time it was seen."""
        while not self.drained():
            self.node.link.check_alive()
            self.central.gateway.check_alive()
            time.sleep(POLL_S)
        return time.monotonic()

    def e2e(self, n: int) -> tuple[float, float]:
        """(events per second end to end, events per second of the appends alone)."""
        assert self.rep is not None
        t0 = time.monotonic()
        for e in append_events(self.rep, n, per_tx=100, start=len(self.committed)):
            self.committed[e.seq] = e.id
        appended = time.monotonic()
        t1 = self.wait_drained()
        return n / (t1 - t0), n / (appended - t0)

    def catch_up(self, n: int) -> tuple[float, float]:
        """(seconds from the link's start, seconds from its connection) to drained."""
        assert self.rep is not None
        assert self.node.link.terminate() == 0
        for e in append_events(self.rep, n, per_tx=10_000, start=len(self.committed)):
            self.committed[e.seq] = e.id
        connects = self.node.connects()
        t0 = time.monotonic()
        self.node.link.start()
        connected = None
        while not self.drained():
            if connected is None and self.node.connects() > connects:
                connected = time.monotonic()
            self.node.link.check_alive()
            time.sleep(POLL_S)
        t1 = time.monotonic()
        return t1 - t0, t1 - (connected or t1)

    def one_event(self, samples: int) -> float:
        """Median seconds from committing one event to its outbox row deleted."""
        assert self.rep is not None
        times = []
        for i in range(samples):
            t0 = time.monotonic()
            at = datetime.now(UTC)
            e = append_event(self.rep, "door.opened", {"door": "main", "i": i}, at)
            self.committed[e.seq] = e.id
            times.append(self.wait_drained() - t0)
        return statistics.median(times)

    def check(self) -> None:
        assert self.rep is not None
        epoch = self.rep.state().epoch
        problems = exactly_once(self.committed, epoch, self.central.events(NODE))
        assert problems == [], problems

    def close(self) -> None:
        if self.rep is not None:
            self.rep.close()
        self.node.link.stop()
        self.central.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="a small smoke run")
    ap.add_argument("--events", type=int, default=None, help="events per e2e/baseline round")
    ap.add_argument("--catchup", type=int, default=None, help="events of the catch-up phase")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per phase (median)")
    ap.add_argument("--subscriber", nargs=2, metavar=("SOCK", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.subscriber:
        return subscriber(Path(args.subscriber[0]), int(args.subscriber[1]))
    events = args.events or (2_000 if args.quick else 20_000)
    catchup = args.catchup or (5_000 if args.quick else 50_000)
    rounds = args.rounds or (1 if args.quick else 3)
    print(
        f"hallvakt sync bench: {events} events per round, catch-up {catchup}, {rounds} rounds;"
        f" python {sys.version.split()[0]}, {os.cpu_count()} cpus,"
        f" load {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="hv-bench-") as tmp:
        broker = PrivateBroker(
            BrokerConfig(tcp_port=None, log_types=BROKER_LOG_TYPES), directory=Path(tmp) / "b"
        )
        broker.start()
        pipe = Pipeline(Path(tmp), broker)
        try:
            assert broker.unix_socket is not None
            pipe.start()
            base, batched, e2e, append, catch, catch_conn = [], [], [], [], [], []
            for r in range(rounds):
                base.append(baseline(broker.unix_socket, events))
                batched.append(baseline(broker.unix_socket, events * 5, BATCH))
                rate, app = pipe.e2e(events)
                e2e.append(rate)
                append.append(app)
                total, after_connect = pipe.catch_up(catchup)
                catch.append(total)
                catch_conn.append(after_connect)
                print(
                    f"round {r + 1}: baseline {base[-1]:,.0f} msg/s"
                    f" ({batched[-1]:,.0f} ev/s in batches of {BATCH}), e2e {rate:,.0f} ev/s,"
                    f" catch-up {total:.2f} s ({after_connect:.2f} s after connecting)"
                )
            one = pipe.one_event(20)
            pipe.check()
        finally:
            pipe.close()
            broker.stop()
    med = statistics.median
    ratio = med(e2e) / med(base)
    print()
    print("| phase | hallvakt | baseline | ratio |")
    print("|---|---|---|---|")
    print(
        f"| events/s, outbox -> central stored -> ack -> row deleted | {med(e2e):,.0f}"
        f" | raw paho QoS 1 {med(base):,.0f} msg/s | **{ratio:.2f}x** |"
    )
    print(
        f"| (context) raw paho QoS 1, {BATCH} events per message, nothing signed or stored | –"
        f" | {med(batched):,.0f} ev/s | {med(e2e) / med(batched):.2f}x |"
    )
    print(f"| appends alone (transactions of 100) | {med(append):,.0f} ev/s | – | – |")
    print(f"| catch-up of {catchup:,} events, from the link's start | {med(catch):.2f} s | – | – |")
    print(f"| … from its connection | {med(catch_conn):.2f} s | – | – |")
    print(f"| one event, commit -> row deleted (median of 20) | {one * 1000:.0f} ms | – | – |")
    print()
    print(f"goal e2e >= 0.5x raw paho QoS 1: {'met' if ratio >= 0.5 else 'MISSED'} ({ratio:.2f}x)")
    goal = med(catch) < 30
    print(
        f"goal catch-up of {catchup:,} < 30 s: {'met' if goal else 'MISSED'} ({med(catch):.2f} s)"
    )
    print(f"exactly once: central holds all {len(pipe.committed):,} committed events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
