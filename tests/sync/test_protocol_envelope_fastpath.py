"""The envelope's fast parse of canonical payloads gives the checked parse's verdict.

``sync.protocol.envelope._strict_object`` first tries ``_canonical_object``
(msgspec, no hook per object) and falls back to ``_strict_object_checked``
(the hook parse). These tests hold that, for any bytes, the outcome (the value
with its types, or the error's class and text) is the checked parse's alone,
on generated payloads with duplicate member names at any level, non-canonical
spacing and order, escapes, lone surrogates, deep nesting and numbers.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.protocol.envelope import (
    MAX_DEPTH,
    Malformed,
    _canonical_object,
    _strict_object,
    _strict_object_checked,
    canonical_json,
)
from tests.support.e2e.node_events import event_body


def outcome(parse: Any, raw: bytes) -> tuple[str, str]:
    try:
        return ("ok", repr(parse(raw, "payload")))  # repr: 1, 1.0 and True differ
    except Malformed as exc:
        return (type(exc).__name__, str(exc))


def same_verdict(raw: bytes) -> None:
    assert outcome(_strict_object, raw) == outcome(_strict_object_checked, raw)
    fast = _canonical_object(raw)
    if fast is not None:  # what the fast path accepts, the checked parse accepts as equal
        assert repr(fast) == repr(_strict_object_checked(raw, "payload"))


# A JSON text written token by token: objects are lists of members, so a name
# can come twice; numbers and strings in several spellings.
NUMBERS = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: json.dumps(f)),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "-0", "-0.0", "1E5"]),
    st.sampled_from(["1e16", "1e+16", "01", "1.", ".5", "9" * 4300, "9" * 4301, "true", "null"]),
)
STRINGS = st.one_of(
    st.text(max_size=6).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.text(max_size=6).map(json.dumps),  # \u escapes, surrogate pairs as escapes
    st.sampled_from(
        ['"\\ud800"', '"\\udfff"', '"\\ud83d\\ude00"', '"\\u0041"', '"a\\/b"', '"\\n\\t"', '"\x01"']
    ),
    st.sampled_from(['"a"', '"b"', '"\u2028"', '"\x7f"', '"é"', '"\\\\u0041"']),
)


def _object(members: list[tuple[str, str]], sort: bool, space: str) -> str:
    if sort:
        members = sorted(members)  # by the spelled name: sorted as canonical text is, mostly
    return "{" + ("," + space).join(f"{k}:{space}{v}" for k, v in members) + "}"


def _texts(leaf: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
            st.builds(
                _object,
                st.lists(st.tuples(STRINGS, inner), max_size=4),
                st.booleans(),
                st.sampled_from(["", "", " "]),
            ),
            # a duplicate member name, next to its twin as a sorted object has it
            st.tuples(STRINGS, inner, inner).map(
                lambda t: "{" + f"{t[0]}:{t[1]},{t[0]}:{t[2]}" + "}"
            ),
        ),
        max_leaves=12,
    )


PAYLOADS = st.builds(
    lambda members, sort, space: _object(members, sort, space).encode("utf-8", "surrogatepass"),
    st.lists(st.tuples(STRINGS, _texts(st.one_of(NUMBERS, STRINGS))), max_size=5),
    st.booleans(),
    st.sampled_from(["", "", " "]),
)


@settings(max_examples=400)
@given(PAYLOADS)
def test_generated_payloads_get_the_checked_verdict(raw: bytes) -> None:
    same_verdict(raw)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=16,
)


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=6))
def test_canonical_payloads_get_the_checked_verdict(value: dict[str, Any]) -> None:
    try:
        raw = canonical_json(value)
    except ValueError:  # a lone surrogate: not a payload canonical_json makes
        return
    same_verdict(raw)
    assert _strict_object(raw, "payload") == value


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=6), st.data())
def test_one_byte_changed_gets_the_checked_verdict(value: dict[str, Any], data: Any) -> None:
    try:
        raw = bytearray(canonical_json(value))
    except ValueError:
        return
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] = data.draw(st.integers(0, 255))
    same_verdict(bytes(raw))


@given(st.binary(max_size=200))
def test_arbitrary_bytes_get_the_checked_verdict(raw: bytes) -> None:
    same_verdict(raw)


def _nested(depth: int) -> bytes:
    return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":1}',  # a duplicate whose twin re-encodes the same
        b'{"a":{"b":1,"b":1}}',
        b'{"a":[{"b":1,"b":2}]}',
        b'{"a":1,"b":{"c":[1,{"d":null,"d":null}]}}',
        _nested(MAX_DEPTH),
        _nested(MAX_DEPTH + 1),
        _nested(MAX_DEPTH + 2),
        b'{"a":' + b"9" * 4300 + b"}",
        b'{"a":' + b"9" * 4301 + b"}",
        b'{"a":"\\ud800"}',
        b'{"\\udfff":1}',
        b'{"a":"\xed\xa0\x80"}',  # a surrogate written as UTF-8: not UTF-8
        b'{"a":"\\u00e9"}',
        b'{"a":NaN}',
        b'{"a":1e400}',
        b'{"a":1e16}',
        b'{"a":1e+16}',
        b'{"a":-0.0}',
        b'{"a":true,"b":false,"c":null}',
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b"[]",
        b'"a"',
        b"\xef\xbb\xbf{}",
        b'{"a":1} ',
        b"",
    ],
)
def test_edge_cases_get_the_checked_verdict(raw: bytes) -> None:
    same_verdict(raw)


def test_duplicates_nesting_and_surrogates_are_refused_on_the_fast_path_too() -> None:
    for raw in (b'{"a":1,"a":1}', b'{"a":{"b":1,"b":1}}', _nested(MAX_DEPTH + 1)):
        assert _canonical_object(raw) is None
        with pytest.raises(Malformed):
            _strict_object(raw, "payload")


def test_a_nodes_batch_takes_the_fast_path() -> None:
    """The path is not dead: a 256-event batch as a node spells it."""
    rng = random.Random(7)
    claims = {
        "epoch": 3,
        "events": [
            {
                "at": "2026-12-06T12:00:00.123456Z",
                "body": event_body(rng, i),
                "id": f"0193aa{i:026d}",
                "seq": i + 1,
                "type": "access.granted",
            }
            for i in range(256)
        ],
        "iat": 1780000000,
        "kind": "events",
        "node": "malmo.kroksbackshallen.n1",
        "v": 1,
    }
    raw = canonical_json(claims)
    assert _canonical_object(raw) == claims
    assert _strict_object(raw, "payload") == _strict_object_checked(raw, "payload") == claims
