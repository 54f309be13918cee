"""Scalar validators of the schema engine (firmware_config.schema).

Rules this module guarantees:
- Each takes any value and returns it typed, or raises ``Invalid`` with a
  message that says what was expected and what was found (``must be an
  integer, not a string``; ``127 is not in 0..126``; a near miss of a choice
  gets ``did you mean ...?``).
- TOML booleans are never integers, and floats are never integers.
- ``FilePath`` only joins a relative path to the config file's directory; it
  never touches the file system.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .schema import Context, Invalid, KeyPath, Validator, a_type, quote, suggest


class Int(Validator[int]):
    """An integer in ``lo..hi`` (TOML booleans and floats are not integers)."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, value: object, ctx: Context, path: KeyPath) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be an integer, not {a_type(value)}")
        if not self.lo <= value <= self.hi:
            raise Invalid(f"{value} is not in {self.lo}..{self.hi}")
        return value

    def describe(self) -> str:
        return f"integer {self.lo}..{self.hi}"


class IntChoice(Validator[int]):
    """One of a fixed set of integers (baud rates)."""

    def __init__(self, *choices: int) -> None:
        self.choices = choices

    def __call__(self, value: object, ctx: Context, path: KeyPath) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be an integer, not {a_type(value)}")
        if value not in self.choices:
            raise Invalid(f"{value} is not one of {', '.join(map(str, self.choices))}")
        return value

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


class Bool(Validator[bool]):
    def __call__(self, value: object, ctx: Context, path: KeyPath) -> bool:
        if not isinstance(value, bool):
            raise Invalid(f"must be true or false, not {a_type(value)}")
        return value

    def describe(self) -> str:
        return "boolean"


class Text(Validator[str]):
    """A string, optionally matching ``pattern`` (described as ``what``)."""

    def __init__(self, pattern: str | None = None, what: str = "", max_len: int = 1024) -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.what, self.max_len = what, max_len

    def __call__(self, value: object, ctx: Context, path: KeyPath) -> str:
        if not isinstance(value, str):
            raise Invalid(f"must be a string, not {a_type(value)}")
        if len(value) > self.max_len:
            raise Invalid(f"must be at most {self.max_len} characters")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise Invalid(f"{quote(value)} is not {self.what}")
        return value

    def describe(self) -> str:
        return self.what or "string"


class OneOf(Validator[str]):
    """One of a fixed set of strings; a near miss gets a suggestion."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def __call__(self, value: object, ctx: Context, path: KeyPath) -> str:
        if not isinstance(value, str):
            raise Invalid(f"must be a string, not {a_type(value)}")
        if value not in self.choices:
            raise Invalid(
                f"{quote(value)} is not one of {', '.join(self.choices)}"
                + suggest(value, self.choices)
            )
        return value

    def describe(self) -> str:
        return "one of " + ", ".join(f"`{c}`" for c in self.choices)


class FilePath(Validator[Path]):
    """A path; a relative one is taken from the config file's directory."""

    def __call__(self, value: object, ctx: Context, path: KeyPath) -> Path:
        if not isinstance(value, str):
            raise Invalid(f"must be a string, not {a_type(value)}")
        if not value or not value.isprintable() or len(value) > 1024:
            raise Invalid(f"{quote(value)} is not a file path")
        if value.startswith("~"):
            raise Invalid(f"{quote(value)}: ~ is not expanded; write the full path")
        return Path(os.path.normpath(ctx.base_dir / value))

    def describe(self) -> str:
        return "path"
