"""The topic table of PROTOCOL.md §3: names, directions, retained flags and kinds.

Rules this module guarantees:
- Every topic is ``hallvakt/v1/{node}/{suffix}`` with ``{node}`` a node id of
  §2 and ``{suffix}`` one row of ``TOPICS``; ``parse_topic`` refuses anything
  else (wildcards, ``$share/`` prefixes, extra levels) with ``TopicError``.
- Each kind travels on exactly one topic, in one direction; ``allowed`` says
  whether a kind may arrive on a topic (``changes`` and ``snapshot`` share
  ``dn/chg``).
- ``retained`` is true only for ``status`` and ``dn/head``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .codes import NODE_ID, Direction, Kind, is_node_id
from .errors import TopicError

PREFIX = "hallvakt/v1/"


class Suffix(enum.StrEnum):
    """The part of a topic after ``hallvakt/v1/{node}/``."""

    HELLO = "up/hello"
    EVENTS = "up/evt"
    CURSOR = "up/cur"
    STATUS = "status"
    HEAD = "dn/head"
    CHANGES = "dn/chg"
    ACK = "dn/ack"
    COMMAND = "dn/cmd"


@dataclass(frozen=True, slots=True)
class TopicRule:
    """One row of PROTOCOL.md §3."""

    suffix: Suffix
    direction: Direction
    retained: bool
    kinds: frozenset[Kind]


TOPICS: dict[Suffix, TopicRule] = {
    r.suffix: r
    for r in (
        TopicRule(Suffix.HELLO, Direction.UP, False, frozenset({Kind.HELLO})),
        TopicRule(Suffix.EVENTS, Direction.UP, False, frozenset({Kind.EVENTS})),
        TopicRule(Suffix.CURSOR, Direction.UP, False, frozenset({Kind.CURSOR})),
        TopicRule(Suffix.STATUS, Direction.UP, True, frozenset({Kind.STATUS})),
        TopicRule(Suffix.HEAD, Direction.DOWN, True, frozenset({Kind.HEAD})),
        TopicRule(Suffix.CHANGES, Direction.DOWN, False, frozenset({Kind.CHANGES, Kind.SNAPSHOT})),
        TopicRule(Suffix.ACK, Direction.DOWN, False, frozenset({Kind.ACK})),
        TopicRule(Suffix.COMMAND, Direction.DOWN, False, frozenset({Kind.COMMAND})),
    )
}
KIND_SUFFIX: dict[Kind, Suffix] = {k: r.suffix for r in TOPICS.values() for k in r.kinds}


def check_node_id(node: object) -> str:
    """Return ``node`` if it is a node id (PROTOCOL.md §2); raise ``TopicError``."""
    if not isinstance(node, str) or not is_node_id(node):
        raise TopicError(f"node id must be 1-64 of a-z 0-9 - ., not {str(node)[:80]!r}")
    return node


def topic_for(kind: Kind, node: str) -> str:
    """The topic ``kind`` is published on for ``node``; raises ``TopicError`` for a bad id."""
    return f"{PREFIX}{check_node_id(node)}/{KIND_SUFFIX[kind]}"


def rule_for(kind: Kind) -> TopicRule:
    """The §3 row a kind travels on (its direction and retained flag)."""
    return TOPICS[KIND_SUFFIX[kind]]


def parse_topic(topic: str) -> tuple[str, Suffix]:
    """Split a received topic into ``(node, suffix)``; raise ``TopicError``."""
    if not isinstance(topic, str) or not topic.startswith(PREFIX):
        raise TopicError(f"not a {PREFIX} topic: {str(topic)[:120]!r}")
    node, sep, rest = topic[len(PREFIX) :].partition("/")
    if not sep or not NODE_ID.fullmatch(node):
        raise TopicError(f"bad node id in topic {topic[:120]!r}")
    try:
        return node, Suffix(rest)
    except ValueError:
        raise TopicError(f"no such topic in PROTOCOL.md §3: {topic[:120]!r}") from None


def allowed(suffix: Suffix, kind: Kind) -> bool:
    """True if ``kind`` may arrive on ``suffix`` (PROTOCOL.md §3)."""
    return kind in TOPICS[suffix].kinds


def node_subscriptions(node: str) -> list[str]:
    """What a node subscribes to: its own ``dn/`` tree (the broker ACL's read set)."""
    return [f"{PREFIX}{check_node_id(node)}/dn/#"]


def central_subscriptions(group: str = "central") -> list[str]:
    """What central subscribes to (PROTOCOL.md §3): ``up/`` as a shared subscription
    spread over its consumers, and ``status`` unshared, so that every consumer gets
    the retained statuses (MQTT 5 §4.8.2 sends no retained messages to a new
    shared subscription)."""
    return [f"$share/{group}/{PREFIX}+/up/#", f"{PREFIX}+/status"]
