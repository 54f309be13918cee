"""Fixtures for the kiosk's view-model tests (no window, a fake clock).

- ``kclock``: ``FakeClock`` at the site's Monday 2026-05-04 10:00 UTC (12:00 local).
- ``facility``: the root ``seeded`` replica plus leases for this node: the hall's
  sections A and B and the gym, 12:00-16:00 local (10:00-14:00 UTC).
- ``svc``: ``Services`` over it with a ``RecordingSpeaker`` and the site's key.
- ``card(name)``: the digest of a site card; ``tap(digest)``: a card on the
  kiosk's reader, as the door controller records it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from door_controller.testing import FakeClock
from kiosk.services import KioskSettings, Services
from kiosk.testing import RecordingSpeaker
from sync.replica import Replica, card_digest, record_kiosk_tap

KIOSK = "foyer"
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
LEASE_END = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)


@pytest.fixture
def kclock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def facility(seeded: Replica, site: Any) -> Replica:
    ops = [
        site.upsert("lease", site.lease(f"lease-{r}", r, T0, LEASE_END)) for r in ("A", "B", "gym")
    ]
    site.apply(seeded, site.changes(1, 2, *ops))
    seeded.record_head(2, 1, T0)
    return seeded


@pytest.fixture
def svc(facility: Replica, site: Any, kclock: FakeClock) -> Services:
    return Services(
        facility,
        kclock,
        RecordingSpeaker(),
        KioskSettings(KIOSK, ("sv", "en"), "sv", 60, True, True),
        site.node,
        site.facility_id,
        site.key,
    )


@pytest.fixture
def card(site: Any) -> Callable[[str], str]:
    cards = {"anna": site.anna_card, "staff": site.staff_card, "stranger": "DEADBEEF/32"}
    return lambda who: card_digest(site.key, cards[who])


@pytest.fixture
def tap(facility: Replica, kclock: FakeClock) -> Callable[[str], int]:
    return lambda digest: record_kiosk_tap(facility, KIOSK, "kiosk-reader", digest, kclock.now())
