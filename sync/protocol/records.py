"""Typed records of central's entities (PROTOCOL.md §6) and their wire form.

The entity registry and the one import place for records; the pieces are:
- sync.protocol.codec: the field types, ``Record`` (``from_wire``, ``to_wire``)
  and ``RecordError``, on pydantic v2;
- sync.protocol.entities: the entities and their rules.

Rules this module guarantees:
- Every entity is a frozen dataclass; a record exists only if it validated.
- ``from_wire`` is strict about the fields it knows (type, range, enum, format)
  and ignores unknown fields (PROTOCOL.md §4: receivers ignore unknown fields).
  It raises ``RecordError`` naming the entity, the id and the field.
- ``to_wire(from_wire(d))`` keeps every known field, so a record survives a
  round trip through the wire and through the database unchanged.
- Instants are aware UTC datetimes; on the wire RFC 3339 ``Z`` strings.
The field list of each entity is documented in docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .codec import Record, RecordError
from .entities import (
    BOOKING_ORIGINS,
    BOOKING_STATUSES,
    CREDENTIAL_KINDS,
    HOLDER_KINDS,
    RESOURCE_KINDS,
    Booking,
    Credential,
    Door,
    Facility,
    Grant,
    Holder,
    Lease,
    Policy,
    Resource,
    Revocation,
    WeeklyWindow,
)

__all__ = [
    "BOOKING_ORIGINS",
    "BOOKING_STATUSES",
    "CREDENTIAL_KINDS",
    "ENTITIES",
    "HOLDER_KINDS",
    "RESOURCE_KINDS",
    "Booking",
    "Credential",
    "Door",
    "Facility",
    "Grant",
    "Holder",
    "Lease",
    "Policy",
    "Record",
    "RecordError",
    "Resource",
    "Revocation",
    "WeeklyWindow",
    "parse_record",
]

ENTITIES: dict[str, type[Record]] = {
    cls.ENTITY: cls
    for cls in (
        Facility,
        Resource,
        Door,
        Holder,
        Credential,
        Booking,
        Grant,
        Lease,
        Revocation,
        Policy,
    )
}


def parse_record(entity: str, data: Mapping[str, Any]) -> Record:
    """Validate ``data`` as ``entity``; raise ``RecordError`` for an unknown entity too."""
    cls = ENTITIES.get(entity)
    if cls is None:
        raise RecordError(
            str(entity),
            data.get("id") if isinstance(data, Mapping) else None,
            "entity",
            "unknown entity",
        )
    return cls.from_wire(data)
