"""The sending side in one call: claims, signature, topic and retained flag.

Rules this module guarantees:
- ``pack`` returns exactly what a receiver's ``check`` accepts from ``node``
  holding ``key`` under ``kid``: the topic of the message's kind (PROTOCOL.md
  §3), its retained flag, and the signed token (§4).
- It raises ``MessageError`` for a message that would not decode, ``TooLarge``
  for one above 256 KiB (the caller splits it: fewer events, more snapshot
  parts), ``ValueError`` for a bad ``kid`` and ``TopicError`` for a bad node id.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .envelope import sign
from .messages import Message, encode
from .topics import rule_for, topic_for

QOS = 1  # PROTOCOL.md §2: QoS 1 for every message


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT publish: ``payload`` on ``topic`` with ``retain``, at QoS 1."""

    topic: str
    payload: bytes
    retain: bool
    qos: int = QOS


def pack(msg: Message, *, node: str, iat: int, kid: str, key: Ed25519PrivateKey) -> Outgoing:
    """Encode ``msg`` as sent by ``node`` at ``iat`` (Unix seconds), sign it, address it."""
    topic = topic_for(msg.KIND, node)
    token = sign(encode(msg, node, iat), kid, key)
    return Outgoing(topic, token, rule_for(msg.KIND).retained)
