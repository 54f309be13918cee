"""Central's evidence per booking (sync/central/evidence): facts, their order-free merge in
the store, bookings changed after the fact, walk-in verdicts, the grant rule, retention,
and central.toml's [evidence] and [municipalities]."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from firmware_config.schema import ConfigError
from sync.central import changelog as cl
from sync.central import events as ev
from sync.central import nodes
from sync.central.config import parse_central_config
from sync.central.evidence import ledger, retention
from sync.central.evidence.facts import (
    INTERPRETED,
    Fact,
    Summary,
    fact_of,
    summarise,
    summarise_events,
)
from sync.central.evidence.rules import GrantRule, Session, check_periods, judge, period_of
from sync.central.evidence.settings import Evidence, EvidenceDefaults, Municipality
from sync.central.store import Store
from sync.protocol.testing import private_key
from sync.protocol.timeutil import from_ts, to_ts
from sync.replica import Booking, Lease, OutboxEvent, Resource

NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
FAC, NODE = "fac1", "n1.hall"
T0 = 1_780_000_000  # a booking's start in these tests
_seq = iter(range(1, 10**9))


def booking(ident: str, start: int = T0, minutes: int = 90, **kw: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "resources": kw.pop("resources", ["A"]),
        "start": from_ts(start).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": from_ts(start + minutes * 60).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "holder": "club",
        **kw,
    }


def event(seq: int, type_: str, at: int, body: dict[str, Any]) -> OutboxEvent:
    return OutboxEvent(seq, f"0190a000-0000-7000-8000-{seq:012x}", type_, from_ts(at), body)


def grant(bid: str, at: int, reason: str = "booking") -> tuple[str, int, dict[str, Any]]:
    return "access.granted", at, {"booking": bid, "reason": reason, "door": "d1"}


def report(bid: str, at: int, n: int, leaders: int = 1) -> tuple[str, int, dict[str, Any]]:
    return (
        "attendance.reported",
        at,
        {"booking": bid, "stage": "start", "participants": n, "leaders": leaders},
    )


@pytest.fixture
def store(store_url: str, site: Any) -> Iterator[Store]:
    s = Store.open(store_url)
    ents = site.entities()
    cl.mutate(s, FAC, [cl.upsert_wire(e, d) for e, items in ents.items() for d in items], NOW)
    nodes.register_node(s, NODE, FAC, private_key(NODE).public_key().public_bytes_raw(), NODE, NOW)
    try:
        yield s
    finally:
        s.close()


def row(store: Store, bid: str) -> dict[str, Any]:
    cols = ["known", "removed", "start_ts", "status", *ledger._FACTS, "verdict", "verdict_reason"]
    r = store.execute(
        f"SELECT {', '.join(cols)} FROM evidence WHERE facility = ? AND booking_id = ?", [FAC, bid]
    ).fetchone()
    assert r is not None, bid
    return dict(zip(cols, r, strict=True))


def send(store: Store, items: list[tuple[str, int, dict[str, Any]]], epoch: int = 1) -> None:
    evs = [event(next(_seq), t, at, body) for t, at, body in items]
    # each call is its own stream (epoch) from seq 1, so every batch is contiguous
    evs = [OutboxEvent(i, e.id, e.type, e.at, e.body) for i, e in enumerate(evs, 1)]
    ev.store_events(store, NODE, FAC, next(_seq), evs, NOW)


# --- facts (pure) ------------------------------------------------------------------


def test_what_each_event_says() -> None:
    assert fact_of("access.granted", 5, {"booking": "b", "reason": "booking"}) == Fact(
        "b", "entry", 5, leader=True
    )
    assert fact_of("access.granted", 5, {"booking": "b", "reason": "visitor_code"}) == Fact(
        "b", "entry", 5
    )
    assert fact_of("access.granted", 5, {"booking": None, "reason": "grant"}) is None  # staff
    assert fact_of("access.denied", 5, {"booking": "b", "reason": "pin_wrong"}) is None
    assert fact_of("booking.checked_in", 5, {"booking": "b"}) == Fact("b", "entry", 5, repeat=True)
    assert fact_of("booking.no_show", 5, {"booking": "b"}) == Fact("b", "no_show", 5)
    assert fact_of("booking.released", 5, {"booking": "b"}, node="n") == Fact(
        "b", "released", 5, node="n"
    )
    body = {"booking": "b", "stage": "start", "participants": 12, "leaders": 2}
    assert fact_of("attendance.reported", 5, body, "e1") == Fact(
        "b", "report", 5, "e1", stage="start", participants=12, leaders=2
    )
    for bad in (
        {**body, "participants": -1},
        {**body, "participants": True},
        {**body, "stage": "middle"},
        {**body, "booking": 7},
        {**body, "booking": ""},
        {**body, "leaders": 1.0},
    ):
        assert fact_of("attendance.reported", 5, bad) is None


@given(
    st.text(max_size=30),
    st.integers(),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=10,
    ),
)
def test_any_body_states_a_fact_or_nothing_and_never_raises(
    type_: str, ts: int, body: object
) -> None:
    f = fact_of(type_, ts, body)
    assert f is None or isinstance(f, Fact)
    for t in ("access.granted", "booking.checked_in", "booking.no_show", "attendance.reported"):
        g = fact_of(t, ts, body)
        assert g is None or isinstance(g.booking, str)


facts = st.builds(
    Fact,
    booking=st.sampled_from(["b1", "b2", "b3"]),
    kind=st.sampled_from(["entry", "no_show", "released", "report"]),
    ts=st.integers(T0 - 3600, T0 + 7200),
    event_id=st.uuids().map(str),
    node=st.sampled_from(["n1", "n2"]),
    leader=st.booleans(),
    repeat=st.booleans(),
    stage=st.sampled_from(["start", "end"]),
    participants=st.integers(0, 40),
    leaders=st.integers(0, 3),
)


@given(st.lists(facts, max_size=30), st.randoms(use_true_random=False), st.integers(0, 30))
def test_summaries_do_not_depend_on_order_or_split(fs: list[Fact], rnd: Any, cut: int) -> None:
    whole = summarise(fs)
    shuffled = list(fs)
    rnd.shuffle(shuffled)
    a, b = summarise(shuffled[:cut]), summarise(shuffled[cut:])
    merged = {k: a.get(k, Summary()).merge(b.get(k, Summary())) for k in {*a, *b}}
    assert merged == whole


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(facts, min_size=1, max_size=25), st.randoms(use_true_random=False))
def test_the_stores_merge_is_the_summary_merge(store: Store, fs: list[Fact], rnd: Any) -> None:
    """The upsert's SQL folds batches exactly as Summary.merge, on both engines."""
    store.execute("DELETE FROM evidence")
    order = list(fs)
    rnd.shuffle(order)
    with store.write():
        for i in range(0, len(order), 4):
            ledger.merge(store, FAC, summarise(order[i : i + 4]))
    want = summarise(fs)
    for bid, s in want.items():
        r = row(store, bid)
        got = ledger._summary_row(FAC, bid, s)[2:]
        assert [r[c] for c in ledger._FACTS] == got, bid


def test_a_body_whose_reason_or_stage_is_not_text_states_nothing() -> None:
    """An unhashable reason once raised (``in`` a frozenset): the node's stream stuck."""
    for odd in ([], {}, ["booking"], 1, None):
        assert fact_of("access.granted", 5, {"booking": "b", "reason": odd}) is None
        grant = ("access.granted", 5, {"booking": "b", "reason": odd}, "")
        assert summarise_events([grant], "n") == {}
        report = {"booking": "b", "stage": odd, "participants": 3, "leaders": 1}
        assert fact_of("attendance.reported", 5, report) is None


# Bodies as a node may send them, and as it should not: every field that a fact
# reads, with values of the right and of wrong types.
_ODD = st.sampled_from([None, True, 0, 3, -1, 1.0, "", [], {}, ["booking"], "x" * 129])
_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "booking": st.one_of(st.sampled_from(["b1", "b2", "b3"]), _ODD),
        "reason": st.one_of(st.sampled_from(["booking", "visitor_code", "staff"]), _ODD),
        "stage": st.one_of(st.sampled_from(["start", "end"]), _ODD),
        "participants": st.one_of(st.integers(0, 40), _ODD),
        "leaders": st.one_of(st.integers(0, 3), _ODD),
        "door": st.just("main"),
    },
)
_EVENTS = st.tuples(
    st.sampled_from([*INTERPRETED, "access.granted", "door.opened", "walkin.created"]),
    st.integers(T0 - 3600, T0 + 7200),
    st.one_of(_BODIES, _ODD),
    st.uuids().map(str),
)


@settings(max_examples=400)
@given(st.lists(_EVENTS, max_size=40), st.sampled_from(["n1", "n2"]))
@example(
    [
        ("access.granted", T0, {"booking": "b1", "reason": "visitor_code"}, "e1"),
        ("access.granted", T0 - 60, {"booking": "b1", "reason": "booking"}, "e2"),
        ("booking.checked_in", T0 - 90, {"booking": "b1"}, "e3"),
        ("access.granted", T0 + 60, {"booking": "b1", "reason": "booking"}, "e4"),
    ],
    "n1",
)
def test_the_folded_summaries_are_those_of_the_facts(evs: list[Any], node: str) -> None:
    """``summarise_events`` (entries folded in place) == ``summarise`` of ``fact_of``."""
    facts = [f for t, ts, b, i in evs if (f := fact_of(t, ts, b, i, node)) is not None]
    assert summarise_events(evs, node) == summarise(facts)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_EVENTS, min_size=1, max_size=30))
def test_a_batch_folded_gives_the_rows_of_one_merge_per_event(store: Store, evs: list[Any]) -> None:
    """The evidence rows after one merge of a whole batch's folded summaries are
    exactly those after one merge per event, on both engines."""
    cols = ", ".join(ledger._FACTS)

    def rows() -> list[tuple[Any, ...]]:
        return store.execute(
            f"SELECT booking_id, known, {cols} FROM evidence WHERE facility = ?"
            " ORDER BY booking_id",
            [FAC],
        ).fetchall()

    def reset() -> None:  # as ledger.rebuild: no facts, no rows of facts alone
        zero = ", ".join(f"{c} = {'0' if c == 'entries' else 'NULL'}" for c in ledger._FACTS)
        store.execute(f"UPDATE evidence SET {zero}")
        store.execute("DELETE FROM evidence WHERE known = 0")

    reset()
    with store.write():
        ledger.merge(store, FAC, summarise_events(evs, "n1"))
    folded = rows()
    reset()
    with store.write():
        for t, ts, b, i in evs:
            f = fact_of(t, ts, b, i, "n1")
            if f is not None:
                ledger.merge(store, FAC, summarise([f]))
    assert rows() == folded


# --- the store ---------------------------------------------------------------------


def test_an_event_delivered_twice_counts_once(store: Store) -> None:
    cl.mutate(store, FAC, [cl.upsert_wire("booking", booking("b1"))], NOW)
    evs = [
        event(i, *e)
        for i, e in enumerate(
            [
                grant("b1", T0 + 60),
                grant("b1", T0 + 600, "visitor_code"),
                report("b1", T0 + 300, 14),
            ],
            1,
        )
    ]
    for batch in (evs[:2], evs, evs[1:], evs):
        ev.store_events(store, NODE, FAC, 42, batch, NOW)
    r = row(store, "b1")
    assert (r["entries"], r["first_entry_ts"], r["last_entry_ts"]) == (2, T0 + 60, T0 + 600)
    assert (r["leader_entry_ts"], r["start_participants"]) == (T0 + 60, 14)


def test_events_before_their_booking_wait_in_an_unknown_row(store: Store) -> None:
    send(store, [grant("late", T0 + 120)])
    r = row(store, "late")
    assert (r["known"], r["start_ts"], r["entries"]) == (0, None, 1)
    cl.mutate(store, FAC, [cl.upsert_wire("booking", booking("late"))], NOW)
    r = row(store, "late")
    assert (r["known"], r["start_ts"], r["entries"], r["first_entry_ts"]) == (1, T0, 1, T0 + 120)


def test_a_booking_changed_or_cancelled_after_the_fact(store: Store) -> None:
    cl.mutate(store, FAC, [cl.upsert_wire("booking", booking("b1"))], NOW)
    send(store, [grant("b1", T0 + 2400)])
    cl.mutate(store, FAC, [cl.upsert_wire("booking", booking("b1", start=T0 + 1800))], NOW)
    r = row(store, "b1")
    assert (r["start_ts"], r["first_entry_ts"], r["status"]) == (T0 + 1800, T0 + 2400, "confirmed")
    cl.mutate(
        store, FAC, [cl.upsert_wire("booking", booking("b1", T0 + 1800, status="cancelled"))], NOW
    )
    assert row(store, "b1")["status"] == "cancelled"
    cl.mutate(store, FAC, [cl.delete("booking", "b1")], NOW)
    r = row(store, "b1")
    assert (r["removed"], r["entries"]) == (1, 1)  # the door's evidence outlives the record
    cl.mutate(store, FAC, [cl.upsert_wire("booking", booking("b1"))], NOW)
    assert row(store, "b1")["removed"] == 0


def test_the_latest_start_report_counts_whatever_arrives_last(store: Store) -> None:
    cl.mutate(store, FAC, [cl.upsert_wire("booking", booking("b1"))], NOW)
    send(store, [report("b1", T0 + 600, 12, 2)])
    send(store, [report("b1", T0 + 300, 30, 1)])  # an older count, delivered later
    r = row(store, "b1")
    assert (r["start_participants"], r["start_leaders"], r["start_report_ts"]) == (12, 2, T0 + 600)


def test_walkins_keep_their_verdict(store: Store, site: Any) -> None:
    lease = site.lease("L1", "A", "2026-05-04T09:00:00Z", "2026-05-04T12:00:00Z", node=NODE)
    cl.mutate(store, FAC, [cl.upsert_wire("lease", lease)], NOW)
    ok = site.booking(
        "w1",
        ["A"],
        "2026-05-04T09:00:00Z",
        "2026-05-04T10:00:00Z",
        origin="walkin",
        lease="L1",
        node=NODE,
    )
    clash = {**ok, "id": "w2"}
    outside = {**ok, "id": "w3", "start": "2026-05-04T11:30:00Z", "end": "2026-05-04T12:30:00Z"}
    at = T0
    send(store, [("walkin.created", at, {"booking": b}) for b in (ok, clash, outside)])
    assert (row(store, "w1")["verdict"], row(store, "w1")["status"]) == ("accepted", "confirmed")
    r2, r3 = row(store, "w2"), row(store, "w3")
    assert (r2["verdict"], r2["status"], r2["verdict_reason"].split(":")[0]) == (
        "rejected",
        "rejected",
        "conflict",
    )
    assert r3["verdict_reason"].startswith("outside_lease")


def test_rebuild_gives_what_was_built_as_events_came(store: Store) -> None:
    cl.mutate(
        store,
        FAC,
        [cl.upsert_wire("booking", booking(f"b{i}", T0 + i * 7200)) for i in range(5)],
        NOW,
    )
    items = [grant(f"b{i}", T0 + i * 7200 + 60 * i) for i in range(5)]
    items += [report("b1", T0 + 7500, 9), ("booking.no_show", T0 + 40000, {"booking": "b4"})]
    evs = [event(i, *e) for i, e in enumerate(items, 1)]
    ev.store_events(store, NODE, FAC, 5, evs[4:], NOW)  # a gap first
    ev.store_events(store, NODE, FAC, 5, evs[:4], NOW)
    cols = ", ".join(ledger._FACTS)
    before = store.execute(f"SELECT booking_id, {cols} FROM evidence ORDER BY 1").rows
    assert ledger.rebuild(store) == len(evs)
    assert store.execute(f"SELECT booking_id, {cols} FROM evidence ORDER BY 1").rows == before


def test_catch_up_makes_rows_for_bookings_stored_before_the_evidence(store: Store) -> None:
    cl.mutate(store, FAC, [cl.upsert_wire("booking", booking("old"))], NOW)
    store.execute("DELETE FROM evidence")  # as a store migrated with bookings in it
    assert ledger.catch_up(store) >= 1
    assert row(store, "old")["known"] == 1
    assert ledger.catch_up(store) == 0
    store.execute("DELETE FROM evidence")
    assert ledger.catch_up(store) == 0  # once done, only the flag is read


# --- the grant rule (pure) -----------------------------------------------------------


def session(
    first: int | None = T0,
    minutes: int = 60,
    heads: int | None = 10,
    leaders: int | None = 1,
    card: bool = True,
) -> Session:
    return Session(T0, T0 + minutes * 60, True, first, T0 if card else None, heads, leaders)


@pytest.mark.parametrize(
    ("s", "meets", "reasons", "counted"),
    [
        (session(), True, (), 10),
        (session(minutes=45), True, (), 10),  # 45 minutes since 1 July 2023
        (session(minutes=44), False, ("too_short",), 10),
        (session(first=T0 + 20 * 60, minutes=60), False, ("too_short",), 10),  # 40 min evidenced
        (session(first=T0 - 900), True, (), 10),  # entered before the start: from the start
        (session(heads=2), False, ("too_few",), 2),
        (session(heads=3, leaders=0, card=True), True, (), 3),  # the card is the leader
        (session(heads=45, leaders=2), True, (), 40),  # 20 per leader
        (session(heads=5, leaders=0, card=False), False, ("no_leader",), 0),
        (session(first=None), False, ("no_entry",), 10),
        (session(heads=None, leaders=None), False, ("no_headcount",), None),
    ],
)
def test_the_national_rule(s: Session, meets: bool, reasons: tuple[str, ...], counted: int) -> None:
    j = judge(GrantRule(), s)
    assert (j.meets, j.reasons, j.counted) == (meets, reasons, counted)
    assert "not judged" in j.notes[0]


def test_a_local_rule_of_five_including_the_leader_and_sixty_minutes() -> None:
    rule = GrantRule(
        name="local",
        min_minutes=60,
        min_participants=5,
        participants_include_leaders=True,
        max_per_leader=0,
        max_participants=30,
        max_age=20,
    )
    assert judge(rule, session(heads=4, leaders=1)).meets
    assert judge(rule, session(heads=3, leaders=1)).reasons == ("too_few",)
    assert judge(rule, session(minutes=50)).reasons == ("too_short",)
    assert judge(rule, session(heads=45, leaders=1)).counted == 30


def test_periods_cover_the_year() -> None:
    national = GrantRule().periods
    assert period_of(date(2026, 6, 30), national) == (date(2026, 1, 1), date(2026, 6, 30))
    assert period_of(date(2026, 7, 1), national) == (date(2026, 7, 1), date(2026, 12, 31))
    terms = ("01-01..01-14", "01-15..06-15", "06-16..08-14", "08-15..12-31")
    assert period_of(date(2026, 8, 15), terms) == (date(2026, 8, 15), date(2026, 12, 31))
    for bad in (
        ("01-01..06-30",),
        ("01-01..06-30", "06-30..12-31"),
        ("13-01..12-31",),
        ("01-01..12-31", "x"),
    ):
        with pytest.raises(ValueError):
            check_periods(bad)


# --- retention -----------------------------------------------------------------------


def test_evidence_past_retention_goes_with_its_raw_events(store: Store) -> None:
    old, new = T0 - 5 * 365 * 86400, T0
    cl.mutate(
        store,
        FAC,
        [
            cl.upsert_wire("booking", booking("old", old)),
            cl.upsert_wire("booking", booking("new", new)),
        ],
        NOW,
    )
    send(store, [grant("old", old + 60), grant("new", new + 60)])
    now = from_ts(T0)
    settings_ = Evidence(EvidenceDefaults(keep_years=4))
    edge = datetime(2022, 1, 1, tzinfo=ZoneInfo("Europe/Stockholm"))  # kept: 2022 and later
    assert retention.cutoff(now, "Europe/Stockholm", 4) == edge
    assert retention.prune(store, now, settings_) == {FAC: 1}
    assert store.execute("SELECT booking_id FROM evidence").rows == [("new",)]
    assert store.execute("SELECT count(*) FROM events").scalar() == 1
    assert retention.prune(store, now, settings_) == {}
    local = Evidence(EvidenceDefaults(), {"m": Municipality("Malmö", keep_years=30)})
    cl.mutate(store, FAC, [cl.upsert_wire("booking", booking("old", old))], NOW)
    assert retention.prune(store, now, local) == {}  # Malmö keeps 30 years


# --- central.toml -----------------------------------------------------------------------


def config(extra: str) -> Any:
    import tomllib

    base = 'store = "c.db"\n[signing]\nkey = "k"\nkid = "c1"\n[broker]\nurl = "mqtt://127.0.0.1"\n'
    return parse_central_config(tomllib.loads(base + extra), file="central.toml")


def test_the_default_rule_is_the_national_one_and_municipalities_override() -> None:
    cfg = config(
        '[municipalities.rfors]\nname = "Robertsfors"\n[municipalities.rfors.grant]\n'
        'name = "Robertsfors"\nmin_minutes = 60\nmin_participants = 5\n'
        "participants_include_leaders = true\nmax_age = 20\n"
    )
    ev_ = cfg.evidence_settings
    assert ev_.for_municipality("Malmö").grant == GrantRule()
    local = ev_.for_municipality("Robertsfors")
    assert (local.grant.min_minutes, local.grant.min_participants, local.grant.max_age) == (
        60,
        5,
        20,
    )
    assert local.grant.max_per_leader == 20 and local.keep_years == 4  # the rest: national/defaults


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("[evidence]\nkeep_years = 0\n", "evidence.keep_years"),
        ('[evidence.grant]\nperiods = ["01-01..06-30"]\n', "evidence.grant.periods"),
        ("[evidence.grant]\nmin_minuts = 45\n", "min_minutes"),
        ('[evidence.places]\n"Kroksbäck IP" = "not a facility!"\n', "evidence.places"),
        ('[municipalities.a]\nname = "X"\n[municipalities.b]\nname = "X"\n', "municipalities"),
        ("[municipalities.a]\nkeep_years = 5\n", "municipalities.a.name: is required"),
    ],
)
def test_evidence_config_errors_name_the_key(extra: str, problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config(extra)
    assert problem in str(exc.value)


# --- no-show release: central's side -------------------------------------------------


def releasing(store: Store, minutes: int | None = 15, slot: int | None = 30) -> None:
    res = cl.get(store, FAC, Resource, "A")
    assert res is not None
    changed = Resource(
        res.id, res.name, res.kind, res.parent, slot, res.walkin_max_slots, res.sort, minutes
    )
    cl.mutate(store, FAC, [cl.upsert(changed)], NOW)
    cl.mutate(store, FAC, [cl.upsert_wire("booking", booking("b1", minutes=120))], NOW)


def released(at: int) -> tuple[str, int, dict[str, Any]]:
    return "booking.released", at, {"booking": "b1"}


def test_a_release_cancels_the_booking_and_leases_the_rest_of_the_slot(store: Store) -> None:
    releasing(store)
    rev = cl.revs(store, FAC).rev
    send(store, [released(T0 + 17 * 60)])
    b = cl.get(store, FAC, Booking, "b1")
    lease = cl.get(store, FAC, Lease, "rl:b1")
    assert b is not None and b.status == "cancelled"
    assert lease is not None and (lease.node, lease.resource) == (NODE, "A")
    assert (to_ts(lease.start), to_ts(lease.end)) == (T0 + 30 * 60, T0 + 120 * 60)  # slot-aligned
    assert cl.revs(store, FAC).rev == rev + 1  # one revision
    r = row(store, "b1")
    assert (r["status"], r["released_ts"], r["released_node"]) == ("cancelled", T0 + 1020, NODE)


@pytest.mark.parametrize(
    ("setup_minutes", "slot", "events", "cancelled", "leased"),
    [
        (None, 30, [released(T0 + 1800)], False, False),  # the resource does not release
        (15, 30, [released(T0 + 600)], False, False),  # too early by central's rule
        (15, 30, [released(T0 + 8000)], False, False),  # after the end
        (15, 30, [grant("b1", T0 + 60), released(T0 + 1800)], False, False),  # entered
        (15, None, [released(T0 + 1800)], True, False),  # no walk-ins there: no lease
        (15, 30, [released(T0 + 105 * 60)], True, False),  # less than a slot left
    ],
)
def test_a_release_central_does_not_agree_with_changes_no_booking(
    store: Store,
    setup_minutes: int | None,
    slot: int | None,
    events: list[Any],
    cancelled: bool,
    leased: bool,
) -> None:
    releasing(store, setup_minutes, slot)
    if events[0][0] == "access.granted":
        send(store, events[:1])
        events = events[1:]
    send(store, events)
    b = cl.get(store, FAC, Booking, "b1")
    assert b is not None and (b.status == "cancelled") is cancelled
    assert (cl.get(store, FAC, Lease, "rl:b1") is not None) is leased
    assert row(store, "b1")["released_ts"] == events[-1][1]  # the node's word is kept anyway


def test_the_outcome_rule_is_the_same_in_python_and_in_the_store(store: Store) -> None:
    from sync.central.reports.data import outcome, outcome_sql

    now = T0 + 3600
    combos = [
        (status, first, no_show, released, end)
        for status in ("confirmed", "tentative", "cancelled", "rejected")
        for first in (None, T0)
        for no_show in (None, T0 + 10)
        for released in (None, T0 + 20)
        for end in (now - 1, now, now + 1)
    ]
    with store.write():
        for i, (status, first, no_show, released, end) in enumerate(combos):
            store.execute(
                "INSERT INTO evidence (facility, booking_id, known, start_ts, end_ts, status,"
                " first_entry_ts, no_show_ts, released_ts) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)",
                [FAC, f"o{i:03d}", T0, end, status, first, no_show, released],
            )
    got = store.execute(
        f"SELECT booking_id, {outcome_sql(now)} FROM evidence WHERE booking_id LIKE 'o%'"
        " ORDER BY booking_id"
    ).rows
    assert [k for _, k in got] == [outcome(s, f, n, r, e, now) for s, f, n, r, e in combos]
    assert {k for _, k in got} == {
        "used",
        "released",
        "cancelled",
        "no_show",
        "pending",
        "not_entered",
    }


def test_the_heatmap_over_both_daylight_saving_nights(store: Store) -> None:
    """Local hours hold across the offset changes, for sessions that span one too."""
    from sync.central.reports import Query, build
    from sync.central.reports.usage import UsageReport

    tz = ZoneInfo("Europe/Stockholm")
    sessions = [  # (local start, minutes); the offset changes inside the first two
        (datetime(2026, 3, 29, 1, 30, tzinfo=tz), 60),  # 01:30 CET -> 03:30 CEST
        (datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=tz), 60),  # 02:30 CEST -> 02:30 CET
        (datetime(2026, 3, 28, 18, 0, tzinfo=tz), 90),  # plain, the day before
        (datetime(2026, 3, 30, 18, 0, tzinfo=tz), 90),  # plain, the day after
    ]
    with store.write():
        for i, (at, minutes) in enumerate(sessions):
            s = int(at.timestamp())
            store.execute(
                "INSERT INTO evidence (facility, booking_id, known, resources, start_ts, end_ts,"
                " status, origin) VALUES (?, ?, 1, 'A', ?, ?, 'confirmed', 'central')",
                [FAC, f"dst{i}", s, s + minutes * 60],
            )
    q = Query((FAC,), date(2026, 3, 1), date(2026, 10, 31), datetime(2027, 1, 1, tzinfo=UTC))
    report = build(store, "usage", q, Evidence())
    assert isinstance(report, UsageReport)
    heat = report.facilities[0].heat_booked
    got = {(d, h): v for d in range(7) for h in range(24) if (v := heat[d][h])}
    assert got == {
        (6, 1): 30,
        (6, 3): 30,  # Sunday 29 March: 01:30-02:00, then 03:00-03:30
        (6, 2): 30 + 30,  # Sunday 25 October: 02:30-03:00 CEST, then 02:00-02:30 CET
        (5, 18): 60,
        (5, 19): 30,  # Saturday 28 March
        (0, 18): 60,
        (0, 19): 30,  # Monday 30 March
    }
