"""Applying central's ``changes`` and ``snapshot`` messages (PROTOCOL.md §6).

apply.py guarantees: a batch applies only when ``base == applied_rev`` and
moves ``applied_rev`` in the same transaction; ``rev <= applied_rev`` is a
duplicate and any other base a gap, both leaving the replica untouched; a
malformed batch raises ``BatchError`` and changes nothing; a snapshot is
staged part by part and replaces the replica in one transaction, keeping
walk-ins central has not given a verdict on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from sync.replica import (
    ApplyOutcome,
    BatchError,
    Booking,
    ChangeBatch,
    Door,
    Holder,
    Replica,
    Resource,
    SnapshotPart,
    StagedSnapshot,
    Verdict,
    acknowledge,
    apply_changes,
    backlog,
    bookings_overlapping,
    create_walkin,
    stage_snapshot,
    staged_snapshot,
    walkin_states,
)

APPLIED, DUPLICATE, GAP, STAGED = (
    ApplyOutcome.APPLIED,
    ApplyOutcome.DUPLICATE,
    ApplyOutcome.GAP,
    ApplyOutcome.STAGED,
)
NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
Dumper = Callable[..., dict[str, Any]]


def apply(rep: Replica, msg: dict[str, Any], now: datetime = NOW) -> ApplyOutcome:
    return apply_changes(rep, ChangeBatch.from_wire(msg), now)


def stage(rep: Replica, msg: dict[str, Any], now: datetime = NOW) -> ApplyOutcome:
    return stage_snapshot(rep, SnapshotPart.from_wire(msg), now)


def gym_booking(site: Any, ident: str = "b1", hour: int = 16) -> dict[str, Any]:
    start = datetime(2026, 5, 4, hour, tzinfo=UTC)
    return site.booking(ident, ["gym"], start, start + timedelta(hours=1), holder="ik-fram")


# --- base / rev rules ----------------------------------------------------------


def test_a_batch_on_the_applied_rev_applies(seeded: Replica, site: Any) -> None:
    later = NOW + timedelta(minutes=5)
    assert apply(seeded, site.changes(1, 3, site.upsert("booking", gym_booking(site))), later) is (
        APPLIED
    )
    st_ = seeded.state()
    assert (st_.applied_rev, st_.applied_at) == (3, later)
    assert seeded.get(Booking, "b1") is not None


def test_duplicates_are_ignored(seeded: Replica, site: Any, dump: Dumper) -> None:
    assert apply(seeded, site.changes(1, 3, site.upsert("booking", gym_booking(site)))) is APPLIED
    before = dump(seeded)
    again = site.changes(1, 3, site.upsert("booking", gym_booking(site, hour=18)))
    assert apply(seeded, again) is DUPLICATE  # rev == applied_rev
    assert apply(seeded, site.changes(0, 1, site.delete("holder", "anna"))) is DUPLICATE
    assert apply(seeded, site.changes(0, 3)) is DUPLICATE
    assert dump(seeded) == before


def test_a_gap_is_detected_and_not_applied(seeded: Replica, site: Any, dump: Dumper) -> None:
    before = dump(seeded)
    assert apply(seeded, site.changes(2, 3, site.delete("holder", "anna"))) is GAP
    assert apply(seeded, site.changes(5, 9, site.upsert("booking", gym_booking(site)))) is GAP
    assert dump(seeded) == before
    assert seeded.state().applied_rev == 1


def test_an_overlapping_batch_is_a_gap(seeded: Replica, site: Any, dump: Dumper) -> None:
    assert apply(seeded, site.changes(1, 4)) is APPLIED
    before = dump(seeded)
    # base 2 < applied 4 < rev 6: part of it is applied already, part is not;
    # applying it would replay ops on the wrong state.
    assert apply(seeded, site.changes(2, 6, site.delete("holder", "anna"))) is GAP
    assert dump(seeded) == before
    assert seeded.get(Holder, "anna") is not None


def test_an_empty_batch_moves_the_revision(seeded: Replica, site: Any, dump: Dumper) -> None:
    before = dump(seeded)
    assert apply(seeded, site.changes(1, 2)) is APPLIED
    after = dump(seeded)
    assert seeded.state().applied_rev == 2
    assert {k: v for k, v in after.items() if k != "sync_state"} == {
        k: v for k, v in before.items() if k != "sync_state"
    }


def test_upserts_and_deletes_keep_index_tables_in_step(seeded: Replica, site: Any) -> None:
    ex = seeded.conn.execute
    b = site.booking("b1", ["A", "B"], "2026-05-04T16:00:00Z", "2026-05-04T18:00:00Z")
    door = {"id": "main", "name": "Huvudentré", "resources": ["gym"]}
    holder = {"id": "anna", "kind": "person", "display_name": "Anna", "member_of": ["bk-boll"]}
    ops = [site.upsert("booking", b), site.upsert("door", door), site.upsert("holder", holder)]
    assert apply(seeded, site.changes(1, 2, *ops)) is APPLIED
    assert ex("SELECT resource_id FROM booking_resources ORDER BY 1").fetchall() == [("A",), ("B",)]
    assert ex("SELECT resource_id FROM door_resources WHERE door_id='main'").fetchall() == [
        ("gym",)
    ]
    assert ex("SELECT group_id FROM holder_members WHERE holder_id='anna'").fetchall() == [
        ("bk-boll",)
    ]
    assert seeded.state().max_booking_s == 7200
    ops = [site.delete(e, i) for e, i in (("booking", "b1"), ("door", "main"), ("holder", "anna"))]
    assert apply(seeded, site.changes(2, 3, *ops, site.delete("booking", "never-there"))) is APPLIED
    assert ex("SELECT count(*) FROM booking_resources").fetchone()[0] == 0
    assert ex("SELECT count(*) FROM door_resources WHERE door_id='main'").fetchone()[0] == 0
    assert ex("SELECT count(*) FROM holder_members WHERE holder_id='anna'").fetchone()[0] == 0
    assert seeded.get(Door, "main") is None and seeded.get(Booking, "b1") is None


def test_the_last_upsert_of_an_id_in_a_batch_wins(seeded: Replica, site: Any) -> None:
    first = {"id": "gym", "name": "Gym 1"}
    second = {"id": "gym", "name": "Gym 2", "kind": "room"}
    ops = [site.upsert("resource", first), site.upsert("resource", second)]
    assert apply(seeded, site.changes(1, 2, *ops)) is APPLIED
    assert seeded.get(Resource, "gym") == Resource("gym", "Gym 2")


NEW_HOLDER = {"id": "new", "kind": "staff", "display_name": "Ny"}
VALID_OP = {"op": "upsert", "entity": "holder", "id": "new", "data": NEW_HOLDER}
MALFORMED_BATCHES: list[tuple[Any, str]] = [
    ({"base": 1, "rev": 1, "ops": []}, "changes: rev 1 must be above base 1"),
    ({"base": 1, "rev": 0, "ops": []}, "changes: rev 0 must be above base 1"),
    ({"base": -1, "rev": 2, "ops": []}, "base must be a non-negative integer"),
    ({"base": True, "rev": 2, "ops": []}, "base must be a non-negative integer"),
    ({"base": 1, "rev": "2", "ops": []}, "rev must be a non-negative integer"),
    ({"base": 1, "rev": 2**63, "ops": []}, "rev must be a non-negative integer"),
    ({"base": 1, "rev": 2}, "changes: ops must be a list"),
    ({"base": 1, "rev": 2, "ops": {"0": VALID_OP}}, "changes: ops must be a list"),
    ({"base": 1, "rev": 2, "ops": [VALID_OP, "delete"]}, "ops[1]: must be an object"),
    (
        {"base": 1, "rev": 2, "ops": [VALID_OP, {**VALID_OP, "entity": "team"}]},
        "ops[1].entity: unknown entity 'team'",
    ),
    (
        {"base": 1, "rev": 2, "ops": [{**VALID_OP, "id": ""}]},
        "ops[0].id: must be a non-empty string",
    ),
    (
        {"base": 1, "rev": 2, "ops": [{**VALID_OP, "op": "merge"}]},
        "ops[0].op: must be upsert or delete",
    ),
    (
        {"base": 1, "rev": 2, "ops": [VALID_OP, {**VALID_OP, "data": {"id": "new"}}]},
        "ops[1].data: holder 'new': kind: is required",
    ),
    (
        {"base": 1, "rev": 2, "ops": [{**VALID_OP, "data": None}]},
        "ops[0].data: holder None: (record): must be a JSON object",
    ),
    (
        {"base": 1, "rev": 2, "ops": [{**VALID_OP, "id": "other"}]},
        "ops[0]: data.id 'new' differs from id 'other'",
    ),
    ([VALID_OP], "base must be a non-negative integer"),
]


def test_an_upsert_without_data_id_takes_the_op_s_id(seeded: Replica, dump: Dumper) -> None:
    """PROTOCOL.md §6: ``data`` need not repeat the op's ``id``; the same
    record results as with it."""
    bare = {k: v for k, v in NEW_HOLDER.items() if k != "id"}
    op = {**VALID_OP, "data": bare}
    assert apply_changes(seeded, ChangeBatch.from_wire({"base": 1, "rev": 2, "ops": [op]}), NOW)
    got = seeded.get(Holder, "new")
    assert got is not None and got == Holder.from_wire(NEW_HOLDER)


@pytest.mark.parametrize(("msg", "message"), MALFORMED_BATCHES)
def test_a_malformed_batch_changes_nothing(
    seeded: Replica, dump: Dumper, msg: Any, message: str
) -> None:
    before = dump(seeded)
    with pytest.raises(BatchError) as info:
        apply_changes(seeded, ChangeBatch.from_wire(msg), NOW)
    assert str(info.value) == message
    assert dump(seeded) == before
    assert seeded.get(Holder, "new") is None


@pytest.mark.parametrize("entity", [[], {"holder": 1}, ["holder"]], ids=["list", "dict", "list1"])
def test_an_op_with_a_non_string_entity_is_a_batch_error(entity: Any) -> None:
    # A JSON array or object as "entity" must be quarantined like any other
    # malformed payload (PROTOCOL.md §4), not crash the receiver with TypeError.
    msg = {"base": 0, "rev": 1, "ops": [{"op": "delete", "entity": entity, "id": "x"}]}
    with pytest.raises(BatchError, match=r"ops\[0\]\.entity: unknown entity"):
        ChangeBatch.from_wire(msg)


json_scalars = st.none() | st.booleans() | st.integers(-3, 2**64) | st.text(max_size=6)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
ENTITY_NAMES = ["holder", "booking", "door", "lease", "team", ""]
fuzz_ops = st.fixed_dictionaries(
    {},
    optional={
        "op": st.sampled_from(["upsert", "delete", "merge"]) | json_values,
        "entity": st.sampled_from(ENTITY_NAMES) | json_values,
        "id": st.sampled_from(["x", "b1", ""]) | json_values,
        "data": json_values | st.fixed_dictionaries({"id": st.just("x")}, optional={}),
    },
)
fuzz_changes = st.fixed_dictionaries(
    {},
    optional={
        "base": st.integers(-1, 5) | json_values,
        "rev": st.integers(-1, 8) | json_values,
        "ops": st.lists(fuzz_ops | json_values, max_size=4) | json_values,
    },
)


@given(msg=fuzz_changes | json_values)
@example(msg={"base": 0, "rev": 1, "ops": [{"op": "delete", "entity": [], "id": "x"}]})
def test_arbitrary_changes_raise_only_batch_error(msg: Any) -> None:
    try:
        batch = ChangeBatch.from_wire(msg)
    except BatchError:
        return
    assert batch.rev > batch.base >= 0
    assert len(batch.ops) == len(msg["ops"])


fuzz_snapshot = st.fixed_dictionaries(
    {},
    optional={
        "rev": st.integers(-1, 5) | json_values,
        "part": st.integers(-1, 3) | json_values,
        "parts": st.integers(-1, 3) | json_values,
        "entities": st.dictionaries(
            st.sampled_from(ENTITY_NAMES), st.lists(json_values, max_size=2) | json_values
        )
        | json_values,
    },
)


@given(msg=fuzz_snapshot | json_values)
def test_arbitrary_snapshot_parts_raise_only_batch_error(msg: Any) -> None:
    try:
        part = SnapshotPart.from_wire(msg)
    except BatchError:
        return
    assert 1 <= part.part <= part.parts


# --- the key property: shuffled, duplicated delivery then a cursor replay --------

POOL = {
    "resource": ("r1", "r2", "r3"),
    "holder": ("h1", "h2"),
    "booking": ("b1", "b2", "b3"),
    "door": ("d1", "d2"),
    "credential": ("c1", "c2"),
}
DIGESTS = ("A" * 43, "B" * 43, "C" * 43)
DAY = datetime(2026, 5, 4, 6, tzinfo=UTC)


def _ids(entity: str, *, min_size: int = 0, max_size: int = 3) -> st.SearchStrategy[list[str]]:
    return st.lists(
        st.sampled_from(POOL[entity]), min_size=min_size, max_size=max_size, unique=True
    )


@st.composite
def wire_records(draw: st.DrawFn, entity: str, ident: str) -> dict[str, Any]:
    name = draw(st.sampled_from(["Hall", "Sektion", "Gym", "Ö"]))
    if entity == "resource":
        others = [r for r in POOL["resource"] if r != ident]
        return {
            "id": ident,
            "name": name,
            "kind": draw(st.sampled_from(["hall", "section", "room"])),
            "parent": draw(st.none() | st.sampled_from(others)),
            "walkin_slot_minutes": draw(st.none() | st.sampled_from([15, 30, 60])),
        }
    if entity == "holder":
        return {
            "id": ident,
            "kind": draw(st.sampled_from(["association", "person", "staff"])),
            "display_name": name,
            "member_of": draw(_ids("holder", max_size=2)),
        }
    if entity == "booking":
        start = DAY + timedelta(minutes=15 * draw(st.integers(0, 60)))
        end = start + timedelta(minutes=15 * draw(st.integers(1, 16)))
        return {
            "id": ident,
            "resources": draw(_ids("resource", min_size=1)),
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "holder": draw(st.none() | st.sampled_from(POOL["holder"])),
            "status": draw(st.sampled_from(["confirmed", "cancelled", "tentative"])),
        }
    if entity == "door":
        return {
            "id": ident,
            "name": name,
            "resources": draw(_ids("resource")),
            "before_minutes": draw(st.sampled_from([0, 15, 30])),
        }
    assert entity == "credential"
    return {
        "id": ident,
        "holder": draw(st.sampled_from(POOL["holder"])),
        "kind": draw(st.sampled_from(["card", "pin"])),
        "digest": draw(st.sampled_from(DIGESTS)),
    }


@st.composite
def wire_ops(draw: st.DrawFn) -> dict[str, Any]:
    entity = draw(st.sampled_from(sorted(POOL)))
    ident = draw(st.sampled_from(POOL[entity]))
    if draw(st.integers(0, 3)) == 0:
        return {"op": "delete", "entity": entity, "id": ident}
    return {
        "op": "upsert",
        "entity": entity,
        "id": ident,
        "data": draw(wire_records(entity, ident)),
    }


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Central's change log for a new node: B1..Bn with base_i = rev_(i-1), base_1 = 0."""
    out, rev = [], 0
    for _ in range(draw(st.integers(1, 7))):
        nxt = rev + draw(st.integers(1, 3))
        ops = draw(st.lists(wire_ops(), max_size=4))
        out.append({"kind": "changes", "base": rev, "rev": nxt, "ops": ops})
        rev = nxt
    return out


def coalesce(history: list[dict[str, Any]], i: int, j: int) -> dict[str, Any]:
    """Batches i..j as central may send them after compacting its log: one batch."""
    ops = [op for msg in history[i : j + 1] for op in msg["ops"]]
    return {"kind": "changes", "base": history[i]["base"], "rev": history[j]["rev"], "ops": ops}


@settings(max_examples=3 * settings().max_examples)
@given(history=histories(), data=st.data())
def test_shuffled_duplicated_delivery_then_cursor_replay_equals_in_order(
    dump: Dumper, history: list[dict[str, Any]], data: st.DataObject
) -> None:
    n = len(history)
    spans = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3))
    pool = history + [coalesce(history, min(s), max(s)) for s in spans]
    perm = data.draw(st.permutations(range(n)), label="first delivery")
    dups = data.draw(st.lists(st.integers(0, len(pool) - 1), max_size=n), label="duplicates")
    extra = range(n, len(pool))
    deliveries = data.draw(st.permutations([*perm, *dups, *extra]), label="delivery order")

    with Replica.open(":memory:") as ref, Replica.open(":memory:") as node:
        # The in-order states: after the batch ending at rev r, the replica must be prefix[r].
        prefix = {0: dump(ref, portable=True)}
        for msg in history:
            assert apply(ref, msg) is APPLIED
            prefix[msg["rev"]] = dump(ref, portable=True)

        for i in deliveries:
            msg = pool[i]
            applied = node.state().applied_rev
            image, rows = node.conn.serialize(), dump(node)
            outcome = apply(node, msg)
            event(outcome.name)
            if msg["rev"] <= applied:
                assert outcome is DUPLICATE
            elif msg["base"] == applied:
                assert outcome is APPLIED
            else:  # base ahead of us, or behind us with rev ahead (an overlap)
                event("overlap" if msg["base"] < applied else "ahead")
                assert outcome is GAP
            if outcome is APPLIED:
                assert node.state().applied_rev == msg["rev"]
            else:  # byte for byte the same database, and the same rows
                assert node.conn.serialize() == image
                assert dump(node) == rows
            assert dump(node, portable=True) == prefix[node.state().applied_rev]

        # The node reports its cursor; central sends every batch after it, in order.
        cursor = node.state().applied_rev
        for msg in history:
            if msg["base"] >= cursor:
                assert apply(node, msg) is APPLIED
        assert node.state().applied_rev == history[-1]["rev"]
        assert dump(node, portable=True) == dump(ref, portable=True)


# --- snapshots -----------------------------------------------------------------


def _fresh_from_changes(site: Any, rev: int, entities: dict[str, list[Any]]) -> Replica:
    ref = Replica.open(":memory:")
    assert apply(ref, site.changes(0, rev, *site.upserts(entities))) is APPLIED
    return ref


def test_parts_out_of_order_then_replace(seeded: Replica, site: Any, dump: Dumper) -> None:
    ents = site.entities()
    ents["booking"] = [gym_booking(site, "b9", 18)]
    p1, p2, p3 = site.snapshot(5, ents, parts=3)
    assert stage(seeded, p3) is STAGED
    assert stage(seeded, p1) is STAGED
    assert seeded.state().applied_rev == 1  # nothing replaced yet
    assert stage(seeded, p2) is APPLIED
    assert seeded.state().applied_rev == 5
    assert seeded.conn.execute("SELECT count(*) FROM snapshot_parts").fetchone()[0] == 0
    with _fresh_from_changes(site, 5, ents) as ref:
        assert dump(seeded, portable=True) == dump(ref, portable=True)


def test_a_duplicated_part_counts_once(seeded: Replica, site: Any) -> None:
    p1, p2 = site.snapshot(5, site.entities(), parts=2)
    assert stage(seeded, p1) is STAGED
    assert stage(seeded, p1) is STAGED
    assert stage(seeded, p2) is APPLIED
    assert seeded.count("credential") == 3 and seeded.count("resource") == 5


def test_a_snapshot_removes_what_it_does_not_contain(seeded: Replica, site: Any) -> None:
    assert apply(seeded, site.changes(1, 2, site.upsert("booking", gym_booking(site)))) is APPLIED
    ents = site.entities()
    ents["holder"] = [h for h in ents["holder"] if h["id"] != "anna"]
    (only,) = site.snapshot(3, ents)
    assert stage(seeded, only) is APPLIED
    assert seeded.get(Booking, "b1") is None and seeded.get(Holder, "anna") is None
    ex = seeded.conn.execute
    assert ex("SELECT count(*) FROM booking_resources").fetchone()[0] == 0
    assert ex("SELECT count(*) FROM holder_members").fetchone()[0] == 0
    assert seeded.state().max_booking_s == 0


def test_an_older_rev_after_a_newer_one_is_ignored(
    seeded: Replica, site: Any, dump: Dumper
) -> None:
    new1, new2 = site.snapshot(7, site.entities(), parts=2)
    assert stage(seeded, new1) is STAGED
    before = dump(seeded)
    (old,) = site.snapshot(6, {"facility": site.entities()["facility"]})
    assert stage(seeded, old) is DUPLICATE  # complete, but older than the one being staged
    assert dump(seeded) == before
    assert stage(seeded, new2) is APPLIED
    assert seeded.state().applied_rev == 7 and seeded.count("holder") == 4


def test_a_newer_rev_replaces_staged_parts_of_an_older_one(seeded: Replica, site: Any) -> None:
    old1, _ = site.snapshot(6, site.entities(), parts=2)
    assert stage(seeded, old1) is STAGED
    (new,) = site.snapshot(7, {"facility": site.entities()["facility"]})
    assert stage(seeded, new) is APPLIED
    assert seeded.state().applied_rev == 7 and seeded.count("holder") == 0


def test_a_mismatched_parts_count_raises(seeded: Replica, site: Any, dump: Dumper) -> None:
    p1, p2 = site.snapshot(7, site.entities(), parts=2)
    assert stage(seeded, p1) is STAGED
    before = dump(seeded)
    with pytest.raises(BatchError, match="snapshot rev 7: parts 3 differs from 2"):
        stage(seeded, {**p2, "parts": 3})
    assert dump(seeded) == before
    assert stage(seeded, p2) is APPLIED


def test_replacement_is_one_transaction(seeded: Replica, site: Any, dump: Dumper) -> None:
    ents = site.entities()
    p1, p2 = site.snapshot(5, ents, parts=2)
    # The last part repeats a record of the first: the replacement fails after
    # the tables were cleared and part of the records written; all rolls back.
    p2 = {**p2, "entities": {**p2["entities"], "facility": ents["facility"]}}
    assert "facility" in p1["entities"]
    assert stage(seeded, p1) is STAGED
    before = dump(seeded)
    with pytest.raises(BatchError, match="appears twice"):
        stage(seeded, p2)
    assert dump(seeded) == before
    assert seeded.state().applied_rev == 1 and seeded.count("holder") == 4


def test_a_snapshot_older_than_the_replica_is_ignored(
    seeded: Replica, site: Any, dump: Dumper
) -> None:
    assert apply(seeded, site.changes(1, 10)) is APPLIED
    before = dump(seeded)
    for msg in site.snapshot(5, {"facility": site.entities()["facility"]}, parts=1):
        assert stage(seeded, msg) is DUPLICATE
    assert dump(seeded) == before


def test_staged_parts_survive_a_restart(tmp_path: Path, site: Any) -> None:
    path = tmp_path / "node.db"
    p1, p2, p3 = site.snapshot(4, site.entities(), parts=3)
    with Replica.open(path) as rep:
        assert staged_snapshot(rep) is None
        assert stage(rep, p1) is STAGED
        assert stage(rep, p1) is STAGED  # a repeated part counts once
    with Replica.open(path) as rep:
        assert staged_snapshot(rep) == StagedSnapshot(rev=4, have=1, parts=3)
        assert stage(rep, p3) is STAGED
        assert staged_snapshot(rep) == StagedSnapshot(rev=4, have=2, parts=3)
        assert stage(rep, p2) is APPLIED
        assert staged_snapshot(rep) is None
        assert rep.state().applied_rev == 4 and rep.count("door") == 3


MALFORMED_PARTS: list[tuple[dict[str, Any], str]] = [
    ({"rev": 3, "part": 0, "parts": 2, "entities": {}}, "snapshot: part 0 of 2 is out of range"),
    ({"rev": 3, "part": 3, "parts": 2, "entities": {}}, "snapshot: part 3 of 2 is out of range"),
    ({"rev": 3, "part": 1, "parts": 1, "entities": []}, "snapshot: entities must be an object"),
    (
        {"rev": 3, "part": 1, "parts": 1, "entities": {"team": []}},
        "snapshot: unknown entity 'team'",
    ),
    (
        {"rev": 3, "part": 1, "parts": 1, "entities": {"holder": {"id": "h"}}},
        "snapshot: entities.holder must be a list",
    ),
    (
        {"rev": 3, "part": 1, "parts": 1, "entities": {"holder": [{"id": "h", "kind": "x"}]}},
        "snapshot: entities.holder[0]: holder 'h': kind: must be one of association, person,"
        " staff, internal",
    ),
    ({"rev": "3", "part": 1, "parts": 1, "entities": {}}, "rev must be a non-negative integer"),
]


@pytest.mark.parametrize(("msg", "message"), MALFORMED_PARTS)
def test_a_malformed_snapshot_part_raises(msg: dict[str, Any], message: str) -> None:
    with pytest.raises(BatchError) as info:
        SnapshotPart.from_wire(msg)
    assert str(info.value) == message


# --- walk-ins across a snapshot ---------------------------------------------------

LEASE_START = datetime(2026, 5, 4, 16, tzinfo=UTC)


@pytest.fixture
def with_walkin(seeded: Replica, site: Any) -> tuple[Replica, Booking, str]:
    lease = site.lease("l-gym", "gym", LEASE_START, LEASE_START + timedelta(hours=4))
    assert apply(seeded, site.changes(1, 2, site.upsert("lease", lease))) is APPLIED
    walkin = Booking.from_wire(
        site.booking(
            "w1",
            ["gym"],
            LEASE_START,
            LEASE_START + timedelta(hours=1),
            origin="walkin",
            lease="l-gym",
            node=site.node,
            title="Drop-in",
        )
    )
    event = create_walkin(seeded, site.node, walkin, NOW)
    return seeded, walkin, event.id


def _snapshot_without_walkin(site: Any, rev: int) -> list[dict[str, Any]]:
    ents = site.entities()
    ents["lease"] = [site.lease("l-gym", "gym", LEASE_START, LEASE_START + timedelta(hours=4))]
    return site.snapshot(rev, ents, parts=2)


def test_a_pending_walkin_survives_a_snapshot(
    with_walkin: tuple[Replica, Booking, str], site: Any
) -> None:
    rep, walkin, _ = with_walkin
    for msg in _snapshot_without_walkin(site, 5):
        stage(rep, msg)
    assert rep.state().applied_rev == 5
    assert rep.get(Booking, "w1") == walkin
    assert walkin_states(rep) == {"w1": ("pending", "")}
    assert backlog(rep) == 1  # the walkin.created event still waits for its ack
    # and it still holds its time (the index rows were rebuilt too)
    found = bookings_overlapping(rep, ["gym"], LEASE_START, LEASE_START + timedelta(minutes=1))
    assert [b.id for b in found] == ["w1"]


def test_an_accepted_walkin_is_central_s_after_a_snapshot(
    with_walkin: tuple[Replica, Booking, str], site: Any
) -> None:
    rep, _, event_id = with_walkin
    acknowledge(rep, rep.state().epoch, 1, {event_id: Verdict("accepted")})
    assert walkin_states(rep) == {"w1": ("accepted", "")}
    assert rep.get(Booking, "w1") is not None  # kept until central's data says otherwise
    for msg in _snapshot_without_walkin(site, 5):
        stage(rep, msg)
    assert rep.get(Booking, "w1") is None
    assert bookings_overlapping(rep, ["gym"], LEASE_START, LEASE_START + timedelta(hours=1)) == []


def test_a_snapshot_with_the_walkin_brings_central_s_version(
    with_walkin: tuple[Replica, Booking, str], site: Any
) -> None:
    rep, walkin, _ = with_walkin
    ents = site.entities()
    ents["booking"] = [{**walkin.to_wire(), "title": "Drop-in (bekräftad)"}]
    for msg in site.snapshot(5, ents, parts=2):
        stage(rep, msg)
    got = rep.get(Booking, "w1")
    assert got is not None and got.title == "Drop-in (bekräftad)"
