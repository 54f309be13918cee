"""Benchmark of the node database (sync/replica) against bare SQLite baselines.

Run ``make bench`` (``.venv/bin/python bench/replica.py``), or with ``--quick``
for a small smoke run. Every figure is printed next to a baseline measured in
the same process, on the same file, so the ratio is what to read:

1. load: generate 100k credentials and 500k bookings (hallvakt.demo.data), parse
   them and load them with ``replace_all`` into a temp-file database (once).
2. lookup: ``access_context(rep, door, digest, at)`` against one bare indexed
   query ("does a booking of this credential's groups open this door now"),
   over deterministic samples: half at a leader's own booking, half random
   (random door, instant and digest, some unknown). The two are timed sample
   by sample, which runs first in a seeded random order (``interleaved``). Median and p99;
   the goal is p99 < 1 ms and within 3x of the bare query.
3. changes: ``apply_changes`` of a 10k-upsert booking batch against an
   ``executemany`` of the same rows into a plain table.
4. snapshot: a 100k-booking snapshot in <= 180 KB parts through
   ``SnapshotPart.from_wire`` + ``stage_snapshot`` against an ``executemany`` of
   the same rows into a plain table (no indexes). The snapshot goals of issue
   13 (lock waits, memory, against a streaming insert into the same tables)
   are measured by ``bench/snapshot.py``.
Times come from ``time.perf_counter_ns``; repeated phases report the median.

The records' parse times before the switch to pydantic (tree at 99f5edc,
hand-written readers) are in docs/benchmarks.md next to the ones after,
measured with this script on both trees back to back
(``PYTHONPATH=<other tree> .venv/bin/python bench/replica.py``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from hallvakt.demo.data import generate, parsed
from sync.protocol.timeutil import parse_instant, to_ts
from sync.replica import (
    ChangeBatch,
    Replica,
    SnapshotPart,
    access_context,
    apply_changes,
    replace_all,
    stage_snapshot,
)

SEED = 7
TODAY = date(2026, 10, 20)  # fixed, so every run measures the same data
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
S = TypeVar("S")
A = TypeVar("A")
B = TypeVar("B")
PART_BYTES = 180_000  # a snapshot part's JSON, leaving room in a 256 KiB signed message

BARE_LOOKUP = """
SELECT b.id
FROM credentials c
JOIN holder_members m ON m.holder_id = c.holder
JOIN doors d ON d.id = :door
JOIN bookings b ON b.holder = m.group_id
    AND b.end_ts > :at - 60 * json_extract(d.data, '$.after_minutes')
    AND b.start_ts <= :at + 60 * json_extract(d.data, '$.before_minutes')
    AND b.end_ts <= :at + 60 * json_extract(d.data, '$.before_minutes')
        + (SELECT max_booking_s FROM sync_state WHERE id = 1)
JOIN booking_resources br ON br.booking_id = b.id
JOIN resources r ON r.id = br.resource_id
JOIN door_resources dr ON dr.door_id = :door AND dr.resource_id IN (r.id, r.parent)
WHERE c.digest = :digest AND b.status IN ('confirmed', 'tentative')
LIMIT 1
"""


@dataclass(frozen=True)
class Scale:
    credentials: int
    bookings: int
    samples: int
    batch: int
    snapshot_bookings: int
    reps: int


FULL = Scale(100_000, 500_000, 2_000, 10_000, 100_000, 5)
QUICK = Scale(5_000, 20_000, 400, 2_000, 5_000, 2)


def ms(ns: float) -> str:
    return f"{ns / 1e6:9.1f} ms"


def us(ns: float) -> str:
    return f"{ns / 1e3:8.1f} µs"


def p99(values: list[int]) -> int:
    """Nearest-rank 99th percentile."""
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, Any]:
    """(nanoseconds, result) of ``fn(*args, **kwargs)``."""
    t0 = time.perf_counter_ns()
    out = fn(*args, **kwargs)
    return time.perf_counter_ns() - t0, out


def ratio_line(what: str, mine: float, base: float) -> str:
    return (
        f"{what}: ratio {mine / base:.2f}x (replica {mine / 1e6:.1f} ms, bare {base / 1e6:.1f} ms)"
    )


def interleaved(
    samples: list[S], mine: Callable[[S], A], bare: Callable[[S], B], warm: int = 200
) -> tuple[list[int], list[int], list[tuple[A, B]], list[bool]]:
    """Time ``mine`` and ``bare`` on each sample, interleaved so both see the
    same cache state, and in a seeded random order: whichever runs second finds
    the pages the first one just read. (Random, not alternating: the samples
    themselves alternate in kind, and an alternating order would run ours
    first on every sample of one kind.) The first ``warm`` samples run once
    untimed first. Returns both timings in ns, the (mine, bare) results, and
    for each sample whether ours ran first."""
    for s in samples[:warm]:
        mine(s), bare(s)
    t_mine: list[int] = []
    t_bare: list[int] = []
    out: list[tuple[A, B]] = []
    rng = random.Random(SEED)
    ours_first = [rng.random() < 0.5 for _ in samples]
    clock = time.perf_counter_ns

    def one_then_other(first: Callable[[S], Any], second: Callable[[S], Any], s: S) -> Any:
        t0 = clock()
        r1 = first(s)
        t1 = clock()
        r2 = second(s)
        t2 = clock()
        return r1, t1 - t0, r2, t2 - t1

    for i, s in enumerate(samples):
        if ours_first[i]:
            a, dt_mine, b, dt_bare = one_then_other(mine, bare, s)
        else:
            b, dt_bare, a, dt_mine = one_then_other(bare, mine, s)
        t_mine.append(dt_mine)
        t_bare.append(dt_bare)
        out.append((a, b))
    return t_mine, t_bare, out, ours_first


def order_effect(
    t_mine: list[int], t_bare: list[int], ours_first: list[bool], unit: Callable[[float], str]
) -> str:
    """Medians by position in the pair, from ``interleaved``'s timings."""

    def med(ts: list[int], first: bool) -> str:
        return unit(statistics.median(t for t, f in zip(ts, ours_first, strict=True) if f == first))

    return (
        f"order effect (median): ours first {med(t_mine, True)} second {med(t_mine, False)};"
        f" bare first {med(t_bare, False)} second {med(t_bare, True)}"
    )


# --- samples -----------------------------------------------------------------------------


def samples(entities: dict[str, list[dict[str, Any]]], n: int) -> list[tuple[str, str, datetime]]:
    """Deterministic (door, digest, instant) presentations: half at a leader's own
    booking (door serving it, inside its door window), half random."""
    rng = random.Random(SEED)
    parent = {r["id"]: r["parent"] for r in entities["resource"]}
    door_of = {rid: d for d in entities["door"] for rid in d["resources"]}
    leaders: dict[str, list[str]] = {}
    for h in entities["holder"]:
        for g in h["member_of"]:
            leaders.setdefault(g, []).append(h["id"])
    digests: dict[str, list[str]] = {}
    for c in entities["credential"]:
        digests.setdefault(c["holder"], []).append(c["digest"])
    active = [
        b for b in entities["booking"] if b["status"] != "cancelled" and b["holder"] in leaders
    ]
    all_digests = [c["digest"] for c in entities["credential"]]
    lo = min(parse_instant(b["start"]) for b in entities["booking"])
    span = int((max(parse_instant(b["end"]) for b in entities["booking"]) - lo).total_seconds())
    out: list[tuple[str, str, datetime]] = []
    for i in range(n):
        if i % 2 == 0:
            b = rng.choice(active)
            rid = b["resources"][0]
            door = door_of.get(rid) or door_of[parent[rid]]
            start, end = parse_instant(b["start"]), parse_instant(b["end"])
            a = start - timedelta(minutes=door["before_minutes"])
            z = end + timedelta(minutes=door["after_minutes"])
            at = a + timedelta(seconds=rng.randrange(int((z - a).total_seconds())))
            digest = rng.choice(digests[rng.choice(leaders[b["holder"]])])
            out.append((door["id"], digest, at))
        else:
            door = rng.choice(entities["door"])
            at = lo + timedelta(seconds=rng.randrange(span))
            if rng.random() < 0.7:
                digest = rng.choice(all_digests)
            else:
                digest = base64.urlsafe_b64encode(rng.randbytes(32)).rstrip(b"=").decode()
            out.append((door["id"], digest, at))
    return out


# --- phases ------------------------------------------------------------------------------


def bench_lookup(rep: Replica, picks: list[tuple[str, str, datetime]]) -> None:
    conn = rep.conn

    def bare(pick: tuple[str, str, datetime]) -> bool:
        door, digest, at = pick
        args = {"door": door, "digest": digest, "at": to_ts(at)}
        return conn.execute(BARE_LOOKUP, args).fetchone() is not None

    def mine(pick: tuple[str, str, datetime]) -> bool:
        ctx = access_context(rep, *pick)
        return any(c.bookings for c in ctx.candidates)

    t_mine, t_bare, pairs, ours_first = interleaved(picks, mine, bare)
    agree = sum(a == b for a, b in pairs)
    opens = sum(a for a, _ in pairs)
    m_med, b_med = statistics.median(t_mine), statistics.median(t_bare)
    m_99, b_99 = p99(t_mine), p99(t_bare)
    print(f"\n== lookup: {len(picks)} presentations, {opens} opened by a booking ==")
    print(f"replica access_context  median {us(m_med)}   p99 {us(m_99)}")
    print(f"bare indexed query      median {us(b_med)}   p99 {us(b_99)}")
    print(f"lookup ratio median {m_med / b_med:.2f}x, ratio p99 {m_99 / b_99:.2f}x")
    print(
        f"goal p99 < 1 ms: {'met' if m_99 < 1e6 else 'MISSED'};"
        f" within 3x of bare: {'met' if m_med <= 3 * b_med and m_99 <= 3 * b_99 else 'MISSED'}"
    )
    print(f"agreement on 'a booking opens the door now': {agree}/{len(picks)}")
    print(order_effect(t_mine, t_bare, ours_first, us))


def booking_rows(records: list[dict[str, Any]]) -> list[tuple[str, int, int, str]]:
    return [
        (b["id"], to_ts(parse_instant(b["start"])), to_ts(parse_instant(b["end"])), json.dumps(b))
        for b in records
    ]


def bare_upsert(conn: sqlite3.Connection, bookings: list[dict[str, Any]]) -> None:
    """The baseline write: the same bookings as plain rows, one transaction."""
    rows = booking_rows(bookings)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT OR REPLACE INTO bench_plain VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")


def bare_replace(conn: sqlite3.Connection, items: list[tuple[str, dict[str, Any]]]) -> None:
    """The baseline snapshot: every record as a plain row, one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM bench_plain")
    conn.executemany(
        "INSERT INTO bench_plain VALUES (?, ?, ?)", [(e, r["id"], json.dumps(r)) for e, r in items]
    )
    conn.execute("COMMIT")


def stage_all(rep: Replica, parts: list[SnapshotPart]) -> None:
    for part in parts:
        stage_snapshot(rep, part, NOW)


def bench_changes(rep: Replica, entities: dict[str, list[dict[str, Any]]], scale: Scale) -> None:
    rng = random.Random(SEED + 1)
    chosen = rng.sample(entities["booking"], scale.batch)
    conn = rep.conn
    conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_plain"
        " (id TEXT PRIMARY KEY, start_ts INTEGER, end_ts INTEGER, data TEXT)"
    )
    t_parse: list[int] = []
    t_apply: list[int] = []
    t_bare: list[int] = []
    for rep_no in range(scale.reps):
        ops = [
            {
                "op": "upsert",
                "entity": "booking",
                "id": b["id"],
                "data": {**b, "title": f"Ändrad {rep_no}", "status": "confirmed"},
            }
            for b in chosen
        ]
        base = rep.state().applied_rev
        msg = {"base": base, "rev": base + 1, "ops": ops}
        dt, batch = timed(ChangeBatch.from_wire, msg)
        t_parse.append(dt)
        dt, outcome = timed(apply_changes, rep, batch, NOW)
        assert outcome.value == "applied", outcome
        t_apply.append(dt)
        t_bare.append(timed(bare_upsert, conn, [o["data"] for o in ops])[0])
    parse, apply, base_t = (statistics.median(t) for t in (t_parse, t_apply, t_bare))
    print(f"\n== changes: {scale.batch} booking upserts, median of {scale.reps} ==")
    print(f"ChangeBatch.from_wire   {ms(parse)}")
    print(f"apply_changes           {ms(apply)}")
    print(f"bare executemany        {ms(base_t)}  (json.dumps + INSERT OR REPLACE, one tx)")
    print(ratio_line("changes ratio (parse + apply)", parse + apply, base_t))
    print(ratio_line("changes ratio (apply only)", apply, base_t))


def bench_snapshot(scale: Scale, tmp: str) -> None:
    entities = generate(
        seed=SEED + 2,
        today=TODAY,
        credentials=scale.credentials // 10,
        bookings=scale.snapshot_bookings,
    )
    items = [(e, r) for e, recs in entities.items() for r in recs]
    parts: list[dict[str, list[dict[str, Any]]]] = [{}]
    size = 0
    for e, r in items:
        n = len(json.dumps(r, ensure_ascii=False).encode())
        if size + n > PART_BYTES:
            parts.append({})
            size = 0
        parts[-1].setdefault(e, []).append(r)
        size += n
    rep = Replica.open(os.path.join(tmp, "snapshot.db"))
    conn = rep.conn
    conn.execute(
        "CREATE TABLE bench_plain (entity TEXT, id TEXT, data TEXT, PRIMARY KEY (entity, id))"
    )
    t_parse: list[int] = []
    t_stage: list[int] = []
    t_bare: list[int] = []
    for rev in range(1, scale.reps + 1):
        msgs = [
            {"rev": rev, "part": i + 1, "parts": len(parts), "entities": p}
            for i, p in enumerate(parts)
        ]
        dt, snap = timed(lambda ms: [SnapshotPart.from_wire(m) for m in ms], msgs)
        t_parse.append(dt)
        t_stage.append(timed(stage_all, rep, snap)[0])
        assert rep.state().applied_rev == rev
        t_bare.append(timed(bare_replace, conn, items)[0])
    records = list(parsed(entities))
    t_replace = [timed(replace_all, rep, 100 + i, records, NOW)[0] for i in range(scale.reps)]
    rep.close()
    parse, stage_t, base_t, repl = (
        statistics.median(t) for t in (t_parse, t_stage, t_bare, t_replace)
    )
    print(
        f"\n== snapshot: {len(items)} records ({len(entities['booking'])} bookings) in"
        f" {len(parts)} parts, median of {scale.reps} =="
    )
    print(f"SnapshotPart.from_wire  {ms(parse)}")
    print(f"stage_snapshot (all)    {ms(stage_t)}  (staged beside the replica, swapped, tidied)")
    print(f"replace_all alone       {ms(repl)}  (records already parsed)")
    print(f"bare executemany        {ms(base_t)}  (json.dumps + INSERT, one tx)")
    print(ratio_line("snapshot ratio (parse + stage)", parse + stage_t, base_t))
    print(ratio_line("snapshot ratio (replace_all only)", repl, base_t))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="small scale smoke run")
    args = ap.parse_args(argv)
    scale = QUICK if args.quick else FULL
    print(
        f"hallvakt replica bench: {scale.credentials} credentials, {scale.bookings} bookings,"
        f" sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]}, {os.cpu_count()} cpus"
    )
    with tempfile.TemporaryDirectory(prefix="hallvakt-bench-") as tmp:
        dt, entities = timed(
            generate, seed=SEED, today=TODAY, credentials=scale.credentials, bookings=scale.bookings
        )
        total = sum(len(v) for v in entities.values())
        print(f"\n== load: {total} records, {len(entities['resource'])} resources ==")
        print(f"generate                {ms(dt)}")
        rep = Replica.open(os.path.join(tmp, "node.db"))
        dt_parse, records = timed(lambda e: list(parsed(e)), entities)
        dt_load, _ = timed(replace_all, rep, 1, records, NOW)
        print(f"parse_record (all)      {ms(dt_parse)}")
        print(f"replace_all             {ms(dt_load)}")
        del records
        print(
            f"database file           {os.path.getsize(os.path.join(tmp, 'node.db')) / 1e6:9.1f} MB"
        )
        bench_lookup(rep, samples(entities, scale.samples))
        bench_changes(rep, entities, scale)
        rep.close()
        del entities
        bench_snapshot(scale, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
