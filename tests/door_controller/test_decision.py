"""Access decision rules: a table of cases, DST nights, and Hypothesis properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from door_controller.decision import Decision, PinCheck, Reason, decide
from sync.protocol.records import (
    Booking,
    Credential,
    Door,
    Grant,
    Holder,
    Lease,
    Policy,
    WeeklyWindow,
)
from sync.replica.access import AccessContext, Candidate
from sync.replica.store import SyncState

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 27, 17, 10, tzinfo=UTC)  # a Friday, 18:10 in Stockholm
DIGEST = "A" * 43
DOOR = Door("d1", "Entré", ("hall",))
BOOKING = Booking("b1", ("hall",), NOW - timedelta(minutes=10), NOW + timedelta(hours=1), "ik")
CARD = Credential("c1", "p1", "card", DIGEST)
CODE = Credential("v1", None, "code", DIGEST, booking="b1")
LEADER = Holder("p1", "person", "Anna", ("ik",))
STAFF = Holder("s1", "staff", "Vaktmästare")
STAFF_CARD = Credential("c9", "s1", "card", DIGEST)
WEEKDAYS = WeeklyWindow((1, 2, 3, 4, 5), 6 * 60, 22 * 60)
GRANT = Grant("g1", "s1", ("d1",), (WEEKDAYS,))
DEFAULT_POLICY = Policy("default")
SERVED = frozenset({"hall"})


def state(*, head_age: timedelta | None = timedelta(minutes=5), at: datetime = NOW) -> SyncState:
    seen = None if head_age is None else at - head_age
    return SyncState(1, 7, 0, 0, 7, 1, seen, seen, 3600)


def ctx(
    *cands: Candidate,
    policy: Policy = DEFAULT_POLICY,
    head_age: timedelta | None = timedelta(minutes=5),
    at: datetime = NOW,
    door: Door | None = DOOR,
) -> AccessContext:
    return AccessContext(door, at, cands, policy, state(head_age=head_age, at=at), SERVED)


def leader(bookings: tuple[Booking, ...] = (BOOKING,), *, revoked: bool = False) -> Candidate:
    return Candidate(CARD, revoked, bookings, ())


def staff(grants: tuple[Grant, ...] = (GRANT,)) -> Candidate:
    return Candidate(STAFF_CARD, False, (), grants)


def code(bookings: tuple[Booking, ...] = (BOOKING,)) -> Candidate:
    return Candidate(CODE, False, bookings, ())


NO_PIN = Policy("default", pin_required=False)
CASES: list[tuple[str, AccessContext, dict[str, object], bool, Reason]] = [
    ("unknown door", ctx(leader(), door=None), {}, False, Reason.UNKNOWN_DOOR),
    ("unknown card", ctx(), {}, False, Reason.UNKNOWN_CREDENTIAL),
    ("card in booking, pin policy, no pin", ctx(leader()), {}, False, Reason.PIN_REQUIRED),
    ("card in booking with right pin", ctx(leader()), {"pin": PinCheck.OK}, True, Reason.BOOKING),
    (
        "card in booking with wrong pin",
        ctx(leader()),
        {"pin": PinCheck.WRONG},
        False,
        Reason.PIN_WRONG,
    ),
    ("card alone when no pin policy", ctx(leader(), policy=NO_PIN), {}, True, Reason.BOOKING),
    ("card without booking", ctx(leader(())), {"pin": PinCheck.OK}, False, Reason.NO_BOOKING),
    (
        "revoked card in booking",
        ctx(leader(revoked=True)),
        {"pin": PinCheck.OK},
        False,
        Reason.REVOKED,
    ),
    (
        "expired card",
        ctx(Candidate(replace(CARD, valid_to=NOW), False, (BOOKING,), ())),
        {"pin": PinCheck.OK},
        False,
        Reason.NOT_VALID,
    ),
    (
        "card not yet valid",
        ctx(Candidate(replace(CARD, valid_from=NOW + timedelta(seconds=1)), False, (BOOKING,), ())),
        {"pin": PinCheck.OK},
        False,
        Reason.NOT_VALID,
    ),
    (
        "stale replica, leader",
        ctx(leader(), head_age=timedelta(hours=73)),
        {"pin": PinCheck.OK},
        False,
        Reason.STALE_REPLICA,
    ),
    (
        "never synced, leader",
        ctx(leader(), head_age=None),
        {"pin": PinCheck.OK},
        False,
        Reason.STALE_REPLICA,
    ),
    (
        "untrusted clock, leader",
        ctx(leader()),
        {"pin": PinCheck.OK, "clock_trusted": False},
        False,
        Reason.CLOCK_UNTRUSTED,
    ),
    ("staff in window", ctx(staff()), {}, True, Reason.GRANT),
    (
        "staff in window, stale replica",
        ctx(staff(), head_age=timedelta(days=9)),
        {},
        True,
        Reason.GRANT,
    ),
    (
        "staff in window, untrusted clock",
        ctx(staff()),
        {"clock_trusted": False},
        True,
        Reason.GRANT,
    ),
    (
        "staff outside window (Saturday)",
        ctx(staff(), at=NOW + timedelta(days=1)),
        {},
        False,
        Reason.NO_BOOKING,
    ),
    (
        "staff grant not yet valid",
        ctx(staff((replace(GRANT, valid_from=NOW + timedelta(days=1)),))),
        {},
        False,
        Reason.NO_BOOKING,
    ),
    ("visitor code in its booking", ctx(code()), {}, True, Reason.VISITOR_CODE),
    ("visitor code outside its booking", ctx(code(())), {}, False, Reason.OUTSIDE_WINDOW),
    (
        "visitor code before the leader",
        ctx(code(), policy=Policy("default", codes_after_leader=True)),
        {},
        False,
        Reason.LEADER_NOT_IN,
    ),
    (
        "visitor code after the leader",
        ctx(code(), policy=Policy("default", codes_after_leader=True)),
        {"leaders_in": {"b1"}},
        True,
        Reason.VISITOR_CODE,
    ),
    (
        "visitor code, stale replica",
        ctx(code(), head_age=timedelta(days=4)),
        {},
        False,
        Reason.STALE_REPLICA,
    ),
    (
        "a pin credential alone never opens",
        ctx(Candidate(replace(CARD, kind="pin"), False, (BOOKING,), ())),
        {"pin": PinCheck.OK},
        False,
        Reason.UNKNOWN_CREDENTIAL,
    ),
    (
        "revocation of one match denies all matches",
        ctx(staff(), leader(revoked=True)),
        {},
        False,
        Reason.REVOKED,
    ),
    (
        "most telling denial wins",
        ctx(leader(()), leader()),
        {"pin": PinCheck.WRONG},
        False,
        Reason.PIN_WRONG,
    ),
]


@pytest.mark.parametrize(
    ("name", "context", "kwargs", "granted", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_decision_table(
    name: str, context: AccessContext, kwargs: dict[str, object], granted: bool, reason: Reason
) -> None:
    kwargs = {"clock_trusted": True, **kwargs}
    d = decide(context, TZ, **kwargs)  # type: ignore[arg-type]
    assert (d.granted, d.reason) == (granted, reason), name
    assert d.rev == 7
    assert d.clock_trusted is kwargs["clock_trusted"]


def test_granted_decision_names_what_allowed_it() -> None:
    d = decide(ctx(leader()), TZ, clock_trusted=True, pin=PinCheck.OK)
    assert (d.credential, d.holder, d.booking, d.grant) == ("c1", "p1", "b1", None)
    g = decide(ctx(staff()), TZ, clock_trusted=True)
    assert (g.credential, g.grant, g.booking) == ("c9", "g1", None)


# --- DST nights: a night-patrol window 22:00-02:00 in facility time ------------

NIGHT = Grant("g2", "s1", ("d1",), (WeeklyWindow((6,), 22 * 60, 2 * 60),))  # Saturday night


@pytest.mark.parametrize(
    ("utc", "granted"),
    [
        # 2026-03-28/29: spring forward at 02:00 local (01:00 UTC)
        (datetime(2026, 3, 28, 20, 59, tzinfo=UTC), False),  # 21:59 CET
        (datetime(2026, 3, 28, 21, 0, tzinfo=UTC), True),  # 22:00 CET
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), True),  # 01:59 CET
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), False),  # 03:00 CEST: window over
        # 2026-10-24/25: fall back at 03:00 CEST (01:00 UTC); 02:00-03:00 twice
        (datetime(2026, 10, 24, 19, 59, tzinfo=UTC), False),  # 21:59 CEST
        (datetime(2026, 10, 24, 20, 0, tzinfo=UTC), True),  # 22:00 CEST
        (datetime(2026, 10, 24, 23, 59, tzinfo=UTC), True),  # 01:59 CEST
        (datetime(2026, 10, 25, 0, 0, tzinfo=UTC), False),  # 02:00 CEST (first)
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), False),  # 02:00 CET (second)
    ],
)
def test_night_window_across_dst(utc: datetime, granted: bool) -> None:
    d = decide(ctx(staff((NIGHT,)), at=utc), TZ, clock_trusted=True)
    assert d.granted is granted


# --- the booking window, at its edges (door d1: 30 min before, 15 min after) ----------

M = timedelta(minutes=1)
S = timedelta(seconds=1)
START, END = BOOKING.start, BOOKING.end


@pytest.mark.parametrize(
    ("at", "granted"),
    [
        (START - 30 * M - S, False),
        (START - 30 * M, True),  # from before_minutes before the start
        (END + 15 * M - S, True),
        (END + 15 * M, False),  # to after_minutes after the end, exclusive
    ],
)
@pytest.mark.parametrize("kind", ["card", "code"])
def test_window_edges(at: datetime, granted: bool, kind: str) -> None:
    cand = leader() if kind == "card" else code()
    d = decide(ctx(cand, at=at), TZ, clock_trusted=True, pin=PinCheck.OK)
    assert d.granted is granted
    if not granted:
        assert d.reason is (Reason.NO_BOOKING if kind == "card" else Reason.OUTSIDE_WINDOW)


@pytest.mark.parametrize(
    ("booking", "reason"),
    [
        (replace(BOOKING, resources=("gym",)), Reason.NO_BOOKING),  # a resource the door skips
        (replace(BOOKING, status="cancelled"), Reason.NO_BOOKING),
        (replace(BOOKING, status="tentative"), None),
    ],
)
def test_only_active_bookings_of_served_resources_open(
    booking: Booking, reason: Reason | None
) -> None:
    d = decide(ctx(leader((booking,))), TZ, clock_trusted=True, pin=PinCheck.OK)
    assert (d.granted, d.reason) == ((True, Reason.BOOKING) if reason is None else (False, reason))


def test_of_several_bookings_the_one_open_now_is_named() -> None:
    later = replace(BOOKING, id="b2", start=NOW + timedelta(hours=3), end=NOW + timedelta(hours=4))
    earlier = replace(
        BOOKING, id="b0", start=NOW - timedelta(hours=5), end=NOW - timedelta(hours=4)
    )
    d = decide(ctx(leader((earlier, BOOKING, later))), TZ, clock_trusted=True, pin=PinCheck.OK)
    assert (d.granted, d.booking) == (True, "b1")


# --- the walk-in exception (PROTOCOL.md §7) ------------------------------------------------

NODE = "test.hall.n1"
LEASE = Lease("l1", NODE, "hall", NOW - timedelta(hours=1), NOW + timedelta(hours=2))
WALKIN = Booking(
    "w1", ("hall",), NOW, NOW + timedelta(minutes=30), origin="walkin", lease="l1", node=NODE
)
WALKIN_CODE = Credential("wc", None, "code", DIGEST, booking="w1")


def walkin(booking: Booking = WALKIN, lease: Lease | None = LEASE) -> Candidate:
    return Candidate(WALKIN_CODE, False, (booking,), (), () if lease is None else (lease,))


@pytest.mark.parametrize(
    ("cand", "at", "trusted", "reason"),
    [
        (walkin(), NOW, True, Reason.VISITOR_CODE),
        (walkin(lease=None), NOW, True, Reason.STALE_REPLICA),
        (walkin(replace(WALKIN, node="test.hall.n2")), NOW, True, Reason.STALE_REPLICA),
        (walkin(lease=replace(LEASE, node="test.hall.n2")), NOW, True, Reason.STALE_REPLICA),
        (walkin(), NOW, False, Reason.CLOCK_UNTRUSTED),
        (walkin(), LEASE.end, True, Reason.STALE_REPLICA),  # the lease has ended
        (walkin(), NOW - 31 * M, True, Reason.OUTSIDE_WINDOW),  # before its window
        (code(), NOW, True, Reason.STALE_REPLICA),  # a central booking's code
    ],
)
def test_a_stale_replica_still_honours_our_own_walkin(
    cand: Candidate, at: datetime, trusted: bool, reason: Reason
) -> None:
    d = decide(ctx(cand, head_age=timedelta(days=9), at=at), TZ, clock_trusted=trusted, node=NODE)
    assert d.reason is reason and d.granted is (reason is Reason.VISITOR_CODE)


def test_a_walkin_never_waits_for_a_leader() -> None:
    policy = Policy("default", codes_after_leader=True)
    d = decide(ctx(walkin(), policy=policy), TZ, clock_trusted=True, node=NODE)
    assert (d.granted, d.reason) == (True, Reason.VISITOR_CODE)


def test_on_the_staff_fallback_only_grants_open() -> None:
    fallback = replace(ctx(staff(), leader()), source="fallback")
    g = decide(replace(fallback, candidates=(staff(),)), TZ, clock_trusted=True)
    assert (g.granted, g.reason, g.fallback) == (True, Reason.GRANT, True)
    d = decide(replace(fallback, candidates=(leader(),)), TZ, clock_trusted=True, pin=PinCheck.OK)
    assert (d.granted, d.reason, d.fallback) == (False, Reason.REPLICA_UNREADABLE, True)
    nobody = decide(replace(fallback, candidates=()), TZ, clock_trusted=True)
    assert (nobody.granted, nobody.reason) == (False, Reason.REPLICA_UNREADABLE)


def test_a_pin_that_cannot_be_checked_never_opens() -> None:
    d = decide(ctx(leader()), TZ, clock_trusted=True, pin=PinCheck.UNKNOWN)
    assert (d.granted, d.reason) == (False, Reason.REPLICA_UNREADABLE)


# --- properties: relations between decisions, never the rule rebuilt ------------------------

instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
windows = st.builds(
    WeeklyWindow,
    st.lists(st.integers(1, 7), min_size=1, max_size=7, unique=True).map(
        lambda d: tuple(sorted(d))
    ),
    st.integers(0, 1439),
    st.integers(1, 1440),
).filter(lambda w: w.start != w.end)


@st.composite
def contexts(draw: st.DrawFn) -> tuple[AccessContext, dict[str, object]]:
    at = draw(instants)
    holder = draw(st.sampled_from([LEADER, STAFF]))
    kind = draw(st.sampled_from(["card", "code", "pin"]))
    cred = Credential(
        "c",
        holder.id if kind != "code" else None,
        kind,
        DIGEST,
        booking="b1" if kind == "code" else None,
    )
    start = at + timedelta(minutes=draw(st.integers(-600, 600)))
    booking = Booking(
        "b1",
        (draw(st.sampled_from(["hall", "gym"])),),
        start,
        start + timedelta(minutes=draw(st.integers(15, 240))),
        "ik",
        status=draw(st.sampled_from(["confirmed", "tentative", "cancelled"])),
    )
    grants = tuple(
        Grant(f"g{i}", holder.id, ("d1",), (w,))
        for i, w in enumerate(draw(st.lists(windows, max_size=2)))
    )
    cand = Candidate(cred, draw(st.booleans()), (booking,), grants)
    head_age = draw(st.none() | st.integers(0, 200).map(lambda h: timedelta(hours=h)))
    policy = Policy(
        "default", pin_required=draw(st.booleans()), codes_after_leader=draw(st.booleans())
    )
    kwargs: dict[str, object] = {
        "clock_trusted": draw(st.booleans()),
        "pin": draw(st.sampled_from(list(PinCheck))),
        "leaders_in": draw(st.sampled_from([(), ("b1",)])),
    }
    source = draw(st.sampled_from(["replica", "replica", "fallback"]))
    c = AccessContext(DOOR, at, (cand,), policy, state(head_age=head_age, at=at), SERVED, source)
    return c, kwargs


def _decide(c: AccessContext, kwargs: dict[str, object]) -> Decision:
    return decide(c, TZ, **kwargs)  # type: ignore[arg-type]


def _with(c: AccessContext, **changes: object) -> AccessContext:
    return replace(c, candidates=(replace(c.candidates[0], **changes),))


@given(contexts())
def test_a_grant_names_what_allowed_it(case: tuple[AccessContext, dict[str, object]]) -> None:
    c, kwargs = case
    d = _decide(c, kwargs)
    cand = c.candidates[0]
    if d.granted:
        assert (d.booking is None) != (d.grant is None)
        assert d.grant is None or d.grant in {g.id for g in cand.grants}
        assert d.booking is None or d.booking in {b.id for b in cand.bookings}
        # take away what it named, and this presentation is no longer let in by it
        if d.grant is not None:
            again = _decide(_with(c, grants=()), kwargs)
            assert again.grant is None
        else:
            again = _decide(_with(c, bookings=()), kwargs)
            assert not again.granted


@given(contexts())
def test_revoked_never_granted(case: tuple[AccessContext, dict[str, object]]) -> None:
    c, kwargs = case
    d = _decide(_with(c, revoked=True), kwargs)
    assert not d.granted and d.reason is Reason.REVOKED


@given(contexts())
def test_stale_untrusted_or_fallback_grants_only_staff_grants(
    case: tuple[AccessContext, dict[str, object]],
) -> None:
    c, kwargs = case
    d = _decide(c, kwargs)
    if d.granted and (d.stale or not d.clock_trusted or c.source == "fallback"):
        assert d.reason is Reason.GRANT and d.grant is not None


@given(contexts())
def test_pin_policy_is_never_bypassed_by_a_booking(
    case: tuple[AccessContext, dict[str, object]],
) -> None:
    c, kwargs = case
    d = _decide(c, kwargs)
    if d.granted and d.reason is Reason.BOOKING and c.policy.pin_required:
        assert kwargs["pin"] is PinCheck.OK


@given(contexts(), st.integers(-3000, 3000))
def test_moving_the_booking_and_the_instant_together_decides_the_same(
    case: tuple[AccessContext, dict[str, object]], minutes: int
) -> None:
    """A booking decision depends on where the instant lies in the booking,
    not on the date (grants are left out: their windows are facility time)."""
    c, kwargs = case
    c = _with(c, grants=())
    shift = timedelta(minutes=minutes)
    b = c.candidates[0].bookings[0]
    moved = _with(
        replace(c, at=c.at + shift, state=state(head_age=_age(c), at=c.at + shift)),
        bookings=(replace(b, start=b.start + shift, end=b.end + shift),),
    )
    one, two = _decide(c, kwargs), _decide(moved, kwargs)
    assert (one.granted, one.reason) == (two.granted, two.reason)


@given(contexts(), st.integers(0, 120), st.integers(0, 120))
def test_a_longer_booking_never_shuts_a_door_it_opened(
    case: tuple[AccessContext, dict[str, object]], earlier: int, later: int
) -> None:
    c, kwargs = case
    d = _decide(c, kwargs)
    b = c.candidates[0].bookings[0]
    longer = replace(
        b, start=b.start - timedelta(minutes=earlier), end=b.end + timedelta(minutes=later)
    )
    if d.granted:
        assert _decide(_with(c, bookings=(longer,)), kwargs).granted


@given(contexts(), st.integers(0, 120), st.integers(0, 120))
def test_wider_door_margins_never_shut_a_door_they_opened(
    case: tuple[AccessContext, dict[str, object]], before: int, after: int
) -> None:
    c, kwargs = case
    assert c.door is not None
    door = replace(
        c.door,
        before_minutes=min(240, c.door.before_minutes + before),
        after_minutes=min(240, c.door.after_minutes + after),
    )
    if _decide(c, kwargs).granted:
        assert _decide(replace(c, door=door), kwargs).granted


def _age(c: AccessContext) -> timedelta | None:
    seen = c.state.head_seen_at
    return None if seen is None else c.at - seen
