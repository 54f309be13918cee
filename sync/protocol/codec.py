"""The wire codec of central's records: field types, ``Record``, ``RecordError``.

Why pydantic v2: one validation library for node.toml, the records and the
sync messages (docs/benchmarks.md "Validation library"). pydantic validates a
record in a third to a half of the time the hand-written readers took, and
every row the door reads is validated again on the way out of the database.

Rules this module guarantees:
- A field type is ``Annotated[type, ..., Says(problem)]``: pydantic checks it
  strictly (``true`` is not an integer, ``1.0`` is not an integer, a string is
  not an instant) and ``Says`` is the problem named when it fails. A missing
  required field "is required". A check that words its own problem raises
  ``bad(problem)`` (in a field validator) or ``Bad(field, problem)`` (in a
  record's ``check``, run after its fields validated).
- ``Record.from_wire`` treats absent and ``null`` alike (PROTOCOL.md §4),
  ignores unknown fields, and raises only ``RecordError`` naming the entity,
  the id as sent and the first field found wrong.
- ``to_wire(from_wire(d))`` keeps every known field; instants are written as
  RFC 3339 ``Z`` strings.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import GetCoreSchemaHandler, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError, core_schema

from firmware_config.ids import DIGEST, ENTITY_ID, ENTITY_ID_RULE, NODE_ID

from .timeutil import format_instant, parse_instant

R = TypeVar("R", bound="Record")
T = TypeVar("T")
ERROR_TYPE = "record"  # the pydantic error type of every problem worded here


class RecordError(ValueError):
    """A record from central (or from the database) does not match its schema."""

    def __init__(self, entity: str, ident: object, field: str, problem: str) -> None:
        self.entity, self.ident, self.field, self.problem = entity, ident, field, problem
        super().__init__(f"{entity} {ident!r}: {field}: {problem}")


def bad(problem: str, field: str = "") -> PydanticCustomError:
    """The error a field validator or a ``check`` raises; ``field`` is a path
    (``events[1].seq``) below the value being validated, if not that value."""
    return PydanticCustomError(ERROR_TYPE, "{problem}", {"problem": problem, "field": field})


def Bad(field: str, problem: str) -> PydanticCustomError:
    return bad(problem, field)


@dataclass(frozen=True, slots=True)
class Says:
    """The problem a field names when pydantic's own check of it fails."""

    problem: str


def _run(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` with its ``ValueError`` as this module's error, word for word."""

    def run(value: Any) -> Any:
        try:
            return fn(value)
        except ValueError as exc:
            raise bad(str(exc)) from None

    return run


def _instant(value: Any) -> datetime:
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise bad(str(exc)) from None


def _distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(values) > 1 and len(set(values)) != len(values):
        raise bad("has duplicate ids")
    return values


def _non_empty(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if not values:
        raise bad("must not be empty")
    return values


def _str(max_len: int, pattern: str | None = None) -> core_schema.CoreSchema:
    return core_schema.str_schema(
        strict=True, max_length=max_len, pattern=None if pattern is None else f"^{pattern}$"
    )


class _Schema:
    """``Annotated`` metadata that sets a field's core schema outright, and the
    problem named when it fails."""

    def __init__(self, schema: core_schema.CoreSchema, problem: str = "") -> None:
        self.schema, self.problem = schema, problem

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        if type(None) in typing.get_args(source):
            return core_schema.nullable_schema(self.schema)
        return self.schema


class _After:
    """``Annotated`` metadata: ``fn`` after the field's own check."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.fn, handler(source))


def Text(max_len: int = 200) -> _Schema:
    """A string of at most ``max_len`` characters."""
    return _Schema(_str(max_len), f"must be a string of at most {max_len} characters")


def Integer(lo: int, hi: int) -> _Schema:
    """An integer in ``lo..hi`` (a JSON ``true`` or ``1.0`` is not one)."""
    schema = core_schema.int_schema(strict=True, ge=lo, le=hi)
    return _Schema(schema, f"must be an integer in {lo}..{hi}")


def Choice(*choices: str) -> _Schema:
    """One of ``choices``."""
    return _Schema(
        core_schema.literal_schema(list(choices)), f"must be one of {', '.join(choices)}"
    )


def Then(fn: Callable[[Any], Any]) -> _After:
    """``fn`` after the field's own check; its ``ValueError`` is the field's
    problem, word for word."""
    return _After(_run(fn))


_NODE = re.compile(NODE_ID)


def _node_id(value: str) -> str:
    if not _NODE.fullmatch(value):
        raise bad("must be a node id")
    return value


Id = Annotated[str, _Schema(_str(128, ENTITY_ID), "must be an id")]
IdList = Annotated[tuple[Id, ...], _After(_distinct), Says("must be a list of ids")]
NonEmptyIdList = Annotated[IdList, _After(_non_empty)]
Instant = Annotated[datetime, _Schema(core_schema.no_info_plain_validator_function(_instant))]
Digest = Annotated[
    str, _Schema(_str(43, DIGEST), "must be an unpadded base64url HMAC-SHA256 digest")
]
Flag = Annotated[bool, _Schema(core_schema.bool_schema(strict=True), "must be true or false")]
NodeName = Annotated[str, Text(64), _After(_node_id)]  # PROTOCOL.md §2


# --- records -----------------------------------------------------------------


def _check(value: Checked) -> Checked:
    value.check()
    return value


class Checked:
    """Mixin of a dataclass with rules across its fields: pydantic runs
    ``check`` after every field validated, wherever the class is nested."""

    __slots__ = ()

    def check(self) -> None:
        """Rules across fields, run after every field validated; raise ``Bad``."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_check, handler(source))


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A record class's field names in order (``dataclasses.fields`` is slow
    to call for every record written)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclass(frozen=True, slots=True)
class Record(Checked):
    """Base of every entity: an id, a wire name, a codec."""

    ENTITY: ClassVar[str] = ""
    id: Id

    @classmethod
    def from_wire(cls: type[R], data: Mapping[str, Any]) -> R:
        """Validate a wire record; return the typed record or raise ``RecordError``."""
        return typing.cast(R, _codec(cls).decode(data))

    def to_wire(self) -> dict[str, Any]:
        """The record as a JSON-ready dict (instants as RFC 3339 ``Z`` strings)."""
        out: dict[str, Any] = {}
        for name in _field_names(type(self)):
            v = getattr(self, name)
            if isinstance(v, datetime):
                v = format_instant(v)
            elif isinstance(v, tuple):  # ids, weekdays, or weekly windows
                v = [x if type(x) in (str, int) else x.to_wire() for x in v]
            out[name] = v
        return out


class _Codec:
    """pydantic's validator of one record class and its problems' words."""

    def __init__(self, cls: type[Record]) -> None:
        self.cls, self.entity = cls, cls.ENTITY
        hints = _hints(cls)
        # A field that may be null but has no default (``Credential.holder``)
        # is None when absent: absent and null are the same.
        self.nullable = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and _admits_none(hints[f.name])
        )
        self.validate = validator_of(cls)

    def decode(self, data: Any) -> Any:
        if type(data) is not dict:
            if not isinstance(data, Mapping):
                raise RecordError(self.entity, None, "(record)", "must be a JSON object")
            data = dict(data)
        for name in self.nullable:
            if name not in data:
                data = {**data, name: None}
        try:
            return self.validate(data)
        except ValidationError as exc:
            if None not in data.values():
                raise self.error(data, exc.errors(include_url=False)[0]) from None
        # Absent and null are the same (PROTOCOL.md §4). A null is valid as is
        # where None is the default; elsewhere (rare) it is dropped, so that a
        # default applies and a required field "is required".
        data = {k: v for k, v in data.items() if v is not None or k in self.nullable}
        try:
            return self.validate(data)
        except ValidationError as exc:
            raise self.error(data, exc.errors(include_url=False)[0]) from None

    def error(self, data: Mapping[str, Any], error: Any) -> RecordError:
        if error["type"] != ERROR_TYPE:  # a list's item is the list's problem
            error = {**error, "loc": error["loc"][:1]}
        field, problem = words(self.cls, error)
        if field == "id" and error["type"] != ERROR_TYPE:
            problem = f"must be {ENTITY_ID_RULE}"  # missing, not a string, or not an id
        return RecordError(self.entity, data.get("id"), field or "(record)", problem)


def _admits_none(hint: Any) -> bool:
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    return type(None) in typing.get_args(hint)


def _problem(hint: Any) -> str:
    """The problem a field's metadata names (the last ``Says`` or spec wins)."""
    problem = ""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            problem = _problem(arg) or problem
    elif typing.get_origin(hint) is Annotated:
        problem = _problem(typing.get_args(hint)[0])
        for m in hint.__metadata__:
            problem = getattr(m, "problem", "") or problem
    return problem


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return hints


def _bare(hint: Any) -> Any:
    """``hint`` without ``Annotated`` and without ``| None``."""
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return _bare(args[0])
    return hint


def problem_at(root: Any, loc: tuple[str | int, ...]) -> str:
    """The problem the field types name for the value at ``loc`` below a value
    of type ``root`` (a dataclass, a tuple or a mapping of them), or ``""``."""
    hint = root
    for part in loc:
        bare = _bare(hint)
        origin = typing.get_origin(bare)
        if dataclasses.is_dataclass(bare) and isinstance(part, str):
            hint = _hints(bare).get(part)  # type: ignore[arg-type]
        elif origin is tuple and isinstance(part, int):
            hint = typing.get_args(bare)[0]
        elif origin in (dict, Mapping) and isinstance(part, str):
            hint = typing.get_args(bare)[0 if part == "[key]" else 1]
        elif part == "[key]":
            continue
        else:
            hint = None
        if hint is None:
            return ""
    return _problem(hint)


def path_of(loc: tuple[str | int, ...]) -> str:
    """``("events", 3, "id")`` -> ``events[3].id`` (a mapping's keys as names)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            out = f"{out}.{part}" if out else part
    return out


def words(root: Any, error: Mapping[str, Any], at: tuple[str | int, ...] = ()) -> tuple[str, str]:
    """(field path, problem) of one pydantic error met validating a ``root``
    (``at`` is where that value sits in a larger one)."""
    loc = (*at, *error["loc"])
    if error["type"] == ERROR_TYPE:
        ctx = error["ctx"]
        where = path_of(loc)
        if ctx["field"]:
            where = f"{where}.{ctx['field']}" if where else ctx["field"]
        return where, str(ctx["problem"])
    if error["type"] == "missing":
        return path_of(loc), "is required"
    if error["type"] in ("dataclass_type", "dict_type", "dataclass_exact_type"):
        return path_of(loc), "must be a JSON object"
    return path_of(loc), problem_at(root, tuple(error["loc"])) or str(error["msg"])


_ADAPTERS: dict[type, Callable[[Any], Any]] = {}


def validator_of(cls: type[T]) -> Callable[[Any], T]:
    """pydantic's validator of dataclass ``cls``, built once per class."""
    known = _ADAPTERS.get(cls)
    if known is None:
        known = _ADAPTERS[cls] = TypeAdapter(cls).validate_python
    return known


_CODECS: dict[type, _Codec] = {}


def _codec(cls: type[Record]) -> _Codec:
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = _Codec(cls)
    return codec
