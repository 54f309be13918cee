"""Benchmark of central's evidence and reports (sync/central/evidence, sync/central/reports).

Run ``.venv/bin/python bench/evidence.py`` (``make bench`` runs it), ``--quick``
for a smoke run, ``--engine sqlite|postgresql`` for one store. Both stores run
by default: a SQLite file, and a private PostgreSQL server (Debian's binaries,
tests/support/pgserver.py, production settings: fsync on).

1. Interpretation per 10k events. The same 10k node events of a generated
   season (door grants and denials, check-ins, headcounts, no-shows, releases) are stored
   three ways, in a seeded random order per run, each into a fresh stream:
   ``bare``: one ``executemany`` INSERT of the rows into the events table in
   one transaction (the floor: no idempotence, no ``through``, no effects);
   ``store``: ``store_events`` in 256-event batches with the interpretation
   switched off (what central did before evidence); ``interpret``:
   ``store_events`` as it runs now. Medians and p99 over the runs; the
   interpretation's own cost is ``interpret - store``.
2. A season-long usage report for 50 facilities holding about 510,000
   bookings (182 days): facilities, resources and holders through ``mutate``; the
   bookings' evidence rows bulk-loaded with the interpretation's own pure fold
   and merge (``facts.summarise``, ``ledger.merge``: the path ``interpret``
   takes, without storing 1.5 million raw events first). Timed: the report's
   rows (``usage``) and its CSV, against a bare GROUP BY of booked minutes
   per facility and resource. Goal: under 10 s. Every facility's and
   resource's minutes and both heatmaps are checked against the generator's
   planted truth, exactly. The PDF of the whole report is timed once (no goal).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on sys.path; the repository root gives
# tests.support (the season generator and the private PostgreSQL server).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from sync.central import changelog as cl  # noqa: E402
from sync.central import events as ev  # noqa: E402
from sync.central import nodes  # noqa: E402
from sync.central.evidence import ledger  # noqa: E402
from sync.central.evidence.facts import fact_of, summarise  # noqa: E402
from sync.central.reports import Query, write  # noqa: E402
from sync.central.reports.usage import UsageReport, usage  # noqa: E402
from sync.central.store import Store  # noqa: E402
from sync.protocol.testing import private_key  # noqa: E402
from sync.protocol.timeutil import to_ts  # noqa: E402
from sync.protocol.wire import OutboxEvent  # noqa: E402
from tests.support.season import Season, generate  # noqa: E402

LOAD_AT = datetime(2026, 1, 1, tzinfo=UTC)
GOAL_S = 10.0


@dataclass(frozen=True)
class Scale:
    facilities: int
    days: int
    rooms: int
    events: int
    runs: int
    report_runs: int


FULL = Scale(50, 182, 17, 10_000, 7, 5)
QUICK = Scale(3, 28, 2, 2_000, 3, 2)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]


def fmt(values: list[float], unit: str = "ms") -> str:
    scale = 1e3 if unit == "ms" else 1.0
    med, top = statistics.median(values) * scale, p99(values) * scale
    return f"median {med:8.1f} {unit}, p99 {top:8.1f} {unit}"


# --- 1. interpretation ---------------------------------------------------------------


def fresh(events: list[OutboxEvent], rng: random.Random) -> list[OutboxEvent]:
    """The same events with new ids (events are unique on id), seq from 1."""
    return [
        OutboxEvent(
            i,
            str(uuid.UUID(int=rng.getrandbits(128) & ~(0xF << 76) | (7 << 76))),
            e.type,
            e.at,
            e.body,
        )
        for i, e in enumerate(events, 1)
    ]


def bare(store: Store, node: str, epoch: int, events: list[OutboxEvent]) -> None:
    rows = [
        (node, str(epoch), e.seq, e.id, e.type, to_ts(e.at), json.dumps(e.body), 0) for e in events
    ]
    with store.write():
        store.executemany(
            "INSERT INTO events (node, epoch, seq, id, type, at_ts, body, received_ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def stored(store: Store, node: str, fac: str, epoch: int, events: list[OutboxEvent]) -> None:
    for i in range(0, len(events), 256):
        ev.store_events(store, node, fac, epoch, events[i : i + 256], LOAD_AT)


def interpretation(store: Store, scale: Scale) -> None:
    season = generate(
        seed=3, facilities=1, days=max(28, scale.days * 2 // 3), rooms=scale.rooms // 3
    )
    load_entities(store, season, bookings=True)
    node = next(iter(season.nodes))
    fac = season.nodes[node]
    pool = [e for e in season.events[node] if e.type != "walkin.created"]
    sample = pool[: scale.events]
    kinds = sorted({e.type for e in sample})
    rng = random.Random(9)
    times: dict[str, list[float]] = {"bare": [], "store": [], "interpret": []}
    epoch = 1000
    real = ev.evidence.interpret

    def off(*a: Any, **k: Any) -> dict[str, Any]:
        return {}

    for _ in range(scale.runs):
        order = list(times)
        rng.shuffle(order)
        for what in order:
            events = fresh(sample, rng)
            epoch += 1
            t0 = time.perf_counter()
            if what == "bare":
                bare(store, node, epoch, events)
            elif what == "store":
                ev.evidence.interpret = off  # type: ignore[assignment]
                try:
                    stored(store, node, fac, epoch, events)
                finally:
                    ev.evidence.interpret = real
            else:
                stored(store, node, fac, epoch, events)
            times[what].append((time.perf_counter() - t0) * 10_000 / len(sample))
    per = {k: statistics.median(v) for k, v in times.items()}
    print(f"  events: {len(sample)} of {', '.join(kinds)}; {scale.runs} runs, per 10k events:")
    for k, v in times.items():
        print(f"    {k:9s} {fmt(v)}")
    print(
        f"  interpretation alone (interpret - store):"
        f" {(per['interpret'] - per['store']) * 1e3:.1f} ms"
        f" per 10k events; ratio interpret/store {per['interpret'] / per['store']:.2f}x,"
        f" interpret/bare {per['interpret'] / per['bare']:.2f}x"
    )


# --- 2. the season report --------------------------------------------------------------


def load_entities(store: Store, s: Season, *, bookings: bool) -> None:
    """Facilities, resources, holders (and leases) through ``mutate``; the
    bookings too when ``bookings``."""
    for fid, ents in s.entities.items():
        ops = [
            cl.upsert_wire(e, d)
            for e, items in ents.items()
            for d in items
            if bookings or e != "booking"
        ]
        cl.mutate_chunked(store, fid, ops, LOAD_AT, 90_000)
    for node, fid in s.nodes.items():
        key = private_key(node).public_key().public_bytes_raw()
        nodes.register_node(store, node, fid, key, node, LOAD_AT)


def bulk(store: Store, s: Season) -> int:
    """One facility's bookings and facts into the evidence (module docstring, 2.)."""
    n = 0
    with store.write():
        for fid, ents in s.entities.items():
            final = {b["id"]: b for b in ents["booking"]}
            final.update({b["id"]: b for b in s.corrections.get(fid, [])})
            rows = []
            for b in final.values():
                rec = cl.upsert_wire("booking", b).record
                rows.append([fid, b["id"], *ledger.booking_values(rec)])  # type: ignore[arg-type]
            store.executemany(ledger._BOOKING_SQL, rows)
            n += len(rows)
            node = f"node.{fid}"
            facts = [
                f
                for e in s.events[node]
                if (f := fact_of(e.type, to_ts(e.at), e.body, e.id, node)) is not None
            ]
            ledger.merge(store, fid, summarise(facts))
    return n


def season_report(store: Store, scale: Scale, out: Path) -> bool:
    t0 = time.perf_counter()
    total = 0
    truths: list[Season] = []
    for i in range(scale.facilities):
        s = generate(
            seed=100 + i, facilities=1, first=i, days=scale.days, rooms=scale.rooms, walkins=False
        )
        load_entities(store, s, bookings=False)
        total += bulk(store, s)
        s.events.clear()
        truths.append(s)
    s0 = truths[0]
    # A season's store fills over months and autovacuum keeps the planner's
    # statistics current; this one was filled in minutes, so gather them now,
    # as autovacuum would have (without it, PostgreSQL estimates one row per
    # facility and sorts where it should hash: 10x per facility's query).
    store.execute("ANALYZE")
    print(
        f"  loaded {scale.facilities} facilities, {total} bookings in"
        f" {time.perf_counter() - t0:.0f} s (setup and ANALYZE, not timed)"
    )
    q = Query(None, s0.start, s0.end, s0.now)
    t_rows: list[float] = []
    t_csv: list[float] = []
    t_bare: list[float] = []
    report: UsageReport | None = None
    rng = random.Random(4)
    for _ in range(scale.report_runs):
        jobs: list[tuple[str, Callable[[], Any]]] = [
            ("rows", lambda: usage(store, q)),
            (
                "bare",
                lambda: (
                    store.execute(
                        "SELECT facility, resources, sum(end_ts - start_ts) FROM evidence"
                        " WHERE known = 1 AND removed = 0 GROUP BY facility, resources"
                    ).rows
                ),
            ),
        ]
        rng.shuffle(jobs)
        for what, job in jobs:
            t = time.perf_counter()
            r = job()
            dt = time.perf_counter() - t
            if what == "rows":
                report = r
                t = time.perf_counter()
                data = write(r, "csv")
                t_csv.append(time.perf_counter() - t)
                t_rows.append(dt)
            else:
                t_bare.append(dt)
    assert report is not None
    (out / "usage.csv").write_bytes(data)
    whole = [a + b for a, b in zip(t_rows, t_csv, strict=True)]
    print(f"  usage rows           {fmt(t_rows, 's')}")
    print(f"  usage rows + CSV     {fmt(whole, 's')}  ({len(data) // 1024} KiB)")
    print(f"  bare GROUP BY        {fmt(t_bare, 's')}")
    print(f"  ratio report/bare {statistics.median(whole) / statistics.median(t_bare):.1f}x")
    ok = p99(whole) < GOAL_S
    print(
        f"  goal: season usage report for {scale.facilities} facilities < {GOAL_S:.0f} s:"
        f" {'met' if ok else 'MISSED'} (p99 {p99(whole):.2f} s)"
    )
    t = time.perf_counter()
    pdf = write(report, "pdf")
    print(
        f"  the same report as PDF: {time.perf_counter() - t:.1f} s, {len(pdf) // 1024} KiB,"
        " once (no goal)"
    )
    exact = check_truth(report, truths)
    print(f"  truth: {'every facility, resource and heatmap cell exact' if exact else 'MISMATCH'}")
    return ok and exact


def check_truth(report: UsageReport, truths: list[Season]) -> bool:
    cols = ("booked", "used", "not_entered", "no_show", "pending")
    by = {u.facility.id: u for u in report.facilities}
    for s in truths:
        for fid in s.entities:
            u = by[fid]
            t = s.truth
            if {c: getattr(u.total, c) for c in cols} != {c: t.minutes[fid, ""][c] for c in cols}:
                print(f"  {fid}: total differs")
                return False
            for rid, m in u.resources.items():
                if {c: getattr(m, c) for c in cols} != {c: t.minutes[fid, rid][c] for c in cols}:
                    print(f"  {fid}/{rid}: differs")
                    return False
            heat = {(d, h): v for d in range(7) for h in range(24) if (v := u.heat_booked[d][h])}
            used = {(d, h): v for d in range(7) for h in range(24) if (v := u.heat_used[d][h])}
            if heat != dict(t.heat_booked[fid]) or used != dict(t.heat_used[fid]):
                print(f"  {fid}: heatmap differs")
                return False
    return True


def run(engine: str, scale: Scale) -> bool:
    print(f"== {engine}")
    with tempfile.TemporaryDirectory(prefix="hallvakt-bench-") as tmp:
        server = None
        if engine == "sqlite":
            url_a, url_b = str(Path(tmp) / "a.db"), str(Path(tmp) / "b.db")
        else:
            from tests.support.pgserver import PostgresServer, available

            if not available():
                print("  PostgreSQL is not installed: skipped (MISSED: not measured)")
                return False
            server = PostgresServer(fast=False).start()
            url_a = server.create_database("bench_a")
            url_b = server.create_database("bench_b")
        try:
            print(" 1. interpretation per 10k events")
            with Store.open(url_a) as store:
                interpretation(store, scale)
            print(" 2. season-long usage report")
            with Store.open(url_b) as store:
                return season_report(store, scale, Path(tmp))
        finally:
            if server is not None:
                server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="a small smoke run")
    ap.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    args = ap.parse_args(argv)
    # SIGTERM runs the finally blocks too: the private PostgreSQL server is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scale = QUICK if args.quick else FULL
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    ok = all([run(e, scale) for e in engines])
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
