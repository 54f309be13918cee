"""The text a record is stored as (the ``data`` column), made quickly.

Rules this module guarantees:
- ``record_text(rec)`` is, character for character,
  ``json.dumps(rec.to_wire(), separators=(",", ":"), ensure_ascii=False)``:
  what every reader of ``data`` has always read (``Record.from_wire`` on the
  way out, ``json_extract`` in SQL).
- It is made by msgspec from the record's dataclass itself (about 20 times
  quicker than ``to_wire`` + ``json.dumps``: at 656k snapshot records,
  making rows was a quarter of the snapshot's time) when msgspec's text is
  the same, and by ``to_wire`` + ``json.dumps`` otherwise:
  - a class qualifies (``_plan``, once per class) when every field's type is
    built of ``str``, ``int``, ``bool``, ``None``, tuples of them, and
    ``datetime``: both encoders write the fields in their order, tuples as
    arrays, ``None`` as ``null``, booleans and integers alike. A nested
    object (``Grant.windows``: ``WeeklyWindow`` has its own ``to_wire``)
    or any other type does not;
  - an instant qualifies when it is in ``datetime.UTC`` and whole seconds:
    ``format_instant`` truncates fractions and converts other zones, msgspec
    would write them (instants read from the wire always are UTC, whole);
  - strings: both escape one code point at a time, and for every code point
    but the lone surrogates the two agree (tests/replica/test_canonical.py
    checks all 1,114,112); msgspec refuses a lone surrogate, a ``str``
    subclass or anything else it does not know, and then the slow path
    makes the text (as it did before).
- ``record_texts(recs)`` is ``record_text`` of each, made for many
  records of one class in one msgspec call (a snapshot stages hundreds at a
  time).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from sync.protocol.records import Record

_encode = msgspec.json.Encoder().encode
_encode_lines = msgspec.json.Encoder().encode_lines
_SCALARS = frozenset({str, int, bool, type(None)})
_SLOW = None  # a class msgspec's text could differ for


def slow_text(rec: Record) -> str:
    """The definition: the record's wire dict as compact JSON."""
    return json.dumps(rec.to_wire(), separators=(",", ":"), ensure_ascii=False)


def record_text(rec: Record) -> str:
    """``slow_text(rec)``, made by msgspec where that is the same (module rules)."""
    cls = type(rec)
    try:
        instants = _plans[cls]
    except KeyError:
        instants = _plans[cls] = _plan(cls)
    if instants is _SLOW:
        return slow_text(rec)
    for name in instants:
        at = getattr(rec, name)
        if at is not None and (at.tzinfo is not UTC or at.microsecond):
            return slow_text(rec)
    try:
        return _encode(rec).decode()
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return slow_text(rec)  # a lone surrogate, a str subclass: the definition decides


def record_texts(recs: Sequence[Record]) -> list[str]:
    """``[record_text(r) for r in recs]``, the records of one class made in
    one msgspec call where each qualifies (module rules): its newline-delimited
    encoding, split at the newlines (compact JSON escapes a newline inside a
    string, so every newline ends a record). Any record that does not
    qualify, or a batch msgspec refuses, takes ``record_text`` one by one."""
    if not recs:
        return []
    cls = type(recs[0])
    try:
        instants = _plans[cls]
    except KeyError:
        instants = _plans[cls] = _plan(cls)
    if instants is _SLOW or any(type(r) is not cls for r in recs):
        return [record_text(r) for r in recs]
    for name in instants:
        for at in [getattr(r, name) for r in recs]:
            if at is not None and (at.tzinfo is not UTC or at.microsecond):
                return [record_text(r) for r in recs]
    try:
        texts = _encode_lines(recs).decode().split("\n")
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return [record_text(r) for r in recs]
    texts.pop()  # after the last newline
    return texts


def _plan(cls: type) -> tuple[str, ...] | None:
    """The names of ``cls``'s instant fields if msgspec's text of it is the
    definition's (module rules), else ``_SLOW``."""
    if not dataclasses.is_dataclass(cls):
        return _SLOW
    hints = typing.get_type_hints(cls, include_extras=True)
    instants: list[str] = []
    for field in dataclasses.fields(cls):
        kinds = _kinds(hints[field.name], in_tuple=False)
        if kinds is None:
            return _SLOW
        if datetime in kinds:
            instants.append(field.name)
    return tuple(instants)


def _kinds(hint: Any, *, in_tuple: bool) -> set[type] | None:
    """The plain types ``hint`` is built of; None if any is not one of
    ``_SCALARS`` or a ``datetime`` outside a tuple."""
    origin = typing.get_origin(hint)
    if origin is Annotated:
        return _kinds(typing.get_args(hint)[0], in_tuple=in_tuple)
    if origin in (typing.Union, types.UnionType):
        out: set[type] = set()
        for arg in typing.get_args(hint):
            kinds = _kinds(arg, in_tuple=in_tuple)
            if kinds is None:
                return None
            out |= kinds
        return out
    if origin is tuple and not in_tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return _kinds(args[0], in_tuple=True)
        return None
    if hint in _SCALARS or (hint is datetime and not in_tuple):
        return {hint}
    return None


_plans: dict[type, tuple[str, ...] | None] = {}
