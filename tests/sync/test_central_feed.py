"""What central sends to bring a node up to date (sync/central/feed.py).

feed.py guarantees: ``changes`` batches follow on from ``base`` one by one and
stay within their byte budget; snapshot parts are numbered from 1 and every
signed message fits the 256 KiB limit (``pack``'s ``TooLarge`` makes parts
finer); a revision too large for one message means a snapshot. Checked here
with real signatures and a real node replica applying what was sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hallvakt.demo.data import generate
from sync.central import changelog as cl
from sync.central.db import Store
from sync.central.feed import (
    BUDGET,
    Signer,
    change_batches,
    pack_changes,
    pack_snapshot,
    snapshot_parts,
)
from sync.central.testing import FakeNode, as_dict, replica_records
from sync.protocol import MAX_TOKEN_BYTES, Changes, Snapshot
from sync.protocol.testing import private_key, ring
from sync.replica import ApplyOutcome, Replica

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
T = int(NOW.timestamp())
SIGNER = Signer("central", private_key("central"))
FAC = "kroksbackshallen"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[FakeNode]:
    rep = Replica.open(tmp_path / "node.db")
    try:
        yield FakeNode("n1", private_key("n1"), "n1", ring("central"), rep)
    finally:
        rep.close()


def demo_ops(bookings: int | None = None) -> list[Any]:
    entities = generate(seed=3, today=date(2026, 5, 4), bookings=bookings)
    return [cl.upsert_wire(e, d) for e, items in entities.items() for d in items]


def test_a_large_snapshot_is_split_into_parts_that_each_fit(store: Store, node: FakeNode) -> None:
    rev = cl.mutate_chunked(store, FAC, demo_ops(bookings=4000), NOW, BUDGET)
    records = cl.all_records(store, FAC)
    outs = pack_snapshot(SIGNER, "n1", T, rev, records)
    assert len(outs) > 5
    assert all(len(o.payload) <= MAX_TOKEN_BYTES * 0.6 for o in outs)  # well under
    got = node.take(outs, T)
    parts = [a.message.part for a in got if isinstance(a.message, Snapshot)]
    assert [p.part for p in parts] == list(range(1, len(outs) + 1))
    assert {p.parts for p in parts} == {len(outs)} and {p.rev for p in parts} == {rev}
    assert node.outcomes[-1] is ApplyOutcome.APPLIED
    assert set(node.outcomes[:-1]) == {ApplyOutcome.STAGED}
    assert node.applied_rev == rev
    assert node.replica is not None and replica_records(node.replica) == as_dict(records)


def test_a_budget_too_large_for_the_limit_is_made_finer_by_too_large(store: Store) -> None:
    cl.mutate_chunked(store, FAC, demo_ops(bookings=3000), NOW, BUDGET)
    records = cl.all_records(store, FAC)
    # a budget of 1 MiB would make messages over 256 KiB: TooLarge halves it
    outs = pack_snapshot(SIGNER, "n1", T, 5, records, budget=1024 * 1024)
    assert all(len(o.payload) <= MAX_TOKEN_BYTES for o in outs)
    assert len(outs) >= 3
    assert sum(len(p.records) for p in snapshot_parts(5, records, 1024 * 1024)) == len(records)


def test_an_empty_facility_is_one_empty_part() -> None:
    parts = snapshot_parts(0, [])
    assert [(p.rev, p.part, p.parts, p.records) for p in parts] == [(0, 1, 1, ())]


def test_changes_follow_on_from_base_and_a_node_ends_at_central_state(
    store: Store, node: FakeNode, site: Any
) -> None:
    cl.mutate(store, FAC, demo_ops()[:50], NOW)
    node.take(pack_snapshot(SIGNER, "n1", T, 1, cl.all_records(store, FAC)), T)
    assert node.applied_rev == 1
    for i in range(40):
        b = site.booking(
            f"x{i}", ["gym"], NOW + timedelta(hours=i), NOW + timedelta(hours=i, minutes=45)
        )
        cl.mutate(store, FAC, [cl.upsert_wire("booking", b)], NOW)
    cl.mutate(store, FAC, [cl.delete("booking", "x3")], NOW)
    entries = cl.log_after(store, FAC, 1, 10**9)
    batches = change_batches(entries, 1, budget=2 * 1024)
    assert len(batches) > 3
    assert [b.base for b in batches] == [1] + [b.rev for b in batches[:-1]]
    assert batches[-1].rev == 42
    packed = pack_changes(SIGNER, "n1", T, entries, 1, budget=2 * 1024)
    assert packed is not None and [r for r, _ in packed] == [b.rev for b in batches]
    outs = [o for _, o in packed]
    got = node.take(outs, T)
    assert all(isinstance(a.message, Changes) for a in got)
    assert set(node.outcomes[1:]) == {ApplyOutcome.APPLIED}
    assert node.applied_rev == 42
    assert node.replica is not None
    assert replica_records(node.replica) == as_dict(cl.all_records(store, FAC))
    # the same batches again are duplicates to the node
    node.take(outs, T)
    assert set(node.outcomes[-len(outs) :]) == {ApplyOutcome.DUPLICATE}


def test_batches_must_follow_on() -> None:
    e = cl.LogEntry(3, [], 2)
    with pytest.raises(ValueError, match="does not follow"):
        change_batches([e], 1)
    assert [(b.base, b.rev) for b in change_batches([e], 2)] == [(2, 3)]  # empty ops move the rev


def test_a_revision_too_large_for_one_message_means_a_snapshot(store: Store) -> None:
    ops = demo_ops(bookings=2000)
    rev = cl.mutate(store, FAC, ops, NOW)  # one revision of everything: several hundred KiB
    entries = cl.log_after(store, FAC, 0, 10**9)
    assert entries[0].size > MAX_TOKEN_BYTES
    assert pack_changes(SIGNER, "n1", T, entries, 0) is None
    assert rev == 1
