"""paho's MQTT client with the sockets of failed connects closed.

paho 2.2 leaves a unix socket whose connect failed, and a TLS socket whose
handshake failed, to the garbage collector (a ResourceWarning, and a file
descriptor held until then). ``SafeClient`` closes them at once. Both ends of
the link use it: ``sync.link.transport`` and ``sync.central.link``.
"""

from __future__ import annotations

import socket
import ssl

import paho.mqtt.client as paho


class SafeClient(paho.Client):
    """paho's client, closing the socket of a failed connect. paho 2.2 leaves a
    unix socket whose connect failed, and a TLS socket whose handshake failed,
    to the garbage collector."""

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
