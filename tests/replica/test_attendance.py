"""Access events, first check-in and no-shows, on a real database file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.replica import (
    AccessRecord,
    Booking,
    ChangeBatch,
    Replica,
    apply_changes,
    checked_in,
    pending_events,
    record_access,
    sweep_no_shows,
)

T0 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def _replica(tmp_path: Path) -> Replica:
    rep = Replica.open(tmp_path / "node.db")
    ops = [
        {
            "op": "upsert",
            "entity": "resource",
            "id": "hall",
            "data": {"id": "hall", "name": "Hall"},
        },
    ]
    for i, (start, status) in enumerate(
        [(T0, "confirmed"), (T0 + timedelta(hours=1), "confirmed"), (T0, "cancelled")]
    ):
        b = Booking(f"b{i}", ("hall",), start, start + timedelta(hours=1), "ik", status=status)
        ops.append({"op": "upsert", "entity": "booking", "id": b.id, "data": b.to_wire()})
    assert (
        apply_changes(rep, ChangeBatch.from_wire({"base": 0, "rev": 1, "ops": ops}), T0).value
        == "applied"
    )
    return rep


def test_first_entry_checks_in_once(tmp_path: Path) -> None:
    rep = _replica(tmp_path)
    rec = AccessRecord("d1", "r1", "A" * 43, True, "booking", credential="c1", booking="b0", rev=1)
    first = record_access(rep, rec, T0 + timedelta(minutes=5))
    assert [e.type for e in first] == ["access.granted", "booking.checked_in"]
    again = record_access(rep, rec, T0 + timedelta(minutes=9))
    assert [e.type for e in again] == ["access.granted"]
    assert checked_in(rep, "b0") == T0 + timedelta(minutes=5)
    body = first[0].body
    assert body["door"] == "d1" and body["booking"] == "b0" and body["rev"] == 1
    assert body["clock"] == {"trusted": True}


def test_denied_unknown_is_recorded_without_check_in(tmp_path: Path) -> None:
    rep = _replica(tmp_path)
    events = record_access(rep, AccessRecord("d1", "r1", None, False, "unknown_credential"), T0)
    assert [e.type for e in events] == ["access.denied"]
    assert events[0].body["credential"] == "unknown"
    assert checked_in(rep, "b0") is None


def test_no_show_once_after_grace_and_never_for_used_or_cancelled(tmp_path: Path) -> None:
    rep = _replica(tmp_path)
    record_access(
        rep,
        AccessRecord("d1", "r1", "A" * 43, True, "booking", booking="b1"),
        T0 + timedelta(hours=1),
    )
    # b0 ends at T0+1h; grace is 15 min: not yet at T0+1h10
    assert sweep_no_shows(rep, T0 + timedelta(hours=1, minutes=10)) == []
    events = sweep_no_shows(rep, T0 + timedelta(hours=3))
    assert [(e.type, e.body["booking"]) for e in events] == [("booking.no_show", "b0")]
    assert sweep_no_shows(rep, T0 + timedelta(hours=4)) == []
    types = [e.type for e in pending_events(rep)]
    assert types.count("booking.no_show") == 1


def test_sweep_survives_reopen(tmp_path: Path) -> None:
    rep = _replica(tmp_path)
    sweep_no_shows(rep, T0 + timedelta(hours=3))
    rep.close()
    rep2 = Replica.open(tmp_path / "node.db")
    assert sweep_no_shows(rep2, T0 + timedelta(hours=5)) == []


def test_rolled_back_long_booking_does_not_hide_the_next_one(tmp_path: Path) -> None:
    """The replica remembers the longest booking span it wrote; a rollback must
    not leave it believing a span is on disk (range scans would miss it)."""
    from sync.replica import Door, bookings_at_door

    rep = _replica(tmp_path)
    long = Booking("long", ("hall",), T0, T0 + timedelta(hours=30), "ik")
    with pytest.raises(RuntimeError), rep.write():
        rep.put(long)
        raise RuntimeError("abort")
    with rep.write():
        rep.put(long)
    door = Door("d1", "Entré", ("hall",))
    found = bookings_at_door(rep, door, T0 + timedelta(hours=3))  # 27 h before its end
    assert [b.id for b in found] == ["long"]
