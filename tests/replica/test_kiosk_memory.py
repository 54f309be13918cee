"""What the kiosk used to keep in memory, stored in the node database.

attendance.py: a start headcount is written with its ``attendance.reported``
event and read back by ``start_report``; it says nothing about entry or
no-show. walkins.py: a phone booker's digest is written with the walk-in and
finds their rejected walk-ins (``rejected_walkins``). schema.py: migration
0007 adds both to a database made before it, whose rows keep working.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from sync.replica import (
    AccessRecord,
    Booking,
    Replica,
    StartReport,
    Verdict,
    WalkinRefused,
    acknowledge,
    checked_in,
    create_walkin,
    pending_events,
    record_access,
    rejected_walkins,
    report_attendance,
    start_report,
    sweep_no_shows,
    walkin_states,
)
from sync.replica.schema import MIGRATIONS

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
PHONE = "x" * 43  # a phone digest as the kiosk makes it (base64url of 32 bytes)
OTHER_PHONE = "y" * 43
Dumper = Callable[..., dict[str, Any]]


def team(site: Any, rep: Replica, start: datetime = NOW + H, ident: str = "train") -> Booking:
    """A central booking of IK Fram's on section B, an hour long."""
    wire = site.booking(ident, ["B"], start, start + H, holder="ik-fram")
    rev = rep.state().applied_rev
    site.apply(rep, site.changes(rev, rev + 1, site.upsert("booking", wire)))
    return Booking.from_wire(wire)


@pytest.fixture
def leased(seeded: Replica, site: Any) -> Replica:
    lease = site.lease("l-gym", "gym", "2026-05-04T16:00:00Z", "2026-05-04T20:00:00Z")
    site.apply(seeded, site.changes(1, 2, site.upsert("lease", lease)))
    return seeded


def walkin(site: Any, ident: str, start: str, holder: str | None = None) -> Booking:
    day = "2026-05-04T"
    end = f"{int(start[:2]) + 1:02d}{start[2:]}"
    fields = {"origin": "walkin", "lease": "l-gym", "node": site.node, "holder": holder}
    wire = site.booking(ident, ["gym"], f"{day}{start}:00Z", f"{day}{end}:00Z", **fields)
    return Booking.from_wire(wire)


# --- the start headcount ------------------------------------------------------------


def test_a_start_report_is_stored_with_its_event(seeded: Replica, site: Any) -> None:
    b = team(site, seeded)
    assert start_report(seeded, b.id) is None
    ev = report_attendance(seeded, b, "start", 14, 2, "anna-card", NOW + H / 2)
    assert ev.type == "attendance.reported"
    assert ev.body == {
        "booking": b.id,
        "stage": "start",
        "participants": 14,
        "leaders": 2,
        "reported_by": "anna-card",
        "at": "2026-05-04T10:30:00Z",
    }
    assert start_report(seeded, b.id) == StartReport(14, 2, NOW + H / 2)
    # A correction replaces it; the end report is the final one and leaves it.
    report_attendance(seeded, b, "start", 15, 2, "anna-card", NOW + H)
    report_attendance(seeded, b, "end", 13, 2, "anna-card", NOW + 2 * H)
    assert start_report(seeded, b.id) == StartReport(15, 2, NOW + H)
    stages = [e.body["stage"] for e in pending_events(seeded) if e.type == "attendance.reported"]
    assert stages == ["start", "start", "end"]


def test_a_start_report_and_its_event_roll_back_together(
    seeded: Replica, site: Any, dump: Dumper
) -> None:
    b = team(site, seeded)
    before = dump(seeded)
    with pytest.raises(RuntimeError), seeded.write():
        report_attendance(seeded, b, "start", 14, 2, "anna-card", NOW)
        raise RuntimeError("the kiosk died mid-write")
    assert dump(seeded) == before
    assert start_report(seeded, b.id) is None and pending_events(seeded) == []


@pytest.mark.parametrize(("stage", "participants", "leaders"), [("middle", 1, 1), ("start", -1, 1)])
def test_a_bad_report_writes_nothing(
    seeded: Replica, site: Any, dump: Dumper, stage: str, participants: int, leaders: int
) -> None:
    b = team(site, seeded)
    before = dump(seeded)
    with pytest.raises(ValueError):
        report_attendance(seeded, b, stage, participants, leaders, "anna-card", NOW)
    assert dump(seeded) == before


def test_a_start_report_is_no_entry_and_no_shield_from_a_no_show(
    seeded: Replica, site: Any
) -> None:
    b = team(site, seeded, NOW - 3 * H)
    report_attendance(seeded, b, "start", 14, 2, "anna-card", NOW - 3 * H)
    assert checked_in(seeded, b.id) is None
    [ev] = sweep_no_shows(seeded, NOW)  # nobody entered at a door: still a no-show
    assert (ev.type, ev.body["booking"]) == ("booking.no_show", b.id)
    assert start_report(seeded, b.id) == StartReport(14, 2, NOW - 3 * H)
    assert sweep_no_shows(seeded, NOW + H) == []  # once


def test_an_entry_after_a_start_report_checks_in_and_keeps_it(seeded: Replica, site: Any) -> None:
    b = team(site, seeded)
    report_attendance(seeded, b, "start", 14, 2, "anna-card", NOW + H / 2)
    rec = AccessRecord("main", "r1", "A" * 43, True, "booking", "anna-card", b.id)
    events = record_access(seeded, rec, NOW + H)
    assert [e.type for e in events] == ["access.granted", "booking.checked_in"]
    assert checked_in(seeded, b.id) == NOW + H
    assert start_report(seeded, b.id) == StartReport(14, 2, NOW + H / 2)


# --- a phone booker's walk-ins ------------------------------------------------------------


def test_the_phone_digest_is_stored_with_the_walkin(leased: Replica, site: Any) -> None:
    ev = create_walkin(leased, site.node, walkin(site, "w1", "16:00"), NOW, phone_digest=PHONE)
    assert ev.body["phone_digest"] == PHONE
    create_walkin(leased, site.node, walkin(site, "w2", "17:00", "ik-fram"), NOW)
    create_walkin(leased, site.node, walkin(site, "w3", "18:00"), NOW, phone_digest=OTHER_PHONE)
    assert rejected_walkins(leased, (), PHONE) == []  # pending: nothing to tell yet
    epoch = leased.state().epoch
    verdicts = {e.id: Verdict("rejected", "full") for e in pending_events(leased)}
    acknowledge(leased, epoch, 3, verdicts)
    assert [r.booking.id for r in rejected_walkins(leased, (), PHONE)] == ["w1"]
    assert [r.reason for r in rejected_walkins(leased, (), PHONE)] == ["full"]
    assert [r.booking.id for r in rejected_walkins(leased, ["ik-fram"])] == ["w2"]
    assert [r.booking.id for r in rejected_walkins(leased, ["ik-fram"], OTHER_PHONE)] == [
        "w2",
        "w3",
    ]
    assert rejected_walkins(leased) == []
    assert rejected_walkins(leased, ["bk-boll"], "z" * 43) == []


def test_a_refused_walkin_leaves_no_phone_digest(leased: Replica, site: Any) -> None:
    create_walkin(leased, site.node, walkin(site, "w1", "16:00"), NOW, phone_digest=PHONE)
    with pytest.raises(WalkinRefused, match="conflict"):
        create_walkin(leased, site.node, walkin(site, "w2", "16:00"), NOW, phone_digest=OTHER_PHONE)
    rows = leased.conn.execute("SELECT booking_id, phone_digest FROM walkins").fetchall()
    assert rows == [("w1", PHONE)]


# --- migration 0007 on a database made before it ----------------------------------------


def test_an_old_database_migrates_and_its_rows_keep_working(tmp_path: Path, site: Any) -> None:
    path = tmp_path / "node.db"
    conn = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS.apply(Database(conn), stop_before="0007_kiosk_memory")
    old = Replica(Database(conn), str(path))
    cols = {r[1] for r in conn.execute("PRAGMA table_info(attendance)")}
    assert "start_participants" not in cols  # really the schema before 0007
    site.apply(old, site.changes(0, 1, *site.upserts(site.entities())))
    b = team(site, old)
    rec = AccessRecord("main", "r1", "A" * 43, True, "booking", "anna-card", b.id)
    record_access(old, rec, NOW + H)
    gone = Booking.from_wire(
        site.booking(
            "w-old", ["gym"], NOW + 6 * H, NOW + 7 * H, holder="ik-fram", status="rejected"
        )
    )
    with old.write():
        old.put(gone)
        conn.execute(
            "INSERT INTO walkins (booking_id, event_id, state, reason, data)"
            " VALUES ('w-old', 'e-old', 'rejected', 'full', '{}')"
        )
    old.close()

    with Replica.open(path) as rep:
        assert "0007_kiosk_memory" in [m.name for m in MIGRATIONS.applied(rep.db)]
        assert MIGRATIONS.pending(rep.db) == []
        assert checked_in(rep, b.id) == NOW + H
        assert start_report(rep, b.id) is None
        assert walkin_states(rep) == {"w-old": ("rejected", "full")}
        # An old walk-in has no phone digest: found by holder, never by a phone.
        assert [r.booking.id for r in rejected_walkins(rep, ["ik-fram"])] == ["w-old"]
        assert rejected_walkins(rep, (), PHONE) == []
        # The old attendance row takes a start report and keeps its check-in.
        report_attendance(rep, b, "start", 9, 1, "anna-card", NOW + H)
        assert start_report(rep, b.id) == StartReport(9, 1, NOW + H)
        assert checked_in(rep, b.id) == NOW + H
