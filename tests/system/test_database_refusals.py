"""The node's commands meet a database they cannot use (issue 13 §3).

``hallvakt status`` and ``sync`` run as child processes on a real,
provisioned node (the door controller keeps running on a database fault by
design: docs/door.md). A missing database directory is made by the daemons (mode
0700) and refused by ``status`` in one line; a damaged file (not a database,
cut short, a damaged root page) is refused by both in one line with exit 78,
no traceback, and ``status`` says what to do; a damaged record is mended by
the link with a snapshot (tests/system/test_sync_e2e.py's central is not
needed: tests/replica/test_damage.py covers the reads, and the link's
snapshot request is tests/sync/test_link_core.py's).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.replica import Replica
from tests.support.broker import PrivateBroker
from tests.support.e2e import BrokerAccess, NodeSite, hallvakt_argv, wait_for

NODE = "refuse.hall.n1"
KEYS = {"central-1": "IvH3EwtEwwIQfjNq_iATnrxqD919du29yrKZPqw9kcg"}


def hallvakt(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*hallvakt_argv(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def site(tmp_path: Path, broker: PrivateBroker) -> NodeSite:
    node = NodeSite(tmp_path / "node", NODE, "fac1", BrokerAccess.unix(broker), KEYS)
    node.provision()
    return node


def with_database(site: NodeSite, database: Path) -> None:
    text = site.config.read_text(encoding="utf-8")
    site.config.write_text(
        text.replace(f'database = "{site.database}"', f'database = "{database}"'),
        encoding="utf-8",
    )


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_missing_directory_is_made_by_sync_and_refused_by_status(site: NodeSite) -> None:
    db = site.root / "state" / "deep" / "node.db"
    with_database(site, db)
    got = hallvakt("status", "--config", str(site.config))
    assert got.returncode == 78
    assert "does not exist" in one_line(got.stderr) and not db.parent.exists()
    proc = subprocess.Popen(
        [*hallvakt_argv(), "sync", "--config", str(site.config), "--trust-clock"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(db.exists, "the link to make its database")
        assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def damage_header(db: Path) -> None:
    db.write_bytes(b"no database here\n" * 400)


def damage_cut(db: Path) -> None:
    with Replica.open(db) as rep:
        rep.conn.executemany(
            "INSERT INTO outbox VALUES (?, ?, 'door.opened', 0, ?)",
            [(i, f"e{i}", "x" * 3000) for i in range(1, 400)],
        )
        rep.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.truncate(db, db.stat().st_size // 2 // 4096 * 4096)


def damage_root(db: Path) -> None:
    Replica.open(db).close()
    with sqlite3.connect(db) as conn:
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'outbox'").fetchone()[
            0
        ]
    with db.open("r+b") as f:
        f.seek((page - 1) * 4096)
        f.write(b"\xff" * 4096)


@pytest.mark.parametrize("damage", [damage_header, damage_cut, damage_root])
def test_a_damaged_file_is_refused_in_one_line_with_exit_78(
    site: NodeSite, damage: Callable[[Path], None]
) -> None:
    damage(site.database)
    status = hallvakt("status", "--config", str(site.config))
    assert status.returncode == 78
    line = one_line(status.stderr)
    assert str(site.database) in line and "move the file aside" in line
    sync = hallvakt("sync", "--config", str(site.config), "--trust-clock")
    assert sync.returncode == 78 and one_line(sync.stderr) == line
    # `hallvakt door` is not refused: it keeps running on a database fault and
    # falls back to its own staff path (docs/door.md, the door team's design).
