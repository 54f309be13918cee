"""System-test fixtures: a real Mosquitto per test (hallvakt/demo/broker/) and paho clients.

- ``make_broker(**changes)``: a started ``PrivateBroker`` whose ``BrokerConfig``
  has ``changes`` applied (e.g. ``autosave_interval=1``); stopped at teardown.
  Skips the test only when mosquitto is not installed (``make test`` installs it).
  Its config, socket, persistence and ``broker.log`` are in ``tmp_path/broker0``
  (pytest keeps the last runs' temp directories: read the log after a failure).
- ``broker``: the default private broker: a unix socket and a loopback TCP
  port, anonymous, persistence in its own temp directory, production limits.
- ``test_ca``: a throwaway CA (tests/support/tls.py) in the test's temp directory.
- ``identity("node-a")``: the TLS client files of a certificate with that CN.
- ``tls_broker``: a broker with production's TLS listener (client certificate
  required, CN = user name = client id) and production's ACL file
  (deploy/mosquitto/hallvakt.acl); its unix socket, there for the readiness
  probe, admits nobody (no anonymous clients, no passwords).
- ``mqtt(client_id, address, ...)``: a connected ``Peer`` (a paho MQTT v5 client
  whose callbacks only fill queues); every peer is disconnected and its network
  thread stopped at teardown. It reconnects by itself after a lost connection,
  unless made with ``reconnect=False`` (then its network thread ends with it).
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.broker import BrokerConfig, PrivateBroker, TlsListener, mosquitto_available
from tests.support.tls import Issued, TestCA

ACL_FILE = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "hallvakt.acl"
WAIT = 5.0  # seconds: the longest any single broker round trip may take here

Address = Path | tuple[str, int]


@dataclass(frozen=True, slots=True)
class ClientTls:
    """What a client needs for the TLS listener: the CA that signed the broker's
    certificate, and its own certificate (None: connect without one)."""

    ca: Path
    cert: Issued | None


# Tuples, so that tests compare them with plain tuples (a test module cannot
# import from this conftest under --import-mode=importlib).
class ConnAck(NamedTuple):
    session_present: bool
    reason: int


class Received(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection ended; ``reason`` None when it never opened."""

    reason: int | None


class Peer:
    """One paho MQTT v5 client on its own network thread (``loop_start``).
    Callbacks only put onto queues; every wait has a timeout."""

    def __init__(
        self,
        client_id: str,
        address: Address,
        *,
        tls: ClientTls | None = None,
        clean_start: bool = True,
        session_expiry: int | None = None,
        username: str | None = None,
        reconnect: bool = True,
    ) -> None:
        self.client_id = client_id
        self.connack: ConnAck | None = None  # the latest CONNACK
        self._address = address
        self._clean_start = clean_start
        self._props: Properties | None = None
        if session_expiry is not None:
            self._props = Properties(PacketTypes.CONNECT)
            self._props.SessionExpiryInterval = session_expiry
        self.connection: queue.Queue[ConnAck | Closed] = queue.Queue()
        self.messages: queue.Queue[Received] = queue.Queue()
        self._acks: queue.Queue[tuple[int, list[int]]] = queue.Queue()
        self._early_acks: dict[int, list[int]] = {}
        c = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            transport="unix" if isinstance(address, Path) else "tcp",
            reconnect_on_failure=reconnect,
        )
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        # Reconnect soon after a lost or refused connection: loop_stop() waits out
        # the current back-off (paho sleeps up to 1 s at a time), so a long one
        # would only slow every teardown.
        c.reconnect_delay_set(min_delay=0.1, max_delay=1)  # type: ignore[arg-type]
        if username is not None:
            c.username_pw_set(username)
        if tls is not None:
            c.tls_set(
                ca_certs=str(tls.ca),
                certfile=None if tls.cert is None else str(tls.cert.cert),
                keyfile=None if tls.cert is None else str(tls.cert.key),
            )
        self.client = c

    # -- callbacks (paho's thread): queue and return --------------------------

    def _on_connect(self, c: Any, u: Any, flags: Any, rc: ReasonCode, p: Any) -> None:
        self.connection.put(ConnAck(bool(flags.session_present), rc.value))

    def _on_connect_fail(self, c: Any, u: Any) -> None:
        self.connection.put(Closed(None))

    def _on_disconnect(self, c: Any, u: Any, flags: Any, rc: ReasonCode, p: Any) -> None:
        self.connection.put(Closed(rc.value))

    def _on_message(self, c: Any, u: Any, m: paho.MQTTMessage) -> None:
        self.messages.put(Received(m.topic, bytes(m.payload), m.qos, bool(m.retain)))

    def _on_publish(self, c: Any, u: Any, mid: int, rc: ReasonCode, p: Any) -> None:
        self._acks.put((mid, [rc.value]))

    def _on_subscribe(self, c: Any, u: Any, mid: int, rcs: list[ReasonCode], p: Any) -> None:
        self._acks.put((mid, [r.value for r in rcs]))

    # -- the test's side ----------------------------------------------------------

    def start(self) -> None:
        """Begin connecting on the network thread; do not wait."""
        if isinstance(self._address, Path):
            host, port = str(self._address), 1883  # paho wants a port even for a socket
        else:
            host, port = self._address
        self.client.connect_async(
            host, port, keepalive=30, clean_start=self._clean_start, properties=self._props
        )
        self.client.loop_start()

    def _next(self, timeout: float) -> ConnAck | Closed:
        try:
            return self.connection.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: nothing happened within {timeout} s") from None

    def wait_connack(self, timeout: float = WAIT) -> ConnAck | None:
        """The next CONNACK, or None if the connection ended before one (a TLS
        failure, say). Raises ``AssertionError`` if neither happens in time."""
        event = self._next(timeout)
        if isinstance(event, Closed):
            return None
        self.connack = event
        return event

    def wait_closed(self, timeout: float = WAIT) -> Closed:
        """The next end of the connection, skipping CONNACKs."""
        while True:
            event = self._next(timeout)
            if isinstance(event, Closed):
                return event

    def _ack(self, mid: int, what: str) -> list[int]:
        # paho may call on_publish/on_subscribe before publish()/subscribe()
        # return, and reuses message ids: match by the id paho just gave us.
        while mid not in self._early_acks:
            try:
                got, codes = self._acks.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"{self.client_id}: no {what} for mid {mid}") from None
            self._early_acks[got] = codes
        return self._early_acks.pop(mid)

    def subscribe(self, topic: str, qos: int = 1) -> list[int]:
        """Subscribe and return the SUBACK reason codes (1 = granted QoS 1)."""
        rc, mid = self.client.subscribe(topic, qos)
        assert rc == paho.MQTT_ERR_SUCCESS, rc
        assert mid is not None
        return self._ack(mid, "SUBACK")

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Publish at QoS 1 and return the PUBACK reason code (0 = success)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert info.rc == paho.MQTT_ERR_SUCCESS, info.rc
        return self._ack(info.mid, "PUBACK")[0]

    def expect_message(self, timeout: float = WAIT) -> Received:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no message within {timeout} s") from None

    def close(self) -> None:
        """Disconnect (normal disconnection: a session with an expiry is kept)
        and stop the network thread. Idempotent."""
        self.client.disconnect()
        self.client.loop_stop()
        # loop_start() opens a loopback socket pair that only paho's __del__
        # closes; in a garbage-collected cycle that is a ResourceWarning (an
        # error here). Close it now, as __del__ would.
        self.client._reset_sockets()


def _need_mosquitto() -> None:
    if not mosquitto_available():
        pytest.skip(
            "mosquitto is not installed (Debian package mosquitto; `make test` installs it)"
        )


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., PrivateBroker]]:
    _need_mosquitto()
    made: list[PrivateBroker] = []

    def make(**changes: Any) -> PrivateBroker:
        # In tmp_path, which pytest keeps after a failure (broker.log is there),
        # unless the socket path would be too long: then a short temp directory.
        directory = tmp_path / f"broker{len(made)}"
        if len(os.fsencode(directory / "mqtt.sock")) > 100:
            directory = None
        b = PrivateBroker(replace(BrokerConfig(), **changes), directory=directory)
        made.append(b)
        return b.start()

    try:
        yield make
    finally:
        for b in reversed(made):
            b.stop()


@pytest.fixture
def broker(make_broker: Callable[..., PrivateBroker]) -> PrivateBroker:
    return make_broker()


@pytest.fixture
def test_ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "pki")


@pytest.fixture
def identity(test_ca: TestCA) -> Callable[..., ClientTls]:
    """``identity(cn)``: TLS files for a client certificate with that CN from
    ``test_ca`` (or from ``issuer``); ``identity(None)``: no certificate. The
    client always trusts ``test_ca``, which signed the broker's certificate."""
    issued: dict[tuple[int, str], Issued] = {}

    def make(cn: str | None, issuer: TestCA | None = None) -> ClientTls:
        if cn is None:
            return ClientTls(test_ca.cert_path, None)
        ca = issuer or test_ca
        key = (id(ca), cn)
        if key not in issued:
            issued[key] = ca.client(cn)
        return ClientTls(test_ca.cert_path, issued[key])

    return make


@pytest.fixture
def tls_broker(make_broker: Callable[..., PrivateBroker], test_ca: TestCA) -> PrivateBroker:
    server = test_ca.server()
    return make_broker(
        tcp_port=None,
        tls=TlsListener(cafile=test_ca.cert_path, certfile=server.cert, keyfile=server.key),
        allow_anonymous=False,
        acl_file=ACL_FILE,
    )


@pytest.fixture
def mqtt() -> Iterator[Callable[..., Peer]]:
    peers: list[Peer] = []

    def make(client_id: str, address: Address | None, *, connect: bool = True, **kw: Any) -> Peer:
        assert address is not None, "the broker has no such listener"
        peer = Peer(client_id, address, **kw)
        peers.append(peer)
        peer.start()
        if connect:
            ack = peer.wait_connack()
            assert ack is not None, f"{client_id}: the connection ended before a CONNACK"
            assert ack.reason == 0, f"{client_id}: CONNACK reason {ack.reason}"
        return peer

    try:
        yield make
    finally:
        for peer in reversed(peers):
            peer.close()
