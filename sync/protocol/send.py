"""The sending side in one call: claims, signature, topic and retained flag.

Rules this module guarantees:
- ``pack`` returns exactly what a receiver's ``check`` accepts from ``node``
  holding ``key`` under ``kid``: the topic of the message's kind (PROTOCOL.md
  §3), its retained flag, and the signed token (§4).
- It raises ``MessageError`` for a message that would not decode, ``TooLarge``
  for one above 256 KiB (the caller splits it: fewer events, more snapshot
  parts), ``ValueError`` for a bad ``kid`` and ``TopicError`` for a bad node id.
- ``pack_events`` returns exactly ``pack``'s bytes for an ``events`` message
  whose bodies the caller also holds as canonical JSON text (the node's
  outbox keeps them so, ``sync.replica.outbox``): the texts are spliced into
  the canonical payload instead of encoding the bodies again. Every check
  ``pack`` makes is made (``encode`` validates the message, bodies included);
  the texts must be ``canonical_json`` of the bodies (the caller's promise;
  tests/sync/test_protocol_pack_events.py compares the bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .envelope import MAX_DEPTH, canonical_json, sign, sign_canonical
from .messages import Events, Message, encode
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


# An ``events`` payload with no events, canonical: its list is where the events go
# (``epoch``, an integer, is the only member before it).
_EVENTS_SLOT = '"events":[]'
# A body is at the fourth level of the payload (claims, events, event, body):
# text with at most this many brackets cannot nest deeper than the envelope allows.
_BODY_BRACKETS = MAX_DEPTH - 3


def pack_events(
    msg: Events, bodies: Sequence[str], *, node: str, iat: int, kid: str, key: Ed25519PrivateKey
) -> Outgoing:
    """``pack(msg, ...)``, with ``bodies[i]`` the canonical JSON text of
    ``msg.events[i].body`` spliced in (module rules). Raises what ``pack`` raises."""
    if len(bodies) != len(msg.events):
        raise ValueError(f"{len(bodies)} body texts for {len(msg.events)} events")
    claims = encode(msg, node, iat)  # every check of the message, bodies included
    if any(b.count("{") + b.count("[") > _BODY_BRACKETS for b in bodies):
        payload = canonical_json(claims)  # deep bodies: the full check (and its error)
    else:
        payload = _spliced(claims, bodies)
    token = sign_canonical(payload, kid, key)
    return Outgoing(topic_for(msg.KIND, node), token, rule_for(msg.KIND).retained)


def _spliced(claims: dict[str, Any], bodies: Sequence[str]) -> bytes:
    """``canonical_json(claims)`` with the events' bodies given as text: each
    event's members in sorted order (at, body, id, seq, type), compact."""
    q = encode_basestring  # json.dumps's own string encoder (ensure_ascii=False)
    events = ",".join(
        f'{{"at":{q(e["at"])},"body":{b},"id":{q(e["id"])},"seq":{int(e["seq"])},'
        f'"type":{q(e["type"])}}}'
        for e, b in zip(claims["events"], bodies, strict=True)
    )
    head, tail = canonical_json({**claims, "events": []}).decode("utf-8").split(_EVENTS_SLOT, 1)
    try:
        return f'{head}"events":[{events}]{tail}'.encode()
    except UnicodeEncodeError:
        raise ValueError("payload holds a lone surrogate") from None
