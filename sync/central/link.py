"""The gateway's MQTT edge: one paho MQTT 5 client, owned by one thread (PROTOCOL.md §2, §3).

Rules this module guarantees (house style point 6, shared FIELD-NOTES.md):
- paho stays in this module and ``sync.mqtt``, which makes the client as it
  makes the node's (MQTT 5, manual acks, the queue capped before connect, TLS
  1.2+ with the client certificate). Its callbacks only put items on a queue; the
  thread running ``Link.run`` owns the client, calls ``loop()``, feeds each
  received message to ``Central.handle``, publishes the answers and ticks.
- A received message is acknowledged (``manual_ack``) only after
  ``Central.handle`` returned, that is after its SQLite commit and after its
  answers were handed to paho. An ack made after the connection dropped is
  discarded by paho's ``reconnect`` (the broker sends the message again,
  MQTT 5 §4.4). A crash before
  the ack makes the broker deliver the message again; handling is idempotent.
- A message whose handling raises is logged, kept in the quarantine and
  acknowledged: the protocol, not the broker, recovers it (a node resends
  unacknowledged events and its hello and cursor).
- The session survives disconnects: ``clean_start`` is false on every
  connect, with a Session Expiry Interval (at least a day) set before
  ``connect``; subscriptions are made again on every CONNACK anyway.
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
from sync.protocol import Outgoing, central_subscriptions
from sync.protocol.timeutil import from_ts

from . import nodes
from .gateway import Central

log = logging.getLogger("hallvakt.central.link")

MIN_SESSION_EXPIRY_S = 86_400
QUEUED_MESSAGES = 100_000  # paho's RAM queue while disconnected; beyond it publishes drop


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
class _Received:
    topic: str
    payload: bytes
    mid: int
    qos: int


_Item = _Connected | _Lost | _Subscribed | _Received


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
    ) -> None:
        if broker.session_expiry_s < MIN_SESSION_EXPIRY_S:
            raise ValueError(f"session expiry must be at least {MIN_SESSION_EXPIRY_S} s")
        self.central, self.broker = central, broker
        self.clock = clock
        self.backoff = Backoff(
            broker.reconnect_min_s, broker.reconnect_max_s, rng or random.Random()
        )
        self.tick_every_s = tick_every_s
        self.connected = threading.Event()  # set while a CONNACK 0 stands
        self.subscribed = threading.Event()  # and once its SUBACK came (tests wait for it)
        self.connects = 0  # CONNACKs that accepted the connection
        self._left = threading.Event()  # the UNSUBACK of a clean stop came
        self._items: queue.Queue[_Item] = queue.Queue()

    # --- paho callbacks: queue and return ------------------------------------------

    def _on_connect(self, c: Any, u: Any, flags: Any, rc: ReasonCode, p: Any) -> None:
        self._items.put(_Connected(int(rc.value), bool(flags.session_present)))

    def _on_disconnect(self, c: Any, u: Any, flags: Any, rc: ReasonCode, p: Any) -> None:
        self._items.put(_Lost(int(rc.value)))

    def _on_subscribe(self, c: Any, u: Any, mid: int, rcs: list[ReasonCode], p: Any) -> None:
        self._items.put(_Subscribed(tuple(int(r.value) for r in rcs)))

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
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    down = True
                    next_attempt = time.monotonic() + self.backoff.next()
                    log.warning("connection lost (%s); reconnecting", rc)
                self._drain(client)
                if self.connected.is_set() and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.tick_every_s
                    self._publish(client, self._guarded(self.central.tick))
        finally:
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

    def _drain(self, client: paho.Client) -> None:
        while True:
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                return
            match item:
                case _Connected(reason=0):
                    self.connects += 1
                    self.backoff.reset()
                    self.connected.set()
                    log.info("connected (session present: %s)", item.session_present)
                    opts = SubscribeOptions(qos=1)
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
                case _Received():
                    self._receive(client, item)

    def _receive(self, client: paho.Client, item: _Received) -> None:
        def work(now: int) -> list[Outgoing]:
            return self.central.handle(item.topic, item.payload, now)

        self._publish(client, self._guarded(work, item))
        if item.qos > 0:
            client.ack(item.mid, item.qos)

    def _guarded(
        self, work: Callable[[int], list[Outgoing]], item: _Received | None = None
    ) -> list[Outgoing]:
        now = int(self.clock())
        try:
            return work(now)
        except Exception as exc:  # a bug or a database error must not stop the gateway
            log.exception("error handling %s", "tick" if item is None else item.topic[:200])
            if item is not None:
                try:
                    at = from_ts(now)
                    store = self.central.store
                    nodes.quarantine(
                        store, item.topic, "internal_error", repr(exc), item.payload, at
                    )
                except Exception:
                    log.exception("cannot quarantine the message either")
            return []

    def _publish(self, client: paho.Client, out: list[Outgoing]) -> None:
        for o in out:
            info = client.publish(o.topic, o.payload, qos=o.qos, retain=o.retain)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                log.warning("publish to %s failed: %s", o.topic, info.rc)
