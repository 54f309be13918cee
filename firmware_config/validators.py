"""Value specs of config keys: the ``Annotated`` metadata of firmware_config.schema.

Each spec gives pydantic a core schema (``__get_pydantic_core_schema__``) and
the docs a description (``describe``):

    address: Annotated[int | None, Int(0, 126), Optional(None, "OSDP address")]

Rules this module guarantees:
- Each spec takes any value and returns it typed, or fails with a message that
  says what was expected and what was found (``must be an integer, not a
  string``; ``127 is not in 0..126``; a near miss of a choice gets ``did you
  mean ...?``). Type checks are pydantic's strict ones, worded by the schema.
- TOML booleans are never integers, and floats are never integers.
- ``FilePath`` only joins a relative path to the config file's directory; it
  never touches the file system.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import GetCoreSchemaHandler, ValidationInfo
from pydantic_core import core_schema

from .schema import invalid, line_error, quote, raise_all, suggest

Schema = core_schema.CoreSchema


class Spec:
    """A value spec: a pydantic core schema and its description."""

    def schema(self) -> Schema:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Schema:
        # ``X | None``: an optional key whose default is "not set"
        if type(None) in typing.get_args(source):
            return core_schema.nullable_schema(self.schema())
        return self.schema()

    def then(self, convert: Callable[[Any], Any], doc: str | None = None) -> Spec:
        """This spec followed by ``convert``; a ``ValueError`` there is the problem."""
        return _Then(self, convert, doc)


def _after(fn: Callable[[Any], Any], schema: Schema) -> Schema:
    return core_schema.no_info_after_validator_function(fn, schema)


def _strict_int() -> Schema:
    return core_schema.int_schema(strict=True)


class Int(Spec):
    """An integer in ``lo..hi`` (TOML booleans and floats are not integers)."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def _check(self, value: int) -> int:
        if not self.lo <= value <= self.hi:
            raise invalid(f"{value} is not in {self.lo}..{self.hi}")
        return value

    def schema(self) -> Schema:
        return _after(self._check, _strict_int())

    def describe(self) -> str:
        return f"integer {self.lo}..{self.hi}"


class Number(Spec):
    """A number in ``lo..hi``: a TOML integer or float (a screen's 21.5 inches)."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi

    def _check(self, value: float) -> float:
        if isinstance(value, bool) or not self.lo <= value <= self.hi:
            raise invalid(f"{value} is not in {self.lo:g}..{self.hi:g}")
        return float(value)

    def schema(self) -> Schema:
        return _after(self._check, core_schema.float_schema(strict=True))

    def describe(self) -> str:
        return f"number {self.lo:g}..{self.hi:g}"


class IntChoice(Spec):
    """One of a fixed set of integers (baud rates)."""

    def __init__(self, *choices: int) -> None:
        self.choices = choices

    def _check(self, value: int) -> int:
        if value not in self.choices:
            raise invalid(f"{value} is not one of {', '.join(map(str, self.choices))}")
        return value

    def schema(self) -> Schema:
        return _after(self._check, _strict_int())

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


class Bool(Spec):
    def schema(self) -> Schema:
        return core_schema.bool_schema(strict=True)

    def describe(self) -> str:
        return "boolean"


class Text(Spec):
    """A string, optionally matching ``pattern`` (described as ``what``)."""

    def __init__(self, pattern: str | None = None, what: str = "", max_len: int = 1024) -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.what, self.max_len = what, max_len

    def _check(self, value: str) -> str:
        if len(value) > self.max_len:
            raise invalid(f"must be at most {self.max_len} characters")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise invalid(f"{quote(value)} is not {self.what}")
        return value

    def schema(self) -> Schema:
        return _after(self._check, core_schema.str_schema(strict=True))

    def describe(self) -> str:
        return self.what or "string"


class OneOf(Spec):
    """One of a fixed set of strings; a near miss gets a suggestion."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def _check(self, value: str) -> str:
        if value not in self.choices:
            raise invalid(
                f"{quote(value)} is not one of {', '.join(self.choices)}"
                + suggest(value, self.choices)
            )
        return value

    def schema(self) -> Schema:
        return _after(self._check, core_schema.str_schema(strict=True))

    def describe(self) -> str:
        return "one of " + ", ".join(f"`{c}`" for c in self.choices)


class FilePath(Spec):
    """A path; a relative one is taken from the config file's directory
    (``base_dir`` of the validation context)."""

    @staticmethod
    def _resolve(value: str, info: ValidationInfo) -> Path:
        if not value or not value.isprintable() or len(value) > 1024:
            raise invalid(f"{quote(value)} is not a file path")
        if value.startswith("~"):
            raise invalid(f"{quote(value)}: ~ is not expanded; write the full path")
        base = (info.context or {}).get("base_dir", Path("."))
        return Path(os.path.normpath(Path(base) / value))

    def schema(self) -> Schema:
        return core_schema.with_info_after_validator_function(
            self._resolve, core_schema.str_schema(strict=True)
        )

    def describe(self) -> str:
        return "path"


class _Then(Spec):
    def __init__(self, first: Spec, convert: Callable[[Any], Any], doc: str | None) -> None:
        self.first, self.convert, self.doc = first, convert, doc

    def _convert(self, value: Any) -> Any:
        try:
            return self.convert(value)
        except ValueError as exc:
            raise invalid(str(exc)) from None

    def schema(self) -> Schema:
        return _after(self._convert, self.first.schema())

    def describe(self) -> str:
        return self.doc or self.first.describe()


class Array(Spec):
    """A TOML array of ``item``; ``unique`` rejects repeated items."""

    def __init__(self, item: Spec, *, min_len: int = 0, unique: bool = False) -> None:
        self.item, self.min_len, self.unique = item, min_len, unique

    def _before(self, value: Any) -> Any:
        if isinstance(value, list) and len(value) < self.min_len:
            raise invalid(f"must have at least {self.min_len} item(s)")
        return value

    def _after(self, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.unique:
            seen: set[Any] = set()
            errors = []
            for i, item in enumerate(value):
                if item in seen:
                    errors.append(line_error((i,), f"{quote(item)} is listed twice", item))
                seen.add(item)
            raise_all(errors)
        return value

    def schema(self) -> Schema:
        items = core_schema.tuple_variable_schema(self.item.schema())
        return core_schema.no_info_before_validator_function(
            self._before, _after(self._after, items)
        )

    def describe(self) -> str:
        return f"array of {self.item.describe()}" + (", no repeats" if self.unique else "")


class MapOf(Spec):
    """A TOML table with free keys (matching ``key``) and validated values."""

    def __init__(self, key: Spec, value: Spec, *, min_len: int = 0) -> None:
        self.key, self.value, self.min_len = key, value, min_len

    def _check(self, value: dict[Any, Any]) -> Mapping[Any, Any]:
        if len(value) < self.min_len:
            raise invalid(f"must have at least {self.min_len} entry")
        return MappingProxyType(value)

    def schema(self) -> Schema:
        return _after(
            self._check,
            core_schema.dict_schema(self.key.schema(), self.value.schema(), strict=True),
        )

    def describe(self) -> str:
        return f"table: {self.key.describe()} = {self.value.describe()}"
