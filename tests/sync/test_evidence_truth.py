"""Known truth: a generated season through central's real paths, and every report's numbers
equal what the generator planted, exactly (sync/central/evidence, sync/central/reports).

The season (tests/support/season.py): 3 facilities in two municipalities (one
with a local grant rule), 6 weeks across the spring DST change (facility time moves
an hour against UTC), ~1,200 bookings with planted outcomes and
~5,000 node events. It is loaded as production loads it: bookings through
``mutate``, events through ``store_events`` in batches of at most 256, sent
in a shuffled order with a third of them sent twice, then bookings moved and
cancelled after the fact. Both store engines.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from sync.central import changelog as cl
from sync.central import events as ev
from sync.central import nodes
from sync.central.evidence import ledger
from sync.central.evidence.rules import GrantRule
from sync.central.evidence.settings import Evidence, EvidenceDefaults, Municipality
from sync.central.reports import Query, build, read_claims
from sync.central.reports.attendance import AttendanceReport
from sync.central.reports.claims import ClaimsReport
from sync.central.reports.noshows import NoShowReport
from sync.central.reports.usage import UsageReport
from sync.central.store import Store
from sync.protocol.testing import private_key
from tests.support.central_stores import TEMPLATE
from tests.support.season import LOCAL_RULE, TZ, Season, generate

LOAD_AT = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH = 7
LOCAL = GrantRule(
    name="Robertsfors kommun",
    min_minutes=LOCAL_RULE["min_minutes"],
    min_participants=LOCAL_RULE["min_participants"],
    participants_include_leaders=True,
    max_per_leader=0,
    max_participants=30,
    max_age=20,
)
SETTINGS = Evidence(EvidenceDefaults(), {"rfors": Municipality("Robertsfors", grant=LOCAL)})


@pytest.fixture(scope="module")
def season() -> Season:
    return generate(
        seed=20260302, facilities=3, days=42, start=date(2026, 3, 2)
    )  # across DST (29 March)


def load(store: Store, s: Season, *, seed: int = 1) -> None:
    """The season into ``store`` through mutate and store_events (module docstring)."""
    for fid, ents in s.entities.items():
        ops = [cl.upsert_wire(e, d) for e, items in ents.items() for d in items]
        cl.mutate_chunked(store, fid, ops, LOAD_AT, 90_000)
    for node, fid in s.nodes.items():
        key = private_key(node).public_key().public_bytes_raw()
        nodes.register_node(store, node, fid, key, node, LOAD_AT)
    rng = random.Random(seed)
    batches = []
    for node, events in s.events.items():
        i = 0
        while i < len(events):
            n = rng.randint(50, 256)
            batches.append((node, events[i : i + n]))
            i += n
    batches += rng.sample(batches, len(batches) // 3)  # delivered twice
    rng.shuffle(batches)
    for node, batch in batches:
        ev.store_events(store, node, s.nodes[node], EPOCH, batch, LOAD_AT)
    for fid, records in s.corrections.items():  # moved and cancelled after the fact
        cl.mutate(store, fid, [cl.upsert_wire("booking", b) for b in records], LOAD_AT)


_names = itertools.count(1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, season: Season, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One loaded store per engine for the whole module (the tests only read it;
    the rebuild test rewrites it to the same content)."""
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("truth") / "central.db")
        drop = None
    else:
        server = request.getfixturevalue("pg_server")
        name = f"truth{next(_names)}"
        url = server.create_database(name, template=TEMPLATE)
        drop = (server, name)
    store = Store.open(url)
    try:
        load(store, season)
        yield store
    finally:
        store.close()
        if drop is not None:
            drop[0].drop_database(drop[1])


def query(s: Season) -> Query:
    return Query(None, s.start, s.end, s.now)


def test_every_event_became_contiguous_once(loaded: Store, season: Season) -> None:
    for node, events in season.events.items():
        assert ev.through(loaded, node, EPOCH) == len(events)
    assert loaded.execute("SELECT count(*) FROM events").scalar() == sum(
        len(e) for e in season.events.values()
    )


def test_usage_equals_the_planted_truth(loaded: Store, season: Season) -> None:
    report = build(loaded, "usage", query(season), SETTINGS)
    assert isinstance(report, UsageReport)
    truth = season.truth
    cols = ("booked", "used", "not_entered", "no_show", "pending", "walkin")
    checked = 0
    for u in report.facilities:
        fid = u.facility.id
        got = {c: getattr(u.total, c) for c in cols}
        assert got == {c: truth.minutes[fid, ""][c] for c in cols}, fid
        for rid, m in u.resources.items():
            assert {c: getattr(m, c) for c in cols} == {
                c: truth.minutes[fid, rid][c] for c in cols
            }, (fid, rid)
            checked += 1
        grid = {(d, h): v for d in range(7) for h in range(24) if (v := u.heat_booked[d][h])}
        assert grid == dict(truth.heat_booked[fid])
        used = {(d, h): v for d in range(7) for h in range(24) if (v := u.heat_used[d][h])}
        assert used == dict(truth.heat_used[fid])
        assert u.total.booked == u.total.used + u.total.not_entered + u.total.pending
        assert u.total.booked > 0 and u.total.walkin > 0 and u.total.no_show > 0
    assert checked == 3 * 5


def test_noshows_equal_the_planted_truth(loaded: Store, season: Season) -> None:
    report = build(loaded, "no-shows", query(season), SETTINGS)
    assert isinstance(report, NoShowReport)
    got = {(s.holder, s.first): [n.row.booking for n in s.no_shows] for s in report.seasons}
    want = {
        k: sorted(v, key=lambda b: (season.planted[b].start, b))
        for k, v in season.truth.noshows.items()
    }
    assert got == want
    for s in report.seasons:
        assert [n.strike for n in s.no_shows] == list(range(1, s.strikes + 1))
        assert s.flagged == (s.strikes >= 3)
    assert any(s.flagged for s in report.seasons) and any(not s.flagged for s in report.seasons)
    assert any(n.kind == "released" for s in report.seasons for n in s.no_shows)


def test_attendance_equals_the_planted_truth(loaded: Store, season: Season) -> None:
    report = build(loaded, "attendance", query(season), SETTINGS)
    assert isinstance(report, AttendanceReport)
    judged = {a.row.booking: a for a in report.sessions if a.judgement is not None}
    pending = {a.row.booking for a in report.sessions if a.judgement is None}
    assert pending == season.truth.pending
    assert set(judged) == set(season.truth.attendance)
    for bid, (meets, reasons, minutes, counted) in season.truth.attendance.items():
        j = judged[bid].judgement
        assert j is not None
        assert (j.meets, j.reasons, j.minutes, j.counted) == (meets, reasons, minutes, counted), bid
        p = season.planted[bid]
        row = judged[bid].row
        assert (row.first_entry_ts, row.participants, row.leaders, row.entries) == (
            p.first_entry,
            p.participants,
            p.leaders,
            p.entries,
        )
    meeting = [a for a in judged.values() if a.judgement and a.judgement.meets]
    local = [a for a in judged.values() if a.facility.municipality == "Robertsfors"]
    assert meeting and local and len(meeting) < len(judged)
    assert {a.rule.name for a in local} == {"Robertsfors kommun"}


def test_incremental_interpretation_equals_a_rebuild(loaded: Store) -> None:
    cols = ", ".join(ledger._FACTS)
    before = loaded.execute(f"SELECT facility, booking_id, {cols} FROM evidence ORDER BY 1, 2")
    ledger.rebuild(loaded)
    after = loaded.execute(f"SELECT facility, booking_id, {cols} FROM evidence ORDER BY 1, 2")
    assert before.rows == after.rows and len(before.rows) > 1000


def claims_file(s: Season, holder: str) -> tuple[bytes, dict[int, tuple[str, int | None]]]:
    """A claims CSV of ``holder`` as a membership system exports it (Swedish headers,
    ``;``, Windows-1252), and the verdict (and backing line) each line must get."""
    rng = random.Random(5)
    lines = ["Datum;Starttid;Sluttid;Plats;Antal deltagare;Ledare;Aktivitet"]
    want: dict[int, tuple[str, int | None]] = {}
    fac_name = {fid: e["facility"][0]["name"] for fid, e in s.entities.items()}
    res_name = {"hall.a": "Sektion A", "hall.b": "Sektion B", "room0": "Rum 1"}
    taken: list[tuple[int, str]] = []
    now_ts = int(s.now.timestamp())
    for p in sorted(s.planted.values(), key=lambda p: (p.start, p.id)):
        if p.holder != holder or len(p.resources) != 1 or p.end > now_ts:
            continue
        if p.outcome in ("cancelled", "used_then_cancelled"):
            continue
        local = datetime.fromtimestamp(p.start, TZ)
        end = datetime.fromtimestamp(p.end, TZ)
        shift = rng.choice((0, 5, 10, -10))  # inside the 15-minute tolerance
        start = local + timedelta(minutes=shift)
        place = f"{fac_name[p.facility]} {res_name[p.resources[0]]}"
        heads = (p.participants or 10) + rng.choice((0, 0, 4))
        lines.append(f"{start:%Y-%m-%d};{start:%H:%M};{end:%H:%M};{place};{heads};1;Träning")
        line = len(lines)
        used = p.first_entry is not None
        verdict = (
            "evidence"
            if used
            else "no_show"
            if p.outcome in ("no_show", "released")
            else ("no_entry")
        )
        want[line] = (verdict, None)
        taken.append((line, lines[-1]))
    first_line, first_text = taken[0]
    lines.append(first_text)  # the same session claimed twice
    want[len(lines)] = ("duplicate", first_line)
    lines.append(f"{s.start:%Y-%m-%d};06:00;07:00;{fac_name['fac00']} Sektion A;12;1;Morgon")
    want[len(lines)] = ("no_booking", None)
    lines.append(f"{s.start:%Y-%m-%d};18:00;19:00;Okänd plats;12;1;Träning")
    want[len(lines)] = ("unknown_place", None)
    lines.append("2025-01-10;18:00;19:00;Hallen 00;12;1;Träning")
    want[len(lines)] = ("outside_period", None)
    return ("\r\n".join(lines) + "\r\n").encode("cp1252"), want


def test_claims_check_finds_each_claims_evidence(loaded: Store, season: Season) -> None:
    holder = "fac00.assoc1"
    raw, want = claims_file(season, holder)
    claims = read_claims(raw, "claims.csv")
    report = build(loaded, "claims", query(season), SETTINGS, holder=holder, claims=claims)
    assert isinstance(report, ClaimsReport)
    got = {c.claim.line: (c.verdict, c.backs) for c in report.checked}
    assert got == want
    kinds = {v for v, _ in want.values()}
    assert {"evidence", "no_show", "duplicate", "no_booking", "unknown_place"} <= kinds
    noted = [c for c in report.checked if c.verdict == "evidence" and c.notes]
    assert noted and all(n.kind in ("more_claimed", "late") for c in noted for n in c.notes)
    by_name = build(
        loaded, "claims", query(season), SETTINGS, holder="IK FAC00 lag 1", claims=claims
    )
    assert isinstance(by_name, ClaimsReport) and by_name.checked == report.checked
