"""The protocol's exceptions: one tree, so a receiver can catch exactly what it means.

- ``EnvelopeError``: the JWS envelope (PROTOCOL.md §4) cannot be accepted.
  ``Malformed`` (not a well-formed token we understand, ``TooLarge`` included),
  ``UnknownKey`` (no pinned or registered key has its ``kid``) and
  ``BadSignature`` (the signature does not verify, ``UnsupportedAlgorithm``
  included: a token not signed with EdDSA carries no signature we accept).
- ``MessageError``: the verified claims are not a valid message of their kind;
  ``UnknownKind`` when the ``kind`` is not one of version 1's.
- ``TopicError``: a topic name outside the table of PROTOCOL.md §3.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error of ``sync.protocol``."""


class EnvelopeError(ProtocolError):
    """A token was refused by the envelope layer (PROTOCOL.md §4)."""


class Malformed(EnvelopeError):
    """Not a compact JWS of the shape and header we accept, or a payload that is
    not a strict UTF-8 JSON object."""


class TooLarge(Malformed):
    """A token above the 256 KiB payload limit (PROTOCOL.md §2)."""


class UnknownKey(EnvelopeError):
    """The header's ``kid`` names no key the receiver trusts."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        super().__init__(f"unknown key id {kid!r}")


class BadSignature(EnvelopeError):
    """The signature does not verify with the key its ``kid`` names."""


class UnsupportedAlgorithm(BadSignature):
    """``alg`` is not ``EdDSA`` (``none``, ``HS256``, ...): never a signature we accept."""


class MessageError(ProtocolError):
    """Verified claims that are not a valid message; names the kind and the field."""

    def __init__(self, kind: str, field: str, problem: str) -> None:
        self.kind, self.field, self.problem = kind, field, problem
        where = f"{kind}: {field}" if field else kind
        super().__init__(f"{where}: {problem}")


class UnknownKind(MessageError):
    """A ``kind`` this version does not know (quarantined, PROTOCOL.md §4)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind, "kind", "unknown kind")


class TopicError(ProtocolError, ValueError):
    """A topic that is not ``hallvakt/v1/{node}/<suffix>`` of PROTOCOL.md §3."""
