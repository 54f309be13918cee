"""Walk-in leases and central bookings (PROTOCOL.md §6 "Leases").

Rules this module guarantees:
- A lease version is *held* by its node from the revision that made it until
  that node's cursor shows it applied the revision that removed it
  (``removed_rev <= applied_rev``). ``held_leases`` gives every held version.
- ``book`` never books inside a held lease, nor over an active booking on a
  related resource (a divisible hall and its sections conflict); it refuses
  with ``BookingRefused`` naming what is in the way, and writes nothing.
- ``renew_leases(now)`` keeps, for every walk-in window
  (``set_walkin_windows``), leases covering the window's spans that end after
  ``now`` and start before ``now + horizon``. A lease never overlaps an active
  booking on a related resource (other than the same node's own walk-ins) nor
  a lease held by another node on a related resource. Lease ids come from
  resource and start (``wl:<resource>:<UTC start>``), so a second run with
  nothing changed makes no revision. Leases it made that no window wants any
  more are removed unless they have begun; ended ones are removed a day later.
- Weekly windows are facility time (the facility record's time zone),
  ``to`` <= ``from`` runs past midnight; DST is handled by ``local_to_instant``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from firmware_config.vocabulary import DEFAULT_TZ
from sync.protocol.records import Booking, Facility, Lease, Resource
from sync.protocol.timeutil import (
    format_hhmm,
    from_ts,
    local_day,
    local_to_instant,
    parse_hhmm,
    to_ts,
    zone,
)
from sync.protocol.wire import Op
from sync.replica.queries import related_resources

from . import changelog as cl
from .db import Store, StoreError

MANAGED_PREFIX = "wl:"
RELEASE_PREFIX = "rl:"  # leases on the rest of a slot released at the hall
HORIZON_DAYS = 14  # PROTOCOL.md §7: central sends at least 14 days ahead
KEEP_ENDED_S = 86_400
Span = tuple[int, int]  # [start, end) in Unix seconds


class BookingRefused(StoreError):
    """``book`` cannot place the booking; the message says what is in the way."""


@dataclass(frozen=True, slots=True)
class Window:
    """ISO weekdays and a facility-time span in minutes after midnight."""

    days: tuple[int, ...]
    start: int
    end: int

    def to_wire(self) -> dict[str, object]:
        return {
            "days": list(self.days),
            "from": format_hhmm(self.start),
            "to": format_hhmm(self.end),
        }


@dataclass(frozen=True, slots=True)
class WalkinWindows:
    facility: str
    resource: str
    node: str
    windows: tuple[Window, ...]


def parse_windows(raw: object) -> tuple[Window, ...]:
    """``[{"days": [1..7], "from": "HH:MM", "to": "HH:MM"}, ...]`` as in a grant's
    windows (docs/protocol.md); raises ``ValueError``."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("windows must be a non-empty list")
    out = []
    for i, w in enumerate(raw):
        days = w.get("days") if isinstance(w, Mapping) else None
        if (
            not isinstance(days, list)
            or not days
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days)
        ):
            raise ValueError(f"windows[{i}].days must be a non-empty list of ISO weekdays 1..7")
        assert isinstance(w, Mapping)
        start, end = parse_hhmm(str(w.get("from"))), parse_hhmm(str(w.get("to")))
        if start == end:
            raise ValueError(f"windows[{i}]: from and to must differ")
        out.append(Window(tuple(sorted(set(days))), start, end))
    return tuple(out)


def set_walkin_windows(
    store: Store, facility: str, resource: str, node: str, windows: Sequence[Window]
) -> None:
    """Let ``node`` sell walk-ins on ``resource`` in these weekly windows (replacing
    any earlier ones of that resource); an empty list removes them."""
    with store.write():
        store.lock("facility", facility)
        store.execute(
            "DELETE FROM walkin_windows WHERE facility = ? AND resource = ?", [facility, resource]
        )
        if windows:
            text = json.dumps([w.to_wire() for w in windows], separators=(",", ":"))
            store.execute(
                "INSERT INTO walkin_windows VALUES (?, ?, ?, ?)", [facility, resource, node, text]
            )


def walkin_windows(store: Store) -> list[WalkinWindows]:
    rows = store.execute("SELECT * FROM walkin_windows ORDER BY facility, resource")
    return [WalkinWindows(f, r, n, parse_windows(json.loads(w))) for f, r, n, w in rows]


def tree(store: Store, facility: str) -> dict[str, Resource]:
    return {r.id: r for r in cl.records(store, facility, "resource") if isinstance(r, Resource)}


def facility_tz_name(store: Store, facility: str) -> str:
    rec = cl.get(store, facility, Facility, facility)
    return DEFAULT_TZ if rec is None else rec.timezone


# --- queries ---------------------------------------------------------------------


def bookings_overlapping(
    store: Store, facility: str, resources: Iterable[str], span: Span
) -> list[Booking]:
    """Active bookings on any of ``resources`` overlapping ``span``, by start."""
    ids = sorted(set(resources))
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = store.execute(
        "SELECT DISTINCT b.data, b.start_ts, b.id FROM booking_resources r JOIN bookings b"
        " ON b.facility = r.facility AND b.id = r.booking_id"
        f" WHERE r.facility = ? AND r.resource IN ({marks}) AND r.start_ts < ? AND r.end_ts > ?"
        " AND b.active = 1 ORDER BY b.start_ts, b.id",
        [facility, *ids, span[1], span[0]],
    )
    return [Booking.from_wire(json.loads(d)) for d, _, _ in rows]


@dataclass(frozen=True, slots=True)
class HeldLease:
    id: str
    node: str
    resource: str
    span: Span
    removed_rev: int | None


def held_leases(
    store: Store, facility: str, resources: Iterable[str], span: Span
) -> list[HeldLease]:
    """Lease versions on ``resources`` overlapping ``span`` that their node still
    holds (module rules)."""
    ids = sorted(set(resources))
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = store.execute(
        "SELECT v.lease_id, v.node, v.resource, v.start_ts, v.end_ts, v.removed_rev"
        " FROM lease_versions v LEFT JOIN node_state s ON s.node = v.node"
        f" WHERE v.facility = ? AND v.resource IN ({marks}) AND v.start_ts < ? AND v.end_ts > ?"
        " AND (v.removed_rev IS NULL OR v.removed_rev > coalesce(s.applied_rev, 0))"
        " ORDER BY v.start_ts, v.lease_id",
        [facility, *ids, span[1], span[0]],
    )
    return [HeldLease(i, n, r, (s, e), x) for i, n, r, s, e, x in rows]


# --- central bookings ------------------------------------------------------------


def booking_problems(
    store: Store, facility: str, booking: Booking, *, leases_only: bool = False
) -> list[str]:
    """Why ``booking`` cannot be placed by central: held leases and (unless
    ``leases_only``) active bookings other than itself, on related resources in
    its time. Empty when it can."""
    resources = tree(store, facility)
    problems: list[str] = []
    related: set[str] = set()
    for rid in booking.resources:
        if rid not in resources and not leases_only:
            problems.append(f"no resource {rid!r} in facility {facility!r}")
        related |= related_resources(resources, rid)
    span = (to_ts(booking.start), to_ts(booking.end))
    for lease in held_leases(store, facility, related, span):
        state = "" if lease.removed_rev is None else f" (removed at rev {lease.removed_rev})"
        problems.append(
            f"inside lease {lease.id!r} on {lease.resource!r} held by node {lease.node!r}"
            f" {_when(lease.span)}{state}"
        )
    for other in [] if leases_only else bookings_overlapping(store, facility, related, span):
        if other.id != booking.id:
            problems.append(
                f"conflicts with booking {other.id!r} on {', '.join(other.resources)}"
                f" {_when((to_ts(other.start), to_ts(other.end)))}"
            )
    return problems


def _when(span: Span) -> str:
    return f"[{from_ts(span[0]):%Y-%m-%dT%H:%MZ}, {from_ts(span[1]):%Y-%m-%dT%H:%MZ})"


def book(store: Store, facility: str, booking: Booking, now: datetime) -> int:
    """Place a central booking; return the new revision. Raises ``BookingRefused``
    (module rules) or ``MutateError``."""
    if booking.origin != "central":
        raise BookingRefused("central books only bookings of origin central")
    with store.write():
        store.lock("facility", facility)
        problems = booking_problems(store, facility, booking)
        if problems:
            raise BookingRefused("; ".join(problems))
        return cl.mutate(store, facility, [cl.upsert(booking)], now)


# --- renewal ---------------------------------------------------------------------


def window_spans(windows: Sequence[Window], tz_name: str, lo: datetime, hi: datetime) -> list[Span]:
    """The instants of ``windows`` (facility time ``tz_name``) that end after ``lo``
    and start before ``hi``, overlapping ones merged, in order."""
    tz = zone(tz_name)
    spans: list[Span] = []
    day = local_day(lo, tz) - timedelta(days=1)
    while True:
        if local_to_instant(day, time(0), tz) >= hi:
            break
        for w in windows:
            if day.isoweekday() not in w.days:
                continue
            start = local_to_instant(day, _wall(w.start), tz)
            end_day = day + timedelta(days=1) if w.end <= w.start or w.end == 1440 else day
            end = local_to_instant(end_day, _wall(w.end % 1440), tz)
            if end > lo and start < hi and end > start:
                spans.append((to_ts(start), to_ts(end)))
        day += timedelta(days=1)
    spans.sort()
    merged: list[Span] = []
    for s, e in spans:
        if merged and s < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _wall(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def subtract(spans: Iterable[Span], blocks: Iterable[Span]) -> list[Span]:
    """``spans`` minus every block, as ordered pieces."""
    out = list(spans)
    for b0, b1 in sorted(blocks):
        nxt: list[Span] = []
        for s, e in out:
            if b1 <= s or b0 >= e:
                nxt.append((s, e))
                continue
            if s < b0:
                nxt.append((s, b0))
            if b1 < e:
                nxt.append((b1, e))
        out = nxt
    return out


def lease_id(resource: str, start: int) -> str:
    return f"{MANAGED_PREFIX}{resource}:{from_ts(start):%Y%m%dT%H%MZ}"


def desired_leases(
    store: Store, facility: str, now: datetime, horizon_days: int = HORIZON_DAYS
) -> list[Lease]:
    """The leases the facility's walk-in windows ask for now (module rules)."""
    resources = tree(store, facility)
    tz = facility_tz_name(store, facility)
    lo, hi = now, now + timedelta(days=horizon_days)
    out: list[Lease] = []
    for ww in walkin_windows(store):
        res = resources.get(ww.resource)
        if ww.facility != facility or res is None or res.walkin_slot_minutes is None:
            continue
        related = related_resources(resources, ww.resource)
        spans = window_spans(ww.windows, tz, lo, hi)
        if not spans:
            continue
        around = (spans[0][0], spans[-1][1])
        blocks = [
            (to_ts(b.start), to_ts(b.end))
            for b in bookings_overlapping(store, facility, related, around)
            if not (b.origin == "walkin" and b.node == ww.node)
        ]
        blocks += [
            h.span for h in held_leases(store, facility, related, around) if h.node != ww.node
        ]
        blocks += [
            (to_ts(le.start), to_ts(le.end))
            for le in out
            if le.node != ww.node and le.resource in related
        ]
        slot = res.walkin_slot_minutes * 60
        for s, e in subtract(spans, blocks):
            if e - s >= slot and e > to_ts(now):
                out.append(
                    Lease(lease_id(ww.resource, s), ww.node, ww.resource, from_ts(s), from_ts(e))
                )
    return out


def renew_leases(
    store: Store, now: datetime, horizon_days: int = HORIZON_DAYS, max_bytes: int = 96 * 1024
) -> dict[str, int]:
    """Bring every facility's managed leases to what its windows ask for; return
    the facilities that got a new revision, with it. Idempotent."""
    out: dict[str, int] = {}
    facilities = {w.facility for w in walkin_windows(store)}
    facilities |= {
        f
        for (f,) in store.execute(
            "SELECT DISTINCT facility FROM leases WHERE substr(id, 1, ?) = ?",
            [len(MANAGED_PREFIX), MANAGED_PREFIX],
        )
    }
    for facility in sorted(facilities):
        with store.write():
            store.lock("facility", facility)
            before = cl.revs(store, facility).rev
            ops = _renewal_ops(store, facility, now, horizon_days)
            rev = cl.mutate_chunked(store, facility, ops, now, max_bytes) if ops else before
        if rev != before:
            out[facility] = rev
    return out


def _renewal_ops(store: Store, facility: str, now: datetime, horizon_days: int) -> list[Op]:
    want = {le.id: le for le in desired_leases(store, facility, now, horizon_days)}
    now_ts = to_ts(now)
    ops: list[Op] = []
    for rec in cl.records(store, facility, "lease"):
        managed = rec.id.startswith(MANAGED_PREFIX)
        if not isinstance(rec, Lease) or not (managed or rec.id.startswith(RELEASE_PREFIX)):
            continue
        start, end = to_ts(rec.start), to_ts(rec.end)
        if end <= now_ts - KEEP_ENDED_S:
            ops.append(cl.delete("lease", rec.id))
        elif not managed:  # a released slot's lease (evidence/release.py) runs out by itself
            continue
        elif rec.id in want:
            if want[rec.id] == rec:
                del want[rec.id]
        elif start > now_ts:
            ops.append(cl.delete("lease", rec.id))
    ops += [cl.upsert(le) for le in want.values()]
    return ops
