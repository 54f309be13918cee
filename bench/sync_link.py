"""Benchmark of the sync link end to end against the bare durable pipeline on the same broker.

Run ``.venv/bin/python bench/sync_link.py`` (a few minutes), ``--quick`` for a
smoke run. One private Mosquitto (hallvakt/demo/broker/, unix socket,
production limits) serves every phase of the run, so the ratio is what to read:

1. baseline, the bare durable pipeline: raw paho QoS 1 publishing the same
   batched payload bytes the link sends (``events`` messages of 256 events,
   signed by ``sync.protocol.pack``), as fast as paho's window lets it, to a
   bare consumer in a child process (as central is another process) that,
   for each message, takes the events out of the JWS payload (no signature
   check, no validation), inserts the rows central stores (node, epoch, seq,
   id, type, at, body, received) with ``executemany`` into SQLite (WAL,
   ``synchronous=FULL``, the same table and keys), commits, acknowledges
   (PUBACK after the commit, ``manual_ack``) and publishes an ack of the
   highest seq to the publisher (QoS 1). Events per second from the first
   publish to the last ack received.
2. durable end to end: ``hallvakt central`` (the gateway) and ``hallvakt sync``
   (the node's link) as child processes, connected and idle, set up as in
   tests/system (tests/support/e2e/). This process appends ``--events``
   events to the node's outbox (``append_event``, transactions of 100, as fast
   as it can) and waits until central's store holds them all and the outbox is
   empty: every event went outbox -> signed batch -> verified -> central's
   SQLite (``synchronous=FULL``) -> signed ack -> outbox row deleted. Events
   per second from the first commit to the last row deleted. Goal: at least
   0.5x the baseline. This figure includes the node's durable appends (one
   commit per 100 events), a stage the baseline does not have (its payloads
   exist before its clock starts): the appends alone, at their own rate,
   cap it at (appends alone / baseline) even with an infinitely fast link
   and gateway; the report prints that ceiling from the run's own figures.
2b. from a committed outbox, the like-for-like figure: the link and central
   connected and idle, ``--events`` events appended in ONE transaction; the
   clock starts at its commit and stops at drained (the same check as 2).
   Everything the baseline does (sign, publish, store, acknowledge) and what
   the product adds (reading the outbox, verifying, central's checks and
   folds, deleting acknowledged rows), but not the appends. Goal: at least
   0.5x the baseline too.
3. catch-up after a link restart: the link stopped (SIGTERM), ``--catchup``
   events (50,000: a week of a busy hall) appended in transactions of
   10,000, the link started again; seconds from its start to the outbox empty
   and central holding them all, and from its connection (CONNACK logged).
4. catch-up after a broker restart: the broker stopped (SIGTERM, it saves its
   sessions), ``--catchup`` events appended while the link and central keep
   trying to reconnect, the broker started again; seconds from the broker's
   start to the last event acknowledged (outbox empty, central holding them
   all). Goal: under 10 s.
5. one event: outbox -> deleted, median of 20 single appends (context: the
   link sees another process's commit within its 100 ms poll).

With the end-to-end figure each round prints the CPU each process spent per
event (microseconds): the appends (this process while it appends), the
link, the gateway and the broker (from the first commit to drained, from
/proc): what a ratio is made of; and from a committed outbox (2b), the
link, the gateway and the broker from the commit to drained.

Every phase runs ``--rounds`` times (interleaved) and reports the median;
central's event store is checked against every committed (seq, id) at the
end (``exactly_once``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import random
import sqlite3
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

from sync.protocol import Events, pack  # noqa: E402
from sync.protocol.testing import private_key  # noqa: E402
from sync.protocol.timeutil import to_ts  # noqa: E402
from sync.protocol.wire import MAX_BATCH, OutboxEvent  # noqa: E402
from sync.replica import Replica, append_event, uuid7  # noqa: E402
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
TOPIC = "bench/evt"
ACK_TOPIC = "bench/ack"
POLL_S = 0.002


def client(client_id: str, sock: Path) -> paho.Client:
    c = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, transport="unix"
    )
    c.max_inflight_messages_set(20)  # paho's default, stated
    return c


EVENTS_TABLE = """CREATE TABLE IF NOT EXISTS events (
    node TEXT NOT NULL, epoch TEXT NOT NULL, seq INTEGER NOT NULL,
    id TEXT UNIQUE, type TEXT NOT NULL, at_ts INTEGER NOT NULL, body TEXT NOT NULL,
    received_ts INTEGER NOT NULL, PRIMARY KEY (node, epoch, seq)
) WITHOUT ROWID"""


def consumer(sock: Path, db: Path, n: int) -> int:
    """Child process: the bare durable consumer (module docstring, 1). Takes
    ``n`` events, then prints the number of rows it holds."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(EVENTS_TABLE)
    inbox: queue.SimpleQueue[paho.MQTTMessage] = queue.SimpleQueue()
    c = client("bench-consumer", sock)
    c.manual_ack_set(True)
    c.on_message = lambda c, u, m: inbox.put(m)
    c.on_subscribe = lambda *a: print("ready", flush=True)
    c.connect(str(sock), 1883, clean_start=True)
    c.subscribe(TOPIC, qos=1)
    c.loop_start()
    got = 0
    try:
        while got < n:
            m = inbox.get(timeout=300)
            body = m.payload.split(b".")[1]
            claims = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
            node, epoch, now = claims["node"], str(claims["epoch"]), int(time.time())
            rows = [
                (
                    node,
                    epoch,
                    e["seq"],
                    e["id"],
                    e["type"],
                    _ts(e["at"]),
                    json.dumps(e["body"]),
                    now,
                )
                for e in claims["events"]
            ]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
            c.ack(m.mid, m.qos)
            c.publish(ACK_TOPIC, str(rows[-1][2]).encode(), qos=1)
            got += len(rows)
        print(conn.execute("SELECT count(*) FROM events").fetchone()[0], flush=True)
    finally:
        c.disconnect()
        c.loop_stop()
        conn.close()
    return 0


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def batched_payloads(n: int) -> list[bytes]:
    """``n`` events as the link sends them: ``events`` messages of 256, signed."""
    key = private_key("bench-node")
    at = datetime(2026, 5, 4, 12, tzinfo=UTC)
    out = []
    for first in range(1, n + 1, MAX_BATCH):
        events = tuple(
            OutboxEvent(seq, uuid7(), "access.granted", at, event_body_for(seq))
            for seq in range(first, min(first + MAX_BATCH, n + 1))
        )
        msg = pack(Events(7, events), node=NODE, iat=to_ts(at), kid="bench-node", key=key)
        out.append(msg.payload)
    return out


def baseline(sock: Path, tmp: Path, payloads: list[bytes], n: int) -> float:
    """The bare durable pipeline (module docstring, 1): events per second."""
    db = tmp / "bare.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with subprocess.Popen(
        [sys.executable, __file__, "--consumer", str(sock), str(db), str(n)],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        acks: queue.SimpleQueue[tuple[int, float]] = queue.SimpleQueue()
        pub = client("bench-pub", sock)
        pub.on_message = lambda c, u, m: acks.put((int(m.payload), time.monotonic()))
        subscribed: queue.SimpleQueue[bool] = queue.SimpleQueue()
        pub.on_subscribe = lambda *a: subscribed.put(True)
        pub.connect(str(sock), 1883, clean_start=True)
        pub.loop_start()
        try:
            pub.subscribe(ACK_TOPIC, qos=1)
            subscribed.get(timeout=30)
            t0 = time.monotonic()
            for p in payloads:
                pub.publish(TOPIC, p, qos=1)
            while True:
                seq, last = acks.get(timeout=300)
                if seq >= n:
                    break
            stored = int(child.stdout.readline())
        finally:
            pub.disconnect()
            pub.loop_stop()
    assert stored == n, (stored, n)
    return n / (last - t0)


CONNECTED = "connected (session present"  # what the gateway and the link log on a CONNACK
RETRIES = ("next try in", "next attempt in")  # the link drew a reconnect wait (sync/link/shell.py)


def cpu_s(daemon: Any) -> float:
    """CPU seconds (user + system) of a running child process, from /proc."""
    if daemon.proc is None:
        return 0.0
    fields = Path(f"/proc/{daemon.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        self.reconnects: list[tuple[float, float]] = []  # after the broker's start: link, gateway
        self.outages: list[tuple[float, int]] = []  # the broker's downtime, the link's waits in it
        self.e2e_cpu: list[tuple[float, float]] = []  # gateway, link: CPU s per s of e2e
        # CPU microseconds per event of e2e: the appends (this process, while
        # appending), the link, the gateway and the broker (from the first
        # commit to drained)
        self.e2e_us: list[tuple[float, float, float, float]] = []
        self.catch_cpu: list[tuple[float, float]] = []  # the same, catch-up from the connection
        # CPU microseconds per event from a committed outbox: link, gateway, broker
        self.committed_us: list[tuple[float, float, float]] = []

    def use_window(self, batches: int | None) -> None:
        """The link's ``--window`` from its next start on (None: its default)."""
        argv = [a for a in self.node.link.argv if not a.startswith("--window")]
        self.node.link.argv = tuple(argv if batches is None else [*argv, f"--window={batches}"])

    def start(self) -> None:
        self.central.start(self.broker)
        self.node.link.start()
        self.rep = rep = self.node.replica()
        fac = self.node.facility
        wait_for(lambda: rep.state().applied_rev == self.central.revs(fac)[0], "the snapshot")

    def restart_link(self) -> None:
        """Stop the link, start it (with the window set) and wait for its connection."""
        assert self.node.link.terminate() == 0
        connects = self.node.connects()
        self.node.link.start()
        wait_for(lambda: self.node.connects() > connects, "the link's connection")
        self.wait_drained()

    def drained(self) -> bool:
        """The outbox is empty and central's ``through`` covers every committed
        event. Two indexed lookups: polled every 2 ms, a count of either table
        (hundreds of thousands of rows) took a core from the processes timed."""
        assert self.rep is not None
        if self.rep.conn.execute("SELECT EXISTS (SELECT 1 FROM outbox)").fetchone()[0]:
            return False
        last = max(self.committed, default=0)
        return self.central.through(NODE, self.rep.state().epoch) >= last

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
        c0, b0 = self.cpu(), self.broker_cpu()
        t0 = time.monotonic()
        p0 = time.process_time()
        for e in append_events(self.rep, n, per_tx=100, start=len(self.committed)):
            self.committed[e.seq] = e.id
        p1 = time.process_time()
        appended = time.monotonic()
        t1 = self.wait_drained()
        c1, b1 = self.cpu(), self.broker_cpu()
        self.e2e_cpu.append(((c1[0] - c0[0]) / (t1 - t0), (c1[1] - c0[1]) / (t1 - t0)))
        us = 1e6 / n
        self.e2e_us.append(
            ((p1 - p0) * us, (c1[1] - c0[1]) * us, (c1[0] - c0[0]) * us, (b1 - b0) * us)
        )
        return n / (t1 - t0), n / (appended - t0)

    def from_committed(self, n: int) -> float:
        """Events per second from the commit of ``n`` events appended in one
        transaction to drained (module docstring, 2b)."""
        assert self.rep is not None
        for e in append_events(self.rep, n, per_tx=n, start=len(self.committed)):
            self.committed[e.seq] = e.id
        t0 = time.monotonic()  # append_events returns right after the commit
        c0, b0 = self.cpu(), self.broker_cpu()
        t1 = self.wait_drained()
        c1, b1 = self.cpu(), self.broker_cpu()
        us = 1e6 / n
        self.committed_us.append(((c1[1] - c0[1]) * us, (c1[0] - c0[0]) * us, (b1 - b0) * us))
        return n / (t1 - t0)

    def broker_cpu(self) -> float:
        """CPU seconds the broker has used so far (this start), from /proc."""
        pid = self.broker.pid
        if pid is None:
            return 0.0
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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
        c0 = self.cpu()
        while not self.drained():
            if connected is None and self.node.connects() > connects:
                connected = time.monotonic()
                c0 = self.cpu()
            self.node.link.check_alive()
            time.sleep(POLL_S)
        t1 = time.monotonic()
        c1 = self.cpu()
        took = t1 - (connected or t1)
        per = max(took, 1e-9)
        self.catch_cpu.append(((c1[0] - c0[0]) / per, (c1[1] - c0[1]) / per))
        return t1 - t0, took

    def broker_restart(self, n: int) -> float:
        """Seconds from the broker's start to every event acknowledged, ``n``
        events appended while it was down (module docstring, 4)."""
        assert self.rep is not None
        tries = self.waits_drawn()
        down = time.monotonic()
        self.broker.terminate()
        for e in append_events(self.rep, n, per_tx=10_000, start=len(self.committed)):
            self.committed[e.seq] = e.id
        links, gateways = self.node.connects(), self.central.gateway.log_text().count(CONNECTED)
        t0 = time.monotonic()
        # The link's waits drawn while the broker was down: the next one is
        # uniform in [0, min(300, 2**tries)] s (PROTOCOL.md §2, full jitter).
        self.outages.append((t0 - down, self.waits_drawn() - tries))
        self.broker.start()
        link_at = gateway_at = None
        while not self.drained():
            if link_at is None and self.node.connects() > links:
                link_at = time.monotonic() - t0
            if gateway_at is None and self.central.gateway.log_text().count(CONNECTED) > gateways:
                gateway_at = time.monotonic() - t0
            self.node.link.check_alive()
            self.central.gateway.check_alive()
            time.sleep(POLL_S)
        total = time.monotonic() - t0
        self.reconnects.append((link_at or total, gateway_at or total))
        return total

    def waits_drawn(self) -> int:
        """Reconnect waits the link has drawn so far (its log, over all its starts)."""
        text = self.node.link.log_text()
        return sum(text.count(r) for r in RETRIES)

    def cpu(self) -> tuple[float, float]:
        """CPU seconds the gateway and the link have used so far (this start)."""
        return cpu_s(self.central.gateway), cpu_s(self.node.link)

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
    ap.add_argument("--catchup", type=int, default=None, help="events of the catch-up phases")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per phase (median)")
    ap.add_argument("--window", type=int, default=None, help="the link's --window (batches)")
    ap.add_argument(
        "--windows",
        default="",
        help="windows to compare each round, e.g. 4,8,16 (e2e and catch-up after a link restart)",
    )
    ap.add_argument("--consumer", nargs=3, metavar=("SOCK", "DB", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.consumer:
        sock, db, n = args.consumer
        return consumer(Path(sock), Path(db), int(n))
    events = args.events or (2_000 if args.quick else 20_000)
    catchup = args.catchup or (5_000 if args.quick else 50_000)
    rounds = args.rounds or (1 if args.quick else 3)
    print(
        f"hallvakt sync bench: {events} events per round, catch-up {catchup}, {rounds} rounds;"
        f" python {sys.version.split()[0]}, {os.cpu_count()} cpus,"
        f" load {os.getloadavg()[0]:.2f}"
    )
    payloads = batched_payloads(events)
    with tempfile.TemporaryDirectory(prefix="hv-bench-") as tmp:
        broker = PrivateBroker(
            BrokerConfig(tcp_port=None, log_types=BROKER_LOG_TYPES), directory=Path(tmp) / "b"
        )
        broker.start()
        pipe = Pipeline(Path(tmp), broker)
        windows = [int(w) for w in args.windows.split(",") if w]
        compared: dict[int, list[tuple[float, float]]] = {w: [] for w in windows}
        try:
            assert broker.unix_socket is not None
            pipe.use_window(args.window)
            pipe.start()
            base, e2e, append, catch, catch_conn, restart = [], [], [], [], [], []
            committed: list[float] = []
            for r in range(rounds):
                base.append(baseline(broker.unix_socket, Path(tmp), payloads, events))
                for w in windows:
                    pipe.use_window(w)
                    pipe.restart_link()
                    compared[w].append((pipe.e2e(events)[0], pipe.catch_up(catchup)[1]))
                    print(
                        f"round {r + 1}, window {w}: e2e {compared[w][-1][0]:,.0f} ev/s,"
                        f" catch-up {compared[w][-1][1]:.2f} s after connecting",
                        flush=True,
                    )
                if windows:
                    pipe.use_window(args.window)
                    pipe.restart_link()
                rate, app = pipe.e2e(events)
                e2e.append(rate)
                append.append(app)
                committed.append(pipe.from_committed(events))
                total, after_connect = pipe.catch_up(catchup)
                catch.append(total)
                catch_conn.append(after_connect)
                restart.append(pipe.broker_restart(catchup))
                print(
                    f"round {r + 1}: bare durable {base[-1]:,.0f} ev/s, e2e {rate:,.0f} ev/s"
                    f" (appends alone {app:,.0f} ev/s), from a committed outbox"
                    f" {committed[-1]:,.0f} ev/s,"
                    f" catch-up after a link restart {total:.2f} s ({after_connect:.2f} s after"
                    f" connecting), after a broker restart {restart[-1]:.2f} s (the link"
                    f" connected after {pipe.reconnects[-1][0]:.2f} s, the gateway after"
                    f" {pipe.reconnects[-1][1]:.2f} s; the broker was down"
                    f" {pipe.outages[-1][0]:.2f} s, the link drew {pipe.outages[-1][1]} waits"
                    f" in it); CPU (1.0 = one core) gateway/link:"
                    f" e2e {pipe.e2e_cpu[-1][0]:.2f}/{pipe.e2e_cpu[-1][1]:.2f},"
                    f" catch-up {pipe.catch_cpu[-1][0]:.2f}/{pipe.catch_cpu[-1][1]:.2f};"
                    " CPU us per event of e2e, appends/link/gateway/broker: "
                    + "/".join(f"{x:.1f}" for x in pipe.e2e_us[-1])
                    + "; from a committed outbox, link/gateway/broker: "
                    + "/".join(f"{x:.1f}" for x in pipe.committed_us[-1])
                    + f"; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            one = pipe.one_event(20)
            pipe.check()
        finally:
            pipe.close()
            broker.stop()
    report(events, catchup, base, e2e, append, committed, catch, catch_conn, restart, one, pipe)
    for w, runs in compared.items():
        rate = statistics.median(r[0] for r in runs)
        print(
            f"window {w}: e2e {rate:,.0f} ev/s ({rate / statistics.median(base):.2f}x),"
            f" catch-up of {catchup:,} after a link restart"
            f" {statistics.median(r[1] for r in runs):.2f} s from its connection (medians)"
        )
    return 0


def report(
    events: int,
    catchup: int,
    base: list[float],
    e2e: list[float],
    append: list[float],
    committed: list[float],
    catch: list[float],
    catch_conn: list[float],
    restart: list[float],
    one: float,
    pipe: Pipeline,
) -> None:
    med = statistics.median
    ratio = med(e2e) / med(base)
    print()
    print("| phase | hallvakt | baseline | ratio |")
    print("|---|---|---|---|")
    print(
        f"| events/s, outbox -> central stored -> ack -> row deleted | {med(e2e):,.0f}"
        f" (min {min(e2e):,.0f}) | bare durable pipeline {med(base):,.0f} (min {min(base):,.0f})"
        f" | **{ratio:.2f}x** |"
    )
    cap = med(append) / med(base)
    print(
        f"| appends alone (transactions of 100): the ceiling of e2e with an infinitely fast"
        f" link and gateway | {med(append):,.0f} ev/s | bare durable pipeline | {cap:.2f}x |"
    )
    names = ("the appends (this process)", "the link", "the gateway", "the broker")
    cpu = ", ".join(f"{name} {med(r[i] for r in pipe.e2e_us):.1f}" for i, name in enumerate(names))
    print(f"| CPU per event of end to end, medians (us) | {cpu} | – | – |")
    like = med(committed) / med(base)
    print(
        f"| events/s from a committed outbox (one transaction of {events:,}; the appends not"
        f" timed): commit -> central stored -> ack -> row deleted | {med(committed):,.0f}"
        f" (min {min(committed):,.0f}) | bare durable pipeline {med(base):,.0f} | **{like:.2f}x** |"
    )
    names = ("the link", "the gateway", "the broker")
    cpu = ", ".join(
        f"{name} {med(r[i] for r in pipe.committed_us):.1f}" for i, name in enumerate(names)
    )
    print(f"| CPU per event from a committed outbox, medians (us) | {cpu} | – | – |")
    print(
        f"| catch-up of {catchup:,} events after a link restart, from its start"
        f" | {med(catch):.2f} s (max {max(catch):.2f}) | – | – |"
    )
    print(f"| … from its connection | {med(catch_conn):.2f} s | – | – |")
    print(
        f"| catch-up of {catchup:,} events after a broker restart, from the broker's start"
        f" | {med(restart):.2f} s (max {max(restart):.2f}) | – | – |"
    )
    link_at = [r[0] for r in pipe.reconnects]
    gw_at = [r[1] for r in pipe.reconnects]
    print(
        f"| … of which until the link's CONNACK | {med(link_at):.2f} s (max {max(link_at):.2f})"
        f" | – | – |"
    )
    print(f"| … until the gateway's CONNACK | {med(gw_at):.2f} s (max {max(gw_at):.2f}) | – | – |")
    downs = [o[0] for o in pipe.outages]
    print(
        f"| the broker's downtime (the appends) | {med(downs):.2f} s (max {max(downs):.2f});"
        f" the link's reconnect waits drawn in it: {', '.join(str(o[1]) for o in pipe.outages)}"
        " | – | – |"
    )
    print(f"| one event, commit -> row deleted (median of 20) | {one * 1000:.0f} ms | – | – |")
    print()
    print(
        f"goal e2e >= 0.5x the bare durable pipeline: {'met' if ratio >= 0.5 else 'MISSED'}"
        f" ({ratio:.2f}x)"
    )
    print(
        f"goal from a committed outbox >= 0.5x the bare durable pipeline (like for like: neither"
        f" times the node's appends): {'met' if like >= 0.5 else 'MISSED'} ({like:.2f}x)"
    )
    print(
        f"(e2e includes the node's durable appends, which the baseline lacks: the appends alone"
        f" cap e2e at {cap:.2f}x of this run's baseline)"
    )
    goal = max(restart) < 10
    print(
        f"goal {catchup:,} events stored < 10 s after the broker is back (every round):"
        f" {'met' if goal else 'MISSED'} (median {med(restart):.2f} s, max {max(restart):.2f} s)"
    )
    print(f"exactly once: central holds all {len(pipe.committed):,} committed events")


if __name__ == "__main__":
    sys.exit(main())
