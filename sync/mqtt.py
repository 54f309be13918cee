"""The one paho MQTT 5 set-up both ends of the link share (PROTOCOL.md §2).

The node's transport (``sync.link.transport``) and central's gateway
(``sync.central.link``) each own their client from one thread and keep their
own loop; this module makes their clients, so that they are made one way.
paho is imported only here and in those two modules (house style 6).

Rules this module guarantees:
- ``new_client`` gives a client speaking MQTT 5 with callback API 2 and
  ``manual_ack`` (an inbound message is acknowledged only when its owner says
  so, after its effect is committed), paho's outgoing queue capped before any
  connect (shared FIELD-NOTES.md: ``max_queued_messages_set`` must come first),
  the user name and password of the endpoint, and TLS when it has a CA.
- ``unix`` endpoints connect to the socket path in ``host``; ``tcp`` ones to
  ``host:port``. TLS is 1.2 or later, checks the broker's certificate against
  ``ca`` and its host name, and offers the client certificate; ``tls_context``
  raises ``OSError`` or ``ValueError`` for TLS files that cannot be used.
- ``connect_properties`` asks for a Session Expiry Interval: with
  ``clean_start=False`` (the callers' connect) the broker keeps the session
  and its QoS 1 messages across disconnects.
- ``release`` closes the socket pair paho's ``loop()`` opens, which only
  paho's ``__del__`` would close.
- The client is a ``SafeClient``: paho 2.2 leaves a unix socket whose connect
  failed, and a TLS socket whose handshake failed, to the garbage collector (a
  ResourceWarning, and a file descriptor held until then); it closes them at once.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

UNIX_PORT = 1883  # paho wants a port even for a unix socket; it is not used


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and as whom to connect. ``transport`` is ``tcp`` or ``unix`` (then
    ``host`` is the socket's path); TLS when ``ca`` is set."""

    host: str
    port: int
    transport: str
    username: str | None = None
    password: str | None = None
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    keepalive: int = 60

    @property
    def tls(self) -> bool:
        return self.ca is not None


def tls_context(ep: Endpoint) -> ssl.SSLContext:
    """TLS 1.2 or later, the broker's certificate checked against ``ep.ca`` and
    its host name, the client certificate offered. Raises ``OSError`` (an
    ``ssl.SSLError`` among them) or ``ValueError`` for unusable files."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ep.ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ep.cert is not None:
        ctx.load_cert_chain(str(ep.cert), None if ep.key is None else str(ep.key))
    return ctx


def new_client(
    ep: Endpoint, client_id: str, *, max_queued: int, reconnect_on_failure: bool = True
) -> paho.Client:
    """A client for ``ep`` (module rules), not yet connected. Raises what
    ``tls_context`` raises."""
    c = SafeClient(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5,
        transport="unix" if ep.transport == "unix" else "tcp",
        reconnect_on_failure=reconnect_on_failure,
        manual_ack=True,
    )
    c.max_queued_messages_set(max_queued)
    if ep.username is not None:
        c.username_pw_set(ep.username, ep.password)
    if ep.tls:
        c.tls_set_context(tls_context(ep))
    return c


def connect_properties(session_expiry_s: int) -> Properties:
    """CONNECT properties with a Session Expiry Interval of ``session_expiry_s``."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    return props


def release(client: paho.Client) -> None:
    """Close the socket pair ``loop()`` opened (paho closes it only in ``__del__``)."""
    client._reset_sockets()


class SafeClient(paho.Client):
    """paho's client, closing the socket of a failed connect (module rules)."""

    def _create_unix_socket_connection(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._connect_timeout)
            sock.connect(self._host)
        except BaseException:
            sock.close()
            raise
        return sock

    def _ssl_wrap_socket(self, tcp_sock: socket.socket) -> ssl.SSLSocket:
        context = self._ssl_context
        if context is None:  # pragma: no cover - only called after tls_set_context
            raise ValueError("no TLS context")
        try:
            ssl_sock = context.wrap_socket(
                tcp_sock, server_hostname=self._host, do_handshake_on_connect=False
            )
        except BaseException:
            tcp_sock.close()
            raise
        try:
            ssl_sock.settimeout(self._connect_timeout)
            ssl_sock.do_handshake()  # the context checks the host name (check_hostname)
        except BaseException:
            ssl_sock.close()
            raise
        return ssl_sock
