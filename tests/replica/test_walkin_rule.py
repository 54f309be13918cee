"""The lease exception of PROTOCOL.md §7, as the door and the kiosk both ask it.

Every rule of ``walkin_rule`` is tested on its own, each by changing one fact of
a walk-in that opens, and a property holds the verdict to the rule's words.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.protocol.records import Booking, Lease
from sync.replica.walkin_rule import WalkinAccess, walkin_access

NODE = "skurup.hallen.n1"
T0 = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
LEASE = Lease("lease-1", NODE, "gym", T0, T0 + timedelta(hours=4))
WALKIN = Booking(
    "w-1",
    ("gym",),
    T0 + timedelta(hours=1),
    T0 + timedelta(hours=2),
    origin="walkin",
    lease="lease-1",
    node=NODE,
)


def ask(booking: Booking = WALKIN, lease: Lease | None = LEASE, **kw: object) -> WalkinAccess:
    args: dict[str, object] = {"node": NODE, "at": booking.start, "clock_trusted": True}
    args.update(kw)
    return walkin_access(booking, lease, **args)  # type: ignore[arg-type]


def test_a_walkin_inside_our_lease_opens_at_its_start_and_until_the_lease_ends() -> None:
    assert ask() is WalkinAccess.OPENS
    assert ask(at=LEASE.end - timedelta(seconds=1)) is WalkinAccess.OPENS
    assert ask(at=LEASE.end) is WalkinAccess.LEASE_ENDED


def test_an_untrusted_clock_refuses_first() -> None:
    assert ask(clock_trusted=False) is WalkinAccess.CLOCK_UNTRUSTED
    assert ask(lease=None, clock_trusted=False) is WalkinAccess.CLOCK_UNTRUSTED


@pytest.mark.parametrize(
    "booking",
    [
        replace(WALKIN, origin="central", lease=None, node=None),
        replace(WALKIN, node="skurup.hallen.n2"),
    ],
    ids=["central-booking", "other-nodes-walkin"],
)
def test_only_this_nodes_walkins_are_covered(booking: Booking) -> None:
    assert ask(booking) is WalkinAccess.NOT_OURS


@pytest.mark.parametrize(
    "lease",
    [
        None,
        replace(LEASE, id="lease-2"),
        replace(LEASE, node="skurup.hallen.n2"),
        replace(LEASE, resource="pool"),
    ],
    ids=["no-lease", "other-lease", "other-nodes-lease", "other-resource"],
)
def test_the_lease_must_be_ours_on_the_booked_resource(lease: Lease | None) -> None:
    assert ask(lease=lease) is WalkinAccess.NO_LEASE


def test_a_walkin_reaching_past_its_lease_is_not_covered() -> None:
    late = replace(WALKIN, end=LEASE.end + timedelta(minutes=30))
    assert ask(late) is WalkinAccess.OUTSIDE_LEASE


@given(
    start=st.integers(-600, 600),
    length=st.integers(1, 600),
    at=st.integers(-600, 900),
    trusted=st.booleans(),
)
def test_opens_exactly_when_trusted_inside_and_before_the_lease_end(
    start: int, length: int, at: int, trusted: bool
) -> None:
    minutes = timedelta(minutes=1)
    b = replace(WALKIN, start=T0 + start * minutes, end=T0 + (start + length) * minutes)
    verdict = ask(b, at=T0 + at * minutes, clock_trusted=trusted)
    inside = LEASE.start <= b.start and b.end <= LEASE.end
    assert (verdict is WalkinAccess.OPENS) == (trusted and inside and T0 + at * minutes < LEASE.end)
