"""The snapshot's records validated in C (sync/protocol/fast_records.py) and
its rows made a class at a time (``records_rows``, ``record_texts``).

fast_records.py guarantees: ``fast_records(entity, items)`` is either exactly
``[parse_record(entity, i) for i in items]`` or None (then the caller runs
``parse_record``, which refuses and words its refusal as before). The
differential tests below draw records field by field from values that are
valid, just outside a rule, or of the wrong type, and compare the two.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_config.ids import ENTITY_ID
from sync.protocol.fast_records import fast_records
from sync.protocol.records import Booking, Credential, Holder, Record, RecordError, parse_record
from sync.protocol.timeutil import format_instant
from sync.protocol.wire import BatchError, SnapshotPart
from sync.replica.canonical import record_text, record_texts
from sync.replica.store import record_rows, records_rows

D = "A" * 43
ABSENT = object()

ids_valid = st.from_regex(rf"\A{ENTITY_ID}\Z", fullmatch=True).filter(lambda s: "\n" not in s)
ids_edge = st.sampled_from(
    [
        "a\n",
        "a\nb",
        "\na",
        "",
        "a" * 128,
        "a" * 129,
        "é",
        " a",
        "a b",
        "-a",
        "a-",
        "a.b:c@d_e",
        "\ud800",
    ]
)
wrong = st.sampled_from([None, 1, 1.0, True, [], {}, "x" * 3])
ids = st.one_of(ids_valid, ids_valid, ids_edge, wrong)
instant_valid = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: format_instant(d))
instant_edge = st.sampled_from(
    [
        "2026-10-13T24:00:00Z",
        "2026-10-13T23:59:60Z",
        "2026-02-29T00:00:00Z",
        "2024-02-29T00:00:00Z",
        "2026-04-31T10:00:00Z",
        "2026-10-13t10:00:00z",
        "2026-10-13 10:00:00Z",
        "2026-10-13T10:00:00+00:00",
        "2026-10-13T10:00:00+01:00",
        "2026-10-13T10:00:00.5Z",
        "2026-10-13T10:00:00.000Z",
        "2026-10-13T10:00:00Z\n",
        "2026-10-13T10:00:00Z\n2026-10-13T10:00:00Z",
        "2026-10-13T10:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "２０２６-10-13T10:00:00Z",
    ]
)
instants = st.one_of(instant_valid, instant_valid, instant_edge, wrong)
texts = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["é" * 120, "😀" * 120, "😀" * 121, "a" * 121, "\ud800", "a\nb", ""]),
    wrong,
)
digests = st.one_of(
    st.just(D),
    st.from_regex(r"\A[A-Za-z0-9_-]{43}\Z", fullmatch=True),
    st.sampled_from(["A" * 42, "A" * 44, "A" * 42 + "=", D + "\n", f"{D}\n{D}"]),
    wrong,
)
nodes = st.one_of(
    st.from_regex(r"\A[a-z0-9.-]{1,64}\Z", fullmatch=True),
    st.sampled_from(["N1", "a" * 65, "", "node\n", "a\nb", "nöde"]),
    wrong,
)


def choice(*valid: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.just("Other"), wrong)


def id_list(*, non_empty: bool) -> st.SearchStrategy[Any]:
    pool = st.sampled_from(["r1", "r2", "r3"])
    return st.one_of(
        st.lists(pool, min_size=1 if non_empty else 0, max_size=3, unique=True),
        st.lists(st.one_of(pool, ids), max_size=4),
        wrong,
    )


FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "booking": {
        "id": ids,
        "resources": id_list(non_empty=True),
        "start": instants,
        "end": instants,
        "holder": st.one_of(ids, st.none()),
        "title": texts,
        "status": choice("confirmed", "tentative", "cancelled", "rejected"),
        "origin": choice("central", "walkin"),
        "lease": st.one_of(ids, st.none()),
        "node": st.one_of(nodes, st.none()),
    },
    "credential": {
        "id": ids,
        "holder": st.one_of(ids, st.none()),
        "kind": choice("card", "pin", "code"),
        "digest": digests,
        "valid_from": st.one_of(instants, st.none()),
        "valid_to": st.one_of(instants, st.none()),
        "booking": st.one_of(ids, st.none()),
    },
    "holder": {
        "id": ids,
        "kind": choice("association", "person", "staff", "internal"),
        "display_name": texts,
        "member_of": id_list(non_empty=False),
    },
}
REQUIRED = {
    "booking": ("id", "resources", "start", "end"),
    "credential": ("id", "kind", "digest"),
    "holder": ("id", "kind", "display_name"),
}


@st.composite
def valid_dicts(draw: st.DrawFn, entity: str) -> dict[str, Any]:
    """A record parse_record accepts, its optional fields there or not."""
    at = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
    start = at.replace(tzinfo=UTC)
    end = start + timedelta(seconds=draw(st.integers(1, 10**7)))
    out: dict[str, Any]
    if entity == "booking":
        origin = draw(st.sampled_from(["central", "walkin"]))
        out = {
            "id": draw(ids_valid),
            "resources": draw(st.lists(ids_valid, min_size=1, max_size=3, unique=True)),
            "start": format_instant(start),
            "end": format_instant(end),
            "holder": draw(st.one_of(st.none(), ids_valid)),
            "title": draw(st.text(max_size=120)),
            "status": draw(st.sampled_from(["confirmed", "tentative", "cancelled", "rejected"])),
            "origin": origin,
            "lease": draw(ids_valid)
            if origin == "walkin"
            else draw(st.one_of(st.none(), ids_valid)),
            "node": draw(
                st.one_of(st.none(), st.from_regex(r"\A[a-z0-9.-]{1,64}\Z", fullmatch=True))
            ),
        }
    elif entity == "credential":
        kind = draw(st.sampled_from(["card", "pin", "code"]))
        out = {
            "id": draw(ids_valid),
            "holder": draw(ids_valid) if kind != "code" else draw(st.one_of(st.none(), ids_valid)),
            "kind": kind,
            "digest": draw(
                digests.filter(lambda d: isinstance(d, str) and len(d) == 43 and "\n" not in d)
            ),
            "valid_from": draw(st.one_of(st.none(), st.just(format_instant(start)))),
            "valid_to": draw(st.one_of(st.none(), st.just(format_instant(end)))),
            "booking": draw(ids_valid) if kind == "code" else draw(st.one_of(st.none(), ids_valid)),
        }
    else:
        out = {
            "id": draw(ids_valid),
            "kind": draw(st.sampled_from(["association", "person", "staff", "internal"])),
            "display_name": draw(st.text(max_size=120)),
            "member_of": draw(st.lists(ids_valid, max_size=3, unique=True)),
        }
    for name in list(out):  # optional fields left out (and nulls), as central may send them
        if name not in REQUIRED[entity] and out[name] is None and draw(st.booleans()):
            del out[name]
    return out


@st.composite
def record_dicts(draw: st.DrawFn, entity: str) -> dict[str, Any]:
    """A valid record, then none, one or two of its fields taken out or
    given another value (valid, just outside a rule, or of another type)."""
    out = draw(valid_dicts(entity))
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS[entity])), max_size=2)):
        if draw(st.integers(0, 3)) == 0:
            out.pop(name, None)
        else:
            out[name] = draw(FIELDS[entity][name])
    if draw(st.integers(0, 9)) == 0:
        out["unknown_field"] = draw(wrong)
    return out


def slow(entity: str, items: list[Any]) -> list[Record] | RecordError:
    try:
        return [parse_record(entity, i) for i in items]
    except RecordError as exc:
        return exc


def assert_same(entity: str, items: list[Any]) -> list[Record] | None:
    fast = fast_records(entity, items)
    ref = slow(entity, items)
    if fast is not None:
        assert not isinstance(ref, RecordError), (items, ref)
        assert fast == ref
        for a, b in zip(fast, ref, strict=True):  # equal, and of the same types throughout
            assert type(a) is type(b)
            for field in dataclasses.fields(a):
                va, vb = getattr(a, field.name), getattr(b, field.name)
                assert type(va) is type(vb), field.name
                if isinstance(va, datetime):
                    assert va.tzinfo is vb.tzinfo is UTC
    return fast


@pytest.mark.parametrize("entity", sorted(FIELDS))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fast_is_parse_record_or_declines(entity: str, data: st.DataObject) -> None:
    items = data.draw(st.lists(record_dicts(entity), min_size=1, max_size=4))
    assert_same(entity, items)


VALID: dict[str, list[dict[str, Any]]] = {
    "booking": [
        {
            "id": "b1",
            "resources": ["r1"],
            "start": "2026-10-13T15:00:00Z",
            "end": "2026-10-13T16:30:00Z",
        },
        {
            "id": "b2",
            "resources": ["r1", "r2"],
            "start": "2026-10-13T15:00:00Z",
            "end": "2026-10-13T16:30:00Z",
            "holder": "h1",
            "title": "Innebandy 😀",
            "status": "tentative",
            "origin": "walkin",
            "lease": "l1",
            "node": "n-1.a",
            "ignored": [1, 2],
        },
        {
            "id": "b3",
            "resources": ["r1"],
            "start": "2026-10-13T15:00:00Z",
            "end": "2026-10-13T16:30:00Z",
            "holder": None,
            "lease": None,
            "node": None,
        },
    ],
    "credential": [
        {"id": "c1", "holder": "h1", "kind": "card", "digest": D},
        {
            "id": "c2",
            "kind": "code",
            "digest": D,
            "booking": "b1",
            "valid_from": "2026-10-13T15:00:00Z",
            "valid_to": "2026-10-14T15:00:00Z",
        },
        {"id": "c3", "holder": "h1", "kind": "pin", "digest": D, "valid_from": None},
    ],
    "holder": [
        {"id": "h1", "kind": "association", "display_name": "IK Start"},
        {"id": "h2", "kind": "person", "display_name": "Å" * 120, "member_of": ["h1", "h3"]},
        {"id": "h3", "kind": "staff", "display_name": "", "member_of": []},
    ],
}


@pytest.mark.parametrize("entity", sorted(VALID))
def test_valid_records_take_the_fast_path(entity: str) -> None:
    assert assert_same(entity, VALID[entity]) is not None


# Each is refused by parse_record; the fast path must decline it (None), so
# that the part's refusal is worded as before.
REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("booking", {"title": "\ud800"}),
    ("booking", {"title": "😀" * 121}),
    ("booking", {"title": None}),  # a null where the default is not None: slow path (accepts)
    ("booking", {"id": "a\n"}),
    ("booking", {"id": "a\nb"}),  # two ids' worth of text in one
    ("booking", {"resources": ["r1\nr2"]}),
    ("booking", {"start": "2026-10-13T15:00:00Z\n2026-10-13T15:00:00Z"}),
    ("booking", {"node": "n1\nn2"}),
    ("credential", {"digest": f"{D}\n{D}"}),
    ("booking", {"id": "a" * 129}),
    ("booking", {"resources": []}),
    ("booking", {"resources": ["r1", "r1"]}),
    ("booking", {"resources": ["r1", "bad id"]}),
    ("booking", {"start": "2026-10-13T15:00:00+00:00"}),
    ("booking", {"start": "2026-10-13T15:00:00.5Z"}),  # accepted (truncated): slow path
    ("booking", {"start": "2026-10-13t15:00:00z"}),
    ("booking", {"start": "2026-02-29T15:00:00Z"}),
    ("booking", {"end": "2026-10-13T14:00:00Z"}),  # before start: the record's check
    ("booking", {"origin": "walkin"}),  # no lease
    ("booking", {"status": "Confirmed"}),
    ("booking", {"node": "N1"}),
    ("booking", {"node": "a" * 65}),
    ("booking", {"start": 1}),
    ("credential", {"digest": "A" * 42}),
    ("credential", {"digest": D + "\n"}),
    ("credential", {"holder": None}),  # a card needs a holder
    ("credential", {"valid_to": "2026-10-13T15:00:00Z", "valid_from": "2026-10-13T15:00:00Z"}),
    ("credential", {"kind": "code"}),  # no booking
    ("holder", {"member_of": ["h1", "h1"]}),
    ("holder", {"member_of": "h1"}),
    ("holder", {"display_name": "x" * 121}),
    ("holder", {"kind": None}),
]


def read(
    from_wire: Callable[[dict[str, Any]], SnapshotPart], msg: dict[str, Any]
) -> SnapshotPart | str:
    """The part ``from_wire`` reads from ``msg``, or the words it refuses it with."""
    try:
        return from_wire(msg)
    except BatchError as exc:
        return str(exc)


@pytest.mark.parametrize(("entity", "change"), REFUSED)
def test_what_the_fast_path_declines(entity: str, change: dict[str, Any]) -> None:
    items = [dict(VALID[entity][0]), {**VALID[entity][0], "id": "z9", **change}]
    assert fast_records(entity, items) is None
    assert_same(entity, items)


def test_other_entities_and_shapes_decline() -> None:
    assert fast_records("door", [{"id": "d", "name": "x"}]) is None
    assert fast_records("booking", []) is None
    assert fast_records("booking", ({"id": "b"},)) is None
    assert fast_records("booking", ["b1"]) is None


def part(entities: dict[str, list[Any]]) -> dict[str, Any]:
    return json.loads(json.dumps({"rev": 3, "part": 1, "parts": 2, "entities": entities}))


def old_from_wire(msg: dict[str, Any]) -> SnapshotPart:
    """SnapshotPart.from_wire as it was: parse_record for every item."""
    out: list[Record] = []
    for entity, items in msg["entities"].items():
        for i, item in enumerate(items):
            try:
                out.append(parse_record(entity, item))
            except RecordError as exc:
                raise BatchError(f"snapshot: entities.{entity}[{i}]: {exc}") from None
    return SnapshotPart(msg["rev"], msg["part"], msg["parts"], tuple(out))


@pytest.mark.parametrize(("entity", "change"), REFUSED)
def test_a_part_is_refused_in_the_same_words(entity: str, change: dict[str, Any]) -> None:
    good = {e: list(v) for e, v in VALID.items()}
    good[entity] = [*good[entity], {**VALID[entity][0], "id": "z9", **change}]
    msg = part({"door": [{"id": "d1", "name": "Entré"}], **good})
    expected, got = read(old_from_wire, msg), read(SnapshotPart.from_wire, msg)
    assert got == expected
    if isinstance(expected, str):
        assert f"entities.{entity}[{len(good[entity]) - 1}]" in expected


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_part_reads_as_before(data: st.DataObject) -> None:
    entities = {
        e: data.draw(st.lists(record_dicts(e), min_size=1, max_size=3))
        for e in data.draw(st.permutations(sorted(FIELDS)))
    }
    msg = part(entities)
    expected, got = read(old_from_wire, msg), read(SnapshotPart.from_wire, msg)
    assert got == expected


# --- rows made a class at a time -------------------------------------------------------


def one_by_one(records: list[Record]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for rec in records:
        for table, rows in record_rows(rec).items():
            out.setdefault(table, []).extend(rows)
    return {t: r for t, r in out.items() if r}


def test_rows_are_record_rows() -> None:
    recs = [parse_record(e, d) for e, items in VALID.items() for d in items]
    recs.append(parse_record("door", {"id": "d1", "name": "Entré", "resources": ["r1"]}))
    recs.append(parse_record("booking", {**VALID["booking"][0], "id": "b9"}))  # after others
    assert records_rows(recs) == one_by_one(recs)


def test_texts_of_records_msgspec_cannot_make_alike() -> None:
    b = parse_record("booking", VALID["booking"][1])
    assert isinstance(b, Booking)
    cet = timezone(timedelta(hours=1))
    odd = [
        replace(b, title="\ud800"),
        replace(b, start=b.start.astimezone(cet)),
        replace(b, start=b.start.replace(microsecond=7)),
        replace(b, title="rad 1\nrad 2 \u2028"),
    ]
    for batch in ([b, *odd], [b, b], odd[3:], [b, Holder("h", "staff", "x")]):
        assert record_texts(batch) == [record_text(r) for r in batch]
    assert records_rows([b, *odd]) == one_by_one([b, *odd])
    assert record_texts([]) == []
    c = parse_record("credential", VALID["credential"][1])
    assert isinstance(c, Credential)
    assert record_texts([c]) == [record_text(c)]
