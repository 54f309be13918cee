"""Opening a second connection never drops the first one's locks.

``opening.check_size`` reads the file's header before SQLite opens it. Closing
that read's descriptor drops every POSIX lock the process holds on the file,
SQLite's included (https://sqlite.org/howtocorrupt.html, 2.2). Without the
first connection's shared lock, another process could take the file out of
WAL mode, or checkpoint and delete the log, under it. Here another process
tries to take the file out of WAL mode while this one holds a connection; it
must be refused. Before the fix it succeeded whenever the log was empty, as
after a ``wal_checkpoint(TRUNCATE)``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sync.replica import Replica, ReplicaDamaged

OTHER = (
    "import sqlite3, sys\n"
    "conn = sqlite3.connect(sys.argv[1], timeout=0)\n"
    "try:\n"
    "    print(conn.execute('PRAGMA journal_mode=DELETE').fetchone()[0])\n"
    "except sqlite3.OperationalError as exc:\n"
    "    print(exc)\n"
)


def other_process_leaves_wal(path: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", OTHER, str(path)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_a_second_connection_leaves_the_first_ones_lock(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with Replica.open(path) as first:
        first.state()
        first.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert Path(f"{path}-wal").stat().st_size == 0  # the header is read only then
        with Replica.open(path) as second:
            second.state()
        assert other_process_leaves_wal(path) == "database is locked"
        assert first.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_first_connection_still_checks_the_size(tmp_path: Path) -> None:
    """The check is skipped only while this process has the file open."""
    path = tmp_path / "node.db"
    with Replica.open(path) as rep:
        rep.state()
        rep.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size - 4096)
    with pytest.raises(ReplicaDamaged, match="cut short"):
        Replica.open(path).close()
