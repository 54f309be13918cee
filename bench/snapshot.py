"""Benchmark: a big snapshot applied while the node keeps writing (issue 13 §2).

Run ``.venv/bin/python bench/snapshot.py`` (``--quick`` for a small smoke run,
``--runs N``). Every figure is printed next to the baseline measured in the
same run.

Data: ``hallvakt.demo.data.generate(seed=7, today=2026-10-20,
credentials=100_000, bookings=500_000)``: 656k records, cut into snapshot
parts of at most 180 KB of JSON (how central keeps them under the 256 KiB
message limit), written to a file as one message body per line.

Each run starts from a copy of one node database that holds the same replica
at rev 1, and applies the data again as rev 2 in a child process that reads
the parts a line at a time:

- ours: ``SnapshotPart.from_wire(json.loads(line))`` and ``stage_snapshot``
  (what the link does with each message once its signature is checked), until
  ``stage_snapshot`` returns APPLIED (the retired tables tidied away).
- baseline, the bare streaming insert: ``json.loads(line)``, the same rows
  made from the dicts (no validation; the record dict dumped as ``data`` by
  msgspec, the encoder ours uses for it),
  ``executemany`` into the same tables with the same indexes, in one
  transaction that first deletes the old rows (``synchronous=FULL``): the
  least work that replaces the replica durably.

While each child applies, a writer process plays the door: every 20 ms it
appends an outbox event with ``append_event`` in its own ``Replica.write()``
and notes how long it waited for the lock (``BEGIN IMMEDIATE`` returning) and
how long the whole write took (to its fsynced commit).

Figures: wall time of the apply; the child's peak RSS above its idle RSS
(``VmHWM`` at the end minus ``VmRSS`` after imports and open); the writer's
longest and p99 wait for the lock, and its longest and p99 write. For ours,
where the time went: parsing (``json.loads`` + ``SnapshotPart.from_wire``),
``_rows`` (re-encoding the records into rows), ``_stage_part`` (``_rows``
included, and the waits for the lock; since the held windows, holding the
part), ``_move`` (writing a window of held parts into the staging tables,
sorted), ``checkpoint`` (starting one in the background), ``settle``
(waiting for it, and for the gap between two transactions), ``_swap``,
``tidy``, timed by wrapping the module's functions (a step an older tree
lacks is left out); every write transaction of the applier (count, lock
held in all, longest, p99); and what the applier's process wrote to disk
(``write_bytes`` of ``/proc/self/io``: the log, and the checkpoints' copies
made by its worker thread). Goals: no writer waits more than
100 ms for the lock, peak RSS at most 150 MiB above idle, total at most 2x
the baseline. Medians over the runs; the two kinds alternate which goes
first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec

SEED = 7
TODAY = date(2026, 10, 20)
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
PART_BYTES = 180_000
WRITE_EVERY_S = 0.02
GOAL_WAIT_S = 0.100
GOAL_RSS_MIB = 150.0
GOAL_RATIO = 2.0
HERE = Path(__file__).resolve()


def proc_self(name: str, field: str) -> int:
    """The number ``field`` of ``/proc/self/<name>`` (its first word)."""
    for line in Path(f"/proc/self/{name}").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/{name}")


def rss_kib(field: str) -> int:
    return proc_self("status", field)


def written_bytes() -> int:
    """What this process has had written to disk so far (its threads too)."""
    return proc_self("io", "write_bytes")


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)] if ordered else 0.0


# --- the data -------------------------------------------------------------------------


def write_parts(path: Path, credentials: int, bookings: int, rev: int) -> tuple[int, int]:
    """Generate the facility and write its snapshot parts; (records, parts)."""
    from hallvakt.demo.data import generate

    entities = generate(seed=SEED, today=TODAY, credentials=credentials, bookings=bookings)
    parts: list[dict[str, list[dict[str, Any]]]] = [{}]
    size = records = 0
    for entity, items in entities.items():
        for rec in items:
            n = len(json.dumps(rec, ensure_ascii=False).encode())
            if size + n > PART_BYTES and size:
                parts.append({})
                size = 0
            parts[-1].setdefault(entity, []).append(rec)
            size += n
            records += 1
    with path.open("w", encoding="utf-8") as f:
        for i, ents in enumerate(parts):
            msg = {"rev": rev, "part": i + 1, "parts": len(parts), "entities": ents}
            f.write(json.dumps(msg, ensure_ascii=False) + "\n")
    return records, len(parts)


def relabel(src: Path, dst: Path, rev: int) -> None:
    """The same parts as another ``rev``."""
    with src.open(encoding="utf-8") as f, dst.open("w", encoding="utf-8") as out:
        for line in f:
            msg = json.loads(line)
            msg["rev"] = rev
            out.write(json.dumps(msg, ensure_ascii=False) + "\n")


# --- children ---------------------------------------------------------------------------


def child_ours(db: str, parts: str) -> dict[str, Any]:
    from contextlib import contextmanager

    import sync.replica.snapshot as snap
    from sync.replica import ApplyOutcome, Replica, SnapshotPart, stage_snapshot

    rep = Replica.open(db)
    idle = rss_kib("VmRSS")
    stages: dict[str, float] = {}
    holds: list[float] = []
    longest: dict[str, float] = {}  # the longest transaction in each step
    phase = ["other"]

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t, outer = time.perf_counter(), phase[0]
            phase[0] = name
            try:
                return fn(*a, **k)
            finally:
                phase[0] = outer
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - t

        return wrapper

    # Where the time goes: the module's own steps, timed from outside.
    for name in ("_rows", "_stage_part", "_move", "checkpoint", "settle", "_swap", "tidy"):
        if hasattr(snap, name):  # (an older tree, measured with this bench, may lack one)
            setattr(snap, name, timed(name, getattr(snap, name)))
    write = rep.write

    @contextmanager
    def held() -> Any:  # how long each of the applier's transactions holds the lock
        with write():
            t = time.perf_counter()
            yield rep
        holds.append(time.perf_counter() - t)
        longest[phase[0]] = max(longest.get(phase[0], 0.0), holds[-1])

    rep.write = held  # type: ignore[method-assign]
    t0 = time.perf_counter()
    outcome = None
    parse = last = 0.0
    with open(parts, encoding="utf-8") as f:
        for line in f:
            t1 = time.perf_counter()
            part = SnapshotPart.from_wire(json.loads(line))
            t2 = time.perf_counter()
            outcome = stage_snapshot(rep, part, NOW)
            parse, last = parse + t2 - t1, time.perf_counter() - t2
    took = time.perf_counter() - t0
    assert outcome is ApplyOutcome.APPLIED, outcome
    left = rep.conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        " AND (substr(name, 1, 4) = 'old_' OR substr(name, 1, 5) = 'snap_')"
    ).fetchone()[0]
    rev = rep.state().applied_rev
    rep.close()
    stages["parse"] = parse
    written = written_bytes()
    return {
        "parse": parse,
        "last": last,
        "seconds": took,
        "idle_kib": idle,
        "peak_kib": rss_kib("VmHWM"),
        "rev": rev,
        "left": left,
        "stages": stages,
        "transactions": len(holds),
        "hold_max": max(holds, default=0.0),
        "hold_p99": p99(holds),
        "hold_sum": sum(holds),
        "hold_longest": longest,
        "written": written,
    }


_encode = msgspec.json.Encoder().encode


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def bare_rows(entity: str, d: dict[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """The rows ``record_rows`` makes, from the wire dict, without validation;
    ``data`` by msgspec, as ours makes it (``sync.replica.canonical``)."""
    data = _encode(d).decode()
    i = d["id"]
    if entity == "booking":
        s, e = _ts(d["start"]), _ts(d["end"])
        out = [("bookings", (i, d.get("holder"), s, e, d["status"], d["origin"], data))]
        return out + [("booking_resources", (r, e, i, s)) for r in d["resources"]]
    if entity == "credential":
        return [("credentials", (i, d["digest"], d.get("holder"), d.get("booking"), data))]
    if entity == "holder":
        return [("holders", (i, data))] + [
            ("holder_members", (i, g)) for g in d.get("member_of", [])
        ]
    if entity == "door":
        return [("doors", (i, data))] + [("door_resources", (i, r)) for r in d["resources"]]
    if entity == "resource":
        return [("resources", (i, d.get("parent"), data))]
    if entity == "lease":
        return [("leases", (i, d["node"], d["resource"], _ts(d["start"]), _ts(d["end"]), data))]
    if entity == "revocation":
        return [("revocations", (i, d.get("credential"), d.get("digest"), data))]
    if entity == "grant":
        return [("grants", (i, d["holder"], data))]
    table = {"facility": "facilities", "policy": "policies"}[entity]
    return [(table, (i, data))]


def child_bare(db: str, parts: str) -> dict[str, Any]:
    from sync.replica.store import INSERTS, REPLACED

    conn = sqlite3.connect(db, isolation_level=None, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    idle = rss_kib("VmRSS")
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for table in REPLACED:
        conn.execute(f"DELETE FROM {table}")
    rev = 0
    with open(parts, encoding="utf-8") as f:
        for line in f:
            msg = json.loads(line)
            rev = msg["rev"]
            by_table: dict[str, list[tuple[Any, ...]]] = {}
            for entity, items in msg["entities"].items():
                for d in items:
                    for table, row in bare_rows(entity, d):
                        by_table.setdefault(table, []).append(row)
            for table, rows in by_table.items():
                conn.executemany(INSERTS[table], rows)
    conn.execute("UPDATE sync_state SET applied_rev = ? WHERE id = 1", [rev])
    conn.execute("COMMIT")
    took = time.perf_counter() - t0
    conn.close()
    return {
        "seconds": took,
        "idle_kib": idle,
        "peak_kib": rss_kib("VmHWM"),
        "rev": rev,
        "left": 0,
        "written": written_bytes(),
    }


def child_writer(db: str, stop: str) -> dict[str, Any]:
    """The door: an outbox event every ``WRITE_EVERY_S``, each write timed:
    the wait for the lock (``BEGIN IMMEDIATE`` returning) and the whole write
    (to its fsynced commit)."""
    from sync.replica import Replica, append_event

    rep = Replica.open(db, busy_timeout_s=120.0)
    waits: list[float] = []
    locks: list[float] = []
    Path(stop + ".ready").touch()
    while not os.path.exists(stop):
        t0 = time.perf_counter()
        with rep.write():
            locks.append(time.perf_counter() - t0)
            append_event(rep, "door.opened", {"door": "bench"}, datetime.now(UTC))
        waits.append(time.perf_counter() - t0)
        time.sleep(WRITE_EVERY_S)
    rep.close()
    return {
        "writes": len(waits),
        "max": max(waits, default=0.0),
        "p99": p99(waits),
        "lock_max": max(locks, default=0.0),
        "lock_p99": p99(locks),
    }


# --- the parent ---------------------------------------------------------------------------


def run_child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE), "--child", *args], stdout=subprocess.PIPE, text=True
    )


def writer_alone(base: Path, tmp: Path, seconds: float) -> dict[str, Any]:
    """The writer on its own for ``seconds``: what a write costs on this box now."""
    db = tmp / "run-alone.db"
    shutil.copyfile(base, db)
    stop = tmp / "stop-alone"
    stop.unlink(missing_ok=True)
    writer = run_child("writer", str(db), str(stop))
    time.sleep(seconds)
    stop.touch()
    out, _ = writer.communicate(timeout=120)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    result: dict[str, Any] = json.loads(out)
    return result


def one_run(kind: str, base: Path, parts: Path, tmp: Path) -> dict[str, Any]:
    db = tmp / f"run-{kind}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base, db)
    stop = tmp / f"stop-{kind}"
    stop.unlink(missing_ok=True)
    Path(f"{stop}.ready").unlink(missing_ok=True)
    writer = run_child("writer", str(db), str(stop))
    while not Path(f"{stop}.ready").exists():
        if writer.poll() is not None:
            raise RuntimeError("the writer did not start")
        time.sleep(0.01)
    time.sleep(0.5)  # a few writes before, as a door would
    applier = run_child(kind, str(db), str(parts))
    out, _ = applier.communicate()
    time.sleep(0.3)
    stop.touch()
    wout, _ = writer.communicate(timeout=120)
    if applier.returncode or writer.returncode:
        raise RuntimeError(f"{kind}: child failed ({applier.returncode}, {writer.returncode})")
    result: dict[str, Any] = json.loads(out)
    result["writer"] = json.loads(wout)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return result


def mib(kib: float) -> float:
    return kib / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="small scale smoke run")
    ap.add_argument("--runs", type=int, default=None, help="runs of each (default 3; quick 2)")
    ap.add_argument("--bookings", type=int, default=None, help="bookings (credentials: a fifth)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        fn = {"ours": child_ours, "bare": child_bare, "writer": child_writer}[kind]
        print(json.dumps(fn(*rest)))
        return 0
    credentials, bookings = (5_000, 20_000) if args.quick else (100_000, 500_000)
    if args.bookings:
        credentials, bookings = args.bookings // 5, args.bookings
    runs = args.runs or (2 if args.quick else 3)
    print(
        f"hallvakt snapshot bench: {credentials} credentials, {bookings} bookings,"
        f" sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]},"
        f" {os.cpu_count()} cpus, {runs} runs"
    )
    with tempfile.TemporaryDirectory(prefix="hallvakt-bench-snap-") as name:
        tmp = Path(name)
        parts1, parts2 = tmp / "rev1.jsonl", tmp / "rev2.jsonl"
        t0 = time.perf_counter()
        records, nparts = write_parts(parts1, credentials, bookings, 1)
        relabel(parts1, parts2, 2)
        size = parts1.stat().st_size
        print(
            f"data: {records} records in {nparts} parts, {size / 1e6:.0f} MB of JSON"
            f" (made in {time.perf_counter() - t0:.1f} s)"
        )
        base = tmp / "base.db"
        proc = run_child("ours", str(base), str(parts1))
        first = json.loads(proc.communicate()[0])
        with sqlite3.connect(base) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(
            f"first load (empty database, no writer): {first['seconds']:.1f} s,"
            f" database {base.stat().st_size / 1e6:.0f} MB"
        )
        results: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": [], "alone": []}
        for i in range(runs):
            alone = writer_alone(base, tmp, 10.0)
            results["alone"].append(alone)
            print(
                f"  run {i + 1} writer alone, 10 s: {alone['writes']} writes,"
                f" longest {alone['max'] * 1e3:7.1f} ms, p99 {alone['p99'] * 1e3:6.1f} ms"
            )
            order = ("ours", "bare") if i % 2 == 0 else ("bare", "ours")
            for kind in order:
                r = one_run(kind, base, parts2, tmp)
                assert r["rev"] == 2 and r["left"] == 0, r
                results[kind].append(r)
                w = r["writer"]
                print(
                    f"  run {i + 1} {kind:4}: {r['seconds']:6.1f} s,"
                    f" RSS +{mib(r['peak_kib'] - r['idle_kib']):5.0f} MiB,"
                    f" wrote {r['written'] / 1e6:5.0f} MB,"
                    f" writer: {w['writes']} writes, longest {w['max'] * 1e3:7.1f} ms,"
                    f" p99 {w['p99'] * 1e3:6.1f} ms; lock wait longest"
                    f" {w['lock_max'] * 1e3:7.1f} ms, p99 {w['lock_p99'] * 1e3:6.1f} ms"
                )
                if "stages" in r:
                    steps = ", ".join(f"{k} {v:.1f} s" for k, v in r["stages"].items())
                    print(
                        f"        {steps}; {r['transactions']} transactions held the lock"
                        f" {r['hold_sum']:.1f} s in all, longest {r['hold_max'] * 1e3:.0f} ms,"
                        f" p99 {r['hold_p99'] * 1e3:.0f} ms; longest by step: "
                        + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in r["hold_longest"].items())
                    )
    report(results)
    return 0


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    def rss(kind: str) -> list[float]:
        return [mib(r["peak_kib"] - r["idle_kib"]) for r in results[kind]]

    ours_s, bare_s = med("ours", "seconds"), med("bare", "seconds")
    ours_lock = [r["writer"]["lock_max"] for r in results["ours"]]
    ours_lock99 = [r["writer"]["lock_p99"] for r in results["ours"]]
    ours_wait = [r["writer"]["max"] for r in results["ours"]]
    bare_wait = [r["writer"]["max"] for r in results["bare"]]
    ours_p99 = [r["writer"]["p99"] for r in results["ours"]]
    alone = results["alone"]
    print("\n== snapshot apply, medians ==")
    print(f"ours (stage_snapshot)      {ours_s:7.1f} s   peak RSS +{max(rss('ours')):4.0f} MiB")
    print(
        f"  of which parsing (json.loads + SnapshotPart.from_wire) {med('ours', 'parse'):.1f} s,"
        f" the last part (swap and tidy) {med('ours', 'last'):.1f} s"
    )
    print(f"bare streaming insert      {bare_s:7.1f} s   peak RSS +{max(rss('bare')):4.0f} MiB")
    print(f"ratio ours / bare: {ours_s / bare_s:.2f}x")
    print(
        f"writer's whole write during ours: longest {max(ours_wait) * 1e3:.1f} ms (worst run),"
        f" p99 {statistics.median(ours_p99) * 1e3:.1f} ms (median run);"
        f" during bare: longest {max(bare_wait) * 1e3:.0f} ms;"
        f" alone: longest {max(a['max'] for a in alone) * 1e3:.1f} ms,"
        f" p99 {statistics.median(a['p99'] for a in alone) * 1e3:.1f} ms"
    )
    print(
        f"writer's wait for the lock during ours: longest {max(ours_lock) * 1e3:.1f} ms"
        f" (worst run), p99 {statistics.median(ours_lock99) * 1e3:.1f} ms (median run)"
    )
    goals = [
        ("other writers wait <= 100 ms for the lock", max(ours_lock) <= GOAL_WAIT_S),
        ("peak RSS <= 150 MiB above idle", max(rss("ours")) <= GOAL_RSS_MIB),
        ("total <= 2x the bare streaming insert", ours_s <= GOAL_RATIO * bare_s),
    ]
    for what, ok in goals:
        print(f"goal {what}: {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())
