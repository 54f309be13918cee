"""Declarative config schemas on pydantic v2 (ARCHITECTURE.md point 8).

Why pydantic: one validation library serves node.toml, central.toml, central's
records and the sync messages (docs/configuration.md, "Why pydantic"). For a
config it collects every problem of a document in one pass, each with its key
path, which is the promise to installers; msgspec (measured for the records'
hot path too) stops at the first.

Rules this module guarantees:
- A table is a frozen dataclass decorated with ``@table``; each field is
  ``Annotated[type, <value spec>, Required(...) | Optional(...)]``. The value
  specs (firmware_config.validators) carry the checks and their words.
  Validation is pure: a parsed TOML document goes in, a frozen dataclass comes
  out; nothing reads a file or a clock; relative paths are only joined to the
  config file's directory (``base_dir`` in the validation context).
- Every problem names the file, the key path (``readers[2].address``) and what
  is wrong. pydantic goes on after a problem, so all problems of a document
  are reported at once: per table, unknown keys first, then its keys in schema
  order, then its rules.
- Unknown keys are errors, with the closest known key suggested (difflib).
- Defaults are raw TOML values fed through the key's spec, so a default is
  typed, resolved and documented exactly like a written value.
- pydantic's own error types are worded here (``must be an integer, not a
  string``); a value spec words its own (``127 is not in 0..126``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TypeVar

from pydantic import GetCoreSchemaHandler, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError, core_schema

from .keypath import KeyPath, format_path

if typing.TYPE_CHECKING:
    from .rules import Rule

T = TypeVar("T")
ERROR_TYPE = "hallvakt"  # the pydantic error type of every problem worded here


def printable(text: str) -> str:
    """``text`` with every non-printable character (line breaks included) as an
    escape, so that one problem is always one line of a terminal."""
    return "".join(
        c if c.isprintable() else (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
        for c in text
    )


def quote(value: object, limit: int = 60) -> str:
    """A value as it would be written in TOML, shortened for messages."""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value: object) -> str:
    """The TOML name of a Python value's type (``integer``, ``table``...)."""
    for kind, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
        (datetime, "date-time"),
        (date, "date"),
        (time, "time"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def a_type(value: object) -> str:
    """``type_name`` with its article: ``a string``, ``an integer``."""
    name = type_name(value)
    return ("an " if name[0] in "aeiou" else "a ") + name


def suggest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean X?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config file. ``str()`` is ``FILE: PATH: message``."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return ": ".join(printable(part) for part in (self.file, self.path, self.message) if part)


class ConfigError(ValueError):
    """A config file is invalid; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(slots=True)
class Context:
    """Where problems of one file go while checks beyond the schema run."""

    file: str
    problems: list[Problem] = dataclasses.field(default_factory=list)

    def report(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.file, format_path(path), message))


def invalid(message: str) -> PydanticCustomError:
    """The error a value spec raises: ``message`` is the problem, word for word."""
    return PydanticCustomError(ERROR_TYPE, "{message}", {"message": message})


def line_error(at: KeyPath, message: str, value: object = None) -> Any:
    """One problem ``at`` a key path below the value being validated, for
    ``ValidationError.from_exception_data`` (pydantic prefixes the outer path)."""
    return {"type": invalid(message), "loc": at, "input": value}


def raise_all(errors: Sequence[Any]) -> None:
    """Raise ``errors`` (from ``line_error`` or ``ValidationError.errors()``) as one."""
    if errors:
        raise ValidationError.from_exception_data("config", [_again(e) for e in errors])


def _again(error: Any) -> Any:
    """An error of ``ValidationError.errors()`` as ``from_exception_data`` takes
    it: a custom error type must be a ``PydanticCustomError`` again."""
    if error["type"] == ERROR_TYPE:
        return {**error, "type": invalid(error["ctx"]["message"])}
    return error


# --- keys --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    """The second half of a field's ``Annotated``: required, or optional with a
    raw TOML default (None: not set); ``example`` is a raw TOML value for the
    reference docs."""

    required: bool
    default: Any = None
    doc: str = ""
    example: Any = None


def Required(doc: str = "", example: Any = None) -> Key:  # like ESPHome cv.Required
    return Key(True, None, doc, example)


def Optional(default: Any = None, doc: str = "", example: Any = None) -> Key:
    return Key(False, default, doc, example)


@dataclass(frozen=True)
class Field:
    """One key of a table: its TOML name, attribute, ``Key`` and annotation."""

    name: str
    attr: str
    key: Key
    annotation: Any

    @functools.cached_property
    def adapter(self) -> TypeAdapter[Any]:
        """pydantic's validator of this key alone (for rules and ``partial``)."""
        return TypeAdapter(self.annotation)


_FIELDS: dict[type, tuple[Field, ...]] = {}
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def fields_of(cls: type) -> tuple[Field, ...]:
    """The keys of table ``cls`` in schema order."""
    known = _FIELDS.get(cls)
    if known is None:
        known = _FIELDS[cls] = _fields(cls)
    return known


def _fields(cls: type) -> tuple[Field, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    out: list[Field] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        keys = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Key)]
        if len(keys) != 1:
            raise TypeError(f"{cls.__name__}.{f.name} needs one Required(...) or Optional(...)")
        out.append(Field(f.name, f.name, keys[0], hint))
    return tuple(out)


# --- tables ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableInfo:
    doc: str
    rules: tuple[Rule, ...]


def table(doc: str = "", rules: Sequence[Rule] = ()) -> Callable[[type[T]], type[T]]:
    """Make the frozen dataclass ``cls`` a config table: pydantic validates its
    keys; this adds unknown keys, raw defaults and the table's ``rules``."""

    def decorate(cls: type[T]) -> type[T]:
        info = TableInfo(doc, tuple(rules))

        def schema(source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
            return core_schema.with_info_wrap_validator_function(
                functools.partial(_validate_table, cls, info), handler(source)
            )

        cls.__table__ = info  # type: ignore[attr-defined]
        cls.__get_pydantic_core_schema__ = staticmethod(schema)  # type: ignore[attr-defined]
        return cls

    return decorate


def table_info(cls: type) -> TableInfo | None:
    info = getattr(cls, "__table__", None)
    return info if isinstance(info, TableInfo) else None


def _unknown_key(name: object, known: Sequence[str]) -> str:
    if isinstance(name, str):
        hint = suggest(name, known)
        if hint:
            return "unknown key" + hint
    return "unknown key" + (f" (known keys: {', '.join(known)})" if len(known) <= 12 else "")


def _validate_table(
    cls: type[T],
    info: TableInfo,
    value: Any,
    handler: core_schema.ValidatorFunctionWrapHandler,
    ctx: core_schema.ValidationInfo,
) -> T:
    if not isinstance(value, dict):
        return handler(value)  # type: ignore[no-any-return]  # pydantic words "must be a table"
    fields = fields_of(cls)
    known = [f.name for f in fields]
    errors: list[Any] = [
        line_error((str(name),), _unknown_key(name, known), value[name])
        for name in value
        if name not in known
    ]
    filled = with_defaults(cls, value)
    result: T | None = None
    try:
        result = handler(filled)
    except ValidationError as exc:
        errors += exc.errors(include_url=False)
    needed = {k for rule in info.rules for k in rule.keys}
    if result is not None:
        values = {f.name: getattr(result, f.attr) for f in fields if f.name in needed}
    else:
        values = {
            f.name: _try(f, filled[f.name], ctx.context)
            for f in fields
            if f.name in needed and f.name in filled
        }
    for rule in info.rules:
        errors += [line_error(at, message) for at, message in rule.check(value, values)]
    raise_all(errors)
    assert result is not None
    return result


def with_defaults(cls: type, value: Mapping[str, Any]) -> dict[str, Any]:
    """The known keys of ``value``, absent optional keys as their raw default."""
    out: dict[str, Any] = {}
    for f in fields_of(cls):
        if f.name in value:
            out[f.attr] = value[f.name]
        elif not f.key.required:
            out[f.attr] = f.key.default
    return out


def _try(f: Field, raw: Any, context: Any) -> Any:
    """The validated value of one key, or None if it has problems (reported
    already by the table's own validation)."""
    try:
        return f.adapter.validate_python(raw, context=context)
    except ValidationError:
        return None


class Entry(NamedTuple, typing.Generic[T]):
    """A list item that validated, with its position in the file."""

    pos: int
    value: T


def entries(value: object) -> dict[str, Any]:
    """The attributes of a validated table as ``partial`` gives them."""
    out: dict[str, Any] = {}
    for f in fields_of(type(value)):
        v = getattr(value, f.attr)
        out[f.attr] = tuple(Entry(i, x) for i, x in enumerate(v)) if table_item(f.annotation) else v
    return out


def partial(cls: type, value: object, context: Any) -> dict[str, Any]:
    """The keys of table ``cls`` that validate on their own, by attribute; an
    array of tables keeps the items that validated as ``Entry`` tuples even when
    others did not. For checks that must go on past a broken item."""
    if not isinstance(value, dict):
        return {}
    out: dict[str, Any] = {}
    filled = with_defaults(cls, value)
    for f in fields_of(cls):
        raw, item = filled.get(f.attr), table_item(f.annotation)
        if item is not None and isinstance(raw, list):
            good: list[Entry[Any]] = []
            for i, x in enumerate(raw):
                with contextlib.suppress(ValidationError):
                    good.append(Entry(i, adapter(item).validate_python(x, context=context)))
            out[f.attr] = tuple(good)
        elif raw is not None:
            v = _try(f, raw, context)
            if v is not None:
                out[f.attr] = v
    return out


# --- types for the docs ------------------------------------------------------


def strip(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """(bare type, Annotated metadata) of an annotation, ``X | None`` as X."""
    meta: tuple[Any, ...] = ()
    if typing.get_origin(annotation) is Annotated:
        meta = annotation.__metadata__
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        inner, more = strip(args[0])
        return inner, meta + more
    return annotation, meta


def nested_table(annotation: Any) -> type | None:
    """The table a key holds (``broker``) or an array of (``readers``), if any."""
    bare, _ = strip(annotation)
    if isinstance(bare, type) and table_info(bare) is not None:
        return bare
    return table_item(annotation)


def table_item(annotation: Any) -> type | None:
    """The table of an array of tables (``tuple[Reader, ...]``), else None."""
    bare, _ = strip(annotation)
    if typing.get_origin(bare) is tuple:
        item = typing.get_args(bare)[0]
        if isinstance(item, type) and table_info(item) is not None:
            return item
    return None


def describe(annotation: Any) -> str:
    """A key's accepted values in words, from its value spec."""
    bare, meta = strip(annotation)
    for m in meta:
        if hasattr(m, "describe"):
            return str(m.describe())
    if table_item(annotation) is not None:
        return "array of tables"
    if isinstance(bare, type) and table_info(bare) is not None:
        return "table"
    return getattr(bare, "__name__", str(bare))


# --- validation --------------------------------------------------------------


def problem_of(error: Mapping[str, Any]) -> tuple[str, str]:
    """(key path, problem) of one pydantic error, in the words of this module."""
    loc = tuple(p for p in error["loc"] if p != "[key]")
    kind, value = error["type"], error.get("input")
    if kind == ERROR_TYPE:
        return format_path(loc), str(error["ctx"]["message"])
    words = {
        "missing": "is required",
        "int_type": f"must be an integer, not {a_type(value)}",
        "float_type": f"must be a number, not {a_type(value)}",
        "bool_type": f"must be true or false, not {a_type(value)}",
        "string_type": f"must be a string, not {a_type(value)}",
        "tuple_type": f"must be an array, not {a_type(value)}",
        "list_type": f"must be an array, not {a_type(value)}",
        "dict_type": f"must be a table, not {a_type(value)}",
        "dataclass_type": f"must be a table, not {a_type(value)}",
    }
    return format_path(loc), words.get(kind, str(error["msg"]))


def problems_of(exc: ValidationError, file: str) -> list[Problem]:
    """Every problem of ``exc`` as lines of ``file``."""
    return [Problem(file, *problem_of(e)) for e in exc.errors(include_url=False)]


def adapter(cls: type[T]) -> TypeAdapter[T]:
    """pydantic's validator of table ``cls`` (built once: it takes milliseconds)."""
    known = _ADAPTERS.get(cls)
    if known is None:
        known = _ADAPTERS[cls] = TypeAdapter(cls)
    return known


def validate(cls: type[T], data: object, *, file: str, base_dir: Path) -> T:
    """``data`` as table ``cls``, or ``ConfigError`` with every problem."""
    try:
        return adapter(cls).validate_python(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(problems_of(exc, file)) from None
