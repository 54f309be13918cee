"""A writer that finds the write lock taken asks for it again every
millisecond, up to its busy timeout (sync/replica/sqlite.py,
``take_write_lock``), on real connections to one file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sync.replica import Replica
from sync.replica.errors import ReplicaBusy


def busy_ms(rep: Replica) -> int:
    return int(rep.conn.execute("PRAGMA busy_timeout").fetchone()[0])


def test_a_writer_waits_for_the_lock_and_gets_it_when_it_is_let_go(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with Replica.open(path) as holder, Replica.open(path, busy_timeout_s=10.0) as waiter:
        holder.conn.execute("BEGIN IMMEDIATE")
        let_go = threading.Timer(0.2, lambda: holder.conn.execute("COMMIT"))
        let_go.start()
        try:
            with waiter.write():
                waiter.conn.execute("UPDATE sync_state SET last_seq = last_seq WHERE id = 1")
        finally:
            let_go.join()
        assert not holder.conn.in_transaction and not waiter.conn.in_transaction
        assert busy_ms(waiter) == 10_000  # the busy timeout is the connection's again


def test_a_lock_held_past_the_busy_timeout_is_replica_busy(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with Replica.open(path) as holder, Replica.open(path, busy_timeout_s=0.3) as waiter:
        holder.conn.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(ReplicaBusy), waiter.write():
                raise AssertionError("the lock was held")  # pragma: no cover
        finally:
            holder.conn.execute("COMMIT")
        assert busy_ms(waiter) == 300 and not waiter.conn.in_transaction
        with waiter.write():  # and the next write takes it at once
            pass
