"""Strict readers for message fields: each returns a typed value or raises ``MessageError``.

Rules this module guarantees (PROTOCOL.md §4, docs/protocol.md):
- Integers are JSON integers: ``true`` and ``1.0`` are not integers.
- A field that is absent or ``null`` is missing: optional fields take their
  default, required ones raise. Unknown fields are never looked at.
- Every error names the message kind and the field's path (``events[3].id``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from sync.protocol.timeutil import parse_instant

from .errors import MessageError

INT63 = 2**63 - 1  # revisions, sequence numbers and Unix seconds
UINT64 = 2**64 - 1  # epochs: "a random 64-bit integer"

# RFC 9562 §4 lowercase 8-4-4-4-12 form (the one spelling a node writes); version
# nibble 7 (§5.7) and variant bits 10 (§4.1).
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# docs/protocol.md: entity ids are 1-128 of A-Z a-z 0-9 . _ : @ -
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")

E = TypeVar("E", bound=enum.StrEnum)


def is_uuid7(value: object) -> bool:
    """True for a lowercase, hyphenated UUID of version 7 and the RFC 9562 variant."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


class Fields:
    """The fields of one JSON object inside a message of ``kind``, at ``path``."""

    __slots__ = ("data", "kind", "path")

    def __init__(self, kind: str, data: object, path: str = "") -> None:
        self.kind, self.path = kind, path
        if not isinstance(data, Mapping):
            raise MessageError(kind, path or "(claims)", "must be a JSON object")
        self.data: Mapping[str, Any] = data

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, problem: str) -> MessageError:
        return MessageError(self.kind, self.where(name), problem)

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def raw(self, name: str) -> Any:
        value = self.data.get(name)
        if value is None:
            raise self.fail(name, "is required")
        return value

    def integer(self, name: str, lo: int = 0, hi: int = INT63) -> int:
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(name, f"must be an integer in {lo}..{hi}")
        return value

    def opt_integer(self, name: str, lo: int = 0, hi: int = INT63) -> int | None:
        return self.integer(name, lo, hi) if self.has(name) else None

    def text(self, name: str, *, lo: int = 0, hi: int) -> str:
        value = self.raw(name)
        if not isinstance(value, str) or not lo <= len(value) <= hi:
            raise self.fail(name, f"must be a string of {lo}..{hi} characters")
        return value

    def ident(self, name: str) -> str:
        value = self.raw(name)
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise self.fail(name, "must be an id (1-128 of A-Z a-z 0-9 . _ : @ -)")
        return value

    def flag(self, name: str) -> bool:
        value = self.raw(name)
        if not isinstance(value, bool):
            raise self.fail(name, "must be true or false")
        return value

    def choice(self, name: str, codes: type[E]) -> E:
        value = self.raw(name)
        if isinstance(value, str):
            try:
                return codes(value)
            except ValueError:
                pass
        raise self.fail(name, f"must be one of {', '.join(c.value for c in codes)}")

    def uuid7(self, name: str) -> str:
        value = self.raw(name)
        if not is_uuid7(value):
            raise self.fail(name, "must be a lowercase UUIDv7 (RFC 9562)")
        return str(value)

    def instant(self, name: str) -> datetime:
        value = self.raw(name)
        try:
            return parse_instant(value)
        except ValueError:
            raise self.fail(name, "must be an RFC 3339 UTC instant ending in Z") from None

    def obj(self, name: str, *, optional: bool = False) -> Fields:
        if optional and not self.has(name):
            return Fields(self.kind, {}, self.where(name))
        return Fields(self.kind, self.raw(name), self.where(name))

    def items(self, name: str, *, lo: int, hi: int) -> list[Any]:
        value = self.raw(name)
        if not isinstance(value, list) or not lo <= len(value) <= hi:
            raise self.fail(name, f"must be a list of {lo}..{hi} items")
        return value
