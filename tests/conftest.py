"""Shared test fixtures (the rootdir conftest; the test tree has no ``__init__`` files).

- Hypothesis profiles: ``hallvakt``, the default (modest, no deadline: many properties open
  SQLite databases, whose timing is not the property under test) and
  ``thorough``; pick one with ``HYPOTHESIS_PROFILE``.
- ``replica``: a fresh node database in a temp file (WAL, migrated).
- ``site``: the test facility as central would send it, as wire dicts: a
  divisible hall with sections A/B/C, a gym, doors, holders, credentials,
  a staff grant and the default policy; plus builders for bookings, leases,
  ``changes`` batches and ``snapshot`` parts (PROTOCOL.md §6).
- ``seeded``: ``replica`` with the whole site applied as revision 1.
- ``dump``: every table of a replica as sorted rows, to compare states.

Builders are exposed through session fixtures so that Hypothesis tests can
use them (function-scoped fixtures are not reset between examples).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings

from sync.protocol.timeutil import format_instant

if TYPE_CHECKING:
    from sync.protocol.wire import Op

from sync.replica import ChangeBatch, Replica, apply_changes, card_digest, pin_digest

# central's store on SQLite and PostgreSQL: pg_server, store_url, pg_url
pytest_plugins = ["tests.support.central_stores"]

settings.register_profile("hallvakt", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=1_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "hallvakt"))

Wire = dict[str, Any]
Entities = dict[str, list[Wire]]
Dump = dict[str, list[tuple[Any, ...]]]


def _text(at: datetime | str) -> str:
    return at if isinstance(at, str) else format_instant(at)


class Site:
    """The test facility and wire builders. Every method returns new dicts."""

    key = bytes(range(32))  # the municipality's credential key K (32 bytes)
    node = "test.hall.n1"
    other_node = "test.hall.n2"
    facility_id = "fac1"
    now = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)  # a Monday
    anna_card = "0ABCDE40/26"
    anna_pin = "4711"
    staff_card = "11223344/32"

    def central_ops(self) -> list[Op]:
        """Central's changelog upserts of the whole facility (``entities``)."""
        from sync.central import changelog as cl

        return [cl.upsert_wire(e, d) for e, it in self.entities().items() for d in it]

    def entities(self) -> Entities:
        """The whole facility by entity, without bookings and leases."""
        k = self.key
        return {
            "facility": [
                {
                    "id": self.facility_id,
                    "name": "Kroksbäckshallen",
                    "timezone": "Europe/Stockholm",
                    "municipality": "Malmö",
                }
            ],
            "resource": [
                {
                    "id": "hall",
                    "name": "Stora hallen",
                    "kind": "hall",
                    "walkin_slot_minutes": 30,
                    "walkin_max_slots": 4,
                    "sort": 1,
                },
                *(
                    {
                        "id": s,
                        "name": f"Sektion {s}",
                        "kind": "section",
                        "parent": "hall",
                        "walkin_slot_minutes": 30,
                        "walkin_max_slots": 2,
                        "sort": 2 + i,
                    }
                    for i, s in enumerate("ABC")
                ),
                {
                    "id": "gym",
                    "name": "Gymmet",
                    "kind": "room",
                    "walkin_slot_minutes": 60,
                    "walkin_max_slots": 2,
                    "sort": 9,
                },
            ],
            "door": [
                {"id": "main", "name": "Huvudentré", "resources": ["hall", "gym"]},
                {
                    "id": "door-a",
                    "name": "Dörr A",
                    "resources": ["A"],
                    "before_minutes": 30,
                    "after_minutes": 15,
                },
                {
                    "id": "gym-door",
                    "name": "Gymdörr",
                    "resources": ["gym"],
                    "before_minutes": 15,
                    "after_minutes": 30,
                    "fail_mode": "safe",
                },
            ],
            "holder": [
                {"id": "ik-fram", "kind": "association", "display_name": "IK Fram"},
                {"id": "bk-boll", "kind": "association", "display_name": "BK Boll"},
                {
                    "id": "anna",
                    "kind": "person",
                    "display_name": "Anna Andersson",
                    "member_of": ["ik-fram"],
                },
                {"id": "staff1", "kind": "staff", "display_name": "Vaktmästaren"},
            ],
            "credential": [
                {
                    "id": "anna-card",
                    "holder": "anna",
                    "kind": "card",
                    "digest": card_digest(k, self.anna_card),
                },
                {
                    "id": "anna-pin",
                    "holder": "anna",
                    "kind": "pin",
                    "digest": pin_digest(k, "anna", self.anna_pin),
                },
                {
                    "id": "staff1-card",
                    "holder": "staff1",
                    "kind": "card",
                    "digest": card_digest(k, self.staff_card),
                },
            ],
            "grant": [
                {
                    "id": "g-staff1",
                    "holder": "staff1",
                    "doors": ["main"],
                    "windows": [{"days": [1, 2, 3, 4, 5, 6, 7], "from": "06:00", "to": "22:00"}],
                }
            ],
            "policy": [{"id": "default"}],
        }

    # --- records -----------------------------------------------------------

    def booking(
        self,
        ident: str,
        resources: list[str],
        start: datetime | str,
        end: datetime | str,
        **fields: Any,
    ) -> Wire:
        return {
            "id": ident,
            "resources": list(resources),
            "start": _text(start),
            "end": _text(end),
            **fields,
        }

    def lease(
        self,
        ident: str,
        resource: str,
        start: datetime | str,
        end: datetime | str,
        node: str | None = None,
    ) -> Wire:
        return {
            "id": ident,
            "node": node or self.node,
            "resource": resource,
            "start": _text(start),
            "end": _text(end),
        }

    # --- messages (PROTOCOL.md §6 changes and snapshot) -----------------------

    @staticmethod
    def upsert(entity: str, data: Wire) -> Wire:
        return {"op": "upsert", "entity": entity, "id": data["id"], "data": data}

    @staticmethod
    def delete(entity: str, ident: str) -> Wire:
        return {"op": "delete", "entity": entity, "id": ident}

    @staticmethod
    def changes(base: int, rev: int, *ops: Wire) -> Wire:
        return {"kind": "changes", "base": base, "rev": rev, "ops": list(ops)}

    def upserts(self, entities: Entities) -> list[Wire]:
        return [self.upsert(e, d) for e, items in entities.items() for d in items]

    @staticmethod
    def snapshot(rev: int, entities: Entities, parts: int = 1) -> list[Wire]:
        """``entities`` split over ``parts`` snapshot messages (1-based ``part``)."""
        flat = [(e, d) for e, items in entities.items() for d in items]
        out: list[Wire] = []
        for p in range(parts):
            chunk: Entities = {}
            for e, d in flat[p::parts]:
                chunk.setdefault(e, []).append(d)
            out.append(
                {"kind": "snapshot", "rev": rev, "part": p + 1, "parts": parts, "entities": chunk}
            )
        return out

    def apply(self, rep: Replica, msg: Wire, now: datetime | None = None) -> Any:
        """Validate and apply one ``changes`` message; return the outcome."""
        return apply_changes(rep, ChangeBatch.from_wire(msg), now or self.now)


def dump_replica(rep: Replica, *, portable: bool = False) -> Dump:
    """Every table's rows, sorted. ``portable`` drops what differs between two
    databases holding the same data: the epoch and the migration log's times."""
    names = [
        r[0]
        for r in rep.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not r[0].startswith("sqlite_")
    ]
    out: Dump = {}
    for name in sorted(names):
        if portable and name == "_sqlite_migrations":
            continue
        cur = rep.conn.execute(f'SELECT * FROM "{name}"')
        cols = [d[0] for d in cur.description]
        rows = [tuple(r) for r in cur]
        if portable and name == "sync_state":
            at = cols.index("epoch")
            rows = [(*r[:at], None, *r[at + 1 :]) for r in rows]
        out[name] = sorted(rows, key=repr)
    return out


@pytest.fixture(scope="session")
def site() -> Site:
    return Site()


@pytest.fixture(scope="session")
def dump() -> Callable[..., Dump]:
    return dump_replica


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Replica]:
    rep = Replica.open(tmp_path / "node.db")
    try:
        yield rep
    finally:
        rep.close()


@pytest.fixture
def seeded(replica: Replica, site: Site) -> Replica:
    """The replica with the whole site applied as revision 1."""
    site.apply(replica, site.changes(0, 1, *site.upserts(site.entities())))
    return replica
