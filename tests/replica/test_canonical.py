"""The stored text of a record (sync/replica/canonical.py).

canonical.py guarantees: ``record_text(rec)`` is character for character
``json.dumps(rec.to_wire(), separators=(",", ":"), ensure_ascii=False)``
(``slow_text``), whichever way it is made: msgspec for the classes and
values where its text is the same, the definition otherwise.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.protocol.records import ENTITIES, Booking, Grant, Holder, WeeklyWindow, parse_record
from sync.replica import canonical
from sync.replica.canonical import _plan, record_text, slow_text
from sync.replica.store import stored_text

START = datetime(2026, 10, 20, 17, tzinfo=UTC)


def booking(**fields: object) -> Booking:
    base: dict[str, object] = {"id": "b1", "resources": ("r1",), "start": START}
    base["end"] = START + timedelta(hours=1)
    return Booking(**{**base, **fields})  # type: ignore[arg-type]


def test_every_code_point_is_written_as_the_definition_writes_it() -> None:
    """Both encoders escape one code point at a time: every code point, in
    strings of 120 (a display name's longest), gives the definition's text;
    the lone surrogates too (msgspec refuses them, the definition decides)."""
    step = 120
    for first in range(0, sys.maxunicode + 1, step):
        name = "".join(map(chr, range(first, min(first + step, sys.maxunicode + 1))))
        rec = Holder(id="h1", kind="person", display_name=name)
        assert record_text(rec) == slow_text(rec), hex(first)


def test_the_classes_msgspec_writes_and_the_one_it_does_not() -> None:
    """Every entity but Grant (its windows have their own wire form) has a
    plan; its instants are the fields checked record by record."""
    plans = {entity: _plan(cls) for entity, cls in ENTITIES.items()}
    assert plans.pop("grant") is None
    assert plans["booking"] == ("start", "end")
    assert plans["credential"] == ("valid_from", "valid_to")
    assert plans["holder"] == ()
    assert all(plan is not None for plan in plans.values())


def test_a_grant_keeps_its_windows_wire_form() -> None:
    rec = Grant(
        id="g1",
        holder="h1",
        doors=("d1",),
        windows=(WeeklyWindow((1, 2), 6 * 60, 22 * 60),),
    )
    text = record_text(rec)
    assert text == slow_text(rec)
    assert '"windows":[{"days":[1,2],"from":"06:00","to":"22:00"}]' in text


def test_instants_the_fast_path_would_write_otherwise_take_the_definition() -> None:
    """Fractions are truncated and other zones converted by the definition."""
    stockholm = START.astimezone(ZoneInfo("Europe/Stockholm"))
    for start in (
        START.replace(microsecond=123_456),
        stockholm,
        START.replace(tzinfo=timezone(timedelta(0))),
        START.replace(tzinfo=ZoneInfo("UTC")),
        datetime(1, 1, 1, tzinfo=UTC),
    ):
        rec = booking(start=start, end=START + timedelta(hours=2))
        assert record_text(rec) == slow_text(rec), start
    assert '"start":"2026-10-20T17:00:00Z"' in record_text(booking(start=stockholm))


def test_values_msgspec_refuses_take_the_definition() -> None:
    class Kind(StrEnum):
        ROOM = "room"

    class Sub(str):
        pass

    for rec in (
        booking(title=Sub("Ö-hallen")),
        booking(status=Kind.ROOM),
        booking(title="\ud800 alone"),
    ):
        assert record_text(rec) == slow_text(rec)


TEXT = st.text(st.characters(), max_size=40)


@given(
    title=TEXT,
    holder=st.none() | TEXT,
    resources=st.lists(TEXT, min_size=1, max_size=4),
    seconds=st.integers(-(10**9), 10**10),
    micro=st.sampled_from([0, 0, 1, 999_999]),
    node=st.none() | TEXT,
)
def test_any_booking_is_written_as_the_definition_writes_it(
    title: str, holder: str | None, resources: list[str], seconds: int, micro: int, node: str | None
) -> None:
    start = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=micro)
    rec = booking(title=title, holder=holder, resources=tuple(resources), start=start, node=node)
    assert record_text(rec) == slow_text(rec) == stored_text(rec)


WIRE: dict[str, dict[str, object]] = {
    "facility": {"id": "f", "name": "F", "municipality": "Malmö"},
    "resource": {"id": "r", "name": "R", "sort": -7, "walkin_slot_minutes": 240},
    "door": {"id": "d", "name": "D", "resources": ["r"], "held_open_seconds": 3600},
    "holder": {"id": "h", "kind": "staff", "display_name": 'H "Ö"', "member_of": ["g"]},
    "credential": {
        "id": "c",
        "holder": "h",
        "kind": "card",
        "digest": "A" * 43,
        "valid_to": "2027-01-01T00:00:00Z",
    },
    "booking": {
        "id": "b",
        "resources": ["r", "s"],
        "start": "2026-10-20T17:00:00Z",
        "end": "2026-10-20T18:00:00Z",
        "title": "Tab\there",
    },
    "grant": {
        "id": "g",
        "holder": "h",
        "doors": ["d"],
        "windows": [{"days": [1], "from": "06:00", "to": "07:00"}],
    },
    "lease": {
        "id": "l",
        "node": "n1",
        "resource": "r",
        "start": "2026-10-20T17:00:00Z",
        "end": "2026-10-21T17:00:00Z",
    },
    "revocation": {"id": "v", "digest": "B" * 43, "reason": "lost"},
    "policy": {"id": "default", "pin_required": False, "pin_lockout_seconds": 86_400},
}


def test_a_record_of_every_entity_as_the_wire_makes_it() -> None:
    assert set(WIRE) == set(ENTITIES)
    for entity, wire in WIRE.items():
        rec = parse_record(entity, {**wire, "unknown": 1.5})
        assert record_text(rec) == slow_text(rec), entity


def test_integers_of_any_size_and_flags() -> None:
    """Integers beyond 64 bits and flags (booleans, an int subclass) too."""
    rec = parse_record("resource", WIRE["resource"])
    for sort in (2**70, -(2**64), True, 0):
        changed = dataclasses.replace(rec, sort=sort)  # type: ignore[call-arg]
        assert record_text(changed) == slow_text(changed), sort


def test_records_read_from_the_wire_take_msgspec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every entity but Grant, as ``from_wire`` makes it (instants in UTC,
    whole seconds), is written by msgspec, not by the definition."""

    def refuse(rec: object) -> str:
        raise AssertionError(f"the definition was used for {rec!r}")

    monkeypatch.setattr(canonical, "slow_text", refuse)
    for entity, wire in WIRE.items():
        if entity != "grant":
            assert record_text(parse_record(entity, wire)).startswith('{"id":')
