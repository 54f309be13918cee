"""Opening the node database while the link drops a snapshot's staging tables.

``Replica.open`` reads the first row of every table and index it lists
(``sync.replica.opening.probe_roots``). Listed and read in separate
statements, a table the link dropped in between made the open fail with
``no such table`` (seen when a door or test opened the database during a
snapshot's tidy). One read transaction sees one schema.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sync.replica import Replica


def test_open_never_fails_while_staging_tables_come_and_go(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    Replica.open(db).close()
    stop = threading.Event()
    churned = 0

    def churn() -> None:  # the link staging and tidying, as fast as it can
        nonlocal churned
        conn = sqlite3.connect(db, isolation_level=None, timeout=5)
        try:
            while not stop.is_set():
                for i in range(8):
                    conn.execute(f"CREATE TABLE snap_t{i} (id TEXT PRIMARY KEY, data TEXT)")
                    conn.execute(f"INSERT INTO snap_t{i} VALUES ('a', 'b')")
                for i in range(8):
                    conn.execute(f"DROP TABLE snap_t{i}")
                churned += 1
                stop.wait(0.005)  # the link stages and tidies in bursts, not back to back
        finally:
            conn.close()

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(150):
            Replica.open(db).close()
    finally:
        stop.set()
        worker.join()
    assert churned > 0
