"""Access events, check-ins and no-shows (PROTOCOL.md §5 event types).

Rules this module guarantees:
- Every access decision becomes exactly one ``access.granted`` or
  ``access.denied`` event, with the door, the credential digest (or
  ``unknown``), the booking, the reason, the replica rev and the clock state.
- The first granted entry of a booking also records ``booking.checked_in``, in
  the same transaction; later entries do not repeat it. A booking row that
  no longer validates costs only the check-in, never the access event. An entry by a card
  (not a visitor code) also marks the booking's leader as in.
- ``sweep_no_shows`` records ``booking.no_show`` once for each active central
  booking that ended more than ``policy.no_show_grace_minutes`` ago with nobody
  entered, and never for a booking already checked in or already reported.
  A leader's start headcount alone does not count as an entry.
- ``report_attendance`` records one ``attendance.reported`` event; a ``start``
  report also stores its counts on the booking's ``attendance`` row in the same
  transaction, so ``start_report`` still has them after a kiosk restart.
  Counts only: no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.protocol.records import Booking
from sync.protocol.timeutil import format_instant, from_ts, to_ts
from sync.protocol.wire import OutboxEvent

from .outbox import append_event
from .store import Replica, ReplicaCorrupt


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """The facts of one decision as the outbox records them."""

    door: str
    reader: str
    digest: str | None  # None: nothing matched, recorded as "unknown"
    granted: bool
    reason: str
    credential: str | None = None
    booking: str | None = None
    grant: str | None = None
    rev: int = 0
    clock_trusted: bool = True
    stale: bool = False
    fallback: bool = False  # decided on the staff fallback: the replica was unreadable

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "door": self.door,
            "reader": self.reader,
            "credential": self.digest if self.digest is not None else "unknown",
            "credential_id": self.credential,
            "booking": self.booking,
            "grant": self.grant,
            "reason": self.reason,
            "rev": self.rev,
            "clock": {"trusted": self.clock_trusted},
            "stale": self.stale,
        }
        if self.fallback:
            body["replica"] = "unreadable"
        return body


def record_access(rep: Replica, rec: AccessRecord, at: datetime) -> list[OutboxEvent]:
    """Record one decision (and a first check-in) atomically; return the events."""
    with rep.write():
        events = [
            append_event(rep, "access.granted" if rec.granted else "access.denied", rec.body(), at)
        ]
        if rec.granted and rec.booking is not None:
            try:
                booking = rep.get(Booking, rec.booking)
            except ReplicaCorrupt:
                booking = None  # the decision stands; only the check-in is not recorded
            row = rep.conn.execute(
                "SELECT checked_in_ts FROM attendance WHERE booking_id = ?", [rec.booking]
            ).fetchone()
            if booking is not None and rec.reason == "booking":  # a leader's card
                rep.conn.execute(
                    "INSERT INTO attendance (booking_id, leader_in_ts, end_ts) VALUES (?, ?, ?)"
                    " ON CONFLICT (booking_id) DO UPDATE"
                    " SET leader_in_ts = coalesce(leader_in_ts, excluded.leader_in_ts)",
                    [rec.booking, to_ts(at), to_ts(booking.end)],
                )
            if booking is not None and (row is None or row[0] is None):
                rep.conn.execute(
                    "INSERT INTO attendance (booking_id, checked_in_ts, end_ts) VALUES (?, ?, ?)"
                    " ON CONFLICT (booking_id)"
                    " DO UPDATE SET checked_in_ts = excluded.checked_in_ts",
                    [rec.booking, to_ts(at), to_ts(booking.end)],
                )
                events.append(
                    append_event(
                        rep,
                        "booking.checked_in",
                        {"booking": rec.booking, "door": rec.door, "at": format_instant(at)},
                        at,
                    )
                )
    return events


def leaders_in(rep: Replica, booking_ids: list[str]) -> frozenset[str]:
    """Which of ``booking_ids`` a leader (a card, not a visitor code) has entered."""
    if not booking_ids:
        return frozenset()
    marks = ",".join("?" * len(booking_ids))
    rows = rep.conn.execute(
        f"SELECT booking_id FROM attendance WHERE booking_id IN ({marks})"
        " AND leader_in_ts IS NOT NULL",
        booking_ids,
    )
    return frozenset(r[0] for r in rows)


def checked_in(rep: Replica, booking_id: str) -> datetime | None:
    """When the first entry of a booking happened, if it did."""
    row = rep.conn.execute(
        "SELECT checked_in_ts FROM attendance WHERE booking_id = ?", [booking_id]
    ).fetchone()
    return None if row is None or row[0] is None else from_ts(row[0])


def sweep_no_shows(rep: Replica, now: datetime) -> list[OutboxEvent]:
    """Record ``booking.no_show`` for bookings that ended unused since the last sweep."""
    grace = timedelta(minutes=rep.policy().no_show_grace_minutes)
    until = to_ts(now - grace)
    events: list[OutboxEvent] = []
    with rep.write():
        row = rep.conn.execute("SELECT no_show_swept_ts FROM sync_state WHERE id = 1").fetchone()
        since = row[0] if row[0] is not None else until - 7 * 86400
        if until <= since:
            return []
        # No row, or a row with only a start headcount: nobody entered.
        candidates = rep.decode_rows(
            Booking,
            rep.conn.execute(
                "SELECT b.data FROM bookings b LEFT JOIN attendance a ON a.booking_id = b.id"
                " WHERE b.end_ts > ? AND b.end_ts <= ? AND b.status IN ('confirmed', 'tentative')"
                " AND b.origin = 'central'"
                " AND coalesce(a.checked_in_ts, a.leader_in_ts, a.no_show_ts) IS NULL"
                " ORDER BY b.end_ts, b.id",
                [since, until],
            ),
        )
        for b in candidates:
            rep.conn.execute(
                "INSERT INTO attendance (booking_id, no_show_ts, end_ts) VALUES (?, ?, ?)"
                " ON CONFLICT (booking_id) DO UPDATE SET no_show_ts = excluded.no_show_ts",
                [b.id, to_ts(now), to_ts(b.end)],
            )
            body = {"booking": b.id, "start": format_instant(b.start), "end": format_instant(b.end)}
            events.append(append_event(rep, "booking.no_show", body, now))
        rep.conn.execute("UPDATE sync_state SET no_show_swept_ts = ? WHERE id = 1", [until])
    return events


ATTENDANCE_STAGES = ("start", "end")


@dataclass(frozen=True, slots=True)
class StartReport:
    """A leader's headcount at the start of a booking, as last reported."""

    participants: int
    leaders: int
    at: datetime


def report_attendance(
    rep: Replica,
    booking: Booking,
    stage: str,
    participants: int,
    leaders: int,
    reported_by: str | None,
    at: datetime,
) -> OutboxEvent:
    """Record ``attendance.reported`` (PROTOCOL.md §5); return the event.

    A ``start`` report also stores its counts for ``start_report``, in the same
    transaction (a later start report replaces them). Raises ``ValueError`` for
    a stage other than ``start``/``end`` or a negative count, writing nothing.
    """
    if stage not in ATTENDANCE_STAGES:
        raise ValueError(f"attendance stage must be start or end, not {stage!r}")
    if participants < 0 or leaders < 0:
        raise ValueError("attendance counts cannot be negative")
    body = {
        "booking": booking.id,
        "stage": stage,
        "participants": participants,
        "leaders": leaders,
        "reported_by": reported_by,
        "at": format_instant(at),
    }
    with rep.write():
        event = append_event(rep, "attendance.reported", body, at)
        if stage == "start":
            rep.conn.execute(
                "INSERT INTO attendance (booking_id, end_ts, start_participants, start_leaders,"
                " start_reported_ts) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (booking_id) DO UPDATE"
                " SET start_participants = excluded.start_participants,"
                " start_leaders = excluded.start_leaders,"
                " start_reported_ts = excluded.start_reported_ts",
                [booking.id, to_ts(booking.end), participants, leaders, to_ts(at)],
            )
    return event


def start_report(rep: Replica, booking_id: str) -> StartReport | None:
    """The start headcount reported for ``booking_id``, or None if none was."""
    row = rep.conn.execute(
        "SELECT start_participants, start_leaders, start_reported_ts FROM attendance"
        " WHERE booking_id = ? AND start_reported_ts IS NOT NULL",
        [booking_id],
    ).fetchone()
    return None if row is None else StartReport(row[0], row[1], from_ts(row[2]))
