"""No-show release at the hall: a booking nobody entered N minutes after its start is let go.

Rules this module guarantees (docs/reports.md, "No-show release"):
- Off by default: only resources whose record sets ``release_after_minutes``
  release. A booking of several resources releases only when every one of
  them does, after the longest of their N.
- ``release_due`` (pure) is the rule: an active central booking that started
  at least N minutes ago, has not ended, and that nobody has entered (door or
  kiosk check-in) is due. A leader's headcount alone is no entry (as for
  no-shows).
- ``sweep_releases`` records ``booking.released`` once per due booking, and
  marks it judged in the same transaction (the attendance row's no-show
  time), so the later no-show sweep does not report it again and no restart
  releases it twice. It changes no booking: central is the only writer of
  bookings (PROTOCOL.md §1). Central marks the booking released, frees its
  time, and may grant this node a lease on the rest of the slot; only then
  does the kiosk offer it as a walk-in (walk-ins are sold inside a lease the
  node holds: walkins.py), so a node that is offline releases nothing it
  could sell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sync.protocol.records import Booking, Resource
from sync.protocol.timeutil import format_instant, to_ts
from sync.protocol.wire import OutboxEvent

from .outbox import append_event
from .store import Replica


def release_minutes(booking: Booking, resources: Mapping[str, Resource]) -> int | None:
    """The booking's N (module rules), or None when it does not release."""
    ns: list[int] = []
    for rid in booking.resources:
        res = resources.get(rid)
        if res is None or res.release_after_minutes is None:
            return None
        ns.append(res.release_after_minutes)
    return max(ns) if ns else None


def release_due(
    booking: Booking, resources: Mapping[str, Resource], entered: bool, now: datetime
) -> bool:
    """Whether ``booking`` is to be released at ``now`` (module rules)."""
    if not booking.active or booking.origin != "central" or entered:
        return False
    n = release_minutes(booking, resources)
    if n is None:
        return False
    return booking.start + timedelta(minutes=n) <= now < booking.end


def sweep_releases(rep: Replica, now: datetime) -> list[OutboxEvent]:
    """Record ``booking.released`` for every booking due (module rules)."""
    with rep.write():
        resources = {r.id: r for r in rep.all(Resource)}
        if not any(r.release_after_minutes is not None for r in resources.values()):
            return []
        longest = max(r.release_after_minutes or 0 for r in resources.values())
        candidates: Sequence[Booking] = rep.decode_rows(
            Booking,
            rep.conn.execute(
                "SELECT b.data FROM bookings b LEFT JOIN attendance a ON a.booking_id = b.id"
                " WHERE b.start_ts <= ? AND b.start_ts >= ? AND b.end_ts > ?"
                " AND b.status IN ('confirmed', 'tentative') AND b.origin = 'central'"
                " AND coalesce(a.checked_in_ts, a.leader_in_ts, a.no_show_ts) IS NULL"
                " ORDER BY b.start_ts, b.id",
                [to_ts(now), to_ts(now) - 86_400 - longest * 60, to_ts(now)],
            ),
        )
        events: list[OutboxEvent] = []
        for b in candidates:
            if not release_due(b, resources, False, now):
                continue
            rep.conn.execute(
                "INSERT INTO attendance (booking_id, no_show_ts, end_ts) VALUES (?, ?, ?)"
                " ON CONFLICT (booking_id) DO UPDATE SET no_show_ts = excluded.no_show_ts",
                [b.id, to_ts(now), to_ts(b.end)],
            )
            body = {
                "booking": b.id,
                "start": format_instant(b.start),
                "end": format_instant(b.end),
                "resources": list(b.resources),
            }
            events.append(append_event(rep, "booking.released", body, now))
    return events
