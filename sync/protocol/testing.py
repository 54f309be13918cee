"""Test helpers that ship with the package (house style: fakes in the package).

- ``private_key(name)``: a deterministic Ed25519 key per name, so tests and
  golden tokens are reproducible. Never use these keys outside tests.
- ``ring(*names)``: the public keys of those names, keyed by the name as ``kid``.
- ``FakeBroker``: an in-memory list of ``(topic, payload)`` publishes, with the
  retained message per topic, for two endpoints talking through ``check``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .send import Outgoing


def private_key(name: str) -> Ed25519PrivateKey:
    """A fixed test key derived from ``name`` (SHA-256 of it as the RFC 8032 seed)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())


def ring(*names: str) -> dict[str, Ed25519PublicKey]:
    """``{name: public key of private_key(name)}``: a key ring with names as kids."""
    return {n: private_key(n).public_key() for n in names}


@dataclass
class FakeBroker:
    """Publishes in order; ``retained`` keeps the last retained payload per topic."""

    log: list[tuple[str, bytes]] = field(default_factory=list)
    retained: dict[str, bytes] = field(default_factory=dict)
    _read: dict[str, int] = field(default_factory=dict)

    def publish(self, out: Outgoing) -> None:
        self.log.append((out.topic, out.payload))
        if out.retain:
            self.retained[out.topic] = out.payload

    def inject(self, topic: str, payload: bytes) -> None:
        """What anyone with broker access can do: publish any bytes on any topic."""
        self.log.append((topic, payload))

    def drain(self, reader: str, prefix: str) -> list[tuple[str, bytes]]:
        """Messages under ``prefix`` that ``reader`` has not read yet, oldest first."""
        start = self._read.get(reader, 0)
        self._read[reader] = len(self.log)
        return [(t, p) for t, p in self.log[start:] if t.startswith(prefix)]
