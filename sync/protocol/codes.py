"""Wire codes of the sync contract (PROTOCOL.md §3-§6) and the node id rule.

Every string the contract fixes is a member of one ``StrEnum`` here, so a
value read from the wire is either a member or rejected, and a member is its
own wire text (``Kind.EVENTS == "events"``).
"""

from __future__ import annotations

import enum
import re

from firmware_config.ids import NODE_ID as NODE_ID_PATTERN

PROTOCOL_VERSION = 1  # the ``v`` claim (PROTOCOL.md §4)

# PROTOCOL.md §2: 1-64 of a-z 0-9 - . (always used with fullmatch).
NODE_ID = re.compile(NODE_ID_PATTERN)


def is_node_id(value: object) -> bool:
    """True if ``value`` is a node id of PROTOCOL.md §2."""
    return isinstance(value, str) and NODE_ID.fullmatch(value) is not None


class Kind(enum.StrEnum):
    """The ``kind`` claim (PROTOCOL.md §3)."""

    HELLO = "hello"
    EVENTS = "events"
    CURSOR = "cursor"
    STATUS = "status"
    HEAD = "head"
    CHANGES = "changes"
    SNAPSHOT = "snapshot"
    ACK = "ack"
    COMMAND = "command"


class Direction(enum.StrEnum):
    """Who sends on a topic: ``up`` node → central, ``down`` central → node."""

    UP = "up"
    DOWN = "down"


class Want(enum.StrEnum):
    """``cursor.want`` (PROTOCOL.md §5)."""

    CHANGES = "changes"
    SNAPSHOT = "snapshot"


class State(enum.StrEnum):
    """``status.state`` (PROTOCOL.md §5)."""

    ONLINE = "online"
    OFFLINE = "offline"


class ClockSource(enum.StrEnum):
    """``hello.clock.source`` (PROTOCOL.md §5)."""

    NTP = "ntp"
    RTC = "rtc"
    NONE = "none"


class VerdictStatus(enum.StrEnum):
    """``ack.verdicts[id].status`` (PROTOCOL.md §6)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Cmd(enum.StrEnum):
    """``command.cmd`` (PROTOCOL.md §6)."""

    UNLOCK = "unlock"
    LOCKDOWN = "lockdown"
    RELEASE = "release"
    RESYNC = "resync"
    MESSAGE = "message"


class Audience(enum.StrEnum):
    """``message`` ``args.audience`` (docs/protocol.md): who the kiosk shows it to."""

    PUBLIC = "public"
    CARETAKER = "caretaker"
