"""A small declarative schema engine for configuration files (ARCHITECTURE.md point 8).

Rules this module guarantees:
- Validation is pure: a parsed TOML document (dicts, lists, scalars) goes in, a
  frozen dataclass comes out. Nothing here reads a file or a clock; relative
  paths are only joined to the config file's directory.
- Every problem names the file, the key path (``readers[2].address``) and what
  is wrong. Validation goes on after a problem, so all problems of a document
  are reported at once, in schema order.
- Unknown keys are errors, with the closest known key suggested (difflib).
- Defaults are raw TOML values fed through the key's validator, so a default
  is typed, resolved and documented exactly like a written value.
- A validator raises only ``Invalid`` (this value is wrong) or ``Failed`` (a
  nested value is wrong and its problems are already reported), whatever the
  type of the value it is given.

The shape follows ESPHome's ``config_validation``: ``Table(cls, {Required(key):
validator, Optional(key, default): validator}, rules)``. Scalar validators
(``Int``, ``Text``, ``OneOf``, ``FilePath``...) are in firmware_config.validators.
"""

from __future__ import annotations

import abc
import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")
U = TypeVar("U")
KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_path(path: KeyPath) -> str:
    """``("readers", 2, "address")`` -> ``readers[2].address`` (odd keys quoted as in TOML)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            out = f"{out}.{text}" if out else text
    return out


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


class Invalid(Exception):
    """A single value is wrong. ``at`` extends the key path below the value."""

    def __init__(self, message: str, at: KeyPath = ()) -> None:
        super().__init__(message)
        self.message, self.at = message, at


class Failed(Exception):
    """A nested value is wrong; its problems are already in the context."""


@dataclass(slots=True)
class Context:
    """Where problems go while one file is validated."""

    file: str
    base_dir: Path
    problems: list[Problem] = field(default_factory=list)

    def report(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.file, format_path(path), message))


class Entry(NamedTuple, Generic[T]):
    """A list item that validated, with its position in the file."""

    pos: int
    value: T


class Validator(abc.ABC, Generic[T]):
    """Turns one raw value into a typed one, or raises ``Invalid`` / ``Failed``."""

    @abc.abstractmethod
    def __call__(self, value: object, ctx: Context, path: KeyPath) -> T: ...

    @abc.abstractmethod
    def describe(self) -> str:
        """The accepted values in words, for errors and the reference docs."""

    def then(self, convert: Callable[[T], U], doc: str | None = None) -> Validator[U]:
        """This validator followed by ``convert``; a ``ValueError`` there is ``Invalid``."""
        return _Then(self, convert, doc)


def run(validator: Validator[T], value: object, ctx: Context, path: KeyPath) -> tuple[T, bool]:
    """Validate ``value``, reporting an ``Invalid`` into ``ctx``; return (value, ok)."""
    try:
        return validator(value, ctx, path), True
    except Invalid as exc:
        ctx.report(path + exc.at, exc.message)
    except Failed:
        pass
    return None, False  # type: ignore[return-value]


class _Then(Validator[U], Generic[T, U]):
    def __init__(self, first: Validator[T], convert: Callable[[T], U], doc: str | None) -> None:
        self.first, self.convert, self.doc = first, convert, doc

    def __call__(self, value: object, ctx: Context, path: KeyPath) -> U:
        raw = self.first(value, ctx, path)
        try:
            return self.convert(raw)
        except ValueError as exc:
            raise Invalid(str(exc)) from None

    def describe(self) -> str:
        return self.doc or self.first.describe()


class ListOf(Validator[tuple[T, ...]]):
    """A TOML array; ``unique`` rejects repeated items (for scalar items)."""

    def __init__(self, item: Validator[T], *, min_len: int = 0, unique: bool = False) -> None:
        self.item, self.min_len, self.unique = item, min_len, unique

    def entries(
        self, value: object, ctx: Context, path: KeyPath
    ) -> tuple[tuple[Entry[T], ...], bool]:
        """The items that validated, with their indices, and whether all did."""
        if not isinstance(value, list):
            raise Invalid(f"must be an array, not {a_type(value)}")
        if len(value) < self.min_len:
            raise Invalid(f"must have at least {self.min_len} item(s)")
        out: list[Entry[T]] = []
        ok, seen = True, set()
        for i, raw in enumerate(value):
            item, good = run(self.item, raw, ctx, (*path, i))
            if not good:
                ok = False
                continue
            if self.unique:
                if item in seen:
                    ctx.report((*path, i), f"{quote(item)} is listed twice")
                    ok = False
                    continue
                seen.add(item)
            out.append(Entry(i, item))
        return tuple(out), ok

    def __call__(self, value: object, ctx: Context, path: KeyPath) -> tuple[T, ...]:
        items, ok = self.entries(value, ctx, path)
        if not ok:
            raise Failed
        return tuple(e.value for e in items)

    def describe(self) -> str:
        return f"array of {self.item.describe()}"


class MapOf(Validator[Mapping[str, T]]):
    """A TOML table with free keys (matching ``key``) and validated values."""

    def __init__(self, key: Validator[str], value: Validator[T], *, min_len: int = 0) -> None:
        self.key, self.value, self.min_len = key, value, min_len

    def __call__(self, value: object, ctx: Context, path: KeyPath) -> Mapping[str, T]:
        if not isinstance(value, dict):
            raise Invalid(f"must be a table, not {a_type(value)}")
        if len(value) < self.min_len:
            raise Invalid(f"must have at least {self.min_len} entry")
        out: dict[str, T] = {}
        ok = True
        for k, raw in value.items():
            name, good = run(self.key, k, ctx, (*path, str(k)))
            item, good2 = run(self.value, raw, ctx, (*path, str(k))) if good else (None, False)
            if good and good2:
                out[name] = item  # type: ignore[assignment]
            ok = ok and good and good2
        if not ok:
            raise Failed
        return MappingProxyType(out)

    def describe(self) -> str:
        return f"table of {self.key.describe()} = {self.value.describe()}"


@dataclass(frozen=True, slots=True, eq=False)
class Key:
    """A key of a ``Table``: required, or optional with a raw TOML default;
    ``example`` is a raw TOML value for the reference docs."""

    name: str
    required: bool
    default: Any = None
    doc: str = ""
    example: Any = None

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


def Required(name: str, doc: str = "", example: Any = None) -> Key:  # like ESPHome cv.Required
    return Key(name, True, None, doc, example)


def Optional(name: str, default: Any = None, doc: str = "", example: Any = None) -> Key:
    return Key(name, False, default, doc, example)


class Rule(abc.ABC):
    """A check across the keys of one table, run after its keys validated."""

    @abc.abstractmethod
    def check(
        self, raw: Mapping[str, object], values: Mapping[str, Any]
    ) -> Iterator[tuple[KeyPath, str]]:
        """Yield (key path below the table, message) for each problem."""

    @abc.abstractmethod
    def describe(self) -> str: ...


class ExactlyOne(Rule):
    """Exactly one of ``keys`` is written."""

    def __init__(self, *keys: str) -> None:
        self.keys = keys

    def check(
        self, raw: Mapping[str, object], values: Mapping[str, Any]
    ) -> Iterator[tuple[KeyPath, str]]:
        present = [k for k in self.keys if k in raw]
        if not present:
            yield (), f"needs one of {', '.join(self.keys)}"
        for k in present[1:]:
            yield (k,), f"cannot be combined with {present[0]}"

    def describe(self) -> str:
        return "exactly one of " + ", ".join(f"`{k}`" for k in self.keys)


class When(Rule):
    """When ``key`` validated and ``test(value)`` holds (``label`` in words),
    the keys in ``require`` must be written and those in ``forbid`` must not."""

    def __init__(
        self,
        key: str,
        test: Callable[[Any], bool],
        label: str,
        *,
        require: Sequence[str] = (),
        forbid: Sequence[str] = (),
    ) -> None:
        self.key, self.test, self.label = key, test, label
        self.require, self.forbid = tuple(require), tuple(forbid)

    def check(
        self, raw: Mapping[str, object], values: Mapping[str, Any]
    ) -> Iterator[tuple[KeyPath, str]]:
        if values.get(self.key) is None or not self.test(values[self.key]):
            return
        for k in self.require:
            if k not in raw:
                yield (k,), f"is required when {self.label}"
        for k in self.forbid:
            if k in raw:
                yield (k,), f"is not allowed when {self.label}"

    def describe(self) -> str:
        parts = [f"`{k}` required" for k in self.require]
        parts += [f"`{k}` not allowed" for k in self.forbid]
        return f"when {self.label}: " + ", ".join(parts)


class Check(Rule):
    """A free check over the validated values of one table."""

    def __init__(
        self,
        fn: Callable[[Mapping[str, object], Mapping[str, Any]], Iterator[tuple[KeyPath, str]]],
        doc: str,
    ) -> None:
        self.fn, self.doc = fn, doc

    def check(
        self, raw: Mapping[str, object], values: Mapping[str, Any]
    ) -> Iterator[tuple[KeyPath, str]]:
        return self.fn(raw, values)

    def describe(self) -> str:
        return self.doc


class Table(Validator[T]):
    """A TOML table with known keys, built into the dataclass ``cls``."""

    def __init__(
        self,
        cls: type[T],
        keys: Mapping[Key, Validator[Any]],
        rules: Sequence[Rule] = (),
        doc: str = "",
    ) -> None:
        self.cls, self.keys, self.rules, self.doc = cls, dict(keys), tuple(rules), doc
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        missing = {k.attr for k in self.keys} ^ names
        if missing:
            raise TypeError(f"{cls.__name__} and its schema differ on {sorted(missing)}")

    def fields(
        self, value: object, ctx: Context, path: KeyPath, *, partial: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """Validate every key; return the attributes that validated and whether all
        did (rules included). With ``partial``, array keys keep their items that
        validated as ``Entry`` tuples even when others did not."""
        if not isinstance(value, dict):
            raise Invalid(f"must be a table, not {a_type(value)}")
        known = {k.name: k for k in self.keys}
        ok = True
        for name in value:
            if not isinstance(name, str) or name not in known:
                hint = suggest(name, known) if isinstance(name, str) else ""
                ctx.report((*path, str(name)), "unknown key" + (hint or self._known(known)))
                ok = False
        out: dict[str, Any] = {}
        for key, validator in self.keys.items():
            at = (*path, key.name)
            if key.name in value:
                raw = value[key.name]
            elif key.required:
                ctx.report(at, "is required")
                ok = False
                continue
            elif key.default is None:
                out[key.attr] = None
                continue
            else:
                raw = key.default
            if partial and isinstance(validator, ListOf):
                try:
                    out[key.attr], good = validator.entries(raw, ctx, at)
                except Invalid as exc:
                    ctx.report(at + exc.at, exc.message)
                    good = False
                ok = ok and good
                continue
            result, good = run(validator, raw, ctx, at)
            if good:
                out[key.attr] = result
            ok = ok and good
        by_attr = {k.attr: k.name for k in self.keys}
        named = {by_attr[a]: v for a, v in out.items()}
        for rule in self.rules:
            for below, message in rule.check(value, named):
                ctx.report(path + below, message)
                ok = False
        return out, ok

    @staticmethod
    def _known(known: Mapping[str, Key]) -> str:
        return f" (known keys: {', '.join(known)})" if len(known) <= 12 else ""

    def build(self, values: Mapping[str, Any]) -> T:
        """The dataclass from ``fields`` output (``Entry`` tuples are unwrapped)."""
        plain = {
            k: tuple(e.value for e in v)
            if isinstance(v, tuple) and v and isinstance(v[0], Entry)
            else v
            for k, v in values.items()
        }
        return self.cls(**plain)

    def __call__(self, value: object, ctx: Context, path: KeyPath) -> T:
        values, ok = self.fields(value, ctx, path)
        if not ok:
            raise Failed
        return self.build(values)

    def describe(self) -> str:
        return "table"
