"""The demo data generator (hallvakt/demo/data.py), ``hallvakt demo`` and the bench smoke run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hallvakt.demo.data import (
    DEMO_CREDENTIAL_KEY,
    DEMO_NODE,
    as_records,
    demo_credentials,
    generate,
    load_into,
)
from sync.protocol.timeutil import day_bounds, zone
from sync.replica import (
    Booking,
    Lease,
    Replica,
    Resource,
    card_digest,
    day_schedule,
    free_slots,
    parse_record,
    pin_digest,
    related_resources,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TODAY = date(2026, 10, 20)  # a Tuesday
TZ = zone("Europe/Stockholm")
NOW = datetime(2026, 10, 20, 10, 0, tzinfo=UTC)
Entities = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def demo() -> Entities:
    return generate(seed=3, today=TODAY)


@pytest.fixture(scope="module")
def big() -> Entities:
    """Large enough to add extra halls and rooms and widen the horizon."""
    return generate(seed=5, today=TODAY, credentials=2_001, bookings=30_000)


def typed(entities: Entities) -> tuple[dict[str, Resource], list[Booking], list[Lease]]:
    resources = {r["id"]: Resource.from_wire(r) for r in entities["resource"]}
    bookings = [Booking.from_wire(b) for b in entities["booking"]]
    return resources, bookings, [Lease.from_wire(x) for x in entities["lease"]]


def assert_disjoint(intervals: Iterable[tuple[datetime, datetime, str]]) -> None:
    last_end, last_id = None, None
    for start, end, ident in sorted(intervals):
        assert last_end is None or start >= last_end, f"{ident} overlaps {last_id}"
        last_end, last_id = end, ident


def test_demo_key_is_32_bytes() -> None:
    assert len(DEMO_CREDENTIAL_KEY) == 32


def test_same_seed_same_data_other_seed_other_data(demo: Entities) -> None:
    assert generate(seed=3, today=TODAY) == demo
    other = generate(seed=4, today=TODAY)
    assert other != demo
    assert other["booking"] != demo["booking"]
    assert other["credential"] != demo["credential"]


def test_same_seed_same_data_in_another_process(demo: Entities) -> None:
    """No dependence on hash randomisation or anything else per process."""
    code = (
        "import json, sys; from datetime import date; from hallvakt.demo.data import generate;"
        " json.dump(generate(seed=3, today=date(2026, 10, 20)), sys.stdout)"
    )
    outs = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=60,
        ).stdout
        for seed in ("1", "2")
    ]
    assert json.loads(outs[0]) == json.loads(outs[1]) == demo


@pytest.mark.parametrize("fixture", ["demo", "big"])
def test_every_record_validates_and_round_trips(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    entities: Entities = request.getfixturevalue(fixture)
    pairs = as_records(entities)
    assert len(pairs) == sum(len(v) for v in entities.values())
    for entity, data in pairs:
        assert parse_record(entity, data).to_wire() == data
    for entity, records in entities.items():
        ids = [r["id"] for r in records]
        assert len(ids) == len(set(ids)), f"duplicate {entity} ids"


def test_the_facility(demo: Entities) -> None:
    assert demo["facility"] == [
        {
            "id": "kroksbackshallen",
            "name": "Kroksbäckshallen",
            "timezone": "Europe/Stockholm",
            "municipality": "Malmö",
        }
    ]
    resources = {r["id"]: r for r in demo["resource"]}
    sections = [r for r in resources.values() if r["parent"] == "hall"]
    assert [s["name"] for s in sections] == ["Sektion A", "Sektion B", "Sektion C"]
    assert all(s["kind"] == "section" and s["walkin_slot_minutes"] == 60 for s in sections)
    assert resources["gym"]["kind"] == "room"
    doors = {d["id"]: d for d in demo["door"]}
    assert doors["door.main"]["resources"] == ["hall"]
    assert doors["door.gym"]["resources"] == ["gym"]
    assert [p["id"] for p in demo["policy"]] == ["default"]
    kinds = {h["kind"] for h in demo["holder"]}
    assert kinds == {"association", "person", "staff", "internal"}
    night = [w for g in demo["grant"] for w in g["windows"] if w["from"] > w["to"]]
    assert night, "a night-patrol window crossing midnight"


def test_exact_counts_and_growth(big: Entities) -> None:
    assert len(big["credential"]) == 2_001
    assert len(big["booking"]) == 30_000
    assert len([r for r in big["resource"] if r["kind"] == "hall"]) == 3  # 30k -> 2 extra
    last = max(b["end"] for b in big["booking"])
    assert last > "2027-01-01", "the horizon was widened in weeks"
    for n in (0, 1, 4, 5, 50):
        assert len(generate(seed=1, today=TODAY, credentials=n)["credential"]) == n
    assert len(generate(seed=1, today=TODAY, bookings=10)["booking"]) == 10


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        generate(seed=1, today=TODAY, key=b"short")
    with pytest.raises(ValueError):
        generate(seed=1, today=TODAY, tz="Europe/Nowhere")
    with pytest.raises(ValueError):
        generate(seed=1, today=TODAY, bookings=-1)


@pytest.mark.parametrize("fixture", ["demo", "big"])
def test_active_bookings_never_overlap_on_related_resources(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    resources, bookings, _ = typed(request.getfixturevalue(fixture))
    on: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for b in bookings:
        if b.active:
            for r in b.resources:
                on[r].append((b.start, b.end, b.id))
    pairs = {tuple(sorted((r, x))) for r in resources for x in related_resources(resources, r)}
    assert ("hall", "hall.a") in pairs
    for one, other in pairs:
        assert_disjoint(on[one] + (on[other] if other != one else []))


def test_leases_avoid_bookings_on_related_resources(demo: Entities) -> None:
    resources, bookings, leases = typed(demo)
    assert len(leases) == 22 * 3  # every day of the horizon, on each section
    for lease in leases:
        assert lease.node == DEMO_NODE
        assert resources[lease.resource].walkin_slot_minutes == 60
        related = related_resources(resources, lease.resource)
        for b in bookings:
            if set(b.resources) & related:
                assert b.end <= lease.start or lease.end <= b.start, (lease.id, b.id)


def test_persons_are_never_named_publicly(demo: Entities) -> None:
    kind = {h["id"]: h["kind"] for h in demo["holder"]}
    for h in demo["holder"]:
        if h["kind"] in ("person", "staff"):
            assert " " not in h["display_name"]  # a first name only
    private = [b for b in demo["booking"] if kind[b["holder"]] == "person"]
    assert private and all(b["title"] == "" for b in private)
    assert any(b["title"].startswith("Seriematch: ") for b in demo["booking"])


@pytest.mark.parametrize(
    ("change", "before", "after"),
    [
        (date(2026, 10, 25), 2, 1),  # CEST -> CET
        (date(2026, 3, 29), 1, 2),  # CET -> CEST
    ],
)
def test_weekly_slots_keep_local_time_across_dst(change: date, before: int, after: int) -> None:
    data = generate(seed=2, today=change)
    main = {"hall", "hall.a", "hall.b", "hall.c"}

    def evening(day: date) -> set[tuple[str, str, str, str]]:
        lo, hi = day_bounds(day, TZ)
        out = set()
        for b in map(Booking.from_wire, data["booking"]):
            start, end = b.start.astimezone(TZ), b.end.astimezone(TZ)
            if lo <= b.start < hi and b.resources[0] in main and start.hour >= 17:
                assert start.utcoffset() == timedelta(hours=before if day < change else after)
                out.add((b.resources[0], f"{start:%H:%M}", f"{end:%H:%M}", str(b.holder)))
        return out

    for monday in range(5):  # Monday..Friday evenings, the week before and after
        day = change - timedelta(days=6 - monday)
        assert evening(day) == evening(day + timedelta(days=7)) != set()
    starts = {s for d in range(5) for _, s, _, _ in evening(change + timedelta(days=1 + d))}
    assert "18:00" in starts


def test_load_into_a_replica_and_read_the_day(demo: Entities, tmp_path: Path) -> None:
    with Replica.open(tmp_path / "node.db") as rep:
        n = load_into(rep, demo, rev=1, now=NOW)
        assert n == sum(len(v) for v in demo.values())
        assert rep.state().applied_rev == 1
        assert rep.count("booking") == len(demo["booking"])
        schedule = day_schedule(rep, TODAY)
        assert set(schedule) == {r["id"] for r in demo["resource"]}
        for whole in schedule["hall"]:  # a whole-hall booking shows on every section
            for sec in ("hall.a", "hall.b", "hall.c"):
                assert any(e.booking == whole.booking and e.via == "hall" for e in schedule[sec])
        assert sum(len(v) for v in schedule.values()) > 5
        lo, hi = day_bounds(TODAY, TZ)
        slots = free_slots(rep, DEMO_NODE, "hall.b", lo, hi)
        assert [f"{s.start.astimezone(TZ):%H}" for s in slots] == [f"{h:02d}" for h in range(9, 16)]


def test_demo_credentials_match_the_data(demo: Entities) -> None:
    shown = demo_credentials(demo, seed=3, today=TODAY)
    holders = {h["id"]: h for h in demo["holder"]}
    digests = {
        (c["holder"], c["kind"]): c["digest"]
        for c in demo["credential"]
        if not c["id"].endswith(".lost")
    }
    leaders = [label for label in shown if label.startswith("leader of ")]
    assert leaders and "caretaker" in shown and "night patrol" in shown
    for label in leaders:
        card, pin = shown[label].removeprefix("card ").split(" + PIN ")
        holder = next(
            h for (h, k), d in digests.items() if d == card_digest(DEMO_CREDENTIAL_KEY, card)
        )
        assert digests[holder, "pin"] == pin_digest(DEMO_CREDENTIAL_KEY, holder, pin)
        assert holders[holders[holder]["member_of"][0]]["display_name"] in label
        assert holders[holder]["display_name"] not in label.split()  # no person named
    card = shown["caretaker"].removeprefix("card ")
    assert digests["staff.00", "card"] == card_digest(DEMO_CREDENTIAL_KEY, card)
    with pytest.raises(ValueError):
        demo_credentials(demo, seed=4, today=TODAY)


def test_hallvakt_demo_command(tmp_path: Path) -> None:
    db = tmp_path / "demo" / "node.db"
    cmd = [str(BIN / "hallvakt"), "demo", "--db", str(db), "--seed", "3", "--date", "2026-10-20"]
    for _ in range(2):  # the second run recreates the database
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 0, run.stderr
        assert db.exists()
    out = run.stdout
    for name in (
        "Kroksbäckshallen",
        "Stora hallen",
        "Sektion A",
        "Sektion B",
        "Sektion C",
        "Gymmet",
    ):
        assert name in out
    assert "Lediga drop-in-tider (60 min): 09:00 10:00" in out
    assert str(db) in out and "caretaker: card " in out


def test_bench_quick_smoke() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "replica.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    ratios = [line for line in run.stdout.splitlines() if "ratio" in line]
    assert any(line.startswith("lookup ratio median") for line in ratios), run.stdout
    assert len(ratios) >= 5
