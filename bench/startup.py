"""Benchmark: a node process opening a 1 GB node database (issue 13 §3).

Run ``.venv/bin/python bench/startup.py`` (``--gb 0.1`` for a smoke run).

The database: the demo facility (hallvakt.demo.data, 5,000 credentials,
20,000 bookings) plus outbox events of 4 KB bodies until the file holds
``--gb`` GB (a node offline for a long time, or a facility with years of
bookings: the size is what ``quick_check`` pays for). Checkpointed, then the
page cache is left warm, as on a node that just restarted a process.

Each run starts a fresh Python process (as systemd starts the door) that
imports the replica, opens the database (``Replica.open``, migrations and
the cheap checks included) and makes one door lookup (``access_context``);
it reports the seconds from its own start to the open, and to the lookup.
Baseline in the same run: the same process doing what every open did before
(``PRAGMA quick_check`` on a plain connection) before the same work.
Goal: the door's start (process start to its first lookup) under 1 s.
Medians and the worst of ``--runs`` runs, the two kinds alternating.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)

CHILD = """
import sys, time
t0 = time.monotonic()
path, old = sys.argv[1], sys.argv[2] == "old"
if old:
    import sqlite3
    c = sqlite3.connect(path)
    assert c.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    c.close()
from datetime import UTC, datetime
from sync.replica import Replica, access_context
rep = Replica.open(path)
opened = time.monotonic() - t0
door, digest = sys.argv[3], sys.argv[4]
access_context(rep, door, digest, datetime(2026, 10, 20, 12, 0, tzinfo=UTC))
print(opened, time.monotonic() - t0)
"""


def build(path: Path, gb: float) -> tuple[str, str]:
    """The database (module docstring); returns a door id and a credential digest."""
    from hallvakt.demo.data import generate, load_into
    from sync.replica import Replica

    entities = generate(seed=3, today=date(2026, 10, 20), credentials=5_000, bookings=20_000)
    with Replica.open(path) as rep:
        load_into(rep, entities, 1, NOW)
    body = json.dumps({"pad": "x" * 4000})
    conn = sqlite3.connect(path, isolation_level=None)
    seq = 0
    while path.stat().st_size < gb * 1e9:
        conn.execute("BEGIN")
        rows = [(seq + i + 1, f"e{seq + i + 1}", "door.opened", 0, body) for i in range(20_000)]
        conn.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?)", rows)
        seq += len(rows)
        conn.execute("UPDATE sync_state SET last_seq = ?", [seq])
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    door = entities["door"][0]["id"]
    digest = entities["credential"][0]["digest"]
    return str(door), str(digest)


def run(path: Path, kind: str, door: str, digest: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), kind, door, digest],
        check=True,
        capture_output=True,
        text=True,
        cwd=HERE.parent.parent,
    ).stdout.split()
    return float(out[0]), float(out[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--gb", type=float, default=1.0, help="database size (default 1 GB)")
    ap.add_argument("--runs", type=int, default=7, help="runs of each (default 7)")
    args = ap.parse_args(argv)
    print(
        f"hallvakt startup bench: a {args.gb} GB node database, sqlite {sqlite3.sqlite_version},"
        f" python {sys.version.split()[0]}, {os.cpu_count()} cpus,"
        f" load {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="hallvakt-bench-start-") as tmp:
        path = Path(tmp) / "node.db"
        t0 = time.perf_counter()
        door, digest = build(path, args.gb)
        print(f"built {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s")
        got: dict[str, list[tuple[float, float]]] = {"new": [], "old": []}
        run(path, "new", door, digest)  # warm the page cache and the imports
        for i in range(args.runs):
            for kind in ("new", "old") if i % 2 == 0 else ("old", "new"):
                got[kind].append(run(path, kind, door, digest))
    report(got)
    return 0


def report(got: dict[str, Any]) -> None:
    def med(kind: str, k: int) -> float:
        return statistics.median(r[k] for r in got[kind])

    def worst(kind: str, k: int) -> float:
        return max(r[k] for r in got[kind])

    print("\n| from process start | now (cheap checks) | before (quick_check on open) | ratio |")
    print("|---|---|---|---|")
    for k, what in ((0, "to the database open"), (1, "to the first door lookup")):
        print(
            f"| {what} | {med('new', k):.3f} s (worst {worst('new', k):.3f})"
            f" | {med('old', k):.3f} s (worst {worst('old', k):.3f})"
            f" | {med('new', k) / med('old', k):.2f}x |"
        )
    ok = worst("new", 1) < 1.0
    print(f"\ngoal the door starts in under 1 s (worst run): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
