"""What goes into the link's core and what comes out of it (house style 3: frozen dataclasses).

Inputs (``LinkCore.handle``): ``Connected``, ``Disconnected``, ``MessageIn``,
``Received`` (several at once), ``PublishRefused``, ``Tick``, ``OutboxGrew``.
Every input comes with a ``Moment``: the wall time, the monotonic time and the
clock's trust, read by the I/O shell, never by the core.

Outputs: ``Subscribe``, ``Publish`` (always QoS 1, PROTOCOL.md §2),
``AckInbound`` (send the MQTT PUBACK of one received message: its effect is
committed, or it was dropped on purpose) and ``Wakeup`` (call ``handle(Tick())``
at this monotonic time at the latest).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.protocol import ClockSource
from sync.protocol.timeutil import format_instant

# --- time ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Moment:
    """One reading of the clocks: ``wall`` (aware UTC), ``mono`` (seconds, any
    origin), and whether wall time is trusted and where it comes from (hello)."""

    wall: datetime
    mono: float
    trusted: bool
    source: ClockSource

    @property
    def unix(self) -> int:
        """Wall time in integer Unix seconds (``iat``, ``exp`` checks)."""
        return int(self.wall.timestamp())


# --- inputs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """The broker accepted our CONNECT (CONNACK reason 0)."""

    session_present: bool = False


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection ended (or a connection attempt failed after CONNECT)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class MessageIn:
    """One received PUBLISH. ``ref`` is the shell's handle for its PUBACK (None:
    QoS 0, nothing to acknowledge); ``dup`` is the broker's redelivery flag;
    ``retained``: the broker sent it from its retained store on subscribing
    (a head published earlier), not central now."""

    topic: str
    payload: bytes
    ref: int | None = None
    dup: bool = False
    retained: bool = False


@dataclass(frozen=True, slots=True)
class Received:
    """Several ``MessageIn`` the broker delivered together, in order: the same
    as feeding each, but consecutive acks among them are applied in one
    transaction (``sync.link.inbound``)."""

    messages: tuple[MessageIn, ...]


@dataclass(frozen=True, slots=True)
class PublishRefused:
    """The broker answered one of our PUBLISHes with a failure reason code
    (PUBACK 0x87 "Not authorized": the broker ACL does not let this node's
    certificate write ``topic``; 0x97 quota exceeded, ...). The message is
    gone: events in it go again on their resend timeout, and keep failing
    until the broker's configuration is mended."""

    topic: str
    reason: str


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: a ``Wakeup`` is due, or the shell's periodic poll."""


@dataclass(frozen=True, slots=True)
class OutboxGrew:
    """Another process committed to the database (events may be waiting)."""


Input = Connected | Disconnected | MessageIn | Received | PublishRefused | Tick | OutboxGrew


# --- outputs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish ``payload`` on ``topic`` at QoS 1 with ``retain``."""

    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class AckInbound:
    """Acknowledge the received message ``ref`` to the broker now."""

    ref: int


@dataclass(frozen=True, slots=True)
class Wakeup:
    """Feed ``Tick`` at monotonic time ``at`` (the earliest timer of the core)."""

    at: float


Output = Subscribe | Publish | AckInbound | Wakeup


# --- what the link tells `hallvakt status` --------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkStats:
    """A snapshot of the link, written to the status file (docs/sync.md)."""

    node: str
    epoch: int
    connected: bool
    in_flight_batches: int
    in_flight_events: int
    acked_through: int
    last_seq: int
    backlog: int
    applied_rev: int
    head_rev: int | None
    last_head_age_s: float | None
    want_snapshot: bool
    rejected: Mapping[str, int] = field(default_factory=dict)
    quarantined: int = 0
    resent_batches: int = 0
    connects: int = 0
    refused_publishes: int = 0  # PUBACKs with a failure reason since the link started
    last_refusal: str | None = None  # "<topic>: <reason>"
    last_refusal_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "epoch": self.epoch,
            "connected": self.connected,
            "in_flight": {"batches": self.in_flight_batches, "events": self.in_flight_events},
            "outbox": {
                "acked_through": self.acked_through,
                "last_seq": self.last_seq,
                "backlog": self.backlog,
            },
            "applied_rev": self.applied_rev,
            "head_rev": self.head_rev,
            "last_head_age_s": self.last_head_age_s,
            "want_snapshot": self.want_snapshot,
            "rejected": dict(sorted(self.rejected.items())),
            "quarantined": self.quarantined,
            "resent_batches": self.resent_batches,
            "connects": self.connects,
            "refused_publishes": self.refused_publishes,
            "last_refusal": self.last_refusal,
            "last_refusal_at": None
            if self.last_refusal_at is None
            else format_instant(self.last_refusal_at),
        }
