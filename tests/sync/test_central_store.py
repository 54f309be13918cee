"""Central's store: ``mutate``, revisions, the change log and pruning (central/changelog.py).

changelog.py guarantees: every change goes through ``mutate``, validated whole
before anything is written, applied and logged in one transaction with ``rev``
rising by one per facility; no-op ops are left out; the log holds exactly
``(oldest_rev, rev]``; pruning drops a prefix and a node below ``oldest_rev``
then gets a snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync.central import changelog as cl
from sync.central.db import Store
from sync.central.feed import Plan, plan
from sync.protocol import Want
from sync.replica import Booking, Lease, Resource

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
FAC = "fac1"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    try:
        yield s
    finally:
        s.close()


def seed(store: Store, site: Any) -> int:
    ops = [cl.upsert_wire(e, d) for e, items in site.entities().items() for d in items]
    return cl.mutate(store, FAC, ops, NOW)


def log_revs(store: Store, facility: str = FAC) -> list[int]:
    rows = store.execute("SELECT rev FROM changelog WHERE facility = ? ORDER BY rev", [facility])
    return [r for (r,) in rows]


def test_mutate_applies_logs_and_counts_revisions_per_facility(store: Store, site: Any) -> None:
    assert cl.revs(store, FAC) == cl.Revs(0, 0)
    assert seed(store, site) == 1
    gym = site.booking("b1", ["gym"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")
    assert cl.mutate(store, FAC, [cl.upsert_wire("booking", gym)], NOW) == 2
    assert (
        cl.mutate(
            store,
            "fac2",
            [cl.upsert_wire("holder", {"id": "h", "kind": "staff", "display_name": "X"})],
            NOW,
        )
        == 1
    )
    assert cl.revs(store, FAC) == cl.Revs(2, 0)
    assert log_revs(store) == [1, 2]
    got = cl.get(store, FAC, Booking, "b1")
    assert got is not None and got.to_wire() == Booking.from_wire(gym).to_wire()
    entries = cl.log_after(store, FAC, 1, 10**6)
    assert [e.rev for e in entries] == [2]
    assert entries[0].ops == [
        {"op": "upsert", "entity": "booking", "id": "b1", "data": got.to_wire()}
    ]
    assert cl.get(store, "fac2", Booking, "b1") is None  # facilities are apart


def test_a_noop_makes_no_revision(store: Store, site: Any) -> None:
    seed(store, site)
    assert seed(store, site) == 1  # the same records again
    assert cl.mutate(store, FAC, [cl.delete("booking", "nope")], NOW) == 1
    assert cl.mutate(store, FAC, [], NOW) == 1
    assert log_revs(store) == [1]
    # only the ops that change something are logged
    holder = {"id": "ik-fram", "kind": "association", "display_name": "IK Fram 2"}
    ops = [cl.upsert_wire("holder", holder), cl.upsert_wire("policy", {"id": "default"})]
    assert cl.mutate(store, FAC, ops, NOW) == 2
    assert [o["id"] for o in cl.log_after(store, FAC, 1, 10**6)[0].ops] == ["ik-fram"]


def test_an_invalid_mutation_writes_nothing(store: Store, site: Any) -> None:
    seed(store, site)
    good = cl.upsert_wire("holder", {"id": "new", "kind": "staff", "display_name": "N"})
    bad_record = Resource("r1", "Rum", kind="castle")  # built around from_wire
    for ops, match in [
        ([good, cl.upsert(bad_record)], "kind"),
        ([good, cl.upsert_wire("facility", {"id": "other", "name": "X"})], "facility record"),
        ([good, cl.delete("nonsense", "x")], "unknown entity"),
        ([good, cl.delete("booking", "has space")], "id must be"),
    ]:
        with pytest.raises(cl.MutateError, match=match):
            cl.mutate(store, FAC, ops, NOW)
    with pytest.raises(cl.MutateError, match="facility id"):
        cl.mutate(store, "bad facility", [good], NOW)
    assert cl.revs(store, FAC).rev == 1 and cl.get(store, FAC, type(good.record), "new") is None  # type: ignore[arg-type]


def test_booking_index_and_lease_versions_follow_the_records(store: Store, site: Any) -> None:
    seed(store, site)
    b = site.booking("b1", ["A", "B"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")
    cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], NOW)
    rows = store.execute("SELECT resource FROM booking_resources ORDER BY 1").fetchall()
    assert rows == [("A",), ("B",)]
    cl.mutate(
        store,
        FAC,
        [cl.upsert_wire("booking", {**b, "resources": ["C"], "status": "cancelled"})],
        NOW,
    )
    assert store.execute("SELECT resource FROM booking_resources").fetchall() == [("C",)]
    assert store.execute("SELECT active FROM bookings").fetchall() == [(0,)]
    cl.mutate(store, FAC, [cl.delete("booking", "b1")], NOW)
    assert store.execute("SELECT count(*) FROM booking_resources").fetchone()[0] == 0

    lease = site.lease("l1", "A", "2026-05-04T09:00:00Z", "2026-05-04T12:00:00Z")
    r1 = cl.mutate(store, FAC, [cl.upsert_wire("lease", lease)], NOW)
    r2 = cl.mutate(
        store, FAC, [cl.upsert_wire("lease", {**lease, "end": "2026-05-04T11:00:00Z"})], NOW
    )
    r3 = cl.mutate(store, FAC, [cl.delete("lease", "l1")], NOW)
    versions = store.execute(
        "SELECT end_ts - start_ts, created_rev, removed_rev FROM lease_versions"
        " ORDER BY created_rev"
    ).fetchall()
    assert versions == [(3 * 3600, r1, r2), (2 * 3600, r2, r3)]
    assert cl.get(store, FAC, Lease, "l1") is None


def test_mutate_chunked_splits_a_large_change_into_revisions(store: Store, site: Any) -> None:
    seed(store, site)
    ops = [
        cl.upsert_wire(
            "booking",
            site.booking(
                f"b{i:04d}", ["gym"], NOW + timedelta(hours=i), NOW + timedelta(hours=i, minutes=30)
            ),
        )
        for i in range(300)
    ]
    rev = cl.mutate_chunked(store, FAC, ops, NOW, max_bytes=8 * 1024)
    entries = cl.log_after(store, FAC, 1, 10**9)
    assert rev == 1 + len(entries) and len(entries) > 5
    assert all(e.size <= 8 * 1024 for e in entries)
    assert [o["id"] for e in entries for o in e.ops] == [op.id for op in ops]
    # log_after stops at its byte budget, but always returns one entry
    assert len(cl.log_after(store, FAC, 1, 1)) == 1
    assert sum(e.size for e in cl.log_after(store, FAC, 1, 20 * 1024)) <= 20 * 1024


def test_pruning_keeps_days_and_revisions_and_moves_oldest_rev(store: Store, site: Any) -> None:
    seed(store, site)
    for day in range(1, 41):  # one revision a day for 40 days
        h = {"id": f"h{day}", "kind": "staff", "display_name": f"H{day}"}
        cl.mutate(store, FAC, [cl.upsert_wire("holder", h)], NOW + timedelta(days=day))
    now = NOW + timedelta(days=40)
    assert cl.revs(store, FAC) == cl.Revs(41, 0)
    # keep 30 days: revisions made before day 10 go (rev r was made on day r - 1)
    assert cl.prune_log(store, now, keep_days=30, keep_revs=5) == {FAC: 10}
    assert cl.revs(store, FAC) == cl.Revs(41, 10)
    assert log_revs(store)[0] == 11 and log_revs(store)[-1] == 41
    assert cl.prune_log(store, now, keep_days=30, keep_revs=5) == {}  # idempotent
    # keep_revs wins over days
    assert cl.prune_log(store, now + timedelta(days=365), keep_days=30, keep_revs=5) == {FAC: 36}
    assert log_revs(store) == [37, 38, 39, 40, 41]
    # what a node gets now
    r = cl.revs(store, FAC)
    assert plan(35, Want.CHANGES, r) is Plan.SNAPSHOT  # older than oldest_rev
    assert plan(36, Want.CHANGES, r) is Plan.CHANGES  # exactly oldest_rev: the log reaches
    assert [e.rev for e in cl.log_after(store, FAC, 36, 10**6)] == [37, 38, 39, 40, 41]
    assert plan(41, Want.CHANGES, r) is Plan.UP_TO_DATE
    assert plan(41, Want.SNAPSHOT, r) is Plan.SNAPSHOT
    assert plan(0, Want.CHANGES, r) is Plan.SNAPSHOT
    assert plan(42, Want.CHANGES, r) is Plan.AHEAD


@pytest.mark.parametrize(
    ("applied", "want", "rev", "oldest", "expected"),
    [
        (0, Want.CHANGES, 0, 0, Plan.UP_TO_DATE),
        (0, Want.CHANGES, 3, 0, Plan.SNAPSHOT),  # an empty replica starts from a snapshot
        (1, Want.CHANGES, 3, 0, Plan.CHANGES),
        (3, Want.CHANGES, 3, 0, Plan.UP_TO_DATE),
        (3, Want.SNAPSHOT, 3, 0, Plan.SNAPSHOT),
        (2, Want.CHANGES, 9, 3, Plan.SNAPSHOT),
        (3, Want.CHANGES, 9, 3, Plan.CHANGES),
        (10, Want.CHANGES, 9, 3, Plan.AHEAD),
        (10, Want.SNAPSHOT, 9, 3, Plan.AHEAD),
    ],
)
def test_plan_table(applied: int, want: Want, rev: int, oldest: int, expected: Plan) -> None:
    assert plan(applied, want, cl.Revs(rev, oldest)) is expected


def test_the_log_replayed_on_an_empty_state_gives_the_current_state(
    store: Store, site: Any
) -> None:
    seed(store, site)
    b = site.booking("b1", ["A"], "2026-05-04T16:00:00Z", "2026-05-04T17:00:00Z")
    cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], NOW)
    cl.mutate(
        store,
        FAC,
        [cl.upsert_wire("booking", {**b, "title": "Träning"}), cl.delete("door", "gym-door")],
        NOW,
    )
    cl.mutate(store, FAC, [cl.delete("credential", "anna-pin")], NOW)
    state: dict[tuple[str, str], Any] = {}
    for entry in cl.log_after(store, FAC, 0, 10**9):
        for op in entry.ops:
            key = (op["entity"], op["id"])
            if op["op"] == "delete":
                state.pop(key, None)
            else:
                state[key] = op["data"]
    current = {(r.ENTITY, r.id): r.to_wire() for r in cl.all_records(store, FAC)}
    assert state == current
    assert json.dumps(sorted(state.items())) == json.dumps(sorted(current.items()))
