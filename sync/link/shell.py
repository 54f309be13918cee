"""``hallvakt sync``: the I/O shell around ``LinkCore`` (house style 4: a short loop).

One thread (the caller's) owns everything: the database connection, the
``MqttTransport`` (paho), the clock. Each turn of the loop reads (network I/O
for at most ``POLL_S``; the transport's queue), feeds the core, and performs
what it returns. Rules:

- Connection attempts follow ``Backoff`` (1 s doubling to 5 min, full jitter;
  the first attempt at start is immediate). A CONNECT without a CONNACK within
  ``CONNACK_TIMEOUT_S`` is abandoned and counts as a failure.
- Every ``POLL_S`` the database's ``PRAGMA data_version`` is read: it changes
  when another process (door controller, kiosk) commits, and then the core
  gets ``OutboxGrew`` and sends new events at once.
- SIGTERM and SIGINT stop the loop after the current turn; if connected, the
  retained ``status`` offline is published and a normal DISCONNECT sent (the
  broker then drops the Will).
- The database's full check (``sync.replica.integrity.BootCheck``: SQLite's
  ``quick_check``, then every record decoded) runs once per boot in
  ``IntegrityWatch``, a thread with its own connection, so a start never waits
  for it. A damaged file ends the link with one line and exit 78; a corrupt
  record asks central for a snapshot. Staging tables a killed snapshot left
  are tidied at start.
- A corrupt record the door controller or a kiosk met reaches the link
  through their health files (``doorwatch.CorruptWatch``, read every
  ``STATS_EVERY_S``): the link asks for a snapshot, unless one is already
  asked for, at most once per ``doorwatch.HOLD_S``.
- A database error in a turn (``ReplicaBusy``, ``ReplicaFull``,
  ``ReplicaUnavailable``) is logged and the turn tried again after
  ``DB_RETRY_S``; ``ReplicaDamaged`` ends the link (exit 78).
- ``LinkStats`` (read at most every ``STATS_EVERY_S``) go to
  ``status_path(cfg)`` (JSON, replaced atomically) when they change, and at
  least every ``STATUS_EVERY_S``; and every ``BEAT_S`` into the database as
  the ``sync`` heartbeat (``sync.replica.beat``) that ``hallvakt status``
  reads. systemd hears ``READY=1``, ``WATCHDOG=1`` and ``STOPPING=1``
  (``firmware_config.runtime.Notifier``; nothing outside systemd).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import logging
import os
import queue
import signal
import threading
import uuid
from pathlib import Path
from types import FrameType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firmware_config.model import NodeConfig, fingerprint
from firmware_config.runtime import Notifier
from firmware_config.secrets import load_node_key
from sync.protocol.timeutil import format_instant
from sync.replica import (
    Replica,
    ReplicaCorrupt,
    ReplicaDamaged,
    ReplicaError,
    beat,
    tidy,
)
from sync.replica.clock import SystemClock
from sync.replica.integrity import BootCheck, CheckRecord
from sync.replica.refusal import EX_CONFIG, advice, open_or_exit

from .backoff import Backoff
from .clock import LinkClock
from .core import LinkCore, LinkSettings
from .doorwatch import CorruptWatch, watched
from .events import (
    AckInbound,
    Connected,
    Disconnected,
    Input,
    LinkStats,
    MessageIn,
    Moment,
    OutboxGrew,
    Output,
    Publish,
    PublishRefused,
    Received,
    Subscribe,
    Tick,
    Wakeup,
)
from .transport import MqttTransport, Refused, TransportError, endpoint_for

log = logging.getLogger("hallvakt.sync")

POLL_S = 0.1
CONNACK_TIMEOUT_S = 30.0
STATUS_EVERY_S = 60.0
STATS_EVERY_S = 1.0
BEAT_S = 5.0
DB_RETRY_S = 1.0


def node_kid(node_id: str, key: Ed25519PrivateKey) -> str:
    """The node's key id: the one ``hallvakt provision`` suggests to central's
    registry (firmware_config.provision.Registration.kid)."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"{node_id}-{fingerprint(raw)[7:15]}"


def software_version() -> str:
    try:
        return f"hallvakt/{importlib.metadata.version('hallvakt')}"
    except importlib.metadata.PackageNotFoundError:
        return "hallvakt/unknown"


def status_path(cfg: NodeConfig) -> Path:
    """Where ``hallvakt sync`` writes its ``LinkStats`` (docs/sync.md)."""
    return cfg.database.parent / "run" / "sync-status.json"


def settings_for(cfg: NodeConfig, *, window: int | None = None) -> LinkSettings:
    """The core's settings from a node config (loads the node key); ``window``:
    event batches in flight (``hallvakt sync --window``; None: the default)."""
    key = load_node_key(cfg.node_key)
    settings = LinkSettings(
        node=cfg.node_id,
        kid=node_kid(cfg.node_id, key),
        key=key,
        central_keys={kid: ck.public_key() for kid, ck in cfg.central_keys.items()},
        software=software_version(),
        boot_id=str(uuid.uuid4()),
    )
    return settings if window is None else dataclasses.replace(settings, max_batches=window)


class StatusFile:
    """Writes ``LinkStats`` as JSON when they change (the head's age aside) or
    every ``STATUS_EVERY_S``; a rename makes each write atomic."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: dict[str, object] | None = None
        self._written = float("-inf")

    def update(self, stats: LinkStats, at: Moment) -> None:
        doc = stats.to_json()
        key = {k: v for k, v in doc.items() if k != "last_head_age_s"}
        if key == self._last and at.mono - self._written < STATUS_EVERY_S:
            return
        doc["at"] = format_instant(at.wall)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)
        self._last, self._written = key, at.mono


class IntegrityWatch(threading.Thread):
    """The once-per-boot full check of the database (module rules), on a
    connection of its own; ``result`` is set when it is done."""

    def __init__(self, path: str, tz: str, stop: threading.Event) -> None:
        super().__init__(name="hallvakt-integrity", daemon=True)
        self.path, self.tz, self.stop = path, tz, stop
        self.result: CheckRecord | None = None
        self.failed: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            check = BootCheck(self.path)
            if not check.due():
                self.result = check.last()
                return
            with Replica.open(self.path, default_tz=self.tz) as rep:
                # Yield between chunks: the link's own thread comes first.
                self.result = check.run(rep, pause=lambda: self.stop.wait(0.002))
            log.info("database check took %.1f s", self.result.seconds)
        except ReplicaError as exc:
            self.failed = str(exc)
        finally:
            self.done.set()


class LinkRunner:
    """The loop (module rules). ``stop`` ends it from any thread or a signal."""

    def __init__(
        self,
        core: LinkCore,
        transport: MqttTransport,
        clock: LinkClock,
        status: StatusFile | None = None,
        *,
        backoff: Backoff | None = None,
        stop: threading.Event | None = None,
        watch: IntegrityWatch | None = None,
        door: CorruptWatch | None = None,
    ) -> None:
        self.core, self.transport, self.clock, self.status = core, transport, clock, status
        self.watch, self.door = watch, door
        self.exit_status = 0
        self.backoff = backoff or Backoff()
        self.stop = stop or threading.Event()
        self._next_attempt = float("-inf")
        self._connecting_since: float | None = None
        self._wake: float | None = None
        self._polled = float("-inf")
        self._stats_at = float("-inf")
        self._next_beat = float("-inf")
        self.started = clock.now().wall
        self.notifier = Notifier()
        self._data_version = self._read_data_version()

    def _read_data_version(self) -> int:
        return int(self.core.rep.conn.execute("PRAGMA data_version").fetchone()[0])

    def run(self) -> None:
        """Turn until stopped; ``exit_status`` says how it ended (0, or 78 for a
        damaged database)."""
        if self.watch is None:
            self.core.check_replica()
        else:
            self.watch.start()
        self.notifier.ready(f"node {self.core.s.node}")
        try:
            while not self.stop.is_set():
                try:
                    self.turn()
                    self._watched()
                except ReplicaDamaged as exc:
                    self._refuse(str(exc))
                except ReplicaCorrupt as exc:  # read outside a message's handling
                    self._feed_outputs(self.core.replica_corrupt(str(exc), self.clock.now()))
                except ReplicaError as exc:  # busy, full, I/O: try again shortly
                    log.error("database: %s", exc)
                    self.stop.wait(DB_RETRY_S)
        finally:
            self._shutdown()

    def _refuse(self, problem: str) -> None:
        log.error("%s: %s", problem, advice(ReplicaDamaged(problem)))
        self.exit_status = EX_CONFIG
        self.stop.set()

    def _watched(self) -> None:
        """Act on the background check once it is done."""
        watch = self.watch
        if watch is None or not watch.done.is_set():
            return
        self.watch = None
        if watch.failed is not None:
            log.warning("database check did not finish: %s", watch.failed)
        rec = watch.result
        if rec is None:
            return
        if rec.damaged is not None:
            self._refuse(f"node database {self.core.rep.path} is damaged: {rec.damaged}")
        elif rec.corrupt is not None:
            self._feed_outputs(self.core.replica_corrupt(rec.corrupt, self.clock.now()))

    def turn(self) -> None:
        at = self.clock.now()
        if not self.transport.active and at.mono >= self._next_attempt:
            self._attempt(at)
        if self.transport.active:
            until = POLL_S if self._wake is None else self._wake - at.mono
            self.transport.loop(max(0.0, min(POLL_S, until)))
        else:
            self.stop.wait(max(0.0, min(POLL_S, self._next_attempt - at.mono)))
        self._drain()
        at = self.clock.now()
        if at.mono - self._polled >= POLL_S:
            self._polled = at.mono
            version = self._read_data_version()
            if version != self._data_version:
                self._data_version = version
                self._feed(OutboxGrew(), at)
        if self._wake is not None and at.mono >= self._wake:
            self._feed(Tick(), at)
        since = self._connecting_since
        if since is not None and at.mono - since > CONNACK_TIMEOUT_S:
            log.warning("no CONNACK within %.0f s; giving up on this attempt", CONNACK_TIMEOUT_S)
            self.transport.close()
            self._drain()
        self.notifier.alive()
        if at.mono - self._stats_at >= STATS_EVERY_S:  # stats count the outbox: not every turn
            self._stats_at = at.mono
            self._door_found(at)
            self._report(at)

    def _door_found(self, at: Moment) -> None:
        """A corrupt record the door controller or a kiosk met: ask for a snapshot (once)."""
        found = None if self.door is None else self.door.poll(at.mono)
        if found is not None and not self.core.down.want_snapshot:
            self._feed_outputs(self.core.replica_corrupt(found, at))

    def _report(self, at: Moment) -> None:
        stats = self.core.stats(at)
        if self.status is not None:
            self.status.update(stats, at)
        if at.mono >= self._next_beat:
            self._next_beat = at.mono + BEAT_S
            try:
                beat(self.core.rep, "sync", self.started, at.wall, stats.to_json())
            except ReplicaError as exc:  # a long writer elsewhere, a full disk: next time
                log.warning("heartbeat not written: %s", exc)

    def _attempt(self, at: Moment) -> None:
        try:
            self.transport.open(self.core.will(at))
        except TransportError as exc:
            delay = self.backoff.next_delay(at.mono)
            self._next_attempt = at.mono + delay
            log.warning("%s; next attempt in %.1f s", exc, delay)
            return
        self._connecting_since = at.mono

    def _drain(self) -> None:
        held: list[MessageIn] = []  # messages delivered together go in together (Received)
        while True:
            try:
                ev = self.transport.events.get_nowait()
            except queue.Empty:
                self._received(held)
                return
            if isinstance(ev, MessageIn):
                held.append(ev)
                continue
            self._received(held)
            at = self.clock.now()
            match ev:
                case Refused():
                    log.warning("the broker refused the connection: %s", ev.reason)
                case Connected():
                    log.info("connected (session present: %s)", ev.session_present)
                    self._connecting_since = None
                    self.backoff.connected(at.mono)
                    self._feed(ev, at)
                case Disconnected():
                    self._connecting_since = None
                    delay = self.backoff.next_delay(at.mono)
                    self._next_attempt = at.mono + delay
                    if not self.stop.is_set():
                        log.info("connection ended (%s); next try in %.1f s", ev.reason, delay)
                    self._feed(ev, at)
                case PublishRefused():
                    log.warning(
                        "the broker refused our publish on %s: %s (the broker's ACL must let"
                        " this node's certificate, CN = node id, write it)",
                        ev.topic,
                        ev.reason,
                    )
                    self._feed(ev, at)

    def _received(self, held: list[MessageIn]) -> None:
        """Feed the messages ``_drain`` held, one or several at once."""
        if held:
            at = self.clock.now()
            self._feed(held[0] if len(held) == 1 else Received(tuple(held)), at)
            held.clear()

    def _feed(self, event: Input, at: Moment) -> None:
        self._wake = None
        self._feed_outputs(self.core.handle(event, at))

    def _feed_outputs(self, outputs: list[Output]) -> None:
        for out in outputs:
            match out:
                case Subscribe():
                    self.transport.subscribe(out.topics)
                case Publish():
                    self.transport.publish(out)
                case AckInbound():
                    self.transport.ack(out.ref)
                case Wakeup():
                    self._wake = out.at

    def _shutdown(self) -> None:
        self.notifier.stopping()
        at = self.clock.now()
        if self.core.connected:
            self.transport.publish(self.core.goodbye(at))
            self.transport.disconnect()
        else:
            self.transport.close()
        with contextlib.suppress(ReplicaError):
            self._drain()
            if self.status is not None:
                self.status.update(self.core.stats(at), at)


def _install_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(
    cfg: NodeConfig,
    *,
    assume_clock_trusted: bool = False,
    stop: threading.Event | None = None,
    window: int | None = None,
) -> int:
    """Run the sync link for ``cfg`` until ``stop`` is set or a signal arrives;
    ``window``: event batches in flight (None: ``LinkSettings``' default).
    Returns the exit status: 0, or 78 for a database that cannot be used
    (one line on stderr, ``sync.replica.refusal``)."""
    settings = settings_for(cfg, window=window)
    stop = stop or threading.Event()
    _install_signals(stop)
    with open_or_exit(cfg.database, default_tz=cfg.timezone) as rep:
        if tidy(rep):
            log.info("tidied the staging tables a stopped snapshot left")
        core = LinkCore(rep, settings)
        transport = MqttTransport(endpoint_for(cfg.broker, cfg.node_id), cfg.node_id)
        where = cfg.broker.url
        log.info(
            "node %s, epoch %d, kid %s, broker %s", cfg.node_id, core.epoch, settings.kid, where
        )
        runner = LinkRunner(
            core,
            transport,
            LinkClock(SystemClock(assume_clock_trusted)),
            StatusFile(status_path(cfg)),
            stop=stop,
            watch=IntegrityWatch(str(cfg.database), cfg.timezone, stop),
            door=CorruptWatch(cfg.database, watched(k.id for k in cfg.kiosks)),
        )
        runner.run()
    return runner.exit_status
