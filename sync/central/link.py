"""The gateway's MQTT edge: one paho MQTT 5 client, owned by one thread (PROTOCOL.md §2, §3).

Rules this module guarantees (house style point 6, shared FIELD-NOTES.md):
- paho stays in this module and ``sync.mqtt``, which makes the client as it
  makes the node's (MQTT 5, manual acks, the queue capped before connect, TLS
  1.2+ with the client certificate). Its callbacks only put items on a queue; the
  thread running ``Link.run`` owns the client, calls ``loop()``, feeds each
  received message to ``Central.handle``, publishes the answers and ticks.
- Group commit: before handling, the link reads whatever the socket holds
  already (up to ``max_batch`` messages), and hands the messages received
  together to ``Central.handle_batch``: one store transaction, one commit, for
  all of them, in the order received. A busy gateway so makes its batches
  bigger by itself; an idle one handles each message as it comes.
- A received message is acknowledged (``manual_ack``) only after
  ``Central.handle_batch`` returned, that is after the batch's commit and after
  its answers were handed to paho. An ack made after the connection dropped is
  discarded by paho's ``reconnect`` (the broker sends the message again,
  MQTT 5 §4.4). A crash before
  the ack makes the broker deliver the message again; handling is idempotent.
- A command is reported to ``Central.published`` (and so marked sent) only
  when the broker's PUBACK for it came, matched by paho's message id; one
  without it is handed out again by a gateway's next ticks (at least once).
- A message whose handling raises is logged, kept in the quarantine and
  acknowledged: the protocol, not the broker, recovers it (a node resends
  unacknowledged events and its hello and cursor).
- A batch the store took nothing of (``handle_batch`` raised: the store is
  unreachable, locked or full, not even a quarantine row could be written)
  is NOT acknowledged, nor is anything received after it on that
  connection: the link disconnects and reconnects after its back-off, and
  the broker delivers every unacknowledged message again (same session,
  MQTT 5 §4.4). So the broker never gets a PUBACK for a message that is
  neither stored nor quarantined.
- The session survives disconnects: ``clean_start`` is false on every
  connect, with a Session Expiry Interval (at least a day) set before
  ``connect``; subscriptions are made again on every CONNACK anyway, with
  retain handling 1 (MQTT 5 §3.8.3.1): the broker sends the retained
  ``status`` of every node only to a subscription that is new (a new or
  expired session), not on every reconnect, when the session already
  holds what changed meanwhile. With 2,000 nodes a re-subscription with
  retain handling 0 made every gateway verify and write 2,000 statuses it
  had on every start or reconnect (docs/benchmarks.md, "Central at fleet
  scale"). A status change that the session's queue dropped (a gateway
  away past ``max_queued_messages``) is mended by ``STATUS_REFRESH_S``:
  every few hours, first at a random moment after the start, the gateway
  subscribes to ``status`` again with retain handling 0, which replaces the
  subscription without a gap and takes every retained status once more
  (``record_status`` keeps the newest by ``iat``, so a repeat changes nothing).
- Reconnects back off exponentially with full jitter between
  ``reconnect_min_s`` and ``reconnect_max_s``; paho's own back-off is unused.
- ``mqtts://`` uses TLS with the client certificate; ``unix:///path`` a unix
  socket; ``mqtt://`` plain TCP (loopback only: the config refuses others).
- Library exceptions are translated here: connection failures (``OSError``,
  TLS errors) become a logged retry, never an exception out of ``run``.
"""

from __future__ import annotations

import logging
import queue
import random
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from sync.mqtt import UNIX_PORT, Endpoint, connect_properties, new_client, release
from sync.protocol import Kind, Outgoing, central_subscriptions
from sync.protocol.timeutil import from_ts

from . import nodes
from .gateway import Central, NotRecorded, StoreUnreachable

log = logging.getLogger("hallvakt.central.link")

MIN_SESSION_EXPIRY_S = 86_400
QUEUED_MESSAGES = 100_000  # paho's RAM queue while disconnected; beyond it publishes drop
MAX_BATCH = 256  # received messages handled in one store transaction at most
MAX_BATCH_BYTES = 8 * 2**20  # and their payloads' bytes (a message is at most 256 KiB)
REPORT_EVERY_S = 60.0  # how often the log says how many messages a transaction held
# MQTT 5 §3.8.3.1 retain handling 1: the retained messages only to a new subscription
RETAIN_IF_NEW = SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
# How often a gateway takes every node's retained status again (module rules):
# at a random moment between half this and this after its start, then as often.
STATUS_REFRESH_S = 6 * 3600.0
# the kinds a node sends, counted by kind in the stop line (bench/fleet.py reads it)
UP_KINDS = (Kind.EVENTS, Kind.STATUS, Kind.HELLO, Kind.CURSOR)


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and how the gateway connects. ``scheme`` is ``mqtts``, ``mqtt`` or
    ``unix`` (then ``path`` is the socket)."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    client_id: str = "central-1"
    keepalive_s: int = 60
    session_expiry_s: int = 7 * 86_400
    leave_shared_on_stop: bool = False  # central.toml broker.leave_shared_on_stop
    reconnect_min_s: float = 1.0
    # A few seconds, full jitter: after a broker restart every node's events
    # wait for central's shared subscription (issue 13 §4; it reached 25 s).
    reconnect_max_s: float = 5.0

    def endpoint(self) -> Endpoint:
        """Where ``sync.mqtt`` connects: TLS with the client certificate for
        ``mqtts``, the socket ``path`` for ``unix``. No user name: the broker
        takes the certificate's CN (deploy/mosquitto/README.md)."""
        if self.scheme == "unix":
            return Endpoint(self.path, UNIX_PORT, "unix", keepalive=self.keepalive_s)
        tls = self.scheme == "mqtts"
        return Endpoint(
            self.host,
            self.port,
            "tcp",
            ca=self.ca if tls else None,
            cert=self.cert if tls else None,
            key=self.key if tls else None,
            keepalive=self.keepalive_s,
        )


class Backoff:
    """Exponential back-off with full jitter: the n-th wait is uniform in
    [0, min(max, min * 2**n)], never below 10 ms."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random) -> None:
        self.min_s, self.max_s, self.rng = min_s, max_s, rng
        self.attempt = 0

    def next(self) -> float:
        cap = min(self.max_s, self.min_s * 2**self.attempt)
        self.attempt = min(self.attempt + 1, 32)
        return max(0.01, self.rng.uniform(0, cap))

    def reset(self) -> None:
        self.attempt = 0


@dataclass(frozen=True, slots=True)
class _Connected:
    reason: int
    session_present: bool


@dataclass(frozen=True, slots=True)
class _Lost:
    reason: int


@dataclass(frozen=True, slots=True)
class _Subscribed:
    reasons: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Published:
    mid: int
    reason: int


@dataclass(frozen=True, slots=True)
class _Received:
    topic: str
    payload: bytes
    mid: int
    qos: int


_Item = _Connected | _Lost | _Subscribed | _Published | _Received


class Link:
    """Runs one gateway: ``run(stop)`` returns when ``stop`` is set."""

    def __init__(
        self,
        central: Central,
        broker: BrokerSettings,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        tick_every_s: float = 1.0,
        max_batch: int = MAX_BATCH,
        status_refresh_s: float = STATUS_REFRESH_S,
    ) -> None:
        if broker.session_expiry_s < MIN_SESSION_EXPIRY_S:
            raise ValueError(f"session expiry must be at least {MIN_SESSION_EXPIRY_S} s")
        self.central, self.broker = central, broker
        self.clock = clock
        self.rng = rng or random.Random()
        self.backoff = Backoff(broker.reconnect_min_s, broker.reconnect_max_s, self.rng)
        self.tick_every_s = tick_every_s
        self.status_refresh_s = status_refresh_s
        self.max_batch = max(1, max_batch)
        self._reported = time.monotonic()
        self._last = (0, 0)  # (messages, batches) at the last report
        self.connected = threading.Event()  # set while a CONNACK 0 stands
        self.subscribed = threading.Event()  # and once its SUBACK came (tests wait for it)
        self.connects = 0  # CONNACKs that accepted the connection
        self._left = threading.Event()  # the UNSUBACK of a clean stop came
        self._items: queue.Queue[_Item] = queue.Queue()
        self._awaiting: dict[int, Outgoing] = {}  # mid -> a command awaiting its PUBACK
        self._unrecorded = False  # the store took nothing of a batch: reconnect (module rules)

    # --- paho callbacks: queue and return ------------------------------------------

    def _on_connect(self, c: Any, u: Any, flags: Any, rc: ReasonCode, p: Any) -> None:
        self._items.put(_Connected(int(rc.value), bool(flags.session_present)))

    def _on_disconnect(self, c: Any, u: Any, flags: Any, rc: ReasonCode, p: Any) -> None:
        self._items.put(_Lost(int(rc.value)))

    def _on_subscribe(self, c: Any, u: Any, mid: int, rcs: list[ReasonCode], p: Any) -> None:
        self._items.put(_Subscribed(tuple(int(r.value) for r in rcs)))

    def _on_publish(self, c: Any, u: Any, mid: int, rc: ReasonCode, p: Any) -> None:
        self._items.put(_Published(mid, int(rc.value)))

    def _on_message(self, c: Any, u: Any, m: paho.MQTTMessage) -> None:
        try:
            topic = m.topic
        except UnicodeDecodeError:  # check() refuses it as wrong_topic
            topic = "(a topic that is not UTF-8)"
        self._items.put(_Received(topic, bytes(m.payload), int(m.mid), int(m.qos)))

    # --- the owning thread -----------------------------------------------------------

    def _client(self) -> paho.Client:
        b = self.broker
        ep = b.endpoint()
        c = new_client(ep, b.client_id, max_queued=QUEUED_MESSAGES)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish
        # No window of 20 QoS 1 publishes in flight: PUBACKs are read only between
        # handled messages, so a window would hold a fan-out to a trickle
        # (docs/benchmarks.md, "Central at fleet scale").
        c.max_inflight_messages_set(0)
        props = connect_properties(b.session_expiry_s)
        c.connect_async(ep.host, ep.port, ep.keepalive, clean_start=False, properties=props)
        return c

    def run(self, stop: threading.Event) -> None:
        """Connect, serve and reconnect until ``stop`` is set; then disconnect."""
        client = self._client()
        down = True  # no usable connection: (re)connect when next_attempt comes
        next_attempt = next_tick = 0.0
        next_refresh = time.monotonic() + self.status_refresh_s * self.rng.uniform(0.5, 1.0)
        try:
            while not stop.is_set():
                if down:
                    self.connected.clear()
                    self.subscribed.clear()
                    if time.monotonic() >= next_attempt:
                        down = not self._connect(client)
                        next_attempt = time.monotonic() + self.backoff.next()
                    if down:
                        stop.wait(min(0.2, max(0.0, next_attempt - time.monotonic())))
                        continue
                try:
                    rc = client.loop(timeout=0.05)
                except (OSError, ValueError) as exc:  # paho lets some socket errors out
                    log.warning("connection error: %s", exc)
                    rc = MQTTErrorCode.MQTT_ERR_CONN_LOST
                if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    rc = self._read_more(client)
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    down = True
                    next_attempt = time.monotonic() + self.backoff.next()
                    log.warning("connection lost (%s); reconnecting", rc)
                self._drain(client)
                if self._unrecorded:  # the broker delivers the unacknowledged ones again
                    self._unrecorded = False
                    wait = self.backoff.next()
                    log.warning("reconnecting in %.1f s: the broker delivers them again", wait)
                    client.disconnect()
                    down = True
                    next_attempt = time.monotonic() + wait
                    continue
                if self.connected.is_set() and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.tick_every_s
                    self._tick(client)
                if self.subscribed.is_set() and time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + self.status_refresh_s
                    self._refresh_statuses(client)
        finally:
            st = self.central.stats
            log.info(
                "stopping: %d messages received in %d store transactions in all (%s)",
                st["batched"],
                st["batches"],
                ", ".join(f"{k.value} {st[k.value]}" for k in UP_KINDS),
            )
            was_connected = self.connected.is_set()
            self.connected.clear()
            self.subscribed.clear()
            if client.socket() is not None:
                if was_connected and self.broker.leave_shared_on_stop:  # docs/central.md
                    self._leave(client)
                client.disconnect()
                client.loop(timeout=0.05)
            release(client)  # paho closes its socket pair only in __del__

    def _leave(self, client: paho.Client, wait_s: float = 2.0) -> None:
        """Unsubscribe from the shared ``up/`` subscription before a clean stop
        (``leave_shared_on_stop``, for several gateways): a broker keeps handing
        a share of ``up/`` to a member's session while it is offline (Mosquitto
        does), so a stopped gateway would hold back that share until it comes
        back. What is already queued for it stays in its session."""
        shared = [t for t in central_subscriptions() if t.startswith("$share/")]
        client.unsubscribe(shared)
        self._left.clear()
        client.on_unsubscribe = lambda *a: self._left.set()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and not self._left.is_set():  # until the UNSUBACK
            if client.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return

    def _connect(self, client: paho.Client) -> bool:
        """Open the connection and send CONNECT (paho's ``reconnect`` closes any
        old socket first); False if that failed. The CONNACK comes later."""
        try:
            client.reconnect()
            return True
        except (OSError, ValueError) as exc:
            log.warning("cannot connect to the broker: %s", exc)
            return False

    def _read_more(self, client: paho.Client) -> MQTTErrorCode:
        """Read what the socket holds already, until ``max_batch`` messages wait
        (module rules: group commit); never waits for more to come."""
        for _ in range(4 * self.max_batch):  # PUBACKs are read too; bounded all the same
            if self._items.qsize() >= self.max_batch:
                break
            sock = client.socket()
            if sock is None:
                break
            pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted
            if not (pending is not None and pending()):
                try:
                    if not select.select([sock], [], [], 0)[0]:
                        break
                except (OSError, ValueError):
                    break
            try:
                rc = client.loop_read()
            except (OSError, ValueError) as exc:  # paho lets some socket errors out
                log.warning("connection error: %s", exc)
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _drain(self, client: paho.Client) -> None:
        batch: list[_Received] = []
        acked: list[Outgoing] = []
        size = 0
        while True:
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Received):
                if self._unrecorded:
                    continue  # not acknowledged: delivered again after the reconnect
                if batch and (len(batch) >= self.max_batch or size >= MAX_BATCH_BYTES):
                    self._receive(client, batch)
                    batch, size = [], 0
                batch.append(item)
                size += len(item.payload)
                continue
            if batch:  # what came before a connection event is handled before it
                self._receive(client, batch)
                batch, size = [], 0
            match item:
                case _Connected(reason=0):
                    self.connects += 1
                    self.backoff.reset()
                    self.connected.set()
                    log.info("connected (session present: %s)", item.session_present)
                    # Retained messages (every node's status) only when the
                    # subscription is new: a session's own comes with it (module rules).
                    opts = SubscribeOptions(qos=1, retainHandling=RETAIN_IF_NEW)
                    client.subscribe([(t, opts) for t in central_subscriptions()])
                case _Connected():
                    log.error("broker refused the connection: reason %d", item.reason)
                case _Subscribed():
                    if all(r < 0x80 for r in item.reasons):
                        self.subscribed.set()
                    else:
                        log.error("broker refused a subscription: %s", item.reasons)
                case _Lost():
                    self.connected.clear()
                    self.subscribed.clear()
                case _Published():
                    o = self._awaiting.pop(item.mid, None)
                    if o is not None and item.reason < 0x80:
                        acked.append(o)
                    elif o is not None:
                        log.warning("broker refused %s: reason %d", o.topic, item.reason)
        if batch:
            self._receive(client, batch)
        if acked:

            def confirm(now: int) -> list[Outgoing]:
                self.central.published(acked)
                return []

            self._guarded(confirm)

    def _receive(self, client: paho.Client, batch: list[_Received]) -> None:
        """Handle ``batch`` in one store transaction, publish the answers, then
        acknowledge every message of it to the broker (module rules)."""

        if self._unrecorded:
            return  # an earlier batch of this connection was not recorded: nor is this one
        st = self.central.stats
        now = int(self.clock())
        try:
            answers = self.central.handle_batch([(i.topic, i.payload) for i in batch], now)
        except NotRecorded as exc:
            self._not_recorded(batch, exc)
            return
        except Exception as exc:  # a bug, or the store failed before any message
            log.exception("error handling a batch of %d from %s", len(batch), batch[0].topic[:200])
            if not self._quarantine(batch, exc, now):
                self._not_recorded(batch, exc)
                return
            answers = []
        st["batches"] += 1
        st["batched"] += len(batch)
        st["batch_max"] = max(st["batch_max"], len(batch))
        self._publish(client, [o for a in answers for o in a])
        for item in batch:
            if item.qos > 0:
                client.ack(item.mid, item.qos)

    def _not_recorded(self, batch: list[_Received], exc: Exception) -> None:
        self.central.stats["not_recorded"] += len(batch)
        if not isinstance(exc, StoreUnreachable):  # logged once an outage (StoreOutage)
            n = len(batch)
            log.error("the store took nothing of %d messages (%s): not acknowledged", n, exc)
        self._unrecorded = True

    def _quarantine(self, batch: list[_Received], exc: Exception, now: int) -> bool:
        """Keep ``batch`` in the quarantine (``internal_error``); False if the store
        takes nothing."""
        try:
            with self.central.store.write():
                for item in batch:
                    nodes.quarantine(
                        self.central.store,
                        item.topic,
                        "internal_error",
                        repr(exc),
                        item.payload,
                        from_ts(now),
                    )
        except Exception:
            log.exception("cannot quarantine them either")
            return False
        return True

    def _refresh_statuses(self, client: paho.Client) -> None:
        """Subscribe to ``status`` again with retain handling 0: the broker
        replaces the subscription (no gap) and sends every node's retained
        status, which mends a change the session's queue dropped (module rules)."""
        opts = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE)
        unshared = [t for t in central_subscriptions() if not t.startswith("$share/")]
        client.subscribe([(t, opts) for t in unshared])
        log.info("taking every node's retained status again (every %.0f s)", self.status_refresh_s)

    def _tick(self, client: paho.Client) -> None:
        """The periodic work, each part published as soon as it is decided
        (``Central.tick_parts``: a fan-out's heads a chunk at a time)."""
        decided = handed = 0.0
        count = 0
        t = time.monotonic()
        try:
            for part in self.central.tick_parts(int(self.clock())):
                t1 = time.monotonic()
                self._publish(client, part)
                t2 = time.monotonic()
                decided, handed, count = decided + t1 - t, handed + t2 - t1, count + len(part)
                t = t2
        except Exception as exc:  # a bug or a database error must not stop the gateway
            if self.central.store.transaction_failed(exc):  # unreachable: once an outage
                self.central.outage.failed(exc, "the periodic work")
            else:
                log.exception("error in the periodic work")
        else:
            self.central.outage.ok()
        if count >= 100:  # a fan-out: how long deciding and publishing took
            log.info(
                "tick: %d messages decided in %.3f s, handed to the broker in %.3f s",
                count,
                decided,
                handed,
            )
        now = time.monotonic()
        if now - self._reported >= REPORT_EVERY_S:
            st = self.central.stats
            n, b = st["batched"] - self._last[0], st["batches"] - self._last[1]
            if b:
                log.info(
                    "%d messages received in %d store transactions (%.1f a transaction,"
                    " at most %d) in the last %.0f s",
                    n,
                    b,
                    n / b,
                    st["batch_max"],
                    now - self._reported,
                )
                st["batch_max"] = 0
            self._reported, self._last = now, (st["batched"], st["batches"])

    def _guarded(self, work: Callable[[int], list[Outgoing]]) -> list[Outgoing]:
        now = int(self.clock())
        try:
            return work(now)
        except Exception:  # a bug or a database error must not stop the gateway
            log.exception("error in the periodic work")
            return []

    def _publish(self, client: paho.Client, out: list[Outgoing]) -> None:
        """Hand ``out`` to paho; a command's PUBACK is awaited (``Central.published``).
        A PUBACK comes for the mid paho gave: a mid reused meanwhile forgets
        the older entry (that command is handed out again)."""
        for o in out:
            info = client.publish(o.topic, o.payload, qos=o.qos, retain=o.retain)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                log.warning("publish to %s failed: %s", o.topic, info.rc)
                continue
            self._awaiting.pop(info.mid, None)
            if o.topic.endswith("/dn/cmd"):
                self._awaiting[info.mid] = o
