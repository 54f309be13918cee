"""Fault test: three processes write outbox events while being SIGKILLed.

PROTOCOL.md §5: ``seq`` starts at 1, rises by one per event, is never reused,
and an event commits in one transaction with the state change it records.
Three ``outbox_writer.py`` children (door controller, sync and kiosk all write
the node database) loop over write transactions; the test SIGKILLs one of them
at a random moment, restarts it, and repeats. In the middle it also kills a
child that holds the write lock on purpose, and checks the others were blocked
by it and go on once the OS has released its lock. At the end the database
must be intact and tell the same story as the children's logs:

- ``integrity_check`` is ok; outbox ``seq`` is exactly 1..``last_seq``
  (no hole, no reuse) and ids are unique;
- every event a child logged as committed is in the database, same seq, same id;
- every transaction is whole: its booking and all its events (consecutive
  seqs), or nothing; rolled-back and killed-while-open transactions left nothing;
- a kill loses the log line of at most the run's last transaction, never more;
- the children really ran concurrently (many events, writers interleaved).

The kill moments are random (seeded ``random.Random`` chooses victim and delay;
the delay itself is a real wall-clock wait, which is the point of the test).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import IO, Any

import pytest

from sync.replica import Replica

WRITER = Path(__file__).resolve().with_name("outbox_writer.py")
ROOT = Path(__file__).resolve().parents[2]
NAMES = ("door", "sync", "kiosk")
SEED = 20260105
KILLS = 50  # random kills; plus the held-lock kill and the three final ones
KILL_DELAY_S = (0.005, 0.080)
EARLY_KILL_SHARE = 0.15  # kills that may land before the child has opened the db
HOLD_S = 0.3  # how long the others are shown blocked by the held lock
MIN_EVENTS = 300
MIN_SWITCHES = 100  # writer changes between neighbouring seqs
DEADLINE_S = 20.0


class Writer:
    """One named child; restarted under the same name, logging to the same file."""

    def __init__(self, tmp: Path, name: str, *, hold: bool = False) -> None:
        self.name = name
        self.db = tmp / "node.db"
        self.log = tmp / f"{name}.log"
        self.err = tmp / f"{name}.err"
        self.hold = hold
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        if self.hold:
            env["HALLVAKT_OUTBOX_WRITER_HOLD"] = "1"
        with self.err.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(WRITER), str(self.db), self.name, str(self.log)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=ROOT,
                env=env,
            )
        self.ready = False

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout

    def read_line(self) -> str:
        """The child's next stdout line; fails the test if the child died instead."""
        line = self.stdout.readline().decode()
        if not line.endswith("\n"):
            self.kill(expect_killed=False)
            pytest.fail(f"writer {self.name} died: {self.stderr()}")
        return line.strip()

    def ensure_ready(self) -> None:
        """Wait until the child has opened the database and entered its loop."""
        if not self.ready:
            line = self.read_line()
            assert line == "ready", line
            self.ready = True

    def kill(self, *, expect_killed: bool = True) -> int | None:
        """SIGKILL and reap the child; it must not have exited on its own before.

        Returns its exit status (``None`` if it was not running).
        """
        proc = self.proc
        if proc is None:
            return None
        self.proc = None
        proc.kill()
        rc = proc.wait(timeout=DEADLINE_S)
        assert proc.stdout is not None
        proc.stdout.close()
        if expect_killed and rc != -signal.SIGKILL:
            pytest.fail(f"writer {self.name} exited with {rc} before the kill: {self.stderr()}")
        return rc

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")[-4000:] if self.err.exists() else ""

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0


def last_seq(db: Path) -> int:
    """``sync_state.last_seq`` as a reader sees it (WAL: readers are never blocked)."""
    with closing(sqlite3.connect(db, timeout=DEADLINE_S)) as conn:
        return int(conn.execute("SELECT last_seq FROM sync_state").fetchone()[0])


def wait_for(what: str, cond: Any) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def kill_while_holding_lock(tmp: Path, writers: list[Writer]) -> str:
    """Kill a child inside its write transaction; the others must resume after it.

    Returns the id of the transaction that was open when the child died.
    """
    for w in writers:
        w.ensure_ready()
    holder = Writer(tmp, "holder", hold=True)
    holder.start()
    try:
        holder.ensure_ready()
        tag, txn = holder.read_line().split()
        assert tag == "holding"
        # The lock is held: nobody can commit (an exact check, not a timing one).
        before = last_seq(tmp / "node.db")
        time.sleep(HOLD_S)
        assert last_seq(tmp / "node.db") == before, "a writer committed under a held lock"
        sizes = {w.name: w.log_size() for w in writers}
    finally:
        holder.kill()
    # The OS drops the dead child's locks; the busy-waiting writers go on.
    wait_for(
        "every writer to commit after the lock holder died",
        lambda: all(w.log_size() > sizes[w.name] for w in writers),
    )
    return txn


def read_logs(tmp: Path) -> tuple[dict[int, str], set[str]]:
    """The children's logs: ``{seq: id}`` of committed events, rolled-back txn ids."""
    logged: dict[int, str] = {}
    rolled_back: set[str] = set()
    for name in NAMES:
        path = tmp / f"{name}.log"
        text = path.read_text() if path.exists() else ""
        assert not text or text.endswith("\n"), f"{name}: torn log line"
        for line in text.splitlines():
            first, second = line.split()
            if first == "rollback":
                rolled_back.add(second)
                continue
            seq = int(first)
            assert logged.setdefault(seq, second) == second, (
                f"seq {seq} logged as committed twice, ids {logged[seq]} and {second}"
            )
    return logged, rolled_back


def check_database(tmp: Path, held_txn: str) -> dict[str, int]:
    db = tmp / "node.db"
    with Replica.open(db) as rep:
        assert rep.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        state = rep.state()
        rows = rep.conn.execute("SELECT seq, id, body FROM outbox ORDER BY seq").fetchall()
        bookings = {r[0] for r in rep.conn.execute("SELECT id FROM bookings")}
        booking_res = {r[0] for r in rep.conn.execute("SELECT booking_id FROM booking_resources")}
    logged, rolled_back = read_logs(tmp)

    # No hole, no reuse: seq is the key, 1..last_seq all there, ids unique.
    seqs = [r[0] for r in rows]
    assert seqs == list(range(1, state.last_seq + 1))
    assert state.acked_through == 0
    ids = {seq: ident for seq, ident, _ in rows}
    assert len(set(ids.values())) == len(ids)

    # Every event a child saw committed is there, unchanged.
    missing = {s: i for s, i in logged.items() if ids.get(s) != i}
    assert not missing, f"committed events lost or changed: {sorted(missing.items())[:10]}"

    # Transactions are whole: booking + k events with consecutive seqs.
    txns: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for seq, _, body in rows:
        b = json.loads(body)
        txns[b["txn"]].append((seq, b))
    for txn, evs in txns.items():
        k = evs[0][1]["k"]
        assert [b["part"] for _, b in evs] == list(range(1, k + 1)), f"{txn} is partial"
        assert [s for s, _ in evs] == list(range(evs[0][0], evs[0][0] + k)), txn
        assert len({(b["writer"], b["run"], b["n"], b["k"]) for _, b in evs}) == 1, txn
    assert bookings == set(txns), "a booking without its events, or events without it"
    assert booking_res == bookings
    assert not rolled_back & bookings, "a rolled-back transaction was committed"
    assert held_txn not in bookings, "the killed lock holder's transaction was committed"

    # A kill loses at most the log line of its run's last transaction.
    runs: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for evs in txns.values():
        in_log = [s in logged for s, _ in evs]
        assert len(set(in_log)) == 1, f"{evs[0][1]['txn']} logged in part"
        runs[evs[0][1]["run"]].append((evs[0][1]["n"], in_log[0]))
    unlogged = 0
    for run, ns in runs.items():
        ns.sort()
        late = [n for n, in_log in ns if not in_log]
        assert late in ([], [ns[-1][0]]), f"run {run}: unlogged committed txns {late}"
        unlogged += len(late)

    # They really ran concurrently.
    writers = [json.loads(body)["writer"] for _, _, body in rows]
    switches = sum(a != b for a, b in itertools.pairwise(writers))
    assert set(writers) == set(NAMES)
    assert len(rows) >= MIN_EVENTS, f"only {len(rows)} events"
    assert switches >= MIN_SWITCHES, f"writers interleaved only {switches} times"
    return {
        "events": len(rows),
        "txns": len(txns),
        "runs": len(runs),
        "switches": switches,
        "unlogged_txns": unlogged,
        "rolled_back": len(rolled_back),
    }


@pytest.mark.slow
def test_sigkilled_writers_lose_no_committed_event_and_reuse_no_seq(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    t0 = time.monotonic()
    writers = [Writer(tmp_path, name) for name in NAMES]
    held_txn = ""
    kills = 0
    try:
        for w in writers:
            w.start()
        for round_ in range(KILLS):
            if round_ == KILLS // 2:
                held_txn = kill_while_holding_lock(tmp_path, writers)
                kills += 1
            victim = rng.choice(writers)
            if rng.random() >= EARLY_KILL_SHARE:
                victim.ensure_ready()  # the kill lands inside its write loop
            time.sleep(rng.uniform(*KILL_DELAY_S))
            victim.kill()
            kills += 1
            victim.start()
        for w in writers:
            w.ensure_ready()
        time.sleep(rng.uniform(*KILL_DELAY_S))
    finally:
        status = {w.name: w.kill(expect_killed=False) for w in writers}
    for name, rc in status.items():
        assert rc == -signal.SIGKILL, (
            f"writer {name} exited with {rc}: {Writer(tmp_path, name).stderr()}"
        )
    kills += len(writers)
    stats = check_database(tmp_path, held_txn)
    print(f"outbox fault test: {kills} kills, {time.monotonic() - t0:.1f} s, {stats}")
