"""Reading import files for ``hallvakt central import`` (docs/central.md "Import"), pure.

Rules this module guarantees:
- JSON: ``{entity: [wire records]}`` as a snapshot's ``entities``
  (docs/protocol.md), plus two optional keys: ``delete`` (a list of
  ``{"entity", "id"}``) and ``walkin_windows`` (a list of ``{"resource",
  "node", "windows": [{"days", "from", "to"}]}``; empty ``windows`` removes).
- CSV (UTF-8, a header row, ``,`` separated): bookings when the header has
  ``start`` and ``end`` (columns ``id, resources, start, end`` and optional
  ``holder, title, status``; ``resources`` separated by ``;``), credentials when
  it has ``digest`` (``id, holder, kind, digest`` and optional ``valid_from,
  valid_to, booking``). An empty cell is an absent field.
- Times: RFC 3339 with ``Z`` or an offset, or a local ``YYYY-MM-DD HH:MM[:SS]``
  (``T`` allowed) read in the facility's time zone.
- Every record is validated with ``parse_record``; all problems of a file are
  reported at once (``FILE:LINE: problem`` for CSV, ``FILE: entity[i]: problem``
  for JSON) as ``ImportFailed``, and nothing is returned then.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from firmware_config.ids import NODE_ID
from sync.protocol.records import ENTITIES, RecordError
from sync.protocol.timeutil import format_instant, require_aware, zone
from sync.protocol.wire import Op

from . import changelog as cl
from .leases import Window, parse_windows

BOOKING_COLUMNS = ("id", "resources", "start", "end", "holder", "title", "status")
CREDENTIAL_COLUMNS = ("id", "holder", "kind", "digest", "valid_from", "valid_to", "booking")
_LOCAL = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}(?::[0-9]{2})?)")


class ImportFailed(ValueError):
    """An import file with problems; ``problems`` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True, slots=True)
class WindowSetting:
    resource: str
    node: str
    windows: tuple[Window, ...]


@dataclass(frozen=True, slots=True)
class ImportData:
    ops: tuple[Op, ...]
    windows: tuple[WindowSetting, ...] = ()


def parse_time(text: str, tz_name: str) -> datetime:
    """An instant from RFC 3339 (``Z`` or offset) or local facility time; raises ``ValueError``."""
    text = text.strip()
    m = _LOCAL.fullmatch(text)
    if m is not None:
        naive = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}")
        return naive.replace(tzinfo=zone(tz_name)).astimezone(zone("UTC"))
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return require_aware(at)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time (RFC 3339 like 2026-05-04T17:00:00Z,"
            " or local 2026-05-04 19:00)"
        ) from None


def parse_json(text: str, file: str) -> ImportData:
    """A JSON import (module rules); raises ``ImportFailed``."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed([f"{file}: not JSON: {exc}"]) from None
    if not isinstance(doc, dict):
        raise ImportFailed([f"{file}: must be a JSON object of entity lists"])
    problems: list[str] = []
    ops: list[Op] = []
    settings: list[WindowSetting] = []
    for key, items in doc.items():
        if key not in ENTITIES and key not in ("delete", "walkin_windows"):
            problems.append(f"{file}: {key}: not an entity of docs/protocol.md")
            continue
        if not isinstance(items, list):
            problems.append(f"{file}: {key}: must be a list")
            continue
        for i, item in enumerate(items):
            where = f"{file}: {key}[{i}]"
            try:
                if key == "delete":
                    ops.append(_delete(item))
                elif key == "walkin_windows":
                    settings.append(_windows(item))
                else:
                    ops.append(cl.upsert_wire(key, item))
            except (RecordError, ValueError, TypeError, AttributeError) as exc:
                problems.append(f"{where}: {exc}")
    if problems:
        raise ImportFailed(problems)
    return ImportData(tuple(ops), tuple(settings))


def _delete(item: Any) -> Op:
    if not isinstance(item, Mapping) or item.get("entity") not in ENTITIES:
        raise ValueError('a delete is {"entity": <entity>, "id": <id>}')
    if not cl.is_id(item.get("id")):
        raise ValueError("id must be 1-128 of A-Z a-z 0-9 . _ : @ -")
    return cl.delete(str(item["entity"]), str(item["id"]))


def _windows(item: Any) -> WindowSetting:
    if not isinstance(item, Mapping):
        raise ValueError("must be an object with resource, node, windows")
    resource, node = item.get("resource"), item.get("node")
    if not cl.is_id(resource):
        raise ValueError("resource must be a resource id")
    if not isinstance(node, str) or not re.fullmatch(NODE_ID, node):
        raise ValueError("node must be a node id")
    raw = item.get("windows")
    windows = () if raw == [] else parse_windows(raw)
    return WindowSetting(str(resource), node, windows)


def parse_csv(text: str, file: str, tz_name: str) -> ImportData:
    """A CSV import of bookings or credentials (module rules); raises ``ImportFailed``."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise ImportFailed([f"{file}: empty file"])
    header = [h.strip().lower() for h in rows[0]]
    if "start" in header and "end" in header:
        entity, known, times = "booking", BOOKING_COLUMNS, ("start", "end")
    elif "digest" in header:
        entity, known, times = "credential", CREDENTIAL_COLUMNS, ("valid_from", "valid_to")
    else:
        raise ImportFailed(
            [
                f"{file}:1: header must name booking columns ({', '.join(BOOKING_COLUMNS)})"
                f" or credential columns ({', '.join(CREDENTIAL_COLUMNS)})"
            ]
        )
    problems = [f"{file}:1: unknown column {h!r}" for h in header if h not in known]
    ops: list[Op] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(f"{file}:{line}: {len(row)} cells, the header has {len(header)}")
            continue
        data: dict[str, Any] = {}
        try:
            for name, cell in zip(header, row, strict=True):
                value = cell.strip()
                if not value or name not in known:
                    continue
                if name in times:
                    data[name] = format_instant(parse_time(value, tz_name))
                elif name == "resources":
                    data[name] = [r.strip() for r in value.split(";") if r.strip()]
                else:
                    data[name] = value
            ops.append(cl.upsert_wire(entity, data))
        except (RecordError, ValueError) as exc:
            problems.append(f"{file}:{line}: {exc}")
    if problems:
        raise ImportFailed(problems)
    return ImportData(tuple(ops))
