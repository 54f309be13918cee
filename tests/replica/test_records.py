"""Entity records (PROTOCOL.md §6 entities) and their wire form.

records.py guarantees: a record exists only if it validated; ``from_wire``
raises ``RecordError`` naming the entity, the id and the field; unknown
fields are ignored (§4); ``to_wire(from_wire(d))`` keeps every known field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sync.protocol.timeutil import format_instant, parse_instant
from sync.replica import (
    ENTITIES,
    Booking,
    Credential,
    Door,
    Facility,
    Grant,
    Holder,
    Lease,
    Policy,
    Record,
    RecordError,
    Replica,
    Resource,
    Revocation,
    WeeklyWindow,
    parse_record,
)

D = "A" * 43  # a well-formed digest

# One fully populated wire record per entity, every field away from its default.
FULL: dict[str, dict[str, Any]] = {
    "facility": {
        "id": "fac1",
        "name": "Kroksbäckshallen",
        "timezone": "Europe/Helsinki",
        "municipality": "Malmö",
    },
    "resource": {
        "id": "A",
        "name": "Sektion A",
        "kind": "section",
        "parent": "hall",
        "walkin_slot_minutes": 45,
        "walkin_max_slots": 3,
        "sort": -4,
        "release_after_minutes": 20,
    },
    "door": {
        "id": "main",
        "name": "Huvudentré",
        "resources": ["hall", "gym"],
        "before_minutes": 60,
        "after_minutes": 0,
        "unlock_seconds": 8,
        "held_open_seconds": 120,
        "fail_mode": "safe",
    },
    "holder": {
        "id": "anna",
        "kind": "person",
        "display_name": "Anna Andersson",
        "member_of": ["ik-fram", "bk-boll"],
    },
    "credential": {
        "id": "c-code",
        "holder": "anna",
        "kind": "code",
        "digest": "abc-_" + "x" * 38,
        "valid_from": "2026-05-04T16:00:00Z",
        "valid_to": "2026-05-04T18:00:00Z",
        "booking": "b1",
    },
    "booking": {
        "id": "w1",
        "resources": ["gym"],
        "start": "2026-05-04T16:00:00Z",
        "end": "2026-05-04T17:00:00Z",
        "holder": "anna",
        "title": "Drop-in badminton",
        "status": "tentative",
        "origin": "walkin",
        "lease": "l1",
        "node": "malmo.kroksbackshallen.n1",
    },
    "grant": {
        "id": "g1",
        "holder": "staff1",
        "doors": ["main", "door-a"],
        "windows": [
            {"days": [1, 2, 3, 4, 5], "from": "06:00", "to": "22:00"},
            {"days": [6], "from": "22:00", "to": "02:00"},
            {"days": [7], "from": "00:00", "to": "24:00"},
        ],
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_to": "2027-01-01T00:00:00Z",
    },
    "lease": {
        "id": "l1",
        "node": "malmo.kroksbackshallen.n1",
        "resource": "gym",
        "start": "2026-05-04T16:00:00Z",
        "end": "2026-05-04T20:00:00Z",
    },
    "revocation": {"id": "v1", "credential": "anna-card", "digest": D, "reason": "lost"},
    "policy": {
        "id": "default",
        "max_offline_hours": 24,
        "pin_required": False,
        "pin_max_attempts": 3,
        "pin_lockout_seconds": 300,
        "codes_after_leader": True,
        "no_show_grace_minutes": 20,
    },
}


def test_every_entity_has_a_full_example() -> None:
    assert set(FULL) == set(ENTITIES)


@pytest.mark.parametrize("entity", sorted(FULL))
def test_round_trip_keeps_every_field(entity: str) -> None:
    rec = parse_record(entity, FULL[entity])
    assert type(rec) is ENTITIES[entity]
    assert rec.to_wire() == FULL[entity]
    assert parse_record(entity, rec.to_wire()) == rec


@pytest.mark.parametrize("entity", sorted(FULL))
def test_round_trip_through_the_database(entity: str) -> None:
    rec = parse_record(entity, FULL[entity])
    with Replica.open(":memory:") as rep:
        with rep.write():
            rep.put(rec)
        assert rep.get(type(rec), rec.id) == rec
        assert rep.all(type(rec)) == [rec]


def test_typed_values() -> None:
    b = parse_record("booking", FULL["booking"])
    assert isinstance(b, Booking)
    assert b.start == datetime(2026, 5, 4, 16, 0, tzinfo=UTC)
    assert b.resources == ("gym",) and b.active
    g = parse_record("grant", FULL["grant"])
    assert isinstance(g, Grant)
    assert g.windows[1] == WeeklyWindow((6,), 22 * 60, 2 * 60)
    assert g.windows[2] == WeeklyWindow((7,), 0, 24 * 60)


def test_defaults_of_minimal_records() -> None:
    assert parse_record("facility", {"id": "f", "name": "F"}) == Facility(
        "f", "F", "Europe/Stockholm", ""
    )
    assert parse_record("resource", {"id": "r", "name": "R"}) == Resource(
        "r", "R", "room", None, None, 2, 0
    )
    assert parse_record("door", {"id": "d", "name": "D"}) == Door("d", "D", (), 30, 15, 5, 30)
    assert parse_record("policy", {"id": "default"}) == Policy("default")
    assert parse_record("revocation", {"id": "v", "digest": D}) == Revocation("v", None, D, "")
    b = parse_record("booking", {"id": "b", "resources": ["A"], "start": T0, "end": T1})
    assert (b.status, b.origin, b.title, b.holder, b.lease, b.node) == (
        "confirmed",
        "central",
        "",
        None,
        None,
        None,
    )


def test_null_means_absent_for_optional_fields() -> None:
    wire = {"id": "r", "name": "R", "parent": None, "walkin_slot_minutes": None, "sort": None}
    assert parse_record("resource", wire) == Resource("r", "R")


def test_fractions_of_a_second_are_truncated() -> None:
    wire = {"id": "b", "resources": ["A"], "start": "2026-05-04T16:00:00.999Z", "end": T1}
    b = parse_record("booking", wire)
    assert isinstance(b, Booking)
    assert b.to_wire()["start"] == "2026-05-04T16:00:00Z"


def test_weekday_lists_are_normalised() -> None:
    wire = {**FULL["grant"], "windows": [{"days": [3, 1, 3], "from": "08:00", "to": "09:30"}]}
    g = parse_record("grant", wire)
    assert isinstance(g, Grant)
    assert g.windows == (WeeklyWindow((1, 3), 480, 570),)


@pytest.mark.parametrize("entity", sorted(FULL))
def test_unknown_fields_are_ignored(entity: str) -> None:
    extra = {**FULL[entity], "colour": "red", "v2_field": {"nested": [1, 2]}, "zz": None}
    assert parse_record(entity, extra) == parse_record(entity, FULL[entity])


T0, T1 = "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z"
ID_RULE = "must be 1-128 of A-Z a-z 0-9 . _ : @ -"
BOOKING = {"id": "b1", "resources": ["A"], "start": T0, "end": T1}
CRED = {"id": "c1", "holder": "anna", "kind": "card", "digest": D}
WIN = {"days": [1], "from": "08:00", "to": "09:00"}
GRANT = {"id": "g1", "holder": "staff1", "doors": ["main"], "windows": [WIN]}
LEASE = {"id": "l1", "node": "n1", "resource": "gym", "start": T0, "end": T1}

MALFORMED: list[tuple[str, Any, str]] = [
    ("facility", {"id": "f1"}, "facility 'f1': name: is required"),
    (
        "facility",
        {"id": "f1", "name": "F", "timezone": "Mars/Olympus_Mons"},
        "facility 'f1': timezone: unknown time zone 'Mars/Olympus_Mons'",
    ),
    (
        "facility",
        {"id": "f1", "name": "F" * 201},
        "facility 'f1': name: must be a string of at most 200 characters",
    ),
    (
        "resource",
        {"id": "r1", "name": "R", "parent": "r1"},
        "resource 'r1': parent: a resource cannot be its own parent",
    ),
    (
        "resource",
        {"id": "r1", "name": "R", "kind": "arena"},
        "resource 'r1': kind: must be one of hall, section, room, field, pool, other",
    ),
    (
        "resource",
        {"id": "r1", "name": "R", "walkin_slot_minutes": 10},
        "resource 'r1': walkin_slot_minutes: must be an integer in 15..240",
    ),
    (
        "resource",
        {"id": "r1", "name": "R", "walkin_max_slots": True},
        "resource 'r1': walkin_max_slots: must be an integer in 1..16",
    ),
    (
        "resource",
        {"id": "r1", "name": "R", "parent": "no spaces"},
        "resource 'r1': parent: must be an id",
    ),
    (
        "door",
        {"id": "d1", "name": "D", "resources": ["A", "A"]},
        "door 'd1': resources: has duplicate ids",
    ),
    (
        "door",
        {"id": "d1", "name": "D", "resources": "A"},
        "door 'd1': resources: must be a list of ids",
    ),
    (
        "door",
        {"id": "d1", "name": "D", "before_minutes": 241},
        "door 'd1': before_minutes: must be an integer in 0..240",
    ),
    (
        "door",
        {"id": "d1", "name": "D", "unlock_seconds": 2.5},
        "door 'd1': unlock_seconds: must be an integer in 1..600",
    ),
    (
        "door",
        {"id": "d1", "name": "D", "fail_mode": "open"},
        "door 'd1': fail_mode: must be one of secure, safe",
    ),
    ("holder", {"id": "h1", "display_name": "H"}, "holder 'h1': kind: is required"),
    (
        "holder",
        {"id": "h1", "kind": "association", "display_name": "H" * 121},
        "holder 'h1': display_name: must be a string of at most 120 characters",
    ),
    (
        "holder",
        {"id": "h1", "kind": "person", "display_name": "H", "member_of": [1]},
        "holder 'h1': member_of: must be a list of ids",
    ),
    (
        "credential",
        {"id": "c1", "kind": "code", "digest": D},
        "credential 'c1': booking: is required for a visitor code",
    ),
    (
        "credential",
        {"id": "c1", "kind": "card", "digest": D},
        "credential 'c1': holder: is required for a card",
    ),
    (
        "credential",
        {**CRED, "digest": D + "="},
        "credential 'c1': digest: must be an unpadded base64url HMAC-SHA256 digest",
    ),
    (
        "credential",
        {**CRED, "digest": "A" * 42 + "+"},
        "credential 'c1': digest: must be an unpadded base64url HMAC-SHA256 digest",
    ),
    (
        "credential",
        {**CRED, "valid_from": T1, "valid_to": T1},
        "credential 'c1': valid_to: must be after valid_from",
    ),
    (
        "credential",
        {**CRED, "kind": "iris"},
        "credential 'c1': kind: must be one of card, pin, code",
    ),
    ("booking", {**BOOKING, "end": T0}, "booking 'b1': end: must be after start"),
    (
        "booking",
        {**BOOKING, "start": "2026-05-04T18:00:00+02:00"},
        "booking 'b1': start: not an RFC 3339 UTC instant with Z suffix:"
        " '2026-05-04T18:00:00+02:00'",
    ),
    (
        "booking",
        {**BOOKING, "start": "2026-02-30T10:00:00Z"},
        "booking 'b1': start: not a valid instant: '2026-02-30T10:00:00Z'",
    ),
    (
        "booking",
        {**BOOKING, "end": 1777910400},
        "booking 'b1': end: not an RFC 3339 UTC instant with Z suffix: 1777910400",
    ),
    ("booking", {**BOOKING, "resources": []}, "booking 'b1': resources: must not be empty"),
    (
        "booking",
        {k: v for k, v in BOOKING.items() if k != "resources"},
        "booking 'b1': resources: is required",
    ),
    (
        "booking",
        {**BOOKING, "origin": "walkin"},
        "booking 'b1': lease: is required for a walk-in",
    ),
    ("booking", {**BOOKING, "node": "N1"}, "booking 'b1': node: must be a node id"),
    (
        "booking",
        {**BOOKING, "status": "done"},
        "booking 'b1': status: must be one of confirmed, tentative, cancelled, rejected",
    ),
    ("grant", {**GRANT, "windows": []}, "grant 'g1': windows: must be a non-empty list"),
    (
        "grant",
        {**GRANT, "windows": [{**WIN, "days": [0]}]},
        "grant 'g1': windows[0].days: must be a non-empty list of ISO weekdays 1..7",
    ),
    (
        "grant",
        {**GRANT, "windows": [WIN, {**WIN, "days": [True]}]},
        "grant 'g1': windows[1].days: must be a non-empty list of ISO weekdays 1..7",
    ),
    (
        "grant",
        {**GRANT, "windows": [{**WIN, "to": "08:00"}]},
        "grant 'g1': windows[0]: from and to must differ",
    ),
    (
        "grant",
        {**GRANT, "windows": [{**WIN, "to": "25:00"}]},
        "grant 'g1': windows[0]: not a HH:MM time: '25:00'",
    ),
    (
        "grant",
        {**GRANT, "windows": ["08:00-09:00"]},
        "grant 'g1': windows[0]: must be an object with days, from, to",
    ),
    ("grant", {**GRANT, "doors": []}, "grant 'g1': doors: must not be empty"),
    ("lease", {**LEASE, "node": "Bad Node"}, "lease 'l1': node: must be a node id"),
    ("lease", {**LEASE, "end": T0}, "lease 'l1': end: must be after start"),
    ("lease", {**LEASE, "resource": None}, "lease 'l1': resource: is required"),
    (
        "revocation",
        {"id": "v1", "reason": "lost"},
        "revocation 'v1': credential: a revocation names a credential or a digest",
    ),
    (
        "policy",
        {"id": "default", "pin_required": "yes"},
        "policy 'default': pin_required: must be true or false",
    ),
    (
        "policy",
        {"id": "default", "max_offline_hours": 0},
        "policy 'default': max_offline_hours: must be an integer in 1..1440",
    ),
    ("holder", {"kind": "staff", "display_name": "H"}, f"holder None: id: {ID_RULE}"),
    ("holder", {"id": "x" * 129, "kind": "staff"}, f"holder {'x' * 129!r}: id: {ID_RULE}"),
    ("holder", {"id": "-x", "kind": "staff"}, f"holder '-x': id: {ID_RULE}"),
    ("holder", {"id": 17, "kind": "staff"}, f"holder 17: id: {ID_RULE}"),
    ("booking", [BOOKING], "booking None: (record): must be a JSON object"),
    ("team", {"id": "x"}, "team 'x': entity: unknown entity"),
]


@pytest.mark.parametrize(
    ("entity", "data", "message"),
    MALFORMED,
    ids=[f"{i:02d}-{m.split(': ')[1]}" for i, (_, _, m) in enumerate(MALFORMED)],
)
def test_malformed_record_names_entity_id_and_field(entity: str, data: Any, message: str) -> None:
    with pytest.raises(RecordError) as info:
        parse_record(entity, data)
    assert str(info.value) == message
    err = info.value
    assert message == f"{err.entity} {err.ident!r}: {err.field}: {err.problem}"


# Text that looks right but is not: the module's rules say an id is 1-128 of
# A-Z a-z 0-9 . _ : @ -, and timeutil's that one instant has one text (RFC 3339,
# ASCII digits, nothing after the Z). A time-zone field must name a zone.
LOOKALIKES: list[tuple[str, Any, str]] = [
    (
        "holder",
        {"id": "ik-fram\n", "kind": "association", "display_name": "H"},
        f"holder 'ik-fram\\n': id: {ID_RULE}",
    ),
    (
        "booking",
        {**BOOKING, "resources": ["A\n"]},
        "booking 'b1': resources: must be a list of ids",
    ),
    (
        "credential",
        {**CRED, "digest": D + "\n"},
        "credential 'c1': digest: must be an unpadded base64url HMAC-SHA256 digest",
    ),
    ("lease", {**LEASE, "node": "n1\n"}, "lease 'l1': node: must be a node id"),
    (
        "booking",
        {**BOOKING, "start": T0 + "\n"},
        "booking 'b1': start: not an RFC 3339 UTC instant with Z suffix: '2026-05-04T16:00:00Z\\n'",
    ),
    (
        "booking",
        {**BOOKING, "start": "٢٠٢٦-05-04T16:00:00Z"},  # Arabic-Indic digits
        "booking 'b1': start: not an RFC 3339 UTC instant with Z suffix: '٢٠٢٦-05-04T16:00:00Z'",
    ),
    (
        "grant",
        {**GRANT, "windows": [{**WIN, "to": "09:00\n"}]},
        "grant 'g1': windows[0]: not a HH:MM time: '09:00\\n'",
    ),
    (
        "grant",
        {**GRANT, "windows": [{**WIN, "to": "0٩:00"}]},  # an Arabic-Indic nine
        "grant 'g1': windows[0]: not a HH:MM time: '0٩:00'",
    ),
    (
        "facility",
        {"id": "f1", "name": "F", "timezone": "Europe"},
        "facility 'f1': timezone: unknown time zone 'Europe'",
    ),
]


@pytest.mark.parametrize(
    ("entity", "data", "message"),
    LOOKALIKES,
    ids=[
        "id-newline",
        "ref-newline",
        "digest-newline",
        "node-newline",
        "instant-newline",
        "instant-arabic-digits",
        "hhmm-newline",
        "hhmm-arabic-digit",
        "tz-directory",
    ],
)
def test_lookalike_text_is_malformed(entity: str, data: Any, message: str) -> None:
    with pytest.raises(RecordError) as info:
        parse_record(entity, data)
    assert str(info.value) == message


def test_weekly_window_contains() -> None:
    day = WeeklyWindow((1, 2, 3, 4, 5), 6 * 60, 22 * 60)
    assert day.contains(1, 6 * 60) and day.contains(5, 22 * 60 - 1)
    assert not day.contains(1, 22 * 60) and not day.contains(6, 12 * 60)
    night = WeeklyWindow((6,), 22 * 60, 2 * 60)  # Saturday 22:00 to Sunday 02:00
    assert night.contains(6, 23 * 60) and night.contains(7, 60)
    assert not night.contains(7, 2 * 60) and not night.contains(6, 60)
    assert WeeklyWindow((7,), 22 * 60, 60).contains(1, 30)  # Sunday night into Monday


def test_credential_valid_at_is_half_open() -> None:
    c = parse_record("credential", FULL["credential"])
    assert isinstance(c, Credential)
    assert c.valid_at(datetime(2026, 5, 4, 16, 0, tzinfo=UTC))
    assert c.valid_at(datetime(2026, 5, 4, 17, 59, 59, tzinfo=UTC))
    assert not c.valid_at(datetime(2026, 5, 4, 18, 0, tzinfo=UTC))
    assert not c.valid_at(datetime(2026, 5, 4, 15, 59, 59, tzinfo=UTC))


def test_records_are_frozen() -> None:
    h = parse_record("holder", FULL["holder"])
    with pytest.raises(AttributeError):
        h.display_name = "Someone else"  # type: ignore[misc]


# --- Hypothesis: nothing but RecordError, whatever central sends -------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        ["", "A", "hall", "card", "code", "walkin", "08:00", "24:00", T0, T1, D, "Europe"]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
ALL_FIELDS = sorted({k for d in FULL.values() for k in d} | {"windows", "from", "to", "days"})


@given(
    entity=st.sampled_from(sorted(FULL)),
    data=st.dictionaries(st.sampled_from(ALL_FIELDS) | st.text(max_size=6), json_values),
)
@example(entity="facility", data={"id": "f", "name": "F", "timezone": "Europe"})
@example(entity="facility", data={"id": "f", "name": "F", "timezone": "__pycache__"})
def test_arbitrary_dicts_raise_only_record_error(entity: str, data: dict[str, Any]) -> None:
    try:
        rec = parse_record(entity, data)
    except RecordError as err:
        assert err.entity == entity
        return
    assert isinstance(rec, ENTITIES[entity])
    assert parse_record(entity, rec.to_wire()) == rec


@given(
    entity=st.sampled_from(sorted(FULL)),
    field=st.sampled_from(ALL_FIELDS),
    value=json_values,
)
def test_one_field_replaced_raises_only_record_error(entity: str, field: str, value: Any) -> None:
    """Near-valid records reach the deeper checks that random dicts rarely do."""
    data = {**FULL[entity], field: value}
    try:
        rec = parse_record(entity, data)
    except RecordError as err:
        assert (err.entity, err.ident) == (entity, data.get("id"))
        return
    assert isinstance(rec, Record)
    assert parse_record(entity, rec.to_wire()) == rec


@given(value=json_values)
def test_non_object_records_raise_record_error(value: Any) -> None:
    if isinstance(value, dict):
        return
    for entity in FULL:
        with pytest.raises(RecordError, match=r"\(record\): must be a JSON object"):
            parse_record(entity, value)


def test_entity_classes_match_the_wire_names() -> None:
    classes = (Facility, Resource, Door, Holder, Credential, Booking, Grant, Lease, Revocation)
    for cls in (*classes, Policy):
        assert ENTITIES[cls.ENTITY] is cls


# parse_instant reads the common whole-second spelling without its pattern (a
# fast path for stored rows). It must accept and refuse exactly what the
# pattern + C parser do: texts of that shape with any character swapped in.
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z")
_SHAPE = "2026-03-29T01:30:00Z"


def _by_pattern(text: str) -> datetime | None:
    if not _RFC3339.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    except ValueError:
        return None


@given(
    swaps=st.lists(
        st.tuples(
            st.integers(0, len(_SHAPE) - 1),
            st.sampled_from("0123456789-:TZ+ .tz\n٢５") | st.characters(),
        ),
        max_size=4,
    ),
    extra=st.sampled_from(["", ".5", ".123456789", "+00:00", "0"]),
)
@example(swaps=[(10, " ")], extra="")
@example(swaps=[(0, "+")], extra="")
@example(swaps=[(17, "6")], extra="")
def test_parse_instant_fast_path_agrees_with_the_pattern(
    swaps: list[tuple[int, str]], extra: str
) -> None:
    chars = list(_SHAPE)
    for pos, ch in swaps:
        chars[pos] = ch
    text = "".join(chars[:-1]) + extra + chars[-1]
    expected = _by_pattern(text)
    try:
        got: datetime | None = parse_instant(text)
    except ValueError:
        got = None
    assert got == expected
    if got is not None:
        assert got.tzinfo is UTC


@given(
    at=st.datetimes(
        min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
)
def test_format_instant_round_trips_to_the_second(at: datetime) -> None:
    utc = at.astimezone(UTC)  # (an imaginary local time, in a DST gap, maps as Python maps it)
    text = format_instant(at)
    assert text == utc.strftime("%Y-%m-%dT%H:%M:%SZ")  # the spelling it always had
    assert parse_instant(text) == utc.replace(microsecond=0)
