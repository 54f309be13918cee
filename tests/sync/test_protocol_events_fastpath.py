"""The ``events`` decode's fast path gives the checked decode's verdict, and so does encode's check.

``sync.protocol.messages._events`` first tries ``_events_fast`` (exact JSON
types, plain comparisons) and falls back to ``_events_checked`` (the field
types, through pydantic) whenever the fast path is not sure. These tests hold
that, for generated claims (valid batches and batches with one thing wrong at
any place: types, ranges, seqs, ids, event types, instants, bodies, nulls,
sizes), ``decode`` gives what the checked decode alone gives, the value with
its types or the error's text; and that what the fast path accepts, the
checked decode accepts as an equal value.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.protocol import Events, MessageError, decode
from sync.protocol.messages import (
    _events_checked,
    _events_fast,
    _validate,
    read_common,
)
from sync.protocol.wire import EVENT_TYPES, MAX_BATCH, OutboxEvent, outbox_event
from sync.replica import uuid7

NODE = "n1.hall"
IDS = [uuid7(1_780_000_000_000 + i) for i in range(8)]
TYPES = sorted(EVENT_TYPES)


def outcome(decoder: Any, claims: dict[str, Any]) -> tuple[str, str]:
    try:
        return ("ok", repr(decoder(claims)))  # repr: 1 and True, dict and its subclass differ
    except MessageError as exc:
        return (type(exc).__name__, str(exc))


def checked(claims: dict[str, Any]) -> Events:
    return _events_checked(claims, read_common(claims))


def same_verdict(claims: dict[str, Any]) -> None:
    assert outcome(decode, claims) == outcome(checked, claims)
    # encode's own check (``_validate``) refuses exactly what the checked decode refuses
    want = outcome(checked, claims)
    assert outcome(_validate, claims) == (want if want[0] != "ok" else ("ok", "None"))
    try:
        common = read_common(claims)
    except MessageError:
        return
    fast = _events_fast(claims, common.exp)
    if fast is not None:  # what the fast path accepts, the checked decode accepts as equal
        assert repr(fast) == repr(checked(claims))


def valid_event(seq: int, i: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "id": IDS[i % len(IDS)] if i < len(IDS) else uuid7(1_790_000_000_000 + i),
        "type": TYPES[i % len(TYPES)],
        "at": "2026-05-04T12:00:00Z",
        "body": {"door": "main", "n": i},
    }


def claims_of(events: Any, epoch: Any = 7, exp: Any = None) -> dict[str, Any]:
    c: dict[str, Any] = {"v": 1, "kind": "events", "node": NODE, "iat": 1_780_000_000}
    c["epoch"] = epoch
    c["events"] = events
    if exp is not None:
        c["exp"] = exp
    return c


# Values that are wrong for some field, or right for another, or right in a
# spelling the fast path leaves to the checked decode.
ODD = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        1.0,
        2**63,
        2**64,
        2**63 - 1,
        "",
        "1",
        "access.granted",
        "Access.granted",
        "2026-05-04T12:00:00Z",
        "2026-05-04T12:00:00.5Z",
        "2026-05-04T12:00:00+00:00",
        "2026-05-04 12:00:00Z",
        "2026-02-30T12:00:00Z",
        "2026-05-04T12:00:00Z\n",
        IDS[0],
        IDS[0].upper(),
        IDS[0] + "\n",
        IDS[0][:35] + ",",
        IDS[0][:18] + "," + IDS[1][:17],
        "0190c7a4-1b2c-4d3e-8f40-0123456789ab",  # version 4
        [],
        {},
        {"a": 1},
        [1],
    ]
)
FIELDS = ("seq", "id", "type", "at", "body", "extra")


@st.composite
def batches(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 6))
    first = draw(st.sampled_from([1, 2, 1000, 0, -1, 2**63 - 3]))
    events: list[Any] = [valid_event(first + i, i) for i in range(n)]
    for _ in range(draw(st.integers(0, 2))):  # a few changes anywhere
        where = draw(st.sampled_from(["field", "drop", "seq", "dup_id", "not_a_dict", "top"]))
        i = draw(st.integers(0, n - 1))
        if where == "field" and isinstance(events[i], dict):
            events[i][draw(st.sampled_from(FIELDS))] = draw(ODD)
        elif where == "drop" and isinstance(events[i], dict):
            events[i].pop(draw(st.sampled_from(FIELDS)), None)
        elif where == "seq" and isinstance(events[i], dict):
            events[i]["seq"] = draw(st.integers(-2, first + n + 2))
        elif where == "dup_id" and n > 1 and isinstance(events[i], dict):
            other = events[(i + 1) % n]
            events[i]["id"] = other.get("id", IDS[0]) if isinstance(other, dict) else IDS[0]
        elif where == "not_a_dict":
            events[i] = draw(ODD)
    epoch: Any = draw(st.one_of(st.sampled_from([0, 7, 2**64 - 1]), ODD))
    raw: Any = events
    if draw(st.booleans()) and draw(st.booleans()):
        raw = draw(st.one_of(ODD, st.just(tuple(events)), st.just([])))
    exp = draw(st.sampled_from([None, 1_780_000_100]))
    return claims_of(raw, epoch, exp)


@given(batches())
@settings(max_examples=600)
def test_decode_gives_the_checked_verdict(claims: dict[str, Any]) -> None:
    same_verdict(copy.deepcopy(claims))


def test_a_valid_batch_takes_the_fast_path_and_equals_the_checked_decode() -> None:
    claims = claims_of([valid_event(1 + i, i) for i in range(MAX_BATCH)])
    fast = _events_fast(claims, None)
    assert fast is not None
    assert fast == checked(claims) == decode(claims)
    assert [e.seq for e in fast.events] == list(range(1, MAX_BATCH + 1))
    assert isinstance(decode(claims), Events)


def test_each_refusal_is_the_checked_decodes_error() -> None:
    """One thing wrong at a time: the fast path declines, the error names the field."""
    wrong: list[tuple[dict[str, Any], str]] = []
    for field, value in [
        ("seq", True),
        ("seq", 0),
        ("seq", 1.0),
        ("id", IDS[0].upper()),
        ("type", "door.openedx"),
        ("at", "2026-05-04T12:00:00+00:00"),
        ("body", []),
        ("body", None),
    ]:
        ev = valid_event(1, 0)
        ev[field] = value
        wrong.append((claims_of([ev]), f"events[0].{field}"))
    too_many = [valid_event(1 + i, i) for i in range(MAX_BATCH + 1)]
    gap = [valid_event(1, 0), valid_event(3, 1)]
    twice = [valid_event(1, 0), {**valid_event(2, 1), "id": IDS[0]}]
    wrong += [
        (claims_of(too_many), "events"),
        (claims_of([]), "events"),
        (claims_of(gap), "events[1].seq"),
        (claims_of(twice), "events[1].id"),
        (claims_of([valid_event(1, 0)], epoch=-1), "epoch"),
        (claims_of([valid_event(1, 0)], epoch=True), "epoch"),
    ]
    for claims, field in wrong:
        assert _events_fast(claims, None) is None, field
        try:
            decode(claims)
        except MessageError as exc:
            assert exc.field == field, (field, str(exc))
        else:
            raise AssertionError(f"{field} was accepted")
        same_verdict(claims)


@given(
    st.integers(),
    st.text(max_size=40),
    st.sampled_from(TYPES),
    st.datetimes(timezones=st.just(UTC)),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
def test_outbox_event_is_the_dataclass_made_faster(
    seq: int, ident: str, type_: str, at: datetime, body: dict[str, Any]
) -> None:
    fast = outbox_event(seq, ident, type_, at, body)
    made = OutboxEvent(seq, ident, type_, at, body)
    assert type(fast) is OutboxEvent
    assert fast == made and repr(fast) == repr(made)
    assert fast.body is body and fast.at is at
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.seq = seq + 1  # type: ignore[misc]
    # It skips __init__: a check added to the dataclass later would be skipped too.
    assert not hasattr(OutboxEvent, "__post_init__")
    assert [f.name for f in dataclasses.fields(OutboxEvent)] == ["seq", "id", "type", "at", "body"]
