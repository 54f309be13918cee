"""Field types of the sync messages, and ``read``: one JSON object to one typed value.

The messages' dataclasses (sync.protocol.messages) carry these types in their
annotations; pydantic v2 validates them, as it does central's records
(sync.protocol.codec, whose field types these build on) and node.toml.

Rules this module guarantees (PROTOCOL.md §4, docs/protocol.md):
- Integers are JSON integers: ``true`` and ``1.0`` are not integers.
- A field that is absent or ``null`` is missing: optional fields take their
  default, required ones raise. Unknown fields are never looked at.
- Every error is a ``MessageError`` naming the message kind and the field's
  path (``events[3].id``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import ValidationError
from pydantic_core import core_schema

from firmware_config.ids import ENTITY_ID_RULE, NODE_ID

from .codec import Bad, Id, Instant, Integer, Says, _Schema, validator_of, words
from .errors import MessageError

__all__ = ["INT63", "UINT64", "Bad", "Id", "Instant", "is_uuid7", "read"]

INT63 = 2**63 - 1  # revisions, sequence numbers and Unix seconds
UINT64 = 2**64 - 1  # epochs: "a random 64-bit integer"

# RFC 9562 §4 lowercase 8-4-4-4-12 form (the one spelling a node writes); version
# nibble 7 (§5.7) and variant bits 10 (§4.1).
UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_UUID7 = re.compile(UUID7)

T = TypeVar("T")

Int63 = Annotated[int, Integer(0, INT63)]
U64 = Annotated[int, Integer(0, UINT64)]
Seq = Annotated[int, Integer(1, INT63)]  # sequence numbers start at 1
Uuid7 = Annotated[
    str,
    _Schema(
        core_schema.str_schema(strict=True, pattern=f"^{UUID7}$"),
        "must be a lowercase UUIDv7 (RFC 9562)",
    ),
]
NodeId = Annotated[
    str,
    _Schema(
        core_schema.str_schema(strict=True, pattern=f"^{NODE_ID}$"), "must be 1-64 of a-z 0-9 - ."
    ),
]
Object = Annotated[
    dict[str, Any], _Schema(core_schema.dict_schema(strict=True), "must be a JSON object")
]
DoorId = Annotated[Id, Says(f"must be an id ({ENTITY_ID_RULE})")]


def Chars(lo: int, hi: int) -> _Schema:
    """A string of ``lo..hi`` characters."""
    schema = core_schema.str_schema(strict=True, min_length=lo, max_length=hi)
    return _Schema(schema, f"must be a string of {lo}..{hi} characters")


def one_of(codes: type[enum.StrEnum]) -> Says:
    """The problem of a wire code outside ``codes``."""
    return Says(f"must be one of {', '.join(c.value for c in codes)}")


def is_uuid7(value: object) -> bool:
    """True for a lowercase, hyphenated UUID of version 7 and the RFC 9562 variant."""
    return isinstance(value, str) and _UUID7.fullmatch(value) is not None


def read(kind: str, cls: type[T], data: object, at: tuple[str | int, ...] = ()) -> T:
    """``data`` (one JSON object of a ``kind`` message, at path ``at``) as ``cls``.

    Raises ``MessageError`` naming the first field found wrong.
    """
    if not isinstance(data, Mapping):
        raise MessageError(kind, words(cls, {"type": "dict_type", "loc": at})[0] or "(claims)",
                           "must be a JSON object")  # fmt: skip
    if None in data.values():  # absent and null are the same (PROTOCOL.md §4)
        data = {k: v for k, v in data.items() if v is not None}
    try:
        return validator_of(cls)(data)
    except ValidationError as exc:
        field, problem = words(cls, exc.errors(include_url=False)[0], at)
        raise MessageError(kind, field, problem) from None
