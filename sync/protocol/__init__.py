"""The sync wire protocol (PROTOCOL.md §3-§6): pure, bytes and dicts in, typed values out.

- ``envelope``: JWS compact / EdDSA ``sign`` and ``verify`` (§4).
- ``messages``: one frozen dataclass per kind, ``encode`` and ``decode`` (§5, §6).
- ``topics``: the topic table, ``topic_for`` and ``parse_topic`` (§3).
- ``receive``: the receiver's gate ``check`` and the ``HeadGuard`` and
  ``CommandGuard`` replay guards (§4, §6).
- ``send``: ``pack(msg, node=, iat=, kid=, key=)`` → topic, signed payload, retain.
- ``records``: central's entities as typed records, strict ``from_wire`` (§6).
- ``wire``: ``changes`` batches and ``snapshot`` parts, the node's events (§5, §6).
- ``timeutil``: instants on the wire (RFC 3339 ``Z``) and facility time.
- ``testing``: deterministic test keys and an in-memory broker (tests only).

Nothing here reads a clock, a socket or a database; time is passed in.
"""

from .codes import (
    PROTOCOL_VERSION,
    Audience,
    ClockSource,
    Cmd,
    Direction,
    Kind,
    State,
    VerdictStatus,
    Want,
    is_node_id,
)
from .envelope import MAX_TOKEN_BYTES, Verified, sign, verify
from .errors import (
    BadSignature,
    EnvelopeError,
    Malformed,
    MessageError,
    ProtocolError,
    TooLarge,
    TopicError,
    UnknownKey,
    UnknownKind,
    UnsupportedAlgorithm,
)
from .messages import (
    Ack,
    Changes,
    Clock,
    Command,
    Common,
    Cursor,
    Events,
    Head,
    Hello,
    KioskText,
    Message,
    OutboxRange,
    Snapshot,
    Status,
    Unlock,
    decode,
    encode,
    read_common,
)
from .receive import (
    Accepted,
    CommandGuard,
    HeadGuard,
    KeySource,
    Rejected,
    RejectReason,
    check,
)
from .send import Outgoing, pack, pack_events
from .topics import (
    Suffix,
    allowed,
    central_subscriptions,
    node_subscriptions,
    parse_topic,
    rule_for,
    topic_for,
)
from .wire import (
    EVENT_TYPES,
    MAX_BATCH,
    BatchError,
    ChangeBatch,
    Op,
    OutboxEvent,
    SnapshotPart,
    Verdict,
)

__all__ = [
    "EVENT_TYPES",
    "MAX_BATCH",
    "MAX_TOKEN_BYTES",
    "PROTOCOL_VERSION",
    "Accepted",
    "Ack",
    "Audience",
    "BadSignature",
    "BatchError",
    "ChangeBatch",
    "Changes",
    "Clock",
    "ClockSource",
    "Cmd",
    "Command",
    "CommandGuard",
    "Common",
    "Cursor",
    "Direction",
    "EnvelopeError",
    "Events",
    "Head",
    "HeadGuard",
    "Hello",
    "KeySource",
    "Kind",
    "KioskText",
    "Malformed",
    "Message",
    "MessageError",
    "Op",
    "OutboxEvent",
    "OutboxRange",
    "Outgoing",
    "ProtocolError",
    "RejectReason",
    "Rejected",
    "Snapshot",
    "SnapshotPart",
    "State",
    "Status",
    "Suffix",
    "TooLarge",
    "TopicError",
    "UnknownKey",
    "UnknownKind",
    "Unlock",
    "UnsupportedAlgorithm",
    "Verdict",
    "VerdictStatus",
    "Verified",
    "Want",
    "allowed",
    "central_subscriptions",
    "check",
    "decode",
    "encode",
    "is_node_id",
    "node_subscriptions",
    "pack",
    "pack_events",
    "parse_topic",
    "read_common",
    "rule_for",
    "sign",
    "topic_for",
    "verify",
]
