"""The receiver's gate (PROTOCOL.md §4) and the replay guards of ``head`` and ``command`` (§6).

Rules this module guarantees:
- ``check`` turns one received ``(topic, payload)`` into ``Accepted`` or
  ``Rejected``; it never raises for any topic text or payload bytes, and it
  reads no clock: ``now`` is passed in.
- A message is accepted only if, in this order: its topic is a row of §3 in the
  direction the receiver consumes (and for ``expect_node``, that node's); the
  token verifies with a key trusted *for the topic's node*; its ``node`` claim
  equals the topic's node; its ``kind`` is known and allowed on the topic; its
  ``exp`` has not passed (checked only when the clock is trusted); and the
  message is valid. The first failing rule names the ``RejectReason``.
- Reasons split as §4 says: ``bad_signature``, ``unknown_key``, ``wrong_node``,
  ``wrong_topic``, ``expired`` (and the guards' ``rollback``, ``replayed``) are
  security events, logged as ``security.rejected``; ``malformed`` and
  ``unknown_kind`` are quarantined and counted. A known kind on the wrong topic
  is ``wrong_topic``; a kind this version does not know is ``unknown_kind``
  wherever it arrives (forward compatibility).
- ``HeadGuard`` drops a head below a revision already applied or seen
  (rollback) and, with a trusted clock, a stale one. ``CommandGuard`` drops a
  command whose ``seq`` is not above the last one taken (replay), whose
  lifetime breaks §6, or, with a trusted clock, that has expired. Their state
  is plain ints the caller persists; a rejection never changes it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .codes import Direction, Kind
from .envelope import verify
from .errors import BadSignature, Malformed, MessageError, TopicError, UnknownKey
from .messages import COMMAND_MAX_LIFETIME, Command, Head, Message, decode, read_common
from .topics import TOPICS, allowed, parse_topic

DETAIL_MAX_CHARS = 200

KeyRing = Mapping[str, Ed25519PublicKey]
# A node passes central's pinned keys; central passes a function giving the keys
# registered to one node (an empty mapping for a node it does not know), so one
# node's key can never speak for another.
KeySource = KeyRing | Callable[[str], KeyRing]


class RejectReason(enum.StrEnum):
    MALFORMED = "malformed"
    UNKNOWN_KIND = "unknown_kind"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    WRONG_NODE = "wrong_node"
    WRONG_TOPIC = "wrong_topic"
    EXPIRED = "expired"
    ROLLBACK = "rollback"
    REPLAYED = "replayed"

    @property
    def security(self) -> bool:
        """True: log as a ``security.rejected`` event; False: quarantine and count."""
        return self not in (RejectReason.MALFORMED, RejectReason.UNKNOWN_KIND)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A message that passed the gate: from ``node``, signed with ``kid`` at ``iat``."""

    node: str
    kind: Kind
    message: Message
    iat: int
    kid: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A dropped message; it must change no state (PROTOCOL.md §4)."""

    reason: RejectReason
    detail: str

    @property
    def security(self) -> bool:
        return self.reason.security

    @property
    def quarantine(self) -> bool:
        return not self.reason.security

    def event_body(self, topic: str) -> dict[str, Any]:
        """The body of the ``security.rejected`` event recording this drop."""
        return {"topic": topic[:200], "reason": self.reason.value, "detail": self.detail}


def _rejected(reason: RejectReason, detail: object) -> Rejected:
    return Rejected(reason, str(detail)[:DETAIL_MAX_CHARS])


def check(
    topic: str,
    token: bytes,
    keys: KeySource,
    *,
    now: int | None,
    clock_trusted: bool,
    expect_direction: Direction,
    expect_node: str | None = None,
) -> Accepted | Rejected:
    """Gate one received message (module rules). ``now`` is Unix seconds or None.

    Raises ``ValueError`` only for a caller error: ``clock_trusted`` without ``now``.
    """
    if clock_trusted and now is None:
        raise ValueError("a trusted clock needs now")
    try:
        node, suffix = parse_topic(topic)
    except TopicError as exc:
        return _rejected(RejectReason.WRONG_TOPIC, exc)
    if TOPICS[suffix].direction is not expect_direction:
        return _rejected(RejectReason.WRONG_TOPIC, f"{suffix} is not a {expect_direction} topic")
    if expect_node is not None and node != expect_node:
        return _rejected(RejectReason.WRONG_TOPIC, f"topic of node {node!r}, not ours")
    try:
        verified = verify(token, keys(node) if callable(keys) else keys)
    except UnknownKey as exc:
        return _rejected(RejectReason.UNKNOWN_KEY, exc)
    except BadSignature as exc:
        return _rejected(RejectReason.BAD_SIGNATURE, exc)
    except Malformed as exc:
        return _rejected(RejectReason.MALFORMED, exc)
    claims = verified.claims
    if claims.get("node") != node:
        return _rejected(RejectReason.WRONG_NODE, f"node claim {claims.get('node')!r}"[:80])
    raw_kind = claims.get("kind")
    if not isinstance(raw_kind, str):
        return _rejected(RejectReason.MALFORMED, "kind: must be a string")
    try:
        kind = Kind(raw_kind)
    except ValueError:
        return _rejected(RejectReason.UNKNOWN_KIND, f"kind {raw_kind[:64]!r}")
    if not allowed(suffix, kind):
        return _rejected(RejectReason.WRONG_TOPIC, f"{kind} is not allowed on {suffix}")
    try:
        common = read_common(claims)
        if clock_trusted and common.exp is not None and now is not None and now >= common.exp:
            return _rejected(RejectReason.EXPIRED, f"exp {common.exp} is not after now {now}")
        message = decode(claims)
    except MessageError as exc:
        return _rejected(RejectReason.MALFORMED, exc)
    return Accepted(node, kind, message, common.iat, verified.kid)


class HeadGuard:
    """Rollback and staleness of ``head`` (PROTOCOL.md §6). Held by the node's link.

    ``applied_rev`` is the replica's; ``seen_rev`` the highest head accepted
    (``sync_state.head_rev``). Persist ``seen_rev`` after an accepted head.
    """

    __slots__ = ("applied_rev", "seen_rev")

    def __init__(self, applied_rev: int = 0, seen_rev: int = 0) -> None:
        self.applied_rev, self.seen_rev = applied_rev, seen_rev

    def admit(self, head: Head, *, now: int | None, clock_trusted: bool) -> Rejected | None:
        """None if ``head`` is fresh (and remember its rev), else why it is dropped."""
        if head.rev < self.applied_rev:
            return _rejected(
                RejectReason.ROLLBACK, f"head rev {head.rev} < applied rev {self.applied_rev}"
            )
        if head.rev < self.seen_rev:
            return _rejected(
                RejectReason.ROLLBACK, f"head rev {head.rev} < seen head rev {self.seen_rev}"
            )
        if clock_trusted and now is not None and now >= head.exp:
            return _rejected(RejectReason.EXPIRED, f"stale head: exp {head.exp}, now {now}")
        self.seen_rev = head.rev
        return None

    def applied(self, rev: int) -> None:
        """Record that the replica now stands at ``rev`` (after changes or a snapshot)."""
        self.applied_rev = max(self.applied_rev, rev)


class CommandGuard:
    """Replay and expiry of ``command`` (PROTOCOL.md §6). Held by the node's link.

    ``last_seq`` is the highest command ``seq`` taken. ``admit`` takes a command
    at most once: persist ``last_seq`` *before* executing it, so a crash can
    lose a command (central sees no ``command.done`` and sends a new one) but
    never run one twice.
    """

    __slots__ = ("last_seq",)

    def __init__(self, last_seq: int = 0) -> None:
        self.last_seq = last_seq

    def admit(
        self, cmd: Command, *, iat: int, now: int | None, clock_trusted: bool
    ) -> Rejected | None:
        """None if ``cmd`` (signed at ``iat``) may run (and take its seq), else why not."""
        if cmd.seq <= self.last_seq:
            return _rejected(
                RejectReason.REPLAYED, f"command seq {cmd.seq} <= last seq {self.last_seq}"
            )
        if not iat < cmd.exp <= iat + COMMAND_MAX_LIFETIME:
            return _rejected(
                RejectReason.MALFORMED,
                f"command exp {cmd.exp} must be within {COMMAND_MAX_LIFETIME} s after iat {iat}",
            )
        if clock_trusted and now is not None and now >= cmd.exp:
            return _rejected(RejectReason.EXPIRED, f"command exp {cmd.exp}, now {now}")
        self.last_seq = cmd.seq
        return None
