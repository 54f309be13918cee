"""``hallvakt sync`` as a child process against a real Mosquitto and a fake central.

The fake central here is a paho client (conftest's ``mqtt`` peer) plus
``sync.protocol.check``/``pack``: it takes the node's ``up/`` messages with the
node's registered key, stores events unique on (epoch, seq), acks the highest
contiguous seq, answers a cursor with the change batches after its
``applied_rev``, and publishes a retained head. What it shows:
- the node's hello comes first and carries its epoch and outbox range;
- the outbox empties and the replica applies central's changes (applied_rev
  moves), and events written while the link runs go up at once;
- a ``kill -9`` of the link in mid-flow and a restart lose no event and store
  none twice; the restart within the Will Delay publishes no offline status;
- SIGTERM leaves the retained status ``offline``.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from firmware_config.config import load_config
from firmware_config.model import b64url
from firmware_config.provision import provision
from firmware_config.secrets import load_node_key
from sync.protocol import (
    Accepted,
    Ack,
    Changes,
    Cmd,
    Command,
    Cursor,
    Direction,
    Events,
    Head,
    Hello,
    Message,
    State,
    Status,
    central_subscriptions,
    check,
    pack,
)
from sync.protocol.testing import private_key
from sync.replica import (
    ChangeBatch,
    Replica,
    append_event,
    backlog,
    heartbeats,
    pending_commands,
    pending_events,
)
from tests.support.broker import PrivateBroker

NODE = "test.hall.n1"
CENTRAL_KID = "central-test"
WAIT = 20.0
REPO = Path(__file__).resolve().parents[2]
HALLVAKT = (sys.executable, "-m", "hallvakt.cli")


def wait_for(cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


# --- the node ------------------------------------------------------------------------


class NodeFiles:
    """A node directory: node.toml, provisioned secrets, the database."""

    def __init__(self, root: Path, broker_toml: str) -> None:
        root.mkdir()
        pub = private_key(CENTRAL_KID).public_key().public_bytes_raw()
        self.config = root / "node.toml"
        self.config.write_text(
            f'node_id = "{NODE}"\n'
            'facility_id = "fac1"\n'
            'database = "node.db"\n'
            "[broker]\n"
            f"{broker_toml}"
            "keepalive_s = 5\n"
            "[central_keys]\n"
            f'{CENTRAL_KID} = "{b64url(pub)}"\n',
            encoding="utf-8",
        )
        cfg = load_config(self.config, files=False)
        reg = provision(cfg).registration
        self.kid = reg.kid
        self.public_key = load_node_key(cfg.node_key).public_key()
        self.database = cfg.database
        self.status_file = root / "run" / "sync-status.json"
        self.log = root / "sync.log"
        load_config(self.config)  # every file check passes: the link will start


class LinkProcess:
    """``hallvakt sync`` as a child process; its output goes to a log file."""

    def __init__(self, files: NodeFiles) -> None:
        self.files = files
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.files.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*HALLVAKT, "sync", "--config", str(self.files.config), "--trust-clock"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def signal(self, sig: signal.Signals, timeout: float = 10.0) -> int:
        assert self.proc is not None
        proc, self.proc = self.proc, None
        proc.send_signal(sig)
        return proc.wait(timeout)

    def pause(self) -> None:
        """SIGSTOP the link outside a write transaction: stopped inside one (its
        heartbeat every 5 s, an ack) it would hold the write lock, and the
        test's own writes would time out (seen once under load)."""
        assert self.proc is not None
        for _ in range(50):
            self.proc.send_signal(signal.SIGSTOP)
            conn = sqlite3.connect(self.files.database, timeout=0.2, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                return
            except sqlite3.OperationalError:  # stopped holding the lock: let it finish
                self.proc.send_signal(signal.SIGCONT)
                time.sleep(0.05)
            finally:
                conn.close()
        raise AssertionError("the link held the write lock at every pause")

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGKILL)
        self.proc = None

    def log_text(self) -> str:
        return self.files.log.read_text(encoding="utf-8", errors="replace")


# --- the fake central ------------------------------------------------------------------


class FakeCentral:
    """Central's side of the contract, just enough of it (module docstring)."""

    def __init__(self, peer: Any, files: NodeFiles, log: list[dict[str, Any]]) -> None:
        self.peer = peer
        self.keys = {files.kid: files.public_key}
        self.log = log  # the change log: changes wire dicts, base 0 first
        self.store: dict[tuple[int, int], str] = {}
        self.received: collections.Counter[tuple[int, int]] = collections.Counter()
        self.hellos: list[Hello] = []
        self.cursors: list[Cursor] = []
        self.statuses: list[Status] = []
        self.errors: list[str] = []
        self.ack_delay = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-central")
        self.lock = threading.Lock()

    def publish(self, msg: Message) -> None:
        o = pack(
            msg, node=NODE, iat=int(time.time()), kid=CENTRAL_KID, key=private_key(CENTRAL_KID)
        )
        assert self.peer.publish(o.topic, o.payload, retain=o.retain) in (0x00, 0x10)

    def subscribe(self) -> None:
        for topic in central_subscriptions():
            assert self.peer.subscribe(topic) == [1]

    def start(self) -> None:
        self.subscribe()
        self.publish(Head(len(self.log), 0, int(time.time()) + 3600))
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                m = self.peer.messages.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                self._take(m.topic, m.payload)
            except Exception as exc:  # reported by the test, never lost in a thread
                self.errors.append(repr(exc))

    def _take(self, topic: str, payload: bytes) -> None:
        res = check(
            topic,
            payload,
            lambda node: self.keys if node == NODE else {},
            now=int(time.time()),
            clock_trusted=True,
            expect_direction=Direction.UP,
        )
        if not isinstance(res, Accepted):
            self.errors.append(f"rejected {topic}: {res}")
            return
        m = res.message
        with self.lock:
            match m:
                case Hello():
                    self.hellos.append(m)
                case Status():
                    self.statuses.append(m)
                case Cursor():
                    self.cursors.append(m)
                case Events():
                    for e in m.events:
                        key = (m.epoch, e.seq)
                        self.received[key] += 1
                        if self.store.setdefault(key, e.id) != e.id:
                            self.errors.append(f"seq {e.seq} came with two ids")
        match m:
            case Events():
                time.sleep(self.ack_delay)
                self.publish(Ack(m.epoch, self.through(m.epoch), {}))
            case Cursor():
                for wire in self.log[m.applied_rev :]:
                    self.publish(Changes(ChangeBatch.from_wire(wire)))

    def through(self, epoch: int) -> int:
        with self.lock:
            n = 0
            while (epoch, n + 1) in self.store:
                n += 1
            return n


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path, broker: PrivateBroker) -> NodeFiles:
    return NodeFiles(tmp_path / "node", f'url = "unix://{broker.unix_socket}"\n')


@pytest.fixture
def link(files: NodeFiles) -> Iterator[LinkProcess]:
    proc = LinkProcess(files)
    try:
        yield proc
    finally:
        proc.stop()


def change_log(site: Any) -> list[dict[str, Any]]:
    booking = site.booking("b1", ["A"], "2026-05-04T17:00:00Z", "2026-05-04T18:00:00Z")
    return [
        site.changes(0, 1, *site.upserts(site.entities())),
        site.changes(1, 2, site.upsert("booking", booking)),
    ]


@pytest.fixture
def central(
    mqtt: Callable[..., Any], broker: PrivateBroker, files: NodeFiles, site: Any
) -> Iterator[FakeCentral]:
    c = FakeCentral(mqtt("central-1", broker.unix_socket), files, change_log(site))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def rep(files: NodeFiles) -> Iterator[Replica]:
    r = Replica.open(files.database)
    try:
        yield r
    finally:
        r.close()


def add_events(rep: Replica, n: int) -> None:
    now = datetime.now(UTC)
    with rep.write():
        for i in range(n):
            append_event(rep, "access.granted", {"door": "main", "i": i}, now)


# --- tests -------------------------------------------------------------------------------


def test_events_go_up_and_changes_come_down(
    link: LinkProcess, central: FakeCentral, rep: Replica
) -> None:
    add_events(rep, 600)
    ids = {e.seq: e.id for e in pending_events(rep, limit=1000)}
    epoch = rep.state().epoch
    central.start()
    link.start()

    wait_for(lambda: backlog(rep) == 0, "the outbox to empty")
    wait_for(lambda: rep.state().applied_rev == 2, "the replica to apply rev 2")
    assert rep.count("booking") == 1
    hello = central.hellos[0]
    assert (hello.epoch, hello.applied_rev) == (epoch, 0)
    assert (hello.outbox.first_unacked, hello.outbox.last) == (1, 600)
    assert hello.clock.trusted
    assert central.store == {(epoch, s): i for s, i in ids.items()}
    assert central.statuses[0] == Status(State.ONLINE, epoch)
    assert [c.applied_rev for c in central.cursors][:1] == [0]

    # Events written by another process (the door controller) go up at once.
    started = time.monotonic()
    add_events(rep, 5)
    wait_for(lambda: backlog(rep) == 0, "new events to be acknowledged", timeout=5)
    assert time.monotonic() - started < 2.0
    assert len(central.store) == 605
    wait_for(lambda: files_status(link)["outbox"]["backlog"] == 0, "the status file")
    assert files_status(link)["connected"] is True
    # `hallvakt status` reads the link's heartbeat from the database.
    wait_for(lambda: "sync" in {h.process for h in heartbeats(rep)}, "the sync heartbeat")
    sync_beat = next(h for h in heartbeats(rep) if h.process == "sync")
    assert sync_beat.detail["connected"] is True and sync_beat.detail["epoch"] == epoch

    assert link.signal(signal.SIGTERM) == 0
    wait_for(lambda: central.statuses[-1].state is State.OFFLINE, "status offline")
    assert central.errors == []
    assert "Traceback" not in link.log_text()


def test_a_gap_right_after_a_confirmed_batch_gets_a_cursor(
    link: LinkProcess, central: FakeCentral, rep: Replica, site: Any
) -> None:
    """PROTOCOL.md §6 through the broker: a batch whose base is above the
    node's rev, 0.2 s after the cursor confirming the last one, is answered
    with a cursor by the retry timer (1 s after that cursor; the unit test
    pins the second with a fake clock). It waited 150 s before."""
    central.start()
    link.start()
    wait_for(lambda: rep.state().applied_rev == 2, "the replica to apply rev 2")
    wait_for(lambda: any(c.applied_rev == 2 for c in central.cursors), "the confirming cursor")
    with central.lock:
        before = len(central.cursors)
    time.sleep(0.2)
    booking = site.booking("b9", ["A"], "2026-05-04T19:00:00Z", "2026-05-04T20:00:00Z")
    sent = time.monotonic()
    central.publish(
        Changes(ChangeBatch.from_wire(site.changes(3, 4, site.upsert("booking", booking))))
    )
    wait_for(lambda: len(central.cursors) > before, "a cursor answering the gap", timeout=10)
    took = time.monotonic() - sent
    print(f"the gap was answered after {took:.2f} s")
    assert took < 3.0  # the 1 s retry plus the loop's turns on a loaded box; not 10 s, not 150
    assert central.cursors[before].applied_rev == 2 and rep.state().applied_rev == 2
    assert central.errors == []


def files_status(link: LinkProcess) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(link.files.status_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"outbox": {"backlog": -1}, "connected": None}
    return data


def test_kill_9_in_mid_flow_loses_and_duplicates_nothing(
    link: LinkProcess, central: FakeCentral, rep: Replica, files: NodeFiles
) -> None:
    add_events(rep, 3000)
    epoch = rep.state().epoch
    central.ack_delay = 0.01  # batches stay in flight for a while
    central.start()

    writing = threading.Event()
    writing.set()
    errors: list[str] = []

    def door_controller() -> None:  # keeps writing events, as a busy door would
        with Replica.open(files.database) as door:
            while writing.is_set():
                try:
                    add_events(door, 1)
                except Exception as exc:
                    errors.append(repr(exc))
                time.sleep(0.002)

    writer = threading.Thread(target=door_controller)
    writer.start()
    try:
        link.start()
        # Some events acknowledged (with 16 batches in flight the link may
        # still be signing the window when central has stored 700).
        wait_for(
            lambda: len(central.store) >= 700 and rep.state().acked_through > 0,
            "central to store some events and the node to apply an ack",
        )
        assert backlog(rep) > 0, "the flow ended before the kill"
        assert link.signal(signal.SIGKILL) == -signal.SIGKILL
        time.sleep(0.2)  # events keep coming while the link is down
        link.start()
        wait_for(lambda: len(central.hellos) >= 2, "the second hello")
        time.sleep(0.3)
    finally:
        writing.clear()
        writer.join(10)
    assert errors == []

    wait_for(lambda: backlog(rep) == 0, "the outbox to empty after the restart")
    last = rep.state().last_seq
    assert set(central.store) == {(epoch, s) for s in range(1, last + 1)}
    assert all(n >= 1 for n in central.received.values())
    second = central.hellos[1]
    assert second.epoch == epoch and second.outbox.first_unacked > 1
    assert second.boot_id != central.hellos[0].boot_id
    # Restarted within the Will Delay: central never saw the node offline.
    assert all(s.state is State.ONLINE for s in central.statuses)
    assert central.errors == []
    link.stop()


def test_over_tls_with_the_production_acl(
    tmp_path: Path,
    tls_broker: PrivateBroker,
    identity: Callable[..., Any],
    mqtt: Callable[..., Any],
    site: Any,
) -> None:
    """mqtts:// with the node's client certificate (CN = node id) against the
    production listener and ACL: the node may write only its up/ and status and
    read only its dn/, and that is all the link needs."""
    assert tls_broker.tls_address is not None
    host, port = tls_broker.tls_address
    tls = identity(NODE)
    files = NodeFiles(
        tmp_path / "node",
        f'url = "mqtts://localhost:{port}"\n'
        f'ca = "{tls.ca}"\ncert = "{tls.cert.cert}"\nkey = "{tls.cert.key}"\n',
    )
    central = FakeCentral(
        mqtt("central-1", (host, port), tls=identity("central-1")), files, change_log(site)
    )
    link = LinkProcess(files)
    with Replica.open(files.database) as rep:
        try:
            add_events(rep, 10)
            central.start()
            link.start()
            wait_for(lambda: backlog(rep) == 0, "the outbox to empty over TLS")
            wait_for(lambda: rep.state().applied_rev == 2, "rev 2 over TLS")
            assert len(central.store) == 10 and central.errors == []
            assert link.signal(signal.SIGTERM) == 0
        finally:
            link.stop()
            central.close()


def test_a_broker_restart_is_ridden_out(
    link: LinkProcess,
    rep: Replica,
    files: NodeFiles,
    broker: PrivateBroker,
    mqtt: Callable[..., Any],
    site: Any,
) -> None:
    """The broker goes away and comes back: the link reconnects by itself (its
    own backoff), says hello again and sends what was written meanwhile."""
    peer = mqtt("central-1", broker.unix_socket, clean_start=False, session_expiry=300)
    central = FakeCentral(peer, files, change_log(site))
    try:
        add_events(rep, 10)
        central.start()
        link.start()
        wait_for(lambda: backlog(rep) == 0 and rep.state().applied_rev == 2, "a first sync")
        link.pause()  # so that central is back before the node (below)
        broker.terminate()
        add_events(rep, 20)
        broker.start()
        # Mosquitto 2.0.11 restores the plain subscriptions of a persistent
        # session after a restart, not the shared ones (observed): central
        # subscribes again, and the node's hello must not come before that.
        while peer.wait_connack() is None:
            pass
        central.subscribe()
        link.resume()
        wait_for(lambda: len(central.hellos) >= 2, "a hello after the broker came back")
        wait_for(lambda: backlog(rep) == 0, "the events written while the broker was down")
        assert len(central.store) == 30
        assert central.hellos[1].outbox.first_unacked == 11
        assert central.errors == []
    finally:
        central.close()


def unacked(log: str) -> set[str]:
    """Message ids mosquitto sent to the node at QoS 1 and has no PUBACK for."""
    sent = re.findall(rf"Sending PUBLISH to {re.escape(NODE)} \(d\d, q1, r\d, m(\d+),", log)
    acked = re.findall(rf"Received PUBACK from {re.escape(NODE)} \(Mid: (\d+),", log)
    return set(sent) - set(acked)


def test_a_message_is_acknowledged_to_the_broker_only_after_its_commit(
    tmp_path: Path, make_broker: Callable[..., PrivateBroker], mqtt: Callable[..., Any]
) -> None:
    """manual_ack: while another process holds the database's write lock the
    link cannot commit a received command, so the broker gets no PUBACK; killed
    then, the link gets the command again from its session after a restart."""
    broker = make_broker(log_types=("error", "warning", "notice", "information", "debug"))
    files = NodeFiles(tmp_path / "node", f'url = "unix://{broker.unix_socket}"\n')
    central = FakeCentral(mqtt("central-1", broker.unix_socket), files, [])
    link = LinkProcess(files)
    sent = f"'hallvakt/v1/{NODE}/dn/cmd'"  # in mosquitto's debug line "Sending PUBLISH to ..."
    acked = f"Received PUBACK from {NODE}"
    with Replica.open(files.database) as rep:
        try:
            central.start()
            link.start()
            wait_for(lambda: len(central.hellos) == 1, "the hello")
            wait_for(lambda: rep.state().head_rev == 0, "the head")
            # The link acknowledges the head after committing it, so its PUBACK
            # can reach the broker's log after head_rev shows: count from when
            # every message sent to the node so far is acknowledged.
            wait_for(lambda: unacked(broker.log_text()) == set(), "the head's PUBACK")
            acks_before = broker.log_text().count(acked)
            lock = sqlite3.connect(files.database, isolation_level=None)
            try:
                lock.execute("BEGIN IMMEDIATE")
                central.publish(Command(1, Cmd.LOCKDOWN, int(time.time()) + 120))
                wait_for(lambda: sent in broker.log_text(), "the broker to send it")
                time.sleep(0.5)  # the link reads it within a turn; absence cannot be awaited
                assert broker.log_text().count(acked) == acks_before
                link.signal(signal.SIGKILL)
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            assert pending_commands(rep) == []
            link.start()
            wait_for(lambda: len(pending_commands(rep)) == 1, "the command, delivered again")
            wait_for(lambda: broker.log_text().count(acked) > acks_before, "its PUBACK")
            assert central.errors == []
        finally:
            link.stop()
            central.close()
