"""End-to-end harness: central's gateway and node links as real child processes.

Used by tests/system/test_sync_*.py and bench/sync_link.py (test modules cannot
import each other under ``--import-mode=importlib``, so the shared parts live
here, in the package, as the house style keeps fakes next to the code).

- ``CentralSite``: a central.toml, ``hallvakt central init`` (its signing key,
  the ``[central_keys]`` block for nodes), the admin CLI (``admin(...)``), and
  the gateway ``hallvakt central --config FILE`` as a ``Daemon``; plus
  read-only queries on its SQLite store (events, ``through``, security log).
- ``NodeSite``: a node.toml, ``hallvakt provision`` (public key and kid for
  ``register-node``), and ``hallvakt sync --config FILE --trust-clock`` as a
  ``Daemon``.
- ``EventWriter``: a thread that appends events to a node's outbox through
  ``sync.replica.append_event``, as the door controller would, and records
  every committed ``(seq, id)``: the truth that ``exactly_once`` compares with
  central's event store.
- ``Peer``: a paho MQTT 5 client (wiretap, attacker) whose callbacks only fill
  queues, over a unix socket or TLS.

Every wait is ``wait_for`` (a condition polled every 20 ms with a deadline).
Every process is reaped by ``stop()``; every client closed by ``close()``.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sync.broker import PrivateBroker
from sync.central.testing import replica_records
from sync.demodata import FACILITY_ID
from sync.link.paho_client import SafeClient as _Client
from sync.replica import (
    OutboxEvent,
    Replica,
    append_event,
    last_command_seq,
    pending_commands,
    quarantine_count,
    walkin_states,
)

WAIT_S = 60.0  # generous: a loaded 2-core machine; every wait returns as soon as it can
SHARED_UP = "$share/central/hallvakt/v1/+/up/#"
FACILITY = FACILITY_ID  # the demo facility `hallvakt central demo-seed` loads
# The broker's log types for these tests: the defaults plus "subscribe", so that
# CentralSite.start can wait for the gateway's shared subscription.
BROKER_LOG_TYPES = ("error", "warning", "notice", "information", "subscribe")


def hallvakt_argv() -> tuple[str, ...]:
    """The ``hallvakt`` console script of this interpreter's environment (the
    venv's ``.venv/bin/hallvakt``), else ``python -m firmware_config.cli``."""
    script = Path(sys.executable).with_name("hallvakt")
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (sys.executable, "-m", "firmware_config.cli")


def wait_for(
    cond: Callable[[], bool],
    what: str,
    timeout: float = WAIT_S,
    *,
    alive: Iterable[Daemon] = (),
) -> float:
    """Poll ``cond`` every 20 ms until true; return the seconds it took. Raises
    ``AssertionError`` after ``timeout``, or at once when a ``Daemon`` in
    ``alive`` has exited (with the tail of its log)."""
    started = time.monotonic()
    watched = tuple(alive)
    while not cond():
        for d in watched:
            d.check_alive()
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - started


class Daemon:
    """One child process whose output goes to a log file (appended across starts)."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, cwd: Path) -> None:
        self.name, self.argv, self.log, self.cwd = name, tuple(argv), log, cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.stop()
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"--- testing_e2e: start {self.starts}: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL and reap; returns the exit status (-9 if it was running)."""
        return self._signal(signal.SIGKILL, 10.0)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and reap; returns the exit status. A process that ignores it
        for ``timeout`` seconds is killed and ``AssertionError`` raised."""
        return self._signal(signal.SIGTERM, timeout)

    def _signal(self, sig: signal.Signals, timeout: float) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            raise RuntimeError(f"{self.name} was not started")
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{self.name} ignored {sig.name} for {timeout} s") from None

    def stop(self) -> None:
        """Kill if running and reap. Idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with status {self.proc.returncode}:\n{self.tail()}"
            )

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def run_cli(*args: str, cwd: Path) -> str:
    """Run ``hallvakt ARGS`` to completion; return its stdout. Raises
    ``AssertionError`` (with stderr) on a non-zero exit status."""
    done = subprocess.run(
        [*hallvakt_argv(), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise AssertionError(
            f"hallvakt {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def toml_str(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


@dataclass(frozen=True, slots=True)
class BrokerAccess:
    """A ``[broker]`` table: a URL and, for ``mqtts://``, the TLS files."""

    url: str
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def unix(cls, broker: PrivateBroker) -> BrokerAccess:
        assert broker.unix_socket is not None, "the broker has no unix socket"
        return cls(f"unix://{broker.unix_socket}")

    def toml(self) -> str:
        lines = [f"url = {toml_str(self.url)}"]
        for name, path in (("ca", self.ca), ("cert", self.cert), ("key", self.key)):
            if path is not None:
                lines.append(f"{name} = {toml_str(path)}")
        return "\n".join(lines) + "\n"


class CentralSite:
    """Central's files, admin CLI and gateway process in ``root`` (module docstring)."""

    def __init__(
        self, root: Path, broker: BrokerAccess, *, kid: str = "central-e2e", client_id: str = ""
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.kid = root, kid
        self.client_id = client_id or "central-1"
        self.config = root / "central.toml"
        self.store = root / "central.db"
        self.key_file = root / "central.key"
        self.config.write_text(
            f"store = {toml_str(self.store)}\n"
            f"[signing]\nkey = {toml_str(self.key_file)}\nkid = {toml_str(kid)}\n"
            f"[broker]\n{broker.toml()}client_id = {toml_str(self.client_id)}\n",
            encoding="utf-8",
        )
        self.central_keys: dict[str, str] = {}
        self.gateway = Daemon(
            "central gateway",
            [*hallvakt_argv(), "central", "--config", str(self.config)],
            root / "gateway.log",
            root,
        )
        self._db: sqlite3.Connection | None = None

    def init(self) -> dict[str, str]:
        """``hallvakt central init``: the store, the signing key, and the
        ``[central_keys]`` block it prints (kid -> key) for node configs."""
        out = run_cli("central", "init", "--config", str(self.config), cwd=self.root)
        self.central_keys = dict(tomllib.loads(out)["central_keys"])
        return self.central_keys

    def admin(self, action: str, *args: str) -> str:
        """``hallvakt central ACTION --config FILE ARGS``; its stdout."""
        return run_cli("central", action, "--config", str(self.config), *args, cwd=self.root)

    def register(self, node: NodeSite) -> None:
        self.admin(
            "register-node",
            *("--node", node.node_id, "--facility", node.facility),
            # "=": a base64url key may begin with "-", which argparse takes for an option
            f"--public-key={node.public_key}",
            *("--kid", node.kid),
        )

    # --- the gateway --------------------------------------------------------------

    def subscriptions(self, broker: PrivateBroker) -> int:
        """How often the broker logged this gateway's shared subscription (its
        log needs log_type ``subscribe``)."""
        return broker.log_text().count(f"{self.client_id} 1 {SHARED_UP}")

    def start(self, broker: PrivateBroker | None = None) -> None:
        """Start the gateway; with ``broker``, return once it has subscribed."""
        before = 0 if broker is None else self.subscriptions(broker)
        self.gateway.start()
        if broker is not None:
            self.wait_subscribed(broker, before)

    def wait_subscribed(self, broker: PrivateBroker, before: int) -> None:
        wait_for(
            lambda: self.subscriptions(broker) > before,
            "central's shared subscription",
            alive=[self.gateway],
        )

    def stop(self) -> None:
        self.gateway.stop()
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- its store, read-only -----------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        """A plain connection to central's store, used for SELECTs only."""
        if self._db is None:
            self._db = sqlite3.connect(self.store, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 30000")
        return self._db

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.db.execute(sql, params).fetchall()]

    def event_count(self, node: str) -> int:
        return int(self.query("SELECT count(*) FROM events WHERE node = ?", node)[0][0])

    def events(self, node: str) -> dict[tuple[int, int], tuple[str | None, str | None]]:
        """Central's event store for ``node``: (epoch, seq) -> (id, clash_id)."""
        rows = self.query("SELECT epoch, seq, id, clash_id FROM events WHERE node = ?", node)
        return {(int(e), int(s)): (i, c) for e, s, i, c in rows}

    def through(self, node: str, epoch: int) -> int:
        rows = self.query(
            "SELECT through FROM event_streams WHERE node = ? AND epoch = ?", node, str(epoch)
        )
        return int(rows[0][0]) if rows else 0

    def rejected_events(self, node: str) -> list[dict[str, Any]]:
        """Bodies of the node's ``security.rejected`` events central stored, by seq."""
        rows = self.query(
            "SELECT body FROM events WHERE node = ? AND type = 'security.rejected' ORDER BY seq",
            node,
        )
        return [json.loads(b) for (b,) in rows]

    def security_log(self) -> list[tuple[str | None, str, str, str]]:
        """Central's own drops: (node, reason, topic, detail), oldest first."""
        return [
            (n, r, t, d)
            for n, r, t, d in self.query(
                "SELECT node, reason, topic, detail FROM security_log ORDER BY id"
            )
        ]

    def quarantine(self) -> list[tuple[str, str]]:
        return [(r, d) for r, d in self.query("SELECT reason, detail FROM quarantine ORDER BY id")]

    def fingerprint(self, node: str) -> dict[str, Any]:
        """What a dropped message must not change for ``node``: its events and
        ``through``, what central knows of it, the facility revisions."""
        return {
            "events": self.events(node),
            "streams": self.query("SELECT * FROM event_streams WHERE node = ?", node),
            "node_state": self.query("SELECT * FROM node_state WHERE node = ?", node),
            "marks": self.query("SELECT * FROM node_marks WHERE node = ?", node),
            "revs": self.query("SELECT * FROM facility_revs"),
        }

    def revs(self, facility: str) -> tuple[int, int]:
        """(rev, oldest_rev) of a facility."""
        rows = self.query("SELECT rev, oldest_rev FROM facility_revs WHERE facility = ?", facility)
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


class NodeSite:
    """A node's node.toml, provisioned secrets, database and ``hallvakt sync``."""

    def __init__(
        self,
        root: Path,
        node_id: str,
        facility: str,
        broker: BrokerAccess,
        central_keys: Mapping[str, str],
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.node_id, self.facility = root, node_id, facility
        self.config = root / "node.toml"
        self.database = root / "node.db"
        keys = "".join(f"{toml_str(k)} = {toml_str(v)}\n" for k, v in central_keys.items())
        self.config.write_text(
            f"node_id = {toml_str(node_id)}\nfacility_id = {toml_str(facility)}\n"
            f"database = {toml_str(self.database)}\n"
            f"[broker]\n{broker.toml()}keepalive_s = 10\n"
            f"[central_keys]\n{keys}",
            encoding="utf-8",
        )
        self.public_key = self.kid = ""
        self.link = Daemon(
            f"hallvakt sync ({node_id})",
            [*hallvakt_argv(), "sync", "--config", str(self.config), "--trust-clock"],
            root / "sync.log",
            root,
        )

    def provision(self) -> None:
        """``hallvakt provision``: keys written, public key and kid read from the
        registration block it prints."""
        out = run_cli("provision", "--config", str(self.config), cwd=self.root)
        found = dict(re.findall(r'^(public_key|kid) = "([^"]+)"', out, re.MULTILINE))
        self.public_key, self.kid = found["public_key"], found["kid"]

    def replica(self) -> Replica:
        return Replica.open(self.database)

    def connects(self) -> int:
        """Connections the link logged (CONNACKs), over all its starts."""
        return self.link.log_text().count("connected (session present")

    def fingerprint(self, rep: Replica) -> dict[str, Any]:
        """The node's state that a dropped message must not change: every replica
        record, the revisions and head, commands taken, walk-ins, quarantine."""
        st = rep.state()
        return {
            "records": replica_records(rep),
            "revs": (st.applied_rev, st.head_rev, st.head_oldest_rev),
            "last_command_seq": last_command_seq(rep),
            "commands": [(c.seq, c.cmd, c.args) for c in pending_commands(rep)],
            "walkins": walkin_states(rep),
            "quarantined": quarantine_count(rep),
        }

    def status(self) -> dict[str, Any]:
        """The link's status file (docs/sync.md), {} before the first write."""
        try:
            data: dict[str, Any] = json.loads(
                (self.database.parent / "run" / "sync-status.json").read_text("utf-8")
            )
        except (OSError, ValueError):
            return {}
        return data


def demo_system(
    root: Path, central: BrokerAccess, nodes: Mapping[str, BrokerAccess]
) -> tuple[CentralSite, list[NodeSite]]:
    """Central initialised with the demo facility (walk-in windows and leases
    for the first node), every node provisioned and registered; nothing started."""
    site = CentralSite(root / "central", central)
    site.init()
    made = []
    for i, (node_id, access) in enumerate(nodes.items()):
        node = NodeSite(root / f"node{i}", node_id, FACILITY, access, site.central_keys)
        node.provision()
        site.register(node)
        made.append(node)
    site.admin("demo-seed", "--node", made[0].node_id)
    return site, made


# --- the node's events: the truth ---------------------------------------------------------


def event_body(rng: random.Random, n: int) -> dict[str, Any]:
    """An ``access.granted`` body of realistic size (docs/protocol.md fields)."""
    digest = base64.urlsafe_b64encode(rng.randbytes(32)).rstrip(b"=").decode()
    return {
        "door": "main",
        "credential": digest,
        "booking": f"b-{n % 997}",
        "reason": "booking",
        "rev": 1,
        "clock": "trusted",
        "n": n,
    }


def append_events(
    rep: Replica, n: int, *, per_tx: int = 10_000, start: int = 0
) -> list[OutboxEvent]:
    """Append ``n`` events in transactions of at most ``per_tx``; the committed events."""
    rng = random.Random(start)
    done: list[OutboxEvent] = []
    at = datetime.now(UTC)
    while len(done) < n:
        with rep.write():
            chunk = [
                append_event(rep, "access.granted", event_body(rng, start + len(done) + i), at)
                for i in range(min(per_tx, n - len(done)))
            ]
        done.extend(chunk)
    return done


class EventWriter:
    """A door controller stand-in: a thread appending 1..``burst`` events per
    transaction every ``pause_s``; ``committed`` maps seq -> id of every event
    whose transaction committed."""

    def __init__(self, database: Path, *, burst: int = 4, pause_s: float = 0.005) -> None:
        self.database, self.burst, self.pause_s = database, burst, pause_s
        self.committed: dict[int, str] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._lock = threading.Lock()

    def record(self, events: Iterable[OutboxEvent]) -> None:
        with self._lock:
            for e in events:
                assert e.seq not in self.committed, f"seq {e.seq} recorded twice"
                self.committed[e.seq] = e.id

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        assert not self._thread.is_alive(), "the event writer did not stop"

    def _run(self) -> None:
        rng = random.Random()
        n = 0
        try:
            with Replica.open(self.database) as rep:
                while not self._stop.is_set():
                    k = rng.randint(1, self.burst)
                    self.record(append_events(rep, k, start=n))
                    n += k
                    self._stop.wait(self.pause_s)
        except Exception as exc:  # reported by the test
            self.errors.append(repr(exc))


def exactly_once(
    committed: Mapping[int, str],
    epoch: int,
    stored: Mapping[tuple[int, int], tuple[str | None, str | None]],
) -> list[str]:
    """What is wrong between the node's committed events (seq -> id) and
    central's store ((epoch, seq) -> (id, clash_id)); [] when central holds
    exactly them: none missing, none extra, none under another id or epoch."""
    problems = []
    missing = sorted(s for s in committed if (epoch, s) not in stored)
    extra = sorted(k for k in stored if k[0] != epoch or k[1] not in committed)
    wrong = sorted(
        s for s, i in committed.items() if (epoch, s) in stored and stored[epoch, s] != (i, None)
    )
    for what, items in (("missing", missing), ("not committed", extra), ("other id", wrong)):
        if items:
            problems.append(f"{len(items)} {what}: {items[:10]}")
    return problems


# --- MQTT peers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heard:
    topic: str
    payload: bytes
    retain: bool

    @property
    def claims(self) -> dict[str, Any]:
        """The JWS payload's claims, unverified (for looking only)."""
        part = self.payload.split(b".")[1]
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
        return data

    @property
    def kind(self) -> str:
        return str(self.claims.get("kind"))


class Peer:
    """A paho MQTT 5 client on its own network thread; callbacks only queue.
    ``address`` is a unix socket path or (host, port); ``tls`` = (ca, cert, key)."""

    def __init__(
        self,
        client_id: str,
        address: Path | tuple[str, int],
        *,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        self.client_id = client_id
        self.heard: queue.Queue[Heard] = queue.Queue()
        self._acks: queue.Queue[tuple[int, list[int]]] = queue.Queue()
        self._early: dict[int, list[int]] = {}
        self._connack: queue.Queue[int] = queue.Queue()
        unix = isinstance(address, Path)
        c = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            transport="unix" if unix else "tcp",
        )
        c.on_connect = lambda cl, u, f, rc, p: self._connack.put(int(rc.value))
        c.on_message = lambda cl, u, m: self.heard.put(
            Heard(m.topic, bytes(m.payload), bool(m.retain))
        )
        c.on_publish = self._on_ack
        c.on_subscribe = self._on_sub
        if tls is not None:
            c.tls_set(ca_certs=str(tls[0]), certfile=str(tls[1]), keyfile=str(tls[2]))
        host, port = (str(address), 1883) if isinstance(address, Path) else address
        c.connect(host, port, keepalive=30, clean_start=True)
        c.loop_start()
        self.client = c
        try:
            code = self._connack.get(timeout=WAIT_S)
        except queue.Empty:
            self.close()
            raise AssertionError(f"{client_id}: no CONNACK") from None
        if code != 0:
            self.close()
            raise AssertionError(f"{client_id}: CONNACK reason {code}")

    def _on_ack(self, c: Any, u: Any, mid: int, rc: ReasonCode, p: Any) -> None:
        self._acks.put((mid, [int(rc.value)]))

    def _on_sub(self, c: Any, u: Any, mid: int, rcs: list[ReasonCode], p: Any) -> None:
        self._acks.put((mid, [int(r.value) for r in rcs]))

    def _ack(self, mid: int) -> list[int]:
        # paho may call back before publish() returns and reuses ids: match by mid.
        while mid not in self._early:
            try:
                got, codes = self._acks.get(timeout=WAIT_S)
            except queue.Empty:
                raise AssertionError(f"{self.client_id}: no ack for mid {mid}") from None
            self._early[got] = codes
        return self._early.pop(mid)

    def subscribe(self, topic: str) -> list[int]:
        rc, mid = self.client.subscribe(topic, 1)
        assert rc == paho.MQTT_ERR_SUCCESS and mid is not None, rc
        return self._ack(mid)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """QoS 1; the PUBACK reason code (0 success, 0x10 no subscribers, 0x87 not authorized)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert info.rc == paho.MQTT_ERR_SUCCESS, info.rc
        return self._ack(info.mid)[0]

    def next(self, match: Callable[[Heard], bool], what: str, timeout: float = WAIT_S) -> Heard:
        """The next message ``match`` accepts (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.heard.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{self.client_id}: no {what} within {timeout} s") from None
            if match(got):
                return got

    def drain(self) -> list[Heard]:
        out = []
        while True:
            try:
                out.append(self.heard.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Disconnect, stop the network thread, close paho's socket pair. Idempotent."""
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets()


__all__ = [
    "BROKER_LOG_TYPES",
    "FACILITY",
    "WAIT_S",
    "BrokerAccess",
    "CentralSite",
    "Daemon",
    "EventWriter",
    "Heard",
    "NodeSite",
    "Peer",
    "append_events",
    "demo_system",
    "event_body",
    "exactly_once",
    "hallvakt_argv",
    "run_cli",
    "wait_for",
]
