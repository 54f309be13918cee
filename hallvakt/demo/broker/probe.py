"""A readiness probe in raw MQTT 5 bytes: one CONNECT, one CONNACK.

No paho, no threads: ``probe`` opens one socket (unix or TCP), sends a CONNECT
(MQTT 5.0 §3.1: clean start, a random ``hallvakt-probe-`` client id), reads one
packet and returns the CONNACK's reason code (§3.2). An accepted connection is
closed with a DISCONNECT; anything other than a CONNACK raises
``ConnectionError``, nothing answering raises ``OSError``.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
from pathlib import Path

_CONNACK = 0x20


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _connect_packet(client_id: str) -> bytes:
    cid = client_id.encode("utf-8")
    variable = (
        b"\x00\x04MQTT"  # protocol name
        + b"\x05"  # protocol level: MQTT 5
        + b"\x02"  # connect flags: clean start, no will, no user name
        + b"\x00\x0a"  # keep alive: 10 s
        + b"\x00"  # no properties
    )
    payload = len(cid).to_bytes(2, "big") + cid
    return b"\x10" + _varint(len(variable) + len(payload)) + variable + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection before a CONNACK")
        data += chunk
    return bytes(data)


def probe(address: Path | tuple[str, int], timeout: float = 2.0) -> int:
    """Send an MQTT 5 CONNECT to a unix socket path or a (host, port) and
    return the CONNACK reason code (0 = accepted; 0x87 = not authorized…).
    Raises ``OSError`` (``ConnectionRefusedError``, ``FileNotFoundError``,
    ``TimeoutError``…) when nothing answers, ``ConnectionError`` when the peer
    closes or answers with something other than a CONNACK."""
    family = socket.AF_UNIX if isinstance(address, Path) else socket.AF_INET
    target: str | tuple[str, int] = str(address) if isinstance(address, Path) else address
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(target)
        sock.sendall(_connect_packet(f"hallvakt-probe-{secrets.token_hex(4)}"))
        kind = _recv_exact(sock, 1)[0]
        if kind >> 4 != _CONNACK >> 4:
            raise ConnectionError(f"expected a CONNACK, got packet type {kind >> 4}")
        length = 0
        for shift in range(0, 28, 7):
            byte = _recv_exact(sock, 1)[0]
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
        body = _recv_exact(sock, length)
        if len(body) < 2:
            raise ConnectionError("a CONNACK shorter than 2 bytes")
        reason = body[1]
        if reason == 0:
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")  # DISCONNECT, normal disconnection
        return reason
