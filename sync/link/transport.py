"""The node's MQTT transport: with ``sync.mqtt``, which makes its clients, the
only module of the node that touches paho (house style 6).

Rules this module guarantees:
- One thread uses a ``MqttTransport``: it drives paho with ``loop()`` itself
  (no ``loop_start``, no paho thread); paho's callbacks only put core inputs
  (``Connected``, ``Disconnected``, ``MessageIn``) or ``Refused`` on
  ``self.events`` and never raise (each is wrapped).
- Every connection attempt uses a new paho client (MQTT v5, callback API 2,
  ``manual_ack=True``, ``max_queued_messages`` set before connect, paho's own
  reconnect off): paho would otherwise resend its in-flight QoS 1 messages of
  the old connection on CONNACK, before our ``hello``. The broker's session is
  kept: client id = node id, ``clean_start=False``, a Session Expiry Interval
  of ``SESSION_EXPIRY_S``. Client-to-broker QoS 1 leaves no broker state to
  resume; the link resends from its outbox anyway.
- The Will (set on every attempt, signed by the caller) is retained, QoS 1,
  with a Will Delay of ``WILL_DELAY_S``: a restart within it publishes nothing.
- ``mqtts://`` uses TLS with the node's client certificate (its CN is the
  MQTT user name and the node id); ``unix://`` a unix socket; ``mqtt://``
  plain TCP (loopback only, as the config enforces). The user name is the
  node id; a password is sent only if the config names a password file.
- paho's and the socket layer's exceptions on connect are translated into
  ``TransportError`` here (house style 4). Publish return codes are ignored:
  acknowledgements come from the protocol (``dn/ack``), never from paho.
- An inbound message is acknowledged (PUBACK) only by ``ack(ref)``, and only
  on the connection it arrived on: after a reconnect the broker delivers it
  again, so an old ``ref`` is dropped.
"""

from __future__ import annotations

import logging
import queue
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from firmware_config.model import Broker
from firmware_config.secrets import load_password
from sync.mqtt import UNIX_PORT, Endpoint, connect_properties, new_client, release

from .events import Connected, Disconnected, MessageIn, Publish, PublishRefused

log = logging.getLogger("hallvakt.sync.mqtt")

SESSION_EXPIRY_S = 8 * 86_400  # PROTOCOL.md §2: >= 1 day; deploy/mosquitto: a week offline
WILL_DELAY_S = 30  # PROTOCOL.md §5
MAX_QUEUED = 64  # paho's outgoing queue; the core keeps far fewer in flight
CONNECT_TIMEOUT_S = 10.0  # TCP connect and TLS handshake


class TransportError(Exception):
    """A connection to the broker could not be opened."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The broker answered CONNECT with a failure reason code."""

    reason: str


TransportEvent = Connected | Disconnected | MessageIn | PublishRefused | Refused


def endpoint_for(broker: Broker, node_id: str) -> Endpoint:
    """The endpoint of a node's ``[broker]`` config (reads the password file)."""
    url = broker.url
    password = None if broker.password_file is None else load_password(broker.password_file)
    if url.scheme == "unix":
        return Endpoint(
            url.path, UNIX_PORT, "unix", node_id, password, keepalive=broker.keepalive_s
        )
    tls = url.scheme == "mqtts"
    return Endpoint(
        url.host,
        url.port,
        "tcp",
        node_id,
        password,
        ca=broker.ca if tls else None,
        cert=broker.cert if tls else None,
        key=broker.key if tls else None,
        keepalive=broker.keepalive_s,
    )


def _guard(fn: Callable[..., None]) -> Callable[..., None]:
    """A paho callback that never raises (an exception would break paho's loop)."""

    def wrapped(*args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("in a paho callback")

    return wrapped


class MqttTransport:
    """One broker connection at a time, driven by its owner's thread (module rules)."""

    def __init__(self, endpoint: Endpoint, client_id: str) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self.events: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
        self._client: paho.Client | None = None
        self._generation = 0
        self._next_ref = 0
        self._refs: dict[int, tuple[int, int, int]] = {}  # ref -> (generation, mid, qos)
        self._sent: dict[int, str] = {}  # mid -> topic of our PUBLISHes awaiting PUBACK
        self._ended = False  # the current connection's Disconnected was reported

    @property
    def active(self) -> bool:
        """A connection is open or being opened."""
        return self._client is not None

    def open(self, will: Publish) -> None:
        """Open a new connection with ``will``; CONNACK arrives later as an event.
        Raises ``TransportError``."""
        self.close()
        self._generation += 1
        self._ended = False
        client = self._new_client(self._generation)
        props = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
        props.WillDelayInterval = WILL_DELAY_S
        client.will_set(will.topic, will.payload, qos=1, retain=will.retain, properties=props)
        connect = connect_properties(SESSION_EXPIRY_S)
        ep = self.endpoint
        self._client = client
        try:
            client.connect(ep.host, ep.port, ep.keepalive, clean_start=False, properties=connect)
        except (OSError, ValueError, ssl.SSLError) as exc:
            self._ended = True  # it never began
            self.close()
            raise TransportError(f"cannot connect to {ep.host}:{ep.port}: {exc}") from exc

    def _new_client(self, generation: int) -> paho.Client:
        try:
            c = new_client(
                self.endpoint, self.client_id, max_queued=MAX_QUEUED, reconnect_on_failure=False
            )
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise TransportError(f"TLS files: {exc}") from exc
        c.connect_timeout = CONNECT_TIMEOUT_S
        put = self.events.put

        def current() -> bool:
            return generation == self._generation

        def on_connect(c: Any, u: Any, flags: Any, rc: ReasonCode, p: Any) -> None:
            if current():
                if rc.is_failure:
                    put(Refused(str(rc)))
                else:
                    put(Connected(bool(flags.session_present)))

        def on_disconnect(c: Any, u: Any, flags: Any, rc: ReasonCode, p: Any) -> None:
            if current() and not self._ended:
                self._ended = True
                put(Disconnected(str(rc)))

        def on_message(c: Any, u: Any, m: paho.MQTTMessage) -> None:
            if not current():
                return
            ref = None
            if m.qos > 0:
                self._next_ref += 1
                ref = self._next_ref
                self._refs[ref] = (generation, m.mid, m.qos)
            put(MessageIn(m.topic, bytes(m.payload), ref, bool(m.dup), bool(m.retain)))

        def on_publish(c: Any, u: Any, mid: int, rc: ReasonCode, p: Any) -> None:
            topic = self._sent.pop(mid, None)
            if current() and rc.is_failure:
                put(PublishRefused(topic or f"(message {mid})", str(rc)))

        c.on_connect = _guard(on_connect)
        c.on_publish = _guard(on_publish)
        c.on_disconnect = _guard(on_disconnect)
        c.on_message = _guard(on_message)
        return c

    def loop(self, timeout: float) -> None:
        """Do network I/O for up to ``timeout`` seconds (callbacks fill ``events``).
        A connection that ended yields exactly one ``Disconnected``."""
        client = self._client
        if client is None:
            return
        client.loop(timeout)
        if client.socket() is None:  # paho closed it
            self._forget()

    def publish(self, p: Publish) -> None:
        if self._client is None:
            return
        info = self._client.publish(p.topic, p.payload, qos=1, retain=p.retain)
        if info.rc == paho.MQTT_ERR_SUCCESS:
            self._sent[info.mid] = p.topic
        else:
            log.debug("publish on %s: paho says %s", p.topic, paho.error_string(info.rc))

    def subscribe(self, topics: tuple[str, ...]) -> None:
        if self._client is not None:
            self._client.subscribe([(t, 1) for t in topics])

    def ack(self, ref: int) -> None:
        """PUBACK the message ``ref`` if it came on the current connection."""
        entry = self._refs.pop(ref, None)
        if entry is None or self._client is None:
            return
        generation, mid, qos = entry
        if generation == self._generation:
            self._client.ack(mid, qos)

    def disconnect(self, timeout: float = 2.0) -> None:
        """A normal DISCONNECT (the broker drops the Will), flushed for up to
        ``timeout`` seconds, then close."""
        client = self._client
        if client is None:
            return
        client.disconnect()
        loops = max(1, int(timeout / 0.05))
        for _ in range(loops):
            if client.loop(0.05) != paho.MQTT_ERR_SUCCESS or client.socket() is None:
                break
        self.close()

    def close(self) -> None:
        """Close the socket (no DISCONNECT: the broker will send the Will) and
        paho's internal socket pair. Idempotent."""
        self._forget()

    def _forget(self) -> None:
        client, self._client = self._client, None
        self._refs.clear()
        self._sent.clear()
        if client is not None:
            if not self._ended:
                self._ended = True
                self.events.put(Disconnected("connection closed"))
            release(client)  # the socket pair loop() opened
