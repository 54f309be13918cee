"""MQTT peers for the end-to-end tests: a wiretap, an attacker, a stand-in.

``Peer`` is a paho MQTT 5 client on its own network thread, over a unix socket
or TLS. Its callbacks only fill queues; the test thread matches acks by packet
id and waits at most ``WAIT_S`` for any of them. ``close()`` disconnects, stops
the network thread and closes paho's socket pair; it is idempotent.
"""

from __future__ import annotations

import base64
import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sync.mqtt import SafeClient as _Client

from .processes import WAIT_S


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
