"""The many records of a snapshot part validated in C (msgspec), where that is
sure to give what ``parse_record`` gives.

A snapshot of a facility is mostly bookings, credentials and holders (656k
records at the size issue 13 measured); validating each with pydantic, one
call a record, was a fifth of the snapshot's time. Here a whole list of one
entity's records goes through one ``msgspec.convert`` straight into the
record dataclasses (types, shape, nulls, instants' calendar), and the rules
msgspec does not know are then checked over the whole list at once: each
rule on the joined texts of one field (one regular expression, one length,
one set), and each record's own ``check``.

Rules this module guarantees:
- ``fast_records(entity, items)`` returns the records ``parse_record``
  returns for every item (equal, in order), or None: then the caller runs
  ``parse_record`` on each item as before, which accepts, refuses and words
  its refusal as it always did. So the rules and their words live in one
  place (sync.protocol.codec, sync.protocol.entities); this path accepts a
  subset of what they accept, and only where its result is theirs:
  - msgspec converts strictly (a string is no number, ``true`` no integer),
    a JSON ``null`` only where the field admits None (where pydantic's path
    would put a default instead, this path gives None back: the slow path);
  - ids, digests, node names: the field's pattern over every value, anchored
    (one ``fullmatch`` over the values joined by a newline, which no pattern
    admits); text: at most its length in code points, as pydantic counts,
    and UTF-8 (pydantic refuses a lone surrogate, msgspec would keep it);
    choices: each value one of the field's;
  - an instant only in its whole-second ``Z`` spelling, checked on the texts
    as sent (msgspec also reads offsets, fractions and lowercase ``t``,
    which ``parse_instant`` reads otherwise or refuses); msgspec refuses an
    impossible date as ``parse_instant`` does, and gives the same UTC
    instant for the rest;
  - ids that must be distinct (and lists that must not be empty) are
    checked, then each record's ``check`` (its rules across fields); a
    refusal of any gives None.
- Any other entity (a few records per facility) gives None.
tests/replica/test_fast_records.py compares the two on generated records
(Hypothesis), valid and broken, and on every refusal of the spelling.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from firmware_config.ids import DIGEST, ENTITY_ID, NODE_ID

from .codec import Record, _codec
from .entities import (
    BOOKING_ORIGINS,
    BOOKING_STATUSES,
    CREDENTIAL_KINDS,
    HOLDER_KINDS,
    Booking,
    Credential,
    Holder,
)

__all__ = ["fast_records"]

_INSTANT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"


def _every(pattern: str) -> Callable[[list[str]], bool]:
    """Whether every text fullmatches ``pattern``, which admits no newline:
    the texts joined, each followed by one, in one ``fullmatch``; a text
    holding a newline itself would add one, and is refused by the count."""
    joined = re.compile(rf"(?:(?:{pattern})\n)*")

    def every(texts: list[str]) -> bool:
        if not texts:
            return True
        text = "\n".join(texts) + "\n"
        return text.count("\n") == len(texts) and joined.fullmatch(text) is not None

    return every


_ids_ok = _every(ENTITY_ID)  # 1..128 characters: the pattern's own bound
_digests_ok = _every(DIGEST)
_nodes_ok = _every(NODE_ID)  # 1..64 characters, inside Text(64)
_instants_ok = _every(_INSTANT)


def _texts_ok(texts: list[str], max_len: int) -> bool:
    if not texts:
        return True
    try:
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        return False  # a lone surrogate
    return max(map(len, texts)) <= max_len


def _distinct(lists: Iterable[tuple[str, ...]], *, non_empty: bool) -> bool:
    for ids in lists:
        if len(ids) > 1 and len(set(ids)) != len(ids):
            return False
        if non_empty and not ids:
            return False
    return True


def _some(values: Iterable[str | None]) -> list[str]:
    return [v for v in values if v is not None]


def _bookings_ok(recs: list[Booking], items: list[dict[str, Any]]) -> bool:
    return (
        _ids_ok([r.id for r in recs])
        and _ids_ok([i for r in recs for i in r.resources])
        and _distinct([r.resources for r in recs], non_empty=True)
        and _instants_ok([d["start"] for d in items])
        and _instants_ok([d["end"] for d in items])
        and _ids_ok(_some([r.holder for r in recs]))
        and _texts_ok([r.title for r in recs], 120)
        and {r.status for r in recs} <= _STATUSES
        and {r.origin for r in recs} <= _ORIGINS
        and _ids_ok(_some([r.lease for r in recs]))
        and _nodes_ok(_some([r.node for r in recs]))
    )


def _credentials_ok(recs: list[Credential], items: list[dict[str, Any]]) -> bool:
    return (
        _ids_ok([r.id for r in recs])
        and _ids_ok(_some([r.holder for r in recs]))
        and {r.kind for r in recs} <= _CREDENTIAL_KINDS
        and _digests_ok([r.digest for r in recs])
        and _instants_ok(_some([d.get("valid_from") for d in items]))
        and _instants_ok(_some([d.get("valid_to") for d in items]))
        and _ids_ok(_some([r.booking for r in recs]))
    )


def _holders_ok(recs: list[Holder], items: list[dict[str, Any]]) -> bool:
    return (
        _ids_ok([r.id for r in recs])
        and {r.kind for r in recs} <= _HOLDER_KINDS
        and _texts_ok([r.display_name for r in recs], 120)
        and _ids_ok([i for r in recs for i in r.member_of])
        and _distinct([r.member_of for r in recs], non_empty=False)
    )


_STATUSES = frozenset(BOOKING_STATUSES)
_ORIGINS = frozenset(BOOKING_ORIGINS)
_CREDENTIAL_KINDS = frozenset(CREDENTIAL_KINDS)
_HOLDER_KINDS = frozenset(HOLDER_KINDS)
ENTITY_CLASSES: dict[str, type[Record]] = {
    "booking": Booking,
    "credential": Credential,
    "holder": Holder,
}
_PLANS: dict[str, tuple[Any, Callable[[Any, list[dict[str, Any]]], bool]]] = {
    "booking": (list[Booking], _bookings_ok),
    "credential": (list[Credential], _credentials_ok),
    "holder": (list[Holder], _holders_ok),
}


def fast_records(entity: str, items: object) -> list[Record] | None:
    """``[parse_record(entity, i) for i in items]`` when every item is sure to
    validate so, else None (module rules)."""
    plan = _PLANS.get(entity)
    if plan is None or type(items) is not list or not items:
        return None
    if not all(type(d) is dict for d in items):
        return None
    kind, rules_ok = plan
    nullable = _codec(ENTITY_CLASSES[entity]).nullable  # absent is null (codec rules)
    if nullable and not all(n in d for d in items for n in nullable):
        items = [{**{n: None for n in nullable}, **d} for d in items]
    try:
        recs: list[Record] = msgspec.convert(items, kind)
        if not rules_ok(recs, items):
            return None
        for rec in recs:
            rec.check()
    except (msgspec.ValidationError, TypeError, ValueError):  # ValueError: a record's Bad
        return None
    return recs
