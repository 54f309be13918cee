"""Child program for the outbox fault test: one process writing outbox events.

Usage: ``python outbox_writer.py DBPATH NAME LOGPATH``

Opens ``Replica.open(DBPATH)``, prints ``ready`` on stdout, then loops forever
over write transactions. Each transaction (``txn``) puts one ``Booking`` whose
id is the txn id and appends ``k`` events (1 or 2) recording it, so the test
can check that a state change and its events commit together and that a
multi-event transaction is never half there. Every body carries
``{"writer", "run", "n", "txn", "k", "part"}``; ``run`` is unique per process
(one incarnation of ``NAME``).

Only after ``rep.write()`` has committed does the child append one line
``"<seq> <id>"`` per event to ``LOGPATH`` (a single ``os.write`` on an
``O_APPEND`` fd: the test kills processes, not the machine, so the kernel keeps
what was written). The log therefore lists events known to be committed; a
kill between commit and log leaves at most the run's last txn unlogged.

Each transaction reads before it writes (as check-then-write code does), so a
writer that did not take the lock up front would fail its lock upgrade with
``SQLITE_BUSY``. Between transactions the child pauses up to 2 ms, as real
writers do: SQLite's busy handler polls and is not fair, so three tight loops
would let one writer keep the lock and starve the others.

Some transactions are rolled back on purpose (an exception inside
``rep.write()``); after the rollback the line ``"rollback <txn>"`` is logged,
and nothing of that txn may ever show up in the database.

With ``HALLVAKT_OUTBOX_WRITER_HOLD=1`` the child instead opens one write
transaction, writes a booking and the first of two events, prints
``holding <txn>`` and sleeps inside the transaction until it is killed.

The child never reads the clock for event instants: ``at`` is derived from a
fixed base and ``n``.
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from sync.replica import Booking, Replica, append_event

BASE = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
HOLD_ENV = "HALLVAKT_OUTBOX_WRITER_HOLD"
PAIR_SHARE = 0.3  # share of transactions that append two events
ROLLBACK_SHARE = 0.05  # share of transactions rolled back on purpose
PAUSE_S = 0.002  # longest pause between transactions


class _Rollback(Exception):
    """Raised inside a write transaction to roll it back on purpose."""


def _say(text: str) -> None:
    os.write(1, (text + "\n").encode())


def _write_txn(rep: Replica, name: str, run: str, n: int, k: int) -> tuple[str, list[str]]:
    """Put one booking and append ``k`` events (inside the caller's transaction).

    Returns the txn id and the log lines (``"seq id"``) of the events.
    """
    txn = f"{name}.{run}.{n}"
    # Read before writing, as real writers do (check, then write): with a
    # deferred BEGIN this is where a lock upgrade would fail with SQLITE_BUSY.
    if rep.get(Booking, txn) is not None:
        raise AssertionError(f"{txn} exists before it was written")
    start = BASE + timedelta(hours=n)
    rep.put(Booking(txn, ("hall-a",), start, start + timedelta(hours=1), title=name))
    lines = []
    for part in range(1, k + 1):
        body = {"writer": name, "run": run, "n": n, "txn": txn, "k": k, "part": part}
        ev = append_event(rep, "access.denied", body, at=BASE + timedelta(seconds=n))
        lines.append(f"{ev.seq} {ev.id}")
    return txn, lines


def _hold(rep: Replica, name: str, run: str) -> None:
    with rep.write():
        txn, _ = _write_txn(rep, name, run, 0, 2)
        _say(f"holding {txn}")
        while True:  # killed here, with the write lock held
            time.sleep(60)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: outbox_writer.py DBPATH NAME LOGPATH", file=sys.stderr)
        return 2
    dbpath, name, logpath = argv[1:]
    run = os.urandom(4).hex()
    rng = random.Random(run)
    log = os.open(logpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    rep = Replica.open(dbpath)
    _say("ready")
    if os.environ.get(HOLD_ENV) == "1":
        _hold(rep, name, run)
    last_seq = 0
    n = 0
    while True:
        n += 1
        k = 2 if rng.random() < PAIR_SHARE else 1
        if rng.random() < ROLLBACK_SHARE:
            try:
                with rep.write():
                    txn, _ = _write_txn(rep, name, run, n, k)
                    raise _Rollback
            except _Rollback:
                os.write(log, f"rollback {txn}\n".encode())
            continue
        with rep.write():
            txn, lines = _write_txn(rep, name, run, n, k)
        # Committed: only now is the txn known durable, and logged.
        seqs = [int(line.split()[0]) for line in lines]
        if seqs[0] <= last_seq or seqs != list(range(seqs[0], seqs[0] + k)):
            print(f"{name}/{run}: seqs {seqs} after {last_seq}", file=sys.stderr)
            return 3
        last_seq = seqs[-1]
        os.write(log, "".join(line + "\n" for line in lines).encode())
        # Real writers work between events; a tight loop would keep the lock
        # from the others (SQLite's busy handler is not fair, it polls).
        time.sleep(rng.uniform(0, PAUSE_S))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
